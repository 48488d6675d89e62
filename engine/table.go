package engine

import (
	"iter"

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

type slot struct {
	h uint64
	e *accountEntry // nil: empty
	// acts has a bit for each action (by index) that some rule of the
	// chain restricts. A check on any other action is answered Allow from
	// the slot, without reading the entries: whichever account of the
	// chain is asked about, none of its rules touches the action.
	acts actionSet
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
	size := 4
	for size < 2*n {
		size *= 2
	}
	t := &table{slots: make([]slot, size), n: n}
	if entries != nil {
		for h, e := range entries {
			var acts actionSet
			for c := e; c != nil; c = c.next {
				acts |= c.acts
			}
			t.slots[t.free(h)] = slot{h, e, acts}
		}
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
	return newTable(n, func(yield func(uint64, *accountEntry) bool) {
		for h, e := range t.all {
			if c, ok := changes[h]; ok {
				e = c
			}
			if e != nil && !yield(h, e) {
				return
			}
		}
		for h, e := range changes {
			if e != nil && t.get(h) == nil && !yield(h, e) {
				return
			}
		}
	})
}
