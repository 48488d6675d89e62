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
// hash table (table.go) through an atomic pointer, and writers copy the
// (small) shard table. Tables are keyed by the account's 64-bit hash,
// computed once per check; the entry names its account, and the rare
// accounts whose hashes collide share a chain. A slot holding an account's
// rules inline names it by a second keyed hash instead (table.go).
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
	t  atomic.Pointer[table]
}

// accountEntry is one account's restrictions as of audit sequence seq. It
// is never modified after publication. An entry without rules is a
// tombstone: it remembers the seq of the commit that removed the last
// restriction, so that a slower publication of an earlier commit cannot
// bring a lifted restriction back.
//
// A check on a random restricted account is bound by cache misses, not by
// the decision. Most read only the slot (table.go); the others read the
// entry, so what they read lives in its own allocation: a short name (to
// confirm the hash match) and up to entryRules rules.
type accountEntry struct {
	next    *accountEntry // another account with the same hash
	fp      uint64        // fingerprint(account)
	nameLen uint8         // 0: the name is too long to hold inline
	name    [entryName]byte
	rules   []rule // inline[:n] when they fit
	account string
	seq     int64
	putAt   int64     // Unix nanoseconds, for dropping old tombstones
	acts    actionSet // the actions some rule restricts
	inline  [entryRules]rule
}

const (
	entryName  = 31 // bytes; a UUID-sized name takes the slower path
	entryRules = 2
)

func newEntry(account string, seq int64, rules []rule, putAt int64, next *accountEntry) *accountEntry {
	e := &accountEntry{next: next, fp: fingerprint(account), account: account, seq: seq, putAt: putAt, rules: rules}
	if len(account) <= entryName {
		e.nameLen = uint8(copy(e.name[:], account))
	}
	if len(rules) <= entryRules {
		e.rules = e.inline[:copy(e.inline[:], rules)]
	}
	for i := range rules {
		e.acts |= rules[i].acts
	}
	return e
}

// fingerprintSeed keys fingerprint; it differs from every index's seed, so
// that an account's hash and fingerprint are independent.
var fingerprintSeed = maphash.MakeSeed()

// fingerprint is the second half, after the index hash, of the 128-bit
// keyed hash by which a slot holding its rules inline names its account.
func fingerprint(account string) uint64 { return maphash.String(fingerprintSeed, account) }

// is reports whether the entry is account's.
func (e *accountEntry) is(account string) bool {
	if e.nameLen > 0 {
		return string(e.name[:e.nameLen]) == account
	}
	return e.account == account
}

// rule is a restriction laid out for the hot path: everything a check
// reads, causes included, is inline (effects, times as Unix nanoseconds,
// device scope, id and kind), so deciding on an account touches only its
// entry and the (shared, cached) kind policy.
type rule struct {
	fx       holdfast.EffectTable
	acts     actionSet // where fx is not Allow
	disclose bool
	start    int64
	end      int64 // 0: until lifted
	device   string
	id       string
	kind     holdfast.Kind
	kp       *holdfast.KindPolicy
	// alias is the id the holder sees for a hidden restriction.
	alias string
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

// seenEnd is the end the viewer may know of: none for a hidden
// restriction in the holder view (the cover kind has none).
func (ru *rule) seenEnd(holder bool) int64 {
	if holder && !ru.disclose {
		return 0
	}
	return ru.end
}

func newIndex() *index {
	ix := &index{seed: maphash.MakeSeed()}
	for i := range ix.shards {
		ix.shards[i].t.Store(emptyTable)
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
		if e.is(account) {
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
	if e.is(account) {
		return e.next
	}
	return newEntry(e.account, e.seq, e.rules, e.putAt, without(e.next, account))
}

// get returns the account's entry, or nil when it has no restrictions.
func (ix *index) get(account string) *accountEntry {
	h := maphash.String(ix.seed, account)
	if w, m := bit(h); ix.present[w].Load()&m == 0 {
		return nil
	}
	e := find(ix.shard(h).t.Load().get(h), account)
	if e == nil || len(e.rules) == 0 {
		return nil
	}
	return e
}

// slotFor returns the slot a check of account on action index ai reads,
// or nil when no rule on the slot's hash restricts the action (the check
// allows). The slot may be another account's: the caller confirms.
func (ix *index) slotFor(account string, ai int) *slot {
	h := maphash.String(ix.seed, account)
	if w, m := bit(h); ix.present[w].Load()&m == 0 {
		return nil
	}
	s := ix.shard(h).t.Load().slot(h)
	if !s.acts.has(ai) {
		return nil
	}
	return s
}

// put publishes the account's restrictions as of seq (at now) and reports
// whether it did. An update no newer than what is published is ignored,
// so commits racing to publish cannot move the index backwards.
func (ix *index) put(account string, seq int64, rules []rule, now int64) bool {
	h := maphash.String(ix.seed, account)
	s := ix.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.t.Load()
	chain := old.get(h)
	if cur := find(chain, account); cur != nil && cur.seq >= seq {
		return false
	}
	next := old.with(h, newEntry(account, seq, rules, now, without(chain, account)))
	// The bit goes up before the map is published: a reader that sees the
	// new map also sees the bit.
	w, m := bit(h)
	ix.present[w].Or(m)
	s.t.Store(next)
	return true
}

// load replaces the whole index with each account's rules as of seq 0 (any
// later commit supersedes them), for start-up. It builds every shard map
// once instead of copying per account.
func (ix *index) load(rules map[string][]rule, now int64) {
	shardMaps := make([]map[uint64]*accountEntry, indexShards)
	for i := range shardMaps {
		shardMaps[i] = map[uint64]*accountEntry{}
	}
	for i := range ix.present {
		ix.present[i].Store(0)
	}
	for acct, rs := range rules {
		h := maphash.String(ix.seed, acct)
		m := shardMaps[h%indexShards]
		m[h] = newEntry(acct, 0, rs, now, m[h])
		w, mask := bit(h)
		ix.present[w].Or(mask)
	}
	for i := range ix.shards {
		s := &ix.shards[i]
		s.mu.Lock()
		s.t.Store(newTable(len(shardMaps[i]), maps.All(shardMaps[i])))
		s.mu.Unlock()
	}
}

// stats counts accounts and restrictions held, for metrics.
func (ix *index) stats() (accounts, restrictions int) {
	for i := range ix.shards {
		for _, head := range ix.shards[i].t.Load().all {
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
		fx := e.policy().Effects(r.Kind)
		ru := rule{fx: *fx, acts: restricts(fx), disclose: r.Disclose, start: r.StartsAt.UnixNano(), device: r.Device, id: r.ID, kind: r.Kind, kp: e.policy().Kind(r.Kind)}
		if len(ru.kp.SeeReason) == 0 {
			ru.origin = r.Origin.Clone()
		}
		if !r.Disclose {
			ru.alias = e.alias(r.ID)
			// Its holder is shown a restriction of the cover kind, so it
			// blocks what that kind blocks too: a holder must never be
			// allowed something a real one would deny. Not a panic lock
			// (one a duress signal hid): what a panic lock blocks is fixed,
			// money out and nothing else, whoever pressed it.
			if r.Kind != holdfast.KindPanicLock {
				k, _ := e.policy().Cover()
				for i, f := range e.policy().Effects(k) {
					ru.fx[i] = max(ru.fx[i], f)
				}
				ru.acts = restricts(&ru.fx)
			}
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
		return cmp.Compare(a.id, b.id)
	})
	return out
}

// restricts returns the actions an effect table does not allow.
func restricts(fx *holdfast.EffectTable) actionSet {
	var s actionSet
	for i, f := range fx {
		if f != holdfast.Allow {
			s |= 1 << i
		}
	}
	return s
}

// prune drops rules that have ended by now, and tombstones older than
// tombstoneTTL, so that the index holds only restrictions in force or
// still to come. Decisions never depend on it (checks compare times
// themselves); it only bounds memory.
func (ix *index) prune(now int64) (dropped int) {
	for i := range ix.shards {
		s := &ix.shards[i]
		s.mu.Lock()
		old := s.t.Load()
		changes := map[uint64]*accountEntry{}
		for h, head := range old.all {
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
				kept = newEntry(e.account, e.seq, rules, e.putAt, kept)
			}
			if !changed {
				continue
			}
			changes[h] = kept
		}
		if len(changes) > 0 {
			s.t.Store(old.withAll(changes))
		}
		s.mu.Unlock()
	}
	return dropped
}

// tombstoneTTL is how long a tombstone outlives its commit: far longer
// than any publication can lag behind the commit it follows.
const tombstoneTTL = time.Minute
