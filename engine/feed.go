package engine

import (
	"context"
	"github.com/holdfast/holdfast/internal/telemetry"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast/holdfast"
)

// Many nodes, one store: each node answers checks from its own index, so a
// change committed on one node must reach the others. With a change feed
// configured, every commit that changes an account's restrictions or
// credentials also writes an index_changed command to the outbox, in the
// same transaction (so a node dying after its commit loses nothing: the
// command is published later by whichever node delivers the outbox), and
// OnCommit hears of it at once for the fast path. A node applies a change
// by reloading the account from the store (Refresh): the store is the
// truth, and the audit sequence orders reloads, so a late or repeated
// message can never move an index backwards.

// FeedConfig configures the change feed.
type FeedConfig struct {
	// OnCommit is called after a commit that changed account, with its
	// audit sequence and the command id written for it (publish it at
	// once; the outbox delivers it again if this fails).
	OnCommit func(account string, seq int64, id string)
	// MaxLag is how far behind the feed a node may be before it fails
	// closed for money-out actions and reports not ready (default 2 s).
	MaxLag time.Duration
	// OnDelay, if set, hears how long after its publication each feed
	// message (a change or a heartbeat) was applied: the feed's lag as a
	// distribution, for metrics.
	OnDelay func(time.Duration)
}

// feed is the engine's change-feed state.
type feed struct {
	cfg FeedConfig
	// caughtUp is the newest time (Unix nanoseconds, the publisher's
	// clock) up to which this node has applied the feed; 0 until the
	// first message.
	caughtUp atomic.Int64

	// A change this node received but could not apply (its store was
	// unreachable, say) keeps it stale, however fresh the feed's later
	// messages: missed holds the accounts whose reload failed until one
	// succeeds, and rebuild is set by a failed rebuild until one succeeds.
	// held is set while either is, for Stale to read without the lock.
	mu      sync.Mutex
	missed  map[string]bool
	rebuild bool
	held    atomic.Bool
}

// applied records the outcome of reloading account (or, when account is
// empty, of rebuilding the whole index).
func (f *feed) applied(account string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case account == "" && err == nil:
		clear(f.missed)
		f.rebuild = false
	case account == "":
		f.rebuild = true
	case err == nil:
		delete(f.missed, account)
	default:
		if f.missed == nil {
			f.missed = map[string]bool{}
		}
		f.missed[account] = true
	}
	f.held.Store(f.rebuild || len(f.missed) > 0)
}

// changeID names the index_changed command of account's commit seq (with
// audit chain head hash): the feed's message id, which JetStream drops as
// a repeat for two minutes. The store's id keeps two databases on one NATS
// apart; the head hash, a database restored from a backup, whose
// sequences run again with other changes.
func changeID(store, account string, seq int64, hash string) string {
	return "chg_" + store + "_" + account + "_" + strconv.FormatInt(seq, 10) + "_" + hash[:min(len(hash), 12)]
}

// Refresh reloads an account's restrictions and credentials from the store
// into this node's indexes: how a node applies a change that another node
// committed. The audit sequence is read first, so the restrictions read
// after it are at least as new as what it stamps. Until a failed reload
// of an account is retried with success (or the index rebuilt), the node
// is stale.
func (e *Engine) Refresh(ctx context.Context, account string) error {
	ctx, span := telemetry.Tracer().Start(ctx, "feed.apply")
	_, err := e.refresh(ctx, account)
	telemetry.End(span, err)
	if e.feed != nil {
		e.feed.applied(account, err)
	}
	return err
}

// refresh reloads account and reports whether the index took the reload
// (it ignores one no newer than what it holds).
func (e *Engine) refresh(ctx context.Context, account string) (bool, error) {
	now := e.clock.Now()
	a, err := e.store.Account(ctx, account)
	if holdfast.ErrorCode(err) == holdfast.NotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	rs, err := e.store.Restrictions(ctx, holdfast.RestrictionFilter{Account: account, ActiveAt: now})
	if err != nil {
		return false, err
	}
	put := e.index.put(account, a.AuditSeq, e.rulesFor(rs, now), now.UnixNano())
	e.creds.put(account, e.credEntryFor(a))
	return put, nil
}

// FeedAt records that this node has applied the feed up to t (a message's
// or heartbeat's publication time). A time ahead of this node's clock (the
// publisher's clock runs fast) counts as now: it proves the feed is alive
// now, not in the future, or a silent feed would look fresh until this
// clock caught up with the other's.
func (e *Engine) FeedAt(t time.Time) {
	if e.feed == nil {
		return
	}
	now := e.clock.Now()
	if f := e.feed.cfg.OnDelay; f != nil {
		f(max(0, now.Sub(t)))
	}
	if t.After(now) {
		t = now
	}
	for {
		cur := e.feed.caughtUp.Load()
		if t.UnixNano() <= cur || e.feed.caughtUp.CompareAndSwap(cur, t.UnixNano()) {
			return
		}
	}
}

// FeedLag is how far this node is behind the change feed (0 without a
// feed; very large before its first message).
func (e *Engine) FeedLag() time.Duration {
	if e.feed == nil {
		return 0
	}
	at := e.feed.caughtUp.Load()
	if at == 0 {
		return time.Duration(1<<63 - 1)
	}
	return max(0, e.clock.Now().Sub(time.Unix(0, at)))
}

// FeedHeld is what keeps the node stale whatever its lag: the number of
// accounts whose change it could not apply yet, and whether a rebuild of
// its index failed. Both are retried until they succeed.
func (e *Engine) FeedHeld() (accounts int, rebuild bool) {
	if e.feed == nil {
		return 0, false
	}
	e.feed.mu.Lock()
	defer e.feed.mu.Unlock()
	return len(e.feed.missed), e.feed.rebuild
}

// Stale reports whether the node is further behind the feed than allowed,
// or holds a change it could not apply: it then fails closed for money-out
// actions and is not ready.
func (e *Engine) Stale() bool {
	return e.feed != nil && (e.feed.held.Load() || e.FeedLag() > e.feed.cfg.MaxLag)
}

// staleCause is what a stale node answers for money-out actions.
var staleCause = holdfast.Cause{
	Code: holdfast.FailedPrecondition, Effect: holdfast.Deny,
	Message: "We cannot confirm this right now. Please try again in a moment.",
}

// moneyOut reports whether a is an action a stale node refuses.
func moneyOut(a holdfast.Action) bool {
	return a == holdfast.ActionWithdraw || a == holdfast.ActionInternalTransfer || a == holdfast.ActionP2PTrade
}
