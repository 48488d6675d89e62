package engine

import (
	"iter"
	"slices"
	"unsafe"

	"github.com/holdfast/holdfast"
)

// table is one index shard's published entries, keyed by account hash: open
// addressing with linear probing over a power-of-two array kept at most
// half full. It is immutable once published; writers build a new one. A
// lookup reads one slot array, where a Go map would walk its directory,
// table and group first: on a random account each of those is a cache miss.
type table struct {
	slots []slot
	n     int // hashes held
}

// slot is one hash's place in a table: 128 bytes, two adjacent cache lines
// whose addresses follow from the hash alone. In the common case (one
// account on the hash, one or two rules, no device scope) the slot holds
// all a check reads, so a restricted check loads the slot and no entry:
// following a pointer to the entry would add a second, dependent, cache
// miss.
type slot struct {
	h uint64
	// fp is the account's fingerprint (a second keyed hash), set when the
	// rules are inline: with h it names the account, 128 bits in all, so
	// that a check need not read the entry for the name.
	fp uint64
	e  *accountEntry // nil: empty
	// acts has a bit for each action (by index) that some rule of the
	// chain restricts. A check on any other action is answered Allow from
	// the slot, without reading the entries: whichever account of the
	// chain is asked about, none of its rules touches the action.
	acts actionSet
	// n is the number of rules inline in hot (e's rules, in order); 0:
	// decide from the entry.
	n   uint8
	hot [entryRules]hotRule
}

var _ [128 - unsafe.Sizeof(slot{})]struct{} // at most two cache lines

// hotRule is what a check reads of a rule without a device scope: the
// effect per action (2 bits each), the kind (by index in holdfast.Kinds),
// its policy, times and id. The rare cause details (an origin; a hidden
// restriction's alias for its holder) are read from the entry when a
// decision shows them.
type hotRule struct {
	start, end int64
	id         string
	kp         *holdfast.KindPolicy
	fx         uint32 // 2 bits per action
	kind       uint8
	flags      uint8
}

const (
	hotDisclose = 1 << iota
	hotOrigin   // the entry's rule has an origin to show
)

// effect is the rule's effect on action ai.
func (hr *hotRule) effect(ai int) holdfast.Effect { return holdfast.Effect(hr.fx >> (2 * ai) & 3) }

// hotRuleOf packs ru, or reports that it does not fit.
func hotRuleOf(ru *rule) (hotRule, bool) {
	k := slices.Index(holdfast.Kinds, ru.kind)
	if ru.device != "" || ru.kp == nil || k < 0 || k > 255 {
		return hotRule{}, false
	}
	hr := hotRule{start: ru.start, end: ru.end, id: ru.id, kp: ru.kp, kind: uint8(k)}
	for i, f := range ru.fx {
		if f > 3 {
			return hotRule{}, false
		}
		hr.fx |= uint32(f) << (2 * i)
	}
	if ru.disclose {
		hr.flags |= hotDisclose
	}
	if ru.origin != nil {
		hr.flags |= hotOrigin
	}
	return hr, true
}

// newSlot is the slot for hash h holding chain e.
func newSlot(h uint64, e *accountEntry) slot {
	s := slot{h: h, e: e}
	for c := e; c != nil; c = c.next {
		s.acts |= c.acts
	}
	if e.next != nil || len(e.rules) == 0 || len(e.rules) > len(s.hot) {
		return s
	}
	for i := range e.rules {
		hr, ok := hotRuleOf(&e.rules[i])
		if !ok {
			return s
		}
		s.hot[i] = hr
	}
	s.fp, s.n = e.fp, uint8(len(e.rules))
	return s
}

// actionSet is a set of actions by index.
type actionSet uint16

var _ [16 - holdfast.NumActions]struct{} // every action has a bit

func (s actionSet) has(ai int) bool { return s&(1<<ai) != 0 }

// tableShift skips the hash bits that chose the shard, which are the same
// for every key of a table.
const tableShift = 12 // log2(indexShards)

var emptyTable = newTable(0, nil)

// newTable holds the n entries that entries yields.
func newTable(n int, entries iter.Seq2[uint64, *accountEntry]) *table {
	return tableOf(n, func(yield func(slot) bool) {
		if entries == nil {
			return
		}
		for h, e := range entries {
			if !yield(newSlot(h, e)) {
				return
			}
		}
	})
}

// tableOf places the n slots that slots yields.
func tableOf(n int, slots iter.Seq[slot]) *table {
	size := 4
	for size < 2*n {
		size *= 2
	}
	t := &table{slots: make([]slot, size), n: n}
	for s := range slots {
		t.slots[t.free(s.h)] = s
	}
	return t
}

// free returns the slot where h is, or where it would go.
func (t *table) free(h uint64) uint64 {
	mask := uint64(len(t.slots) - 1)
	i := (h >> tableShift) & mask
	for t.slots[i].e != nil && t.slots[i].h != h {
		i = (i + 1) & mask
	}
	return i
}

// get returns the chain for hash h, or nil.
func (t *table) get(h uint64) *accountEntry { return t.slot(h).e }

// slot returns h's slot, or an empty one.
func (t *table) slot(h uint64) *slot {
	mask := uint64(len(t.slots) - 1)
	for i := (h >> tableShift) & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.e == nil || s.h == h {
			return s
		}
	}
}

// all yields every hash and its chain.
func (t *table) all(yield func(uint64, *accountEntry) bool) {
	for _, s := range t.slots {
		if s.e != nil && !yield(s.h, s.e) {
			return
		}
	}
}

// with returns a copy of t in which h holds chain e (nil: h removed).
func (t *table) with(h uint64, e *accountEntry) *table {
	return t.withAll(map[uint64]*accountEntry{h: e})
}

// withAll returns a copy of t with every change applied (a nil chain
// removes its hash).
func (t *table) withAll(changes map[uint64]*accountEntry) *table {
	n := t.n
	for h, e := range changes {
		switch had := t.get(h) != nil; {
		case e != nil && !had:
			n++
		case e == nil && had:
			n--
		}
	}
	// Unchanged slots are copied as they are: packing every account's
	// rules again would make a write cost more the larger its shard.
	return tableOf(n, func(yield func(slot) bool) {
		for i := range t.slots {
			s := &t.slots[i]
			if s.e == nil {
				continue
			}
			if e, ok := changes[s.h]; ok {
				if e != nil && !yield(newSlot(s.h, e)) {
					return
				}
				continue
			}
			if !yield(*s) {
				return
			}
		}
		for h, e := range changes {
			if e != nil && t.get(h) == nil && !yield(newSlot(h, e)) {
				return
			}
		}
	})
}
