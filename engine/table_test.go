package engine

import (
	"testing"

	"pgregory.net/rapid"
)

// The shard table answers like a map under any sequence of writes, with
// hashes drawn from a small set so that probes collide and wrap.
func TestTableActsLikeAMap(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		hash := rapid.Map(rapid.Uint64Range(0, 40), spread)
		tab, want := emptyTable, map[uint64]*accountEntry{}
		for range rapid.IntRange(0, 60).Draw(t, "writes") {
			changes := map[uint64]*accountEntry{}
			for range rapid.IntRange(1, 3).Draw(t, "batch") {
				h := hash.Draw(t, "h")
				var e *accountEntry
				if rapid.Bool().Draw(t, "put") {
					e = newEntry("a", 1, nil, 0, nil)
				}
				changes[h] = e
			}
			if len(changes) == 1 {
				for h, e := range changes {
					tab = tab.with(h, e)
				}
			} else {
				tab = tab.withAll(changes)
			}
			for h, e := range changes {
				if e == nil {
					delete(want, h)
				} else {
					want[h] = e
				}
			}
			if tab.n != len(want) || 2*tab.n > len(tab.slots) {
				t.Fatalf("holds %d in %d slots, want %d at most half full", tab.n, len(tab.slots), len(want))
			}
			for h := range uint64(41) {
				h = spread(h)
				if got := tab.get(h); got != want[h] {
					t.Fatalf("get(%#x) = %p, want %p", h, got, want[h])
				}
			}
			seen := 0
			for h, e := range tab.all {
				if want[h] != e {
					t.Fatalf("all yields %#x it should not", h)
				}
				seen++
			}
			if seen != len(want) {
				t.Fatalf("all yields %d, want %d", seen, len(want))
			}
		}
	})
}

// spread makes x a hash whose table bits collide with its neighbours'.
func spread(x uint64) uint64 { return x>>3<<tableShift | x }
