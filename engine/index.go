package engine

import (
	"cmp"
	"maps"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast/holdfast"
)

// The decision index answers checks from memory. It holds only accounts
// that have restrictions, so it grows with active restrictions, not with
// accounts. Reads are lock-free: each shard publishes an immutable map
// through an atomic pointer, and writers copy the (small) shard map.
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
	m  atomic.Pointer[map[string]*accountEntry]
}

// accountEntry is one account's restrictions as of audit sequence seq.
// It is never modified after publication.
type accountEntry struct {
	seq   int64
	rules []rule
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
}

// activeAt reports whether the rule is in force at now (Unix nanoseconds).
// Lifted restrictions never reach the index.
func (ru *rule) activeAt(now int64) bool {
	return now >= ru.start && (ru.end == 0 || now < ru.end)
}

func newIndex() *index {
	ix := &index{seed: maphash.MakeSeed()}
	for i := range ix.shards {
		empty := map[string]*accountEntry{}
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

// get returns the account's entry, or nil when it has no restrictions.
func (ix *index) get(account string) *accountEntry {
	h := maphash.String(ix.seed, account)
	if w, m := bit(h); ix.present[w].Load()&m == 0 {
		return nil
	}
	return (*ix.shard(h).m.Load())[account]
}

// put publishes the account's restrictions as of seq. An update older than
// what is published is ignored, so commits racing to publish cannot move
// the index backwards.
func (ix *index) put(account string, seq int64, rules []rule) {
	h := maphash.String(ix.seed, account)
	s := ix.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.m.Load()
	if cur := old[account]; cur != nil && cur.seq >= seq {
		return
	}
	next := maps.Clone(old)
	if len(rules) == 0 {
		delete(next, account)
	} else {
		next[account] = &accountEntry{seq: seq, rules: rules}
		// The bit goes up before the map is published: a reader that sees
		// the new map also sees the bit.
		w, m := bit(h)
		ix.present[w].Or(m)
	}
	s.m.Store(&next)
}

// load replaces the whole index, for start-up. It builds every shard map
// once instead of copying per account.
func (ix *index) load(entries map[string]*accountEntry) {
	maps := make([]map[string]*accountEntry, indexShards)
	for i := range maps {
		maps[i] = map[string]*accountEntry{}
	}
	for i := range ix.present {
		ix.present[i].Store(0)
	}
	for acct, e := range entries {
		h := maphash.String(ix.seed, acct)
		maps[h%indexShards][acct] = e
		w, m := bit(h)
		ix.present[w].Or(m)
	}
	for i := range ix.shards {
		s := &ix.shards[i]
		s.mu.Lock()
		s.m.Store(&maps[i])
		s.mu.Unlock()
	}
}

// stats counts accounts and restrictions held, for metrics.
func (ix *index) stats() (accounts, restrictions int) {
	for i := range ix.shards {
		m := *ix.shards[i].m.Load()
		accounts += len(m)
		for _, e := range m {
			restrictions += len(e.rules)
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

// prune drops rules that have ended by now, so that the index holds only
// restrictions in force or still to come. Decisions never depend on it
// (checks compare times themselves); it only bounds memory.
func (ix *index) prune(now int64) (dropped int) {
	for i := range ix.shards {
		s := &ix.shards[i]
		s.mu.Lock()
		old := *s.m.Load()
		var next map[string]*accountEntry
		for acct, e := range old {
			kept := slices.DeleteFunc(slices.Clone(e.rules), func(ru rule) bool { return ru.end != 0 && ru.end <= now })
			if len(kept) == len(e.rules) {
				continue
			}
			if next == nil {
				next = maps.Clone(old)
			}
			dropped += len(e.rules) - len(kept)
			if len(kept) == 0 {
				delete(next, acct)
			} else {
				next[acct] = &accountEntry{seq: e.seq, rules: kept}
			}
		}
		if next != nil {
			s.m.Store(&next)
		}
		s.mu.Unlock()
	}
	return dropped
}
