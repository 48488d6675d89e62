package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/holdfast/holdfast"
)

// Event intake: services publish events (the event API's JSON) to
// <prefix>.events.<partition>, the partition chosen from the account (use
// PublishEvent, or Partition). Each partition has one durable consumer
// that every node pulls from with at most one message in flight, so the
// work spreads over the nodes while one account's events are ingested in
// the order they were published. A message that keeps failing goes to the
// dead-letter subject after MaxDeliver tries (at once if it can never
// succeed, like an invalid event), where staff see it (DeadLetters).

// IntakeConfig configures event intake.
type IntakeConfig struct {
	// Partitions of the event subjects (default 16). Publishers and nodes
	// must agree on it.
	Partitions int
	// MaxDeliver is how many times a message is tried (default 5).
	MaxDeliver int
	// AckWait is how long a node has to ingest one (default 30 s).
	AckWait time.Duration
}

func (c *IntakeConfig) defaults() {
	if c.Partitions <= 0 {
		c.Partitions = 16
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = 5
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
}

// Partition is the partition of an account's events.
func Partition(account string, partitions int) int {
	h := fnv.New32a()
	h.Write([]byte(account))
	return int(h.Sum32() % uint32(partitions))
}

// PublishEvent publishes ev to its account's partition. A set ev.ID makes
// a repeat within ten minutes a no-op (and intake is idempotent by id
// anyway).
func (b *Bus) PublishEvent(ctx context.Context, ev *holdfast.Event, partitions int) error {
	if partitions <= 0 {
		partitions = 16
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	var opts []jetstream.PublishOpt
	if ev.ID != "" {
		opts = append(opts, jetstream.WithMsgID(ev.ID))
	}
	_, err = b.js.Publish(ctx, b.eventsSubject(strconv.Itoa(Partition(ev.Account, partitions))), body, opts...)
	return err
}

// Ingester takes events: the engine.
type Ingester interface {
	Ingest(ctx context.Context, ev holdfast.Event) (*holdfast.IngestResult, error)
}

// RunIntake ingests published events until ctx ends.
func (b *Bus) RunIntake(ctx context.Context, in Ingester, cfg IntakeConfig) error {
	cfg.defaults()
	var wg sync.WaitGroup
	errs := make(chan error, cfg.Partitions)
	for p := range cfg.Partitions {
		cons, err := b.js.CreateOrUpdateConsumer(ctx, b.eventsStream(), jetstream.ConsumerConfig{
			Durable:       fmt.Sprintf("%s-events-%d", b.cfg.Prefix, p),
			FilterSubject: b.eventsSubject(strconv.Itoa(p)),
			AckPolicy:     jetstream.AckExplicitPolicy,
			MaxAckPending: 1, // one account's events stay in order
			AckWait:       cfg.AckWait,
		})
		if err != nil {
			return fmt.Errorf("bus: consumer for partition %d: %w", p, err)
		}
		wg.Go(func() { errs <- b.pull(ctx, cons, in, cfg) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// pull ingests one partition's messages, one at a time.
func (b *Bus) pull(ctx context.Context, cons jetstream.Consumer, in Ingester, cfg IntakeConfig) error {
	for ctx.Err() == nil {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			b.cfg.Logger.Warn("bus: fetching events failed", "err", err)
			time.Sleep(250 * time.Millisecond)
			continue
		}
		for m := range batch.Messages() {
			b.handle(ctx, m, in, cfg)
		}
	}
	return nil
}

// handle ingests one message and settles it: ack, retry later, or dead.
func (b *Bus) handle(ctx context.Context, m jetstream.Msg, in Ingester, cfg IntakeConfig) {
	var ev holdfast.Event
	err := json.Unmarshal(m.Data(), &ev)
	if err != nil {
		err = holdfast.Errorf(holdfast.InvalidArgument, "body", "not an event: %v", err)
	} else {
		_, err = in.Ingest(ctx, ev)
	}
	if err == nil {
		_ = m.Ack()
		return
	}
	md, _ := m.Metadata()
	tries := uint64(1)
	if md != nil {
		tries = md.NumDelivered
	}
	// A bad event never gets better: only other failures are retried.
	if holdfast.ErrorCode(err) == holdfast.Internal && tries < uint64(cfg.MaxDeliver) {
		_ = m.NakWithDelay(time.Duration(tries) * 200 * time.Millisecond)
		return
	}
	dead := nats.NewMsg(b.deadSubject())
	dead.Data = m.Data()
	dead.Header.Set("Holdfast-Error", err.Error())
	dead.Header.Set("Holdfast-Subject", m.Subject())
	dead.Header.Set("Holdfast-Deliveries", strconv.FormatUint(tries, 10))
	if _, perr := b.js.PublishMsg(ctx, dead); perr != nil {
		b.cfg.Logger.Error("bus: dead-lettering an event failed; it will be tried again", "err", perr)
		_ = m.Nak()
		return
	}
	b.cfg.Logger.Warn("bus: event dead-lettered", "err", err, "deliveries", tries)
	_ = m.Term()
}

// DeadLetter is an event intake gave up on.
type DeadLetter struct {
	Seq        uint64          `json:"seq"`
	At         time.Time       `json:"at"`
	Subject    string          `json:"subject"`
	Error      string          `json:"error"`
	Deliveries int             `json:"deliveries"`
	Event      json.RawMessage `json:"event"`
}

// DeadLetters lists up to limit dead-lettered events, oldest first.
func (b *Bus) DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	s, err := b.js.Stream(ctx, b.deadStream())
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	out := []DeadLetter{}
	if info.State.Msgs == 0 {
		return out, nil
	}
	for seq := max(info.State.FirstSeq, 1); seq <= info.State.LastSeq && len(out) < limit; seq++ {
		raw, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		n, _ := strconv.Atoi(raw.Header.Get("Holdfast-Deliveries"))
		data := raw.Data
		if !json.Valid(data) {
			data, _ = json.Marshal(string(data))
		}
		out = append(out, DeadLetter{Seq: raw.Sequence, At: raw.Time, Subject: raw.Header.Get("Holdfast-Subject"), Error: raw.Header.Get("Holdfast-Error"), Deliveries: n, Event: data})
	}
	return out, nil
}
