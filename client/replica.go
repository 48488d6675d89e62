package client

import (
	"context"
	"errors"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast/holdfast/bus"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
)

// ReplicaConfig configures a Replica.
type ReplicaConfig struct {
	// MaxLag is how far behind the change feed the replica may be and
	// still answer from its cache (default 2 s). Beyond it, and before
	// the feed's first message, every check goes to the server.
	MaxLag time.Duration
	// MaxEntries bounds the cached decisions (default 1,000,000). When
	// full, arbitrary entries make room.
	MaxEntries int
	// MaxAge, when positive, also ends a cached decision this long after
	// it was fetched: a safety net for changes no feed message announces
	// (a server restarted with another policy). 0: none.
	MaxAge time.Duration
}

// Replica is an in-process decision cache kept coherent by the change
// feed, so that a gateway answers trade-side checks (trade, api_access,
// login, ...) without a network hop. It implements bus.Applier: every
// committed change of an account's restrictions or credentials arrives as
// Refresh and drops the account's cached decisions.
//
// Money-out actions (withdraw, internal_transfer, p2p_trade) are never
// answered from the cache; the linearizable path for them is
// Client.AuthorizeWithdrawal.
type Replica struct {
	c      *Client
	b      *bus.Bus
	cfg    ReplicaConfig
	seed   maphash.Seed
	mask   uint64
	limit  int // decisions per shard
	fedAt  atomic.Int64
	clock  atomic.Pointer[clockBase]
	shards []shard
}

// clockBase lets the hit path read the wall clock as a base plus the
// monotonic time since, which costs half of time.Now. FeedAt takes a new
// base every second, so a step of the wall clock is followed within one.
type clockBase struct {
	mono time.Time // with its monotonic reading
	wall int64     // mono's wall clock, Unix nanoseconds
}

func newClockBase() *clockBase {
	now := time.Now()
	return &clockBase{mono: now, wall: now.UnixNano()}
}

// now is the wall clock in Unix nanoseconds.
func (r *Replica) now() int64 {
	b := r.clock.Load()
	return b.wall + int64(time.Since(b.mono))
}

var _ bus.Applier = (*Replica)(nil)

// decisionKey is what a decision depends on besides the account.
type decisionKey struct {
	action, device, session, apiKey, ip, view string
}

// decision is a cached answer, good until until (Unix nanoseconds; 0:
// until the feed says otherwise).
type decision struct {
	res   *holdfastv1.CheckResponse
	until int64
}

// account is one account's cached decisions. epoch is bumped by every
// change notification: a fetch stores its answer only if the epoch it
// read before asking the server is still current, so an answer that may
// predate a change is never cached after the change was applied. pending
// counts fetches in flight; an account entry is removed only when it has
// neither decisions nor fetches, so no fetch ever holds a forgotten epoch.
type account struct {
	epoch   uint64
	pending int
	// The decisions: a few in a slice, searched without hashing (an
	// account is usually checked in a handful of contexts), more in a map.
	few  []cachedDecision
	many map[decisionKey]decision
}

type cachedDecision struct {
	k decisionKey
	d decision
}

// fewMax is how many decisions an account keeps in its slice.
const fewMax = 8

func (a *account) len() int { return len(a.few) + len(a.many) }

func (a *account) get(k decisionKey) (decision, bool) {
	if a.many != nil {
		d, ok := a.many[k]
		return d, ok
	}
	for i := range a.few {
		if a.few[i].k == k {
			return a.few[i].d, true
		}
	}
	return decision{}, false
}

// has reports whether a holds a decision for k.
func (a *account) has(k decisionKey) bool {
	_, ok := a.get(k)
	return ok
}

// put stores d for k, which a may hold already.
func (a *account) put(k decisionKey, d decision) {
	if a.many != nil {
		a.many[k] = d
		return
	}
	for i := range a.few {
		if a.few[i].k == k {
			a.few[i].d = d
			return
		}
	}
	if len(a.few) < fewMax {
		a.few = append(a.few, cachedDecision{k, d})
		return
	}
	a.many = make(map[decisionKey]decision, 2*fewMax)
	for _, c := range a.few {
		a.many[c.k] = c.d
	}
	a.few = nil
	a.many[k] = d
}

// removeOne drops an arbitrary decision of a, reporting whether it had
// one.
func (a *account) removeOne() bool {
	for k := range a.many {
		delete(a.many, k)
		return true
	}
	if n := len(a.few); n > 0 {
		a.few[n-1] = cachedDecision{}
		a.few = a.few[:n-1]
		return true
	}
	return false
}

func (a *account) clear() { a.few, a.many = nil, nil }

type shard struct {
	mu       sync.RWMutex
	accounts map[string]*account
	n        int // decisions held
	hits     atomic.Uint64
	misses   atomic.Uint64
	_        [64]byte // keep shards' hot words off each other's cache lines
}

// NewReplica builds a replica that asks c on a miss and follows b's
// change feed once Run is called.
func NewReplica(c *Client, b *bus.Bus, cfg ReplicaConfig) *Replica {
	if cfg.MaxLag <= 0 {
		cfg.MaxLag = 2 * time.Second
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 1_000_000
	}
	n := 1
	for n < 256 && n*2 <= cfg.MaxEntries {
		n *= 2
	}
	r := &Replica{c: c, b: b, cfg: cfg, seed: maphash.MakeSeed(), mask: uint64(n - 1), limit: cfg.MaxEntries / n, shards: make([]shard, n)}
	for i := range r.shards {
		r.shards[i].accounts = map[string]*account{}
	}
	r.clock.Store(newClockBase())
	return r
}

// Run follows the change feed until ctx ends. Whatever was cached before
// is dropped, since changes made while the replica was not following
// would otherwise be missed.
func (r *Replica) Run(ctx context.Context) error {
	if r.b == nil {
		return errors.New("client: replica has no bus")
	}
	start, err := r.b.FeedStart(ctx)
	if err != nil {
		return err
	}
	_ = r.Rebuild(ctx)
	return r.b.RunFeed(ctx, r, start)
}

// Refresh drops every cached decision of account (bus.Applier).
func (r *Replica) Refresh(_ context.Context, acct string) error {
	s := r.shard(acct)
	s.mu.Lock()
	if a := s.accounts[acct]; a != nil {
		s.drop(acct, a)
	}
	s.mu.Unlock()
	return nil
}

// Rebuild drops every cached decision (bus.Applier): the feed broke and
// changes may have been missed.
func (r *Replica) Rebuild(context.Context) error {
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		for acct, a := range s.accounts {
			s.drop(acct, a)
		}
		s.mu.Unlock()
	}
	return nil
}

// drop forgets a's decisions and invalidates its fetches in flight.
// s.mu is held.
func (s *shard) drop(acct string, a *account) {
	a.epoch++
	s.n -= a.len()
	a.clear()
	if a.pending == 0 {
		delete(s.accounts, acct)
	}
}

// FeedAt records that the feed has been applied up to t (bus.Applier). A
// time ahead of this clock (the publisher's runs fast) counts as now, or a
// silent feed would look fresh until this clock caught up with the other.
func (r *Replica) FeedAt(t time.Time) {
	if time.Since(r.clock.Load().mono) > time.Second {
		r.clock.Store(newClockBase())
	}
	ns := min(t.UnixNano(), r.now())
	for {
		cur := r.fedAt.Load()
		if ns <= cur || r.fedAt.CompareAndSwap(cur, ns) {
			return
		}
	}
}

// Lag is how far the replica is behind the change feed: very large before
// its first message.
func (r *Replica) Lag() time.Duration { return r.lag(r.now()) }

func (r *Replica) lag(now int64) time.Duration {
	at := r.fedAt.Load()
	if at == 0 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(max(0, now-at))
}

// Stale reports whether the replica is further behind the feed than
// MaxLag (or has never heard from it): every check then goes to the
// server.
func (r *Replica) Stale() bool { return r.Lag() > r.cfg.MaxLag }

// Stats returns how many checks the cache answered and how many went to
// the server (misses, money-out actions and checks while stale).
func (r *Replica) Stats() (hits, misses uint64) {
	for i := range r.shards {
		hits += r.shards[i].hits.Load()
		misses += r.shards[i].misses.Load()
	}
	return hits, misses
}

// Len is the number of cached decisions.
func (r *Replica) Len() int {
	n := 0
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.RLock()
		n += s.n
		s.mu.RUnlock()
	}
	return n
}

// Client is the client the replica asks.
func (r *Replica) Client() *Client { return r.c }

func (r *Replica) shard(acct string) *shard {
	return &r.shards[maphash.String(r.seed, acct)&r.mask]
}

// moneyOut reports whether action moves money out of an account.
func moneyOut(action string) bool {
	return action == "withdraw" || action == "internal_transfer" || action == "p2p_trade"
}

// Check answers like Client.Check: from the cache when it can, from the
// server otherwise. The answer may be shared with other callers: do not
// modify it.
func (r *Replica) Check(ctx context.Context, req *holdfastv1.CheckRequest) (*holdfastv1.CheckResponse, error) {
	if req == nil {
		req = &holdfastv1.CheckRequest{}
	}
	s := r.shard(req.Account)
	now := r.now()
	if moneyOut(req.Action) || r.lag(now) > r.cfg.MaxLag {
		s.misses.Add(1)
		return r.c.Check(ctx, req)
	}
	k := decisionKey{req.Action, req.Device, req.Session, req.ApiKey, req.Ip, req.View}
	s.mu.RLock()
	if a := s.accounts[req.Account]; a != nil {
		if d, ok := a.get(k); ok && (d.until == 0 || now < d.until) {
			s.mu.RUnlock()
			s.hits.Add(1)
			return d.res, nil
		}
	}
	s.mu.RUnlock()
	s.misses.Add(1)
	return r.fetch(ctx, s, req, k)
}

// fetch asks the server and caches the answer unless a change
// notification for the account arrived meanwhile.
func (r *Replica) fetch(ctx context.Context, s *shard, req *holdfastv1.CheckRequest, k decisionKey) (*holdfastv1.CheckResponse, error) {
	s.mu.Lock()
	a := s.accounts[req.Account]
	if a == nil {
		a = &account{}
		s.accounts[req.Account] = a
	}
	a.pending++
	epoch := a.epoch
	s.mu.Unlock()

	res, err := r.c.Check(ctx, req)
	fetched := time.Now()

	s.mu.Lock()
	defer s.mu.Unlock()
	a.pending--
	if err == nil && a.epoch == epoch {
		var until int64
		if ra := res.GetRetryAfter(); ra != nil {
			until = ra.AsTime().UnixNano()
		}
		if r.cfg.MaxAge > 0 {
			if end := fetched.Add(r.cfg.MaxAge).UnixNano(); until == 0 || end < until {
				until = end
			}
		}
		if until == 0 || fetched.UnixNano() < until {
			r.store(s, a, k, decision{res: res, until: until})
		}
	}
	if a.pending == 0 && a.len() == 0 {
		delete(s.accounts, req.Account)
	}
	return res, err
}

// store caches d, making room if the shard is full. s.mu is held.
func (r *Replica) store(s *shard, a *account, k decisionKey, d decision) {
	if !a.has(k) {
		for s.n >= r.limit && s.evictOne(a) {
		}
		s.n++
	}
	a.put(k, d)
}

// evictOne drops an arbitrary cached decision, keeping the entry of keep
// (whose decision is about to be stored). It reports whether it dropped
// one. s.mu is held.
func (s *shard) evictOne(keep *account) bool {
	for acct, a := range s.accounts {
		if a.removeOne() {
			s.n--
			if a.len() == 0 && a.pending == 0 && a != keep {
				delete(s.accounts, acct)
			}
			return true
		}
	}
	return false
}
