// Package bus connects Holdfast nodes through NATS JetStream: the change
// feed that keeps every node's decision index fresh, and event intake from
// services that publish events instead of calling the API.
package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/holdfast/holdfast"
)

// Config names the bus's streams and subjects. Prefix keeps several
// clusters (or tests) apart on one NATS.
type Config struct {
	// Prefix starts every stream and subject name (default "holdfast").
	Prefix string
	// Node names this process in heartbeats (default: a random id).
	Node string
	// Heartbeat is how often the node tells the feed it is alive, which
	// lets every node measure its lag while nothing changes (default
	// 100 ms).
	Heartbeat time.Duration
	// Retention is how long the feed keeps changes: a node that was away
	// longer rebuilds from the store (default 1 h).
	Retention time.Duration
	Logger    *slog.Logger
	// Clock stamps changes and heartbeats (default: the wall clock).
	Clock holdfast.Clock
}

func (c *Config) defaults() {
	if c.Prefix == "" {
		c.Prefix = "holdfast"
	}
	if c.Node == "" {
		c.Node = nats.NewInbox()[len(nats.InboxPrefix):]
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 100 * time.Millisecond
	}
	if c.Retention <= 0 {
		c.Retention = time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = holdfast.WallClock{}
	}
}

// Bus is a connection to NATS JetStream with Holdfast's streams.
type Bus struct {
	cfg Config
	nc  *nats.Conn
	js  jetstream.JetStream
}

// Connect dials NATS (url like nats://127.0.0.1:4222) and makes sure the
// streams exist.
func Connect(ctx context.Context, url string, cfg Config) (*Bus, error) {
	cfg.defaults()
	nc, err := nats.Connect(url, nats.Name("holdfast "+cfg.Node), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("bus: connect %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	b := &Bus{cfg: cfg, nc: nc, js: js}
	for _, sc := range []jetstream.StreamConfig{
		{Name: b.changesStream(), Subjects: []string{b.changesSubject()}, MaxAge: cfg.Retention, Duplicates: 2 * time.Minute, Storage: jetstream.FileStorage},
		{Name: b.eventsStream(), Subjects: []string{b.eventsSubject("*")}, Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage, Duplicates: 10 * time.Minute},
		{Name: b.deadStream(), Subjects: []string{b.deadSubject()}, MaxAge: 30 * 24 * time.Hour, Storage: jetstream.FileStorage},
	} {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			nc.Close()
			return nil, fmt.Errorf("bus: stream %s: %w", sc.Name, err)
		}
	}
	return b, nil
}

// Close drains and closes the connection.
func (b *Bus) Close() { _ = b.nc.Drain() }

func (b *Bus) changesStream() string  { return upper(b.cfg.Prefix) + "_CHANGES" }
func (b *Bus) changesSubject() string { return b.cfg.Prefix + ".changes" }
func (b *Bus) eventsStream() string   { return upper(b.cfg.Prefix) + "_EVENTS" }
func (b *Bus) eventsSubject(p string) string {
	return b.cfg.Prefix + ".events." + p
}
func (b *Bus) deadStream() string  { return upper(b.cfg.Prefix) + "_DEAD" }
func (b *Bus) deadSubject() string { return b.cfg.Prefix + ".dead.events" }

func upper(s string) string {
	out := []byte(s)
	for i, c := range out {
		switch {
		case c >= 'a' && c <= 'z':
			out[i] = c - 'a' + 'A'
		case (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'):
		default:
			out[i] = '_'
		}
	}
	return string(out)
}

// change is one message of the feed: an account to reload, or (Account
// empty) a heartbeat. At is when it was published, on the publisher's
// clock.
type change struct {
	Account string    `json:"account,omitempty"`
	Seq     int64     `json:"seq,omitempty"`
	Node    string    `json:"node,omitempty"`
	At      time.Time `json:"at"`
}

// PublishChange puts an account's change on the feed. id (the outbox
// command's) makes a repeat within two minutes a no-op for JetStream; a
// later repeat is harmless, since nodes reload by audit sequence.
func (b *Bus) PublishChange(ctx context.Context, account string, seq int64, id string) error {
	body, _ := json.Marshal(change{Account: account, Seq: seq, At: b.cfg.Clock.Now()})
	_, err := b.js.Publish(ctx, b.changesSubject(), body, jetstream.WithMsgID(id))
	return err
}

// Send publishes an index_changed outbox command: the deliverer's sender
// for the slow path (webhook.Sender).
func (b *Bus) Send(ctx context.Context, c *holdfast.Command) error {
	if c.Type != holdfast.CommandIndexChanged {
		return fmt.Errorf("bus: command %s is %s, not %s", c.ID, c.Type, holdfast.CommandIndexChanged)
	}
	seq, _ := strconv.ParseInt(c.Data["seq"], 10, 64)
	return b.PublishChange(ctx, c.Account, seq, c.ID)
}

// Applier is what the feed drives: the engine.
type Applier interface {
	Refresh(ctx context.Context, account string) error
	Rebuild(ctx context.Context) error
	FeedAt(t time.Time)
}

// FeedStart is where a node's feed begins: take it before building the
// node's index from the store, and pass it to RunFeed after, so that no
// change committed in between is missed.
func (b *Bus) FeedStart(ctx context.Context) (uint64, error) {
	s, err := b.js.Stream(ctx, b.changesStream())
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.LastSeq + 1, nil
}

// Retrying the feed: the first wait after a failure, the longest, and how
// long one account's reload may take.
const (
	retryMin       = 100 * time.Millisecond
	retryMax       = 2 * time.Second
	refreshTimeout = 10 * time.Second
)

// RunFeed applies the feed to a until ctx ends, from stream sequence
// start, and publishes this node's heartbeats. Messages are applied in
// order and none is skipped: a change that cannot be applied (the store
// is unreachable, say) is retried, with backoff, until it is, and the
// feed waits for it (the node, behind, goes stale). If the stream no
// longer has a message the node has not applied (a gap, after a
// disconnection longer than the retention), the node rebuilds its index
// from the store before going on.
func (b *Bus) RunFeed(ctx context.Context, a Applier, start uint64) error {
	go b.heartbeat(ctx)
	next, wait := start, time.Duration(0)
	for ctx.Err() == nil {
		n, err := b.consume(ctx, a, next)
		if ctx.Err() != nil {
			return nil
		}
		if n > next {
			wait = 0 // it moved on: this is a new failure
		}
		next, wait = n, min(max(2*wait, retryMin), retryMax)
		b.cfg.Logger.Warn("bus: change feed interrupted; retrying", "seq", next, "in", wait, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	return nil
}

// consume applies the feed in order from stream sequence next and returns,
// on the first problem, the sequence to go on from.
func (b *Bus) consume(ctx context.Context, a Applier, next uint64) (uint64, error) {
	end, err := b.FeedStart(ctx)
	if err != nil {
		return next, err
	}
	if next > end {
		// The stream was made anew: what this node has not applied is gone
		// from it.
		b.cfg.Logger.Warn("bus: change feed was reset; rebuilding the index from the store", "from", next, "to", end)
		if err := a.Rebuild(ctx); err != nil {
			return next, fmt.Errorf("rebuild after a reset: %w", err)
		}
		next = end
	}
	cons, err := b.js.OrderedConsumer(ctx, b.changesStream(), jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: next,
	})
	if err != nil {
		return next, err
	}
	msgs, err := cons.Messages()
	if err != nil {
		return next, err
	}
	defer msgs.Stop()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			msgs.Stop()
		case <-done:
		}
	}()
	for {
		m, err := msgs.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return next, ctx.Err()
			}
			return next, err
		}
		meta, err := m.Metadata()
		if err != nil {
			return next, err
		}
		seq := meta.Sequence.Stream
		if seq > next {
			// The stream lost messages this node never applied: only the
			// store knows what they changed.
			b.cfg.Logger.Warn("bus: change feed has a gap; rebuilding the index from the store", "from", next, "to", seq)
			if err := a.Rebuild(ctx); err != nil {
				return next, fmt.Errorf("rebuild after a gap: %w", err)
			}
		}
		var c change
		if err := json.Unmarshal(m.Data(), &c); err != nil {
			b.cfg.Logger.Error("bus: unreadable change; skipped", "err", err)
			next = seq + 1
			continue
		}
		if c.Account != "" {
			rctx, cancel := context.WithTimeout(ctx, refreshTimeout)
			err := a.Refresh(rctx, c.Account)
			cancel()
			if err != nil {
				return seq, fmt.Errorf("refresh %s: %w", c.Account, err)
			}
		}
		a.FeedAt(c.At)
		next = seq + 1
	}
}

// heartbeat publishes this node's heartbeat until ctx ends.
func (b *Bus) heartbeat(ctx context.Context) {
	t := time.NewTicker(b.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			body, _ := json.Marshal(change{Node: b.cfg.Node, At: b.cfg.Clock.Now()})
			if _, err := b.js.PublishAsync(b.changesSubject(), body); err != nil {
				b.cfg.Logger.Debug("bus: heartbeat not sent", "err", err)
			}
		}
	}
}
