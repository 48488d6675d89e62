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
	body, _ := json.Marshal(change{Account: account, Seq: seq, At: time.Now()})
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

// RunFeed applies the feed to a until ctx ends, from stream sequence
// start, and publishes this node's heartbeats. If the feed breaks (a gap
// after a long disconnection, say), it rebuilds from the store and starts
// again at the stream's end.
func (b *Bus) RunFeed(ctx context.Context, a Applier, start uint64) error {
	go b.heartbeat(ctx)
	for ctx.Err() == nil {
		err := b.consume(ctx, a, start)
		if ctx.Err() != nil {
			return nil
		}
		b.cfg.Logger.Warn("bus: change feed interrupted; rebuilding the index from the store", "err", err)
		if start, err = b.FeedStart(ctx); err != nil {
			b.cfg.Logger.Error("bus: change feed unavailable", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		if err := a.Rebuild(ctx); err != nil {
			b.cfg.Logger.Error("bus: rebuilding the index failed", "err", err)
		}
	}
	return nil
}

// consume reads the feed in order from start and returns on the first
// problem.
func (b *Bus) consume(ctx context.Context, a Applier, start uint64) error {
	cons, err := b.js.OrderedConsumer(ctx, b.changesStream(), jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: start,
	})
	if err != nil {
		return err
	}
	msgs, err := cons.Messages()
	if err != nil {
		return err
	}
	defer msgs.Stop()
	go func() { <-ctx.Done(); msgs.Stop() }()
	for {
		m, err := msgs.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return ctx.Err()
			}
			return err
		}
		var c change
		if err := json.Unmarshal(m.Data(), &c); err != nil {
			b.cfg.Logger.Error("bus: unreadable change; skipped", "err", err)
			continue
		}
		if c.Account != "" {
			if err := a.Refresh(ctx, c.Account); err != nil {
				return fmt.Errorf("refresh %s: %w", c.Account, err)
			}
		}
		a.FeedAt(c.At)
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
			body, _ := json.Marshal(change{Node: b.cfg.Node, At: time.Now()})
			if _, err := b.js.PublishAsync(b.changesSubject(), body); err != nil {
				b.cfg.Logger.Debug("bus: heartbeat not sent", "err", err)
			}
		}
	}
}
