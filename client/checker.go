package client

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
)

// ErrCheckerClosed is what a Checker answers once closed.
var ErrCheckerClosed = errors.New("client: checker closed")

// maxStreamBatch is the most checks one CheckStream message carries (the
// server's limit).
const maxStreamBatch = 1000

// Checker asks checks over one CheckStream on behalf of many goroutines:
// checks asked while a message is on its way go together in the next one,
// so under load each message carries many checks and the stream costs a
// fraction of a request per check. It is safe for concurrent use. When
// the stream fails, the checks in flight fail with its error (never
// retried: the caller decides) and the next check opens a new stream. A
// stream that leaves a batch unanswered for Config.Timeout counts as
// failed (unavailable), so a connection that died silently is replaced
// at the next check. It needs HTTP/2 (over plain http://, pass rpc.H2CClient() as
// Config.HTTPClient).
type Checker struct {
	decision interface {
		CheckStream(context.Context) *connect.BidiStreamForClient[holdfastv1.CheckStreamRequest, holdfastv1.CheckStreamResponse]
	}
	ctx     context.Context // bounds every stream
	cancel  context.CancelFunc
	timeout time.Duration // a stream that leaves a batch unanswered this long is dead
	queue   chan *pendingCheck
	done    chan struct{} // closed when the sender has stopped
}

type pendingCheck struct {
	req  *holdfastv1.CheckRequest
	done chan checkResult // buffered: the answer never waits for the asker
}

type checkResult struct {
	res *holdfastv1.CheckResponse
	err error
}

// Checker starts a Checker; ctx bounds its streams. Close it when done.
func (c *Client) Checker(ctx context.Context) *Checker {
	ctx, cancel := context.WithCancel(ctx)
	k := &Checker{decision: c.clients.Decision, ctx: ctx, cancel: cancel, timeout: c.cfg.Timeout, queue: make(chan *pendingCheck, maxStreamBatch), done: make(chan struct{})}
	go k.send()
	return k
}

// Check asks one check and waits for its answer. A check the server
// could not answer is an invalid_argument error naming the field as Check
// would ("action").
func (k *Checker) Check(ctx context.Context, req *holdfastv1.CheckRequest) (*holdfastv1.CheckResponse, error) {
	p := &pendingCheck{req: req, done: make(chan checkResult, 1)}
	select {
	case k.queue <- p:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-k.done:
		return nil, ErrCheckerClosed
	}
	select {
	case r := <-p.done:
		return r.res, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-k.done:
		// Everything queued before the sender stopped has its answer.
		select {
		case r := <-p.done:
			return r.res, r.err
		default:
			return nil, ErrCheckerClosed
		}
	}
}

// Close stops the Checker: checks in flight or waiting fail.
func (k *Checker) Close() error {
	k.cancel()
	<-k.done
	return nil
}

// send gathers waiting checks into messages, one stream at a time.
func (k *Checker) send() {
	defer close(k.done)
	var s *checkStream
	defer func() {
		if s != nil {
			s.fail(ErrCheckerClosed)
		}
		for {
			select {
			case p := <-k.queue:
				p.done <- checkResult{err: ErrCheckerClosed}
			default:
				return
			}
		}
	}()
	for {
		var batch []*pendingCheck
		select {
		case p := <-k.queue:
			batch = append(batch, p)
		case <-k.ctx.Done():
			return
		}
		// Let the callers that are ready to ask run first, so that their
		// checks go in this message rather than one message each.
		runtime.Gosched()
	gather:
		for len(batch) < maxStreamBatch {
			select {
			case p := <-k.queue:
				batch = append(batch, p)
			default:
				break gather
			}
		}
		if s != nil && s.stalled(k.timeout) {
			s.fail(errStalled)
		}
		if s == nil || s.broken() {
			s = k.open()
		}
		s.send(batch)
	}
}

func (k *Checker) open() *checkStream {
	ctx, cancel := context.WithCancel(k.ctx)
	s := &checkStream{st: k.decision.CheckStream(ctx), cancel: cancel}
	go s.receive()
	return s
}

// errStalled fails the checks of a stream that stopped answering.
var errStalled = connect.NewError(connect.CodeUnavailable, errors.New("client: the check stream stopped answering"))

// checkStream is one stream and the batches it has yet to answer, oldest
// first: the server answers in order.
type checkStream struct {
	st       *connect.BidiStreamForClient[holdfastv1.CheckStreamRequest, holdfastv1.CheckStreamResponse]
	cancel   context.CancelFunc // aborts the stream's HTTP request
	mu       sync.Mutex
	inflight []flight
	err      error // set once the stream has failed
}

type flight struct {
	batch []*pendingCheck
	sent  time.Time
}

// stalled reports whether the oldest batch has waited longer than timeout:
// the server answers a batch in microseconds, so the stream (or the
// connection under it) has died without a word.
func (s *checkStream) stalled(timeout time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inflight) > 0 && time.Since(s.inflight[0].sent) > timeout
}

func (s *checkStream) broken() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err != nil
}

func (s *checkStream) send(batch []*pendingCheck) {
	msg := &holdfastv1.CheckStreamRequest{Checks: make([]*holdfastv1.CheckRequest, len(batch))}
	for i, p := range batch {
		msg.Checks[i] = p.req
	}
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		answer(batch, nil, err)
		return
	}
	s.inflight = append(s.inflight, flight{batch, time.Now()})
	s.mu.Unlock()
	if err := s.st.Send(msg); err != nil {
		// The stream is over; receive reports why, to every batch in
		// flight, this one included.
		_ = s.st.CloseRequest()
	}
}

func (s *checkStream) receive() {
	for {
		res, err := s.st.Receive()
		if err != nil {
			s.fail(err)
			return
		}
		s.mu.Lock()
		var batch []*pendingCheck
		if len(s.inflight) > 0 {
			batch, s.inflight = s.inflight[0].batch, s.inflight[1:]
		}
		s.mu.Unlock()
		if len(res.Decisions) != len(batch) {
			answer(batch, nil, fmt.Errorf("client: the server answered %d checks of %d", len(res.Decisions), len(batch)))
			s.fail(errors.New("client: the server answered out of step"))
			return
		}
		answer(batch, res.Decisions, nil)
	}
}

// fail ends the stream: every batch in flight gets err.
func (s *checkStream) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	err, flights := s.err, s.inflight
	s.inflight = nil
	s.mu.Unlock()
	for _, f := range flights {
		answer(f.batch, nil, err)
	}
	s.cancel() // else closing waits for a response that may never come
	_ = s.st.CloseRequest()
	_ = s.st.CloseResponse()
}

func answer(batch []*pendingCheck, decisions []*holdfastv1.CheckResponse, err error) {
	for i, p := range batch {
		switch {
		case err != nil:
			p.done <- checkResult{err: err}
		case decisions[i].GetError() != nil:
			p.done <- checkResult{err: rpc.DetailError(unbatched(decisions[i].GetError()))}
		default:
			p.done <- checkResult{res: decisions[i]}
		}
	}
}

// unbatched names the field of a check's error as for a lone check: the
// caller did not know which place of a message its check had.
func unbatched(d *holdfastv1.ErrorDetail) *holdfastv1.ErrorDetail {
	_, field, ok := strings.Cut(d.GetField(), "].")
	if !ok || !strings.HasPrefix(d.GetField(), "checks[") {
		return d
	}
	d = proto.CloneOf(d)
	d.Field = &field
	if _, msg, ok := strings.Cut(d.Message, ": "); ok && strings.HasPrefix(d.Message, "check ") {
		d.Message = msg
	}
	return d
}
