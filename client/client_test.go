package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/client"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
)

// flaky fronts the real handler: it answers the first `fail` requests
// with 503 (as a load balancer with no healthy backend would), holds the
// first `slow` requests for a while, and counts every request.
type flaky struct {
	h        http.Handler
	fail     atomic.Int32
	slow     atomic.Int32
	requests atomic.Int32
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if f.fail.Add(-1) >= 0 {
		http.Error(w, "no healthy upstream", http.StatusServiceUnavailable)
		return
	}
	if f.slow.Add(-1) >= 0 {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(400 * time.Millisecond):
		}
	}
	f.h.ServeHTTP(w, r)
}

func (e *env) flaky(token string, cfg client.Config) (*flaky, *client.Client) {
	f := &flaky{h: e.handler}
	srv := httptest.NewServer(f)
	e.t.Cleanup(srv.Close)
	cfg.Backoff = time.Millisecond
	return f, e.clientAt(srv.URL, token, cfg)
}

// reset arms f to fail the next n requests and starts counting afresh.
func (f *flaky) reset(fail, slow int32) {
	f.fail.Store(fail)
	f.slow.Store(slow)
	f.requests.Store(0)
}

func TestRetryUnavailable(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	f, c := e.flaky("check", client.Config{})

	f.reset(2, 0)
	res, err := c.Check(ctx, &holdfastv1.CheckRequest{Account: "u1", Action: "trade"})
	if err != nil {
		t.Fatalf("check after two 503s: %v", err)
	}
	if res.Effect != "allow" || f.requests.Load() != 3 {
		t.Errorf("effect %s after %d requests; want allow after 3", res.Effect, f.requests.Load())
	}

	// Retries run out: the error is the transport's.
	f.reset(100, 0)
	_, err = c.Check(ctx, &holdfastv1.CheckRequest{Account: "u1", Action: "trade"})
	if client.Code(err) != "unavailable" || f.requests.Load() != 4 {
		t.Errorf("always 503: %s after %d requests; want unavailable after 4 (1 + 3 retries)", client.Code(err), f.requests.Load())
	}

	// AuthorizeWithdrawal is idempotent by id: retried, decided once.
	f.reset(1, 0)
	wd, err := c.AuthorizeWithdrawal(ctx, &holdfastv1.AuthorizeWithdrawalRequest{Account: "u1", Id: "wd-1", Asset: "USDT", Amount: "10", Address: "0xabc"})
	if err != nil || wd.Outcome != "approve" || f.requests.Load() != 2 {
		t.Fatalf("withdrawal after a 503: %v %v after %d requests", wd, err, f.requests.Load())
	}
}

func TestNoRetryOnDomainErrors(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()

	// A token without the check scope: permission_denied, asked once.
	f, c := e.flaky("self", client.Config{})
	f.reset(0, 0)
	_, err := c.Check(ctx, &holdfastv1.CheckRequest{Account: "u1", Action: "trade"})
	if client.Code(err) != "permission_denied" || f.requests.Load() != 1 {
		t.Errorf("got %s (%v) after %d requests; want permission_denied after 1", client.Code(err), err, f.requests.Load())
	}

	f, c = e.flaky("check", client.Config{})
	f.reset(0, 0)
	_, err = c.Check(ctx, &holdfastv1.CheckRequest{Account: "u1", Action: "trad"})
	if client.Code(err) != "invalid_argument" || client.Detail(err).GetField() != "action" || f.requests.Load() != 1 {
		t.Errorf("got %s (%v) after %d requests; want invalid_argument on action after 1", client.Code(err), err, f.requests.Load())
	}

	// No token at all: unauthenticated.
	f, c = e.flaky("", client.Config{})
	f.reset(0, 0)
	_, err = c.Check(ctx, &holdfastv1.CheckRequest{Account: "u1", Action: "trade"})
	if client.Code(err) != "unauthenticated" || f.requests.Load() != 1 {
		t.Errorf("got %s after %d requests; want unauthenticated after 1", client.Code(err), f.requests.Load())
	}

	// The domain code survives where the connect code is coarser: lifting
	// a panic lock is immutable (connect: failed_precondition).
	if _, err := e.client("self").Self().PanicLock(ctx, connect.NewRequest(&holdfastv1.PanicLockRequest{Account: "u9"})); err != nil {
		t.Fatal(err)
	}
	_, err = e.client("admin").Restriction().Lift(ctx, connect.NewRequest(&holdfastv1.LiftRequest{Account: "u9", Kind: "panic_lock", Reason: "asked"}))
	if client.Code(err) != "immutable" || connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Errorf("lifting a panic lock: %s / %s; want immutable / failed_precondition", client.Code(err), connect.CodeOf(err))
	}
	if client.Code(nil) != "" || client.Code(context.Canceled) != "canceled" {
		t.Errorf("Code(nil) %q, Code(context.Canceled) %q", client.Code(nil), client.Code(context.Canceled))
	}
}

func TestNoRetryOfUnsafeCalls(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()

	// An event without an id could be recorded twice: not retried.
	f, c := e.flaky("events", client.Config{})
	f.reset(1, 0)
	_, err := c.Ingest(ctx, &holdfastv1.Event{Type: "login", Account: "u1", Device: "d1", Session: "s1"})
	if client.Code(err) != "unavailable" || f.requests.Load() != 1 {
		t.Errorf("event without id: %s after %d requests; want unavailable after 1", client.Code(err), f.requests.Load())
	}
	// With an id it is the server's idempotency key: retried.
	f.reset(1, 0)
	res, err := c.Ingest(ctx, &holdfastv1.Event{Id: "evt-1", Type: "login", Account: "u1", Device: "d1", Session: "s1"})
	if err != nil || res.Event != "evt-1" || f.requests.Load() != 2 {
		t.Errorf("event with id: %v %v after %d requests; want it ingested after 2", res, err, f.requests.Load())
	}

	// Apply is not idempotent.
	f, c = e.flaky("alice", client.Config{})
	f.reset(1, 0)
	_, err = c.Restriction().Apply(ctx, connect.NewRequest(&holdfastv1.ApplyRequest{Account: "u1", Kind: "reduce_only", Reason: "test"}))
	if client.Code(err) != "unavailable" || f.requests.Load() != 1 {
		t.Errorf("apply: %s after %d requests; want unavailable after 1", client.Code(err), f.requests.Load())
	}
	// Reads through the raw clients are retried.
	f.reset(1, 0)
	if _, err := c.Restriction().List(ctx, connect.NewRequest(&holdfastv1.ListRequest{Account: "u1"})); err != nil || f.requests.Load() != 2 {
		t.Errorf("list: %v after %d requests; want success after 2", err, f.requests.Load())
	}
}

func TestDeadlinePerAttempt(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	f, c := e.flaky("check", client.Config{Timeout: 100 * time.Millisecond})

	// The first attempt hangs past its deadline; the second answers.
	f.reset(0, 1)
	start := time.Now()
	if _, err := c.Check(ctx, &holdfastv1.CheckRequest{Account: "u1", Action: "trade"}); err != nil || f.requests.Load() != 2 {
		t.Fatalf("check after a hung attempt: %v after %d requests", err, f.requests.Load())
	}
	if took := time.Since(start); took > 350*time.Millisecond {
		t.Errorf("took %s: the first attempt was not cut at 100 ms", took)
	}

	// A hung Apply is not repeated.
	f, c = e.flaky("alice", client.Config{Timeout: 100 * time.Millisecond})
	f.reset(0, 1)
	_, err := c.Restriction().Apply(ctx, connect.NewRequest(&holdfastv1.ApplyRequest{Account: "u1", Kind: "reduce_only", Reason: "test"}))
	if client.Code(err) != "deadline_exceeded" || f.requests.Load() != 1 {
		t.Errorf("hung apply: %s after %d requests; want deadline_exceeded after 1", client.Code(err), f.requests.Load())
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:7433", "ftp://x", "http://"} {
		if _, err := client.New(client.Config{URL: u}); err == nil {
			t.Errorf("New accepted URL %q", u)
		}
	}
}

// h2c serves the env's API over HTTP/2 without TLS too (streams need it),
// and returns a client of it using the named token.
func (e *env) h2c(t *testing.T, token string) (*httptest.Server, *client.Client) {
	srv := httptest.NewUnstartedServer(e.handler)
	srv.Config.Protocols = rpc.NewHTTPServer("", nil).Protocols
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, e.clientAt(srv.URL, token, client.Config{HTTPClient: rpc.H2CClient()})
}

// TestChecker: many goroutines share one Checker; each gets the answer to
// its own check (as Check gives it), a bad check fails alone with the
// field named as for a lone check, and a closed Checker refuses.
func TestChecker(t *testing.T) {
	e := newEnv(t, false)
	_, c := e.h2c(t, "check")
	ctx := context.Background()
	for i := range 10 {
		if _, err := e.eng.Apply(ctx, holdfast.ApplyRequest{Account: fmt.Sprintf("acct-%d", i*2), Kind: holdfast.KindWithdrawalFreeze, Reason: "test", Actor: holdfast.System}); err != nil {
			t.Fatal(err)
		}
	}
	k := c.Checker(ctx)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				acct := (g + i) % 20
				q := &holdfastv1.CheckRequest{Account: fmt.Sprintf("acct-%d", acct), Action: "withdraw"}
				if i%50 == 7 {
					q.Action = "fly"
				}
				got, err := k.Check(ctx, q)
				switch {
				case q.Action == "fly":
					if client.Code(err) != "invalid_argument" || client.Detail(err).GetField() != "action" {
						t.Errorf("a bad check: %v (%v)", err, client.Detail(err))
					}
				case err != nil:
					t.Error(err)
				case (acct%2 == 0) != (got.Effect == "deny"):
					t.Errorf("acct-%d withdraw: %s", acct, got.Effect)
				}
			}
		})
	}
	wg.Wait()
	want, err := c.Check(ctx, &holdfastv1.CheckRequest{Account: "acct-0", Action: "withdraw"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.Check(ctx, &holdfastv1.CheckRequest{Account: "acct-0", Action: "withdraw"})
	if err != nil || !proto.Equal(got, want) {
		t.Fatalf("Checker answered %v (%v), Check %v", got, err, want)
	}
	k.Close()
	if _, err := k.Check(ctx, &holdfastv1.CheckRequest{Account: "acct-0", Action: "trade"}); !errors.Is(err, client.ErrCheckerClosed) {
		t.Fatalf("a closed Checker answered %v", err)
	}
}

// TestCheckerSurvivesAServerRestart: checks in flight when the stream
// breaks fail with its error; the next check opens a new stream.
func TestCheckerSurvivesAServerRestart(t *testing.T) {
	e := newEnv(t, false)
	srv, c := e.h2c(t, "check")
	ctx := context.Background()
	k := c.Checker(ctx)
	defer k.Close()
	q := &holdfastv1.CheckRequest{Account: "acct-1", Action: "trade"}
	if _, err := k.Check(ctx, q); err != nil {
		t.Fatal(err)
	}
	srv.CloseClientConnections() // the stream breaks
	var err error
	for range 2 {
		// The first check may still go out on the broken stream.
		if _, err = k.Check(ctx, q); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("no new stream after a break: %v", err)
	}
}

// TestCheckerReplacesAStalledStream: a stream whose server stops answering
// (a connection that died without a word) is given up after the client's
// Timeout, and the next check goes out on a new stream.
func TestCheckerReplacesAStalledStream(t *testing.T) {
	e := newEnv(t, false)
	var streams atomic.Int32
	hang := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/CheckStream") && streams.Add(1) == 1 {
			<-hang // the first stream never answers
			return
		}
		e.handler.ServeHTTP(w, r)
	}))
	srv.Config.Protocols = rpc.NewHTTPServer("", nil).Protocols
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(hang) }) // before the server waits for its handlers
	c := e.clientAt(srv.URL, "check", client.Config{HTTPClient: rpc.H2CClient(), Timeout: 200 * time.Millisecond})
	k := c.Checker(context.Background())
	defer k.Close()
	q := &holdfastv1.CheckRequest{Account: "acct-1", Action: "trade"}
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	if _, err := k.Check(ctx, q); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a check on the silent stream: %v", err)
	}
	got, err := k.Check(context.Background(), q)
	if err != nil || got.Effect != "allow" {
		t.Fatalf("after the stall: %v %v", got, err)
	}
	if n := streams.Load(); n != 2 {
		t.Fatalf("%d streams opened, want 2", n)
	}
}
