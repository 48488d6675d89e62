package engine

import (
	"hash/maphash"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

func testRule(id string, end time.Time) rule {
	ru := rule{start: 1, id: id, kind: holdfast.KindReduceOnly, disclose: true}
	ru.fx[holdfast.ActionTrade.Index()] = holdfast.Deny
	ru.acts = restricts(&ru.fx)
	if !end.IsZero() {
		ru.end = end.UnixNano()
	}
	return ru
}

// A lift (seq 2) published before the apply it follows (seq 1) must not let
// the apply's late publication bring the restriction back.
func TestIndexIgnoresStalePublications(t *testing.T) {
	ix := newIndex()
	now := time.Now().UnixNano()
	ix.put("a", 2, nil, now)
	ix.put("a", 1, []rule{testRule("r1", time.Time{})}, now)
	if e := ix.get("a"); e != nil {
		t.Fatalf("a stale publication resurrected %d rules", len(e.rules))
	}
	ix.put("a", 3, []rule{testRule("r2", time.Time{})}, now)
	if e := ix.get("a"); e == nil || e.rules[0].id != "r2" {
		t.Fatal("a newer publication was ignored")
	}
	if accounts, restrictions := ix.stats(); accounts != 1 || restrictions != 1 {
		t.Fatalf("stats %d %d", accounts, restrictions)
	}
}

// Accounts whose hashes collide share a chain; replacing one keeps the other.
func TestIndexChainsKeepCollidingAccounts(t *testing.T) {
	b := newEntry("b", 1, nil, 0, nil)
	a := newEntry("a", 1, nil, 0, b)
	if find(a, "b") != b || find(a, "a") != a || find(a, "c") != nil {
		t.Fatal("find does not walk the chain")
	}
	rest := without(a, "b")
	if rest == a || find(rest, "a") == nil || find(rest, "b") != nil {
		t.Fatal("without must copy the chain and drop only b")
	}
	if a.next != b {
		t.Fatal("without modified a published entry")
	}
	if without(a, "a") != b {
		t.Fatal("dropping the head returns the rest")
	}
}

// Prune drops ended rules and old tombstones, nothing else.
func TestIndexPrune(t *testing.T) {
	ix := newIndex()
	now := time.Now()
	ix.put("ended", 1, []rule{testRule("r1", now.Add(-time.Second))}, now.UnixNano())
	ix.put("live", 1, []rule{testRule("r2", now.Add(time.Hour)), testRule("r3", now.Add(-time.Hour))}, now.UnixNano())
	ix.put("gone", 2, nil, now.Add(-2*tombstoneTTL).UnixNano())
	if n := ix.prune(now.UnixNano()); n != 2 {
		t.Fatalf("pruned %d rules, want 2", n)
	}
	if e := ix.get("live"); e == nil || len(e.rules) != 1 || e.rules[0].id != "r2" {
		t.Fatal("prune lost a live rule")
	}
	if accounts, restrictions := ix.stats(); accounts != 1 || restrictions != 1 {
		t.Fatalf("stats %d %d after prune", accounts, restrictions)
	}
	// The recent tombstone of "ended" still guards against stale puts; the
	// old one of "gone" is dropped.
	ix.put("ended", 1, []rule{testRule("r1", time.Time{})}, now.UnixNano())
	if ix.get("ended") != nil {
		t.Fatal("a recent tombstone was dropped")
	}
	h := maphashOf(ix, "gone")
	if find(ix.shard(h).t.Load().get(h), "gone") != nil {
		t.Fatal("an old tombstone was kept")
	}
}

func maphashOf(ix *index, account string) uint64 { return maphash.String(ix.seed, account) }
