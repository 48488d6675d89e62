package bus

import (
	"context"
	"sync/atomic"
	"time"
)

// FastPath publishes committed changes without the committer waiting for
// NATS: a write's answer must not hang on the bus (with NATS down, a
// publish waits seconds for an acknowledgement that never comes). It is
// only the fast path: every change is in the outbox too, which publishes
// it again until it is delivered, so a change the queue drops, or a
// publish that fails, is late, never lost.
type FastPath struct {
	b       *Bus
	q       chan queued
	dropped atomic.Int64
}

// queued is a change waiting to be published.
type queued struct {
	account string
	seq     int64
	id      string
}

// fastPathTimeout bounds one publish, so that the queue moves on soon
// after NATS comes back.
const fastPathTimeout = 2 * time.Second

// StartFastPath starts publishing, in order, up to size queued changes
// until ctx ends.
func (b *Bus) StartFastPath(ctx context.Context, size int) *FastPath {
	f := &FastPath{b: b, q: make(chan queued, size)}
	go f.run(ctx)
	return f
}

// Publish queues a change and returns at once; when the queue is full
// (NATS slow or down) the change is left to the outbox.
func (f *FastPath) Publish(account string, seq int64, id string) {
	select {
	case f.q <- queued{account, seq, id}:
	default:
		f.dropped.Add(1)
	}
}

// Dropped is how many changes were left to the outbox for a full queue.
func (f *FastPath) Dropped() int64 { return f.dropped.Load() }

func (f *FastPath) run(ctx context.Context) {
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-f.q:
			pctx, cancel := context.WithTimeout(ctx, fastPathTimeout)
			err := f.b.PublishChange(pctx, c.account, c.seq, c.id)
			cancel()
			// One line per outage, not per change.
			switch {
			case err != nil && !failing && ctx.Err() == nil:
				f.b.cfg.Logger.Warn("publishing changes failed; the outbox will deliver them", "account", c.account, "err", err)
			case err == nil && failing:
				f.b.cfg.Logger.Info("publishing changes works again", "left_to_outbox", f.dropped.Load())
			}
			failing = err != nil
		}
	}
}
