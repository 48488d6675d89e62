package engine

import (
	"cmp"
	"hash/maphash"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast/holdfast"
)

// The decision index answers checks from memory. It holds only accounts
// that have (or recently had) restrictions, so it grows with restrictions,
// not with accounts. Reads are lock-free: each shard publishes an immutable
// map through an atomic pointer, and writers copy the (small) shard map.
// Maps are keyed by the account's 64-bit hash, computed once per check;
// the entry names its account, and the rare accounts whose hashes collide
// share a chain.
const indexShards = 4096

type index struct {
	seed   maphash.Seed
	shards [indexShards]indexShard
	// present has a bit set for every account hash ever put, so that most
	// checks on unrestricted accounts (the common case) end after one
	// probe of a table that stays in cache. Bits are never cleared but on
	// load; a stale bit only costs a map lookup.
	present [presentWords]atomic.Uint64
}

const presentWords = 1 << 15 // 2^21 bits, 256 KiB

type indexShard struct {
	mu sync.Mutex // serializes writers of this shard
	m  atomic.Pointer[map[uint64]*accountEntry]
}

// accountEntry is one account's restrictions as of audit sequence seq. It
// is never modified after publication. An entry without rules is a
// tombstone: it remembers the seq of the commit that removed the last
// restriction, so that a slower publication of an earlier commit cannot
// bring a lifted restriction back.
type accountEntry struct {
	account string
	seq     int64
	rules   []rule
	putAt   int64         // Unix nanoseconds, for dropping old tombstones
	next    *accountEntry // another account with the same hash
}

// rule is a restriction laid out for the hot path: what a check reads is
// inline (effects, times as Unix nanoseconds, device scope), so deciding on
// an account touches one contiguous slice; r and kp are read only to
// describe a cause.
type rule struct {
	fx       holdfast.EffectTable
	disclose bool
	start    int64
	end      int64 // 0: until lifted
	device   string
	r        *holdfast.Restriction
	kp       *holdfast.KindPolicy
	// origin is what a check may show of why a rule applied it: nothing
	// for kinds whose reason only some roles may see (checks carry no
	// roles).
	origin *holdfast.Origin
}

// activeAt reports whether the rule is in force at now (Unix nanoseconds).
// Lifted restrictions never reach the index.
func (ru *rule) activeAt(now int64) bool {
	return now >= ru.start && (ru.end == 0 || now < ru.end)
}

func newIndex() *index {
	ix := &index{seed: maphash.MakeSeed()}
	for i := range ix.shards {
		empty := map[uint64]*accountEntry{}
		ix.shards[i].m.Store(&empty)
	}
	return ix
}

func (ix *index) shard(h uint64) *indexShard { return &ix.shards[h%indexShards] }

// bit locates an account hash's presence bit. It uses the high bits, which
// the shard choice does not.
func bit(h uint64) (word int, mask uint64) {
	b := h >> (64 - 21)
	return int(b >> 6), 1 << (b & 63)
}

// find returns account's entry in a chain, or nil.
func find(e *accountEntry, account string) *accountEntry {
	for ; e != nil; e = e.next {
		if e.account == account {
			return e
		}
	}
	return nil
}

// without returns the chain minus account's entry, copying what it must
// (published entries are immutable).
func without(e *accountEntry, account string) *accountEntry {
	if e == nil {
		return nil
	}
	if e.account == account {
		return e.next
	}
	c := *e
	c.next = without(e.next, account)
	return &c
}

// get returns the account's entry, or nil when it has no restrictions.
func (ix *index) get(account string) *accountEntry {
	h := maphash.String(ix.seed, account)
	if w, m := bit(h); ix.present[w].Load()&m == 0 {
		return nil
	}
	e := find((*ix.shard(h).m.Load())[h], account)
	if e == nil || len(e.rules) == 0 {
		return nil
	}
	return e
}

// put publishes the account's restrictions as of seq (at now). An update
// older than what is published is ignored, so commits racing to publish
// cannot move the index backwards.
func (ix *index) put(account string, seq int64, rules []rule, now int64) {
	h := maphash.String(ix.seed, account)
	s := ix.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.m.Load()
	if cur := find(old[h], account); cur != nil && cur.seq >= seq {
		return
	}
	next := maps.Clone(old)
	e := &accountEntry{account: account, seq: seq, rules: rules, putAt: now, next: without(old[h], account)}
	next[h] = e
	// The bit goes up before the map is published: a reader that sees the
	// new map also sees the bit.
	w, m := bit(h)
	ix.present[w].Or(m)
	s.m.Store(&next)
}

// load replaces the whole index, for start-up. It builds every shard map
// once instead of copying per account.
func (ix *index) load(entries map[string]*accountEntry) {
	shardMaps := make([]map[uint64]*accountEntry, indexShards)
	for i := range shardMaps {
		shardMaps[i] = map[uint64]*accountEntry{}
	}
	for i := range ix.present {
		ix.present[i].Store(0)
	}
	for acct, e := range entries {
		h := maphash.String(ix.seed, acct)
		m := shardMaps[h%indexShards]
		e.account, e.next = acct, m[h]
		m[h] = e
		w, mask := bit(h)
		ix.present[w].Or(mask)
	}
	for i := range ix.shards {
		s := &ix.shards[i]
		s.mu.Lock()
		s.m.Store(&shardMaps[i])
		s.mu.Unlock()
	}
}

// stats counts accounts and restrictions held, for metrics.
func (ix *index) stats() (accounts, restrictions int) {
	for i := range ix.shards {
		for _, head := range *ix.shards[i].m.Load() {
			for e := head; e != nil; e = e.next {
				if len(e.rules) > 0 {
					accounts++
					restrictions += len(e.rules)
				}
			}
		}
	}
	return accounts, restrictions
}

// rulesFor turns restrictions into rules, dropping those over at now and
// ordering by start so causes read in time order.
func (e *Engine) rulesFor(rs []*holdfast.Restriction, now time.Time) []rule {
	out := make([]rule, 0, len(rs))
	for _, r := range rs {
		if r.Over(now) {
			continue
		}
		c := r.Clone()
		ru := rule{fx: *e.policy.Effects(r.Kind), disclose: r.Disclose, start: r.StartsAt.UnixNano(), device: r.Device, r: c, kp: e.policy.Kind(r.Kind)}
		if len(ru.kp.SeeReason) == 0 {
			ru.origin = c.Origin
		}
		if !r.EndsAt.IsZero() {
			ru.end = r.EndsAt.UnixNano()
		}
		out = append(out, ru)
	}
	slices.SortFunc(out, func(a, b rule) int {
		if c := cmp.Compare(a.start, b.start); c != 0 {
			return c
		}
		return cmp.Compare(a.r.ID, b.r.ID)
	})
	return out
}

// prune drops rules that have ended by now, and tombstones older than
// tombstoneTTL, so that the index holds only restrictions in force or
// still to come. Decisions never depend on it (checks compare times
// themselves); it only bounds memory.
func (ix *index) prune(now int64) (dropped int) {
	for i := range ix.shards {
		s := &ix.shards[i]
		s.mu.Lock()
		old := *s.m.Load()
		var next map[uint64]*accountEntry
		for h, head := range old {
			var kept *accountEntry
			changed := false
			for e := head; e != nil; e = e.next {
				rules := slices.DeleteFunc(slices.Clone(e.rules), func(ru rule) bool { return ru.end != 0 && ru.end <= now })
				dropped += len(e.rules) - len(rules)
				switch {
				case len(rules) == 0 && now-e.putAt > int64(tombstoneTTL):
					changed = true
					continue
				case len(rules) != len(e.rules):
					changed = true
				}
				kept = &accountEntry{account: e.account, seq: e.seq, rules: rules, putAt: e.putAt, next: kept}
			}
			if !changed {
				continue
			}
			if next == nil {
				next = maps.Clone(old)
			}
			if kept == nil {
				delete(next, h)
			} else {
				next[h] = kept
			}
		}
		if next != nil {
			s.m.Store(&next)
		}
		s.mu.Unlock()
	}
	return dropped
}

// tombstoneTTL is how long a tombstone outlives its commit: far longer
// than any publication can lag behind the commit it follows.
const tombstoneTTL = time.Minute
