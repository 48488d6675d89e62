package engine

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/holdfast/holdfast"
)

// Anti-entropy: the change feed can lose a message (dropped as a repeat,
// gone from the stream beyond its retention, never published), and then a
// node's index stays wrong for the account until it changes again. Money-
// out reads the store, and a node behind the feed fails closed, but other
// actions (trade, say) answer from the index. So a background pass walks
// every account, a slice at a time, compares the index with the store and
// reloads (Refresh) every account that differs.
//
// It compares content, not audit sequences: the index is loaded at start
// with sequence 0 for every entry, and withdrawals move an account's
// sequence without touching its restrictions, so sequences differ all the
// time where nothing is wrong. What is compared is each restriction in
// force or still to come at one instant: its id, start and end. A lift
// removes a restriction from both sides, an extension moves its end, a new
// restriction adds an id. A restriction that ended by the instant is left
// out on both sides (the store's query and the index's rules), so one the
// index still holds only because prune has not run yet is no difference.

// AntiEntropy paces the background pass: one slice of Slice accounts
// every Every, so a full pass over N accounts takes N/Slice*Every.
type AntiEntropy struct {
	Every time.Duration
	Slice int
}

// antiEntropy is the pass's state, for metrics.
type antiEntropy struct {
	running atomic.Bool
	repairs atomic.Int64
	// fullPass is when (Unix nanoseconds) the last full pass, or the last
	// rebuild of the whole index, ended.
	fullPass atomic.Int64
}

// AntiEntropyStats is what the pass has done.
type AntiEntropyStats struct {
	// Running is set once RunAntiEntropy has started.
	Running bool
	// Repairs counts accounts whose index entry differed from the store
	// and was reloaded.
	Repairs int64
	// LastFullPass is when the last pass over every account (or the last
	// rebuild of the index from the store) ended.
	LastFullPass time.Time
}

// AntiEntropyStats reports the pass's counters.
func (e *Engine) AntiEntropyStats() AntiEntropyStats {
	return AntiEntropyStats{Running: e.ae.running.Load(), Repairs: e.ae.repairs.Load(), LastFullPass: time.Unix(0, e.ae.fullPass.Load())}
}

// Reconcile compares the index with the store for the first limit
// accounts after the id after (empty: from the first), reloads each that
// differs, and returns where the next slice starts (empty when this one
// reached the last account) and how many accounts it repaired.
//
// A reload never moves the index backwards: it is stamped with the
// account's audit sequence, which the index only lets go forward. An entry
// that differs only because a commit on this node published it after the
// store was read here is reloaded for nothing (the store has that commit
// too), and not counted: the index refuses a reload no newer than what it
// holds.
func (e *Engine) Reconcile(ctx context.Context, after string, limit int) (next string, repaired int, err error) {
	now := e.clock.Now()
	ds, err := e.store.AccountDigests(ctx, after, limit, now)
	if err != nil {
		return after, 0, err
	}
	var fixed []string
	for i := range ds {
		if e.indexMatches(&ds[i], now.UnixNano()) {
			continue
		}
		put, err := e.refresh(ctx, ds[i].Account)
		if err != nil {
			// The slice is tried again; the node is not made stale, as
			// a failed feed message makes it: nothing was received.
			return after, repaired, err
		}
		if e.feed != nil {
			e.feed.applied(ds[i].Account, nil)
		}
		if put {
			repaired++
			e.ae.repairs.Add(1)
			if len(fixed) < 10 {
				fixed = append(fixed, ds[i].Account)
			}
		}
	}
	if repaired > 0 {
		// A repair means a change never reached this node: worth knowing.
		e.log.Warn("anti-entropy: the index differed from the store; reloaded", "accounts", repaired, "first", fixed)
	}
	if len(ds) < limit {
		return "", repaired, nil
	}
	return ds[len(ds)-1].Account, repaired, nil
}

// ReconcileAll runs one full pass at once, slice after slice, and returns
// how many accounts it repaired.
func (e *Engine) ReconcileAll(ctx context.Context, slice int) (int, error) {
	total, after := 0, ""
	for {
		next, n, err := e.Reconcile(ctx, after, slice)
		total += n
		if err != nil {
			return total, err
		}
		if next == "" {
			e.ae.fullPass.Store(e.clock.Now().UnixNano())
			return total, nil
		}
		after = next
	}
}

// RunAntiEntropy reconciles one slice every cfg.Every, walking all
// accounts over and over, until ctx ends. A slice that fails (the store
// unreachable) is tried again at the next tick.
func (e *Engine) RunAntiEntropy(ctx context.Context, cfg AntiEntropy) {
	if cfg.Every <= 0 || cfg.Slice <= 0 {
		return
	}
	e.ae.running.Store(true)
	t := time.NewTicker(cfg.Every)
	defer t.Stop()
	after := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		next, _, err := e.Reconcile(ctx, after, cfg.Slice)
		if err != nil {
			if ctx.Err() == nil {
				e.log.Warn("anti-entropy: comparing the index with the store failed; retrying", "after", after, "err", err)
			}
			continue
		}
		if next == "" {
			e.ae.fullPass.Store(e.clock.Now().UnixNano())
		}
		after = next
	}
}

// indexMatches reports whether the index holds exactly the digest's
// restrictions in force or to come at now, with the same starts and ends.
func (e *Engine) indexMatches(d *holdfast.AccountDigest, now int64) bool {
	var rules []rule
	if en := e.index.get(d.Account); en != nil {
		rules = en.rules
	}
	live := 0
	for i := range rules {
		if rules[i].end == 0 || rules[i].end > now {
			live++
		}
	}
	if live != len(d.Restrictions) {
		return false
	}
	for _, s := range d.Restrictions {
		end := int64(0)
		if !s.EndsAt.IsZero() {
			end = s.EndsAt.UnixNano()
		}
		found := false
		for i := range rules {
			if ru := &rules[i]; ru.id == s.ID {
				found = ru.start == s.StartsAt.UnixNano() && ru.end == end
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
