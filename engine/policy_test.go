package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/policy"
)

// TestSwitchPolicyJudgesEachEventByOneVersion switches between two
// policies whose api_burst rule applies reduce_only for 24h and for 12h
// while events arrive: every restriction applied names the version that
// judged it, and lasts what that version says.
func TestSwitchPolicyJudgesEachEventByOneVersion(t *testing.T) {
	ctx := context.Background()
	eng, db := newEngine(t, t.TempDir())
	old := eng.Policy()
	yml := bytes.Replace(policy.DefaultYAML(), []byte("- apply: {kind: reduce_only, duration: 24h}"), []byte("- apply: {kind: reduce_only, duration: 12h}"), 1)
	stricter, err := policy.Parse(yml)
	if err != nil {
		t.Fatal(err)
	}
	if stricter.Hash == old.Hash || old.Hash != holdfast.PolicyHash(policy.DefaultYAML()) {
		t.Fatalf("hashes: old %s, new %s", old.Hash, stricter.Hash)
	}
	want := map[string]time.Duration{old.Hash: 24 * time.Hour, stricter.Hash: 12 * time.Hour}

	const events = 200
	var wg sync.WaitGroup
	opm := 500.0
	for i := range events {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev := holdfast.Event{ID: fmt.Sprintf("ev-%d", i), Type: holdfast.EventAPIActivity, Account: fmt.Sprintf("u%d", i), OrdersPerMinute: &opm}
			if _, err := eng.Ingest(ctx, ev); err != nil {
				t.Error(err)
			}
		}()
		if i == events/2 {
			if err := eng.SwitchPolicy(ctx, stricter); err != nil {
				t.Fatal(err)
			}
		}
	}
	wg.Wait()
	seen := map[string]int{}
	for i := range events {
		rs, err := db.Restrictions(ctx, holdfast.RestrictionFilter{Account: fmt.Sprintf("u%d", i)})
		if err != nil || len(rs) != 1 {
			t.Fatalf("u%d: %v %v", i, rs, err)
		}
		r := rs[0]
		d, ok := want[r.Origin.Policy]
		if !ok {
			t.Fatalf("u%d: the restriction names policy %q, neither version", i, r.Origin.Policy)
		}
		if got := r.EndsAt.Sub(r.StartsAt); got != d {
			t.Errorf("u%d: judged by %s but lasts %s, not %s", i, r.Origin.Policy[:8], got, d)
		}
		seen[r.Origin.Policy]++
	}
	if seen[stricter.Hash] == 0 {
		t.Errorf("no event was judged by the new version: %v", seen)
	}
	if eng.Policy().Hash != stricter.Hash {
		t.Errorf("the engine's policy is %s after the switch", eng.Policy().Hash)
	}
}

// TestShadowRun: a shadowed version judges each event beside the active
// one and keeps where it would differ, enforcing nothing.
func TestShadowRun(t *testing.T) {
	ctx := context.Background()
	eng, db := newEngine(t, t.TempDir())
	if _, err := eng.InstallPolicy(ctx); err != nil {
		t.Fatal(err)
	}
	alice := holdfast.Staff("alice", holdfast.RoleCompliance)
	yml := bytes.Replace(policy.DefaultYAML(), []byte("event.orders_per_minute > 100.0"), []byte("event.orders_per_minute > 50.0"), 1)
	v, err := eng.PushPolicy(ctx, alice, yml, "stricter")
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.SetPolicyShadow(ctx, alice, v.Hash, "try it"); err != nil {
		t.Fatal(err)
	}
	opm := 80.0
	if _, err := eng.Ingest(ctx, holdfast.Event{ID: "ev-s", Type: holdfast.EventAPIActivity, Account: "u1", OrdersPerMinute: &opm}); err != nil {
		t.Fatal(err)
	}
	if rs, _ := db.Restrictions(ctx, holdfast.RestrictionFilter{Account: "u1"}); len(rs) != 0 {
		t.Fatalf("the shadow was enforced: %v", rs)
	}
	counts, recent, err := db.ShadowReport(ctx, v.Hash, time.Time{}, 10)
	if err != nil || len(counts) != 1 || counts[0] != (holdfast.ShadowCount{Rule: "api_burst", Outcome: holdfast.ShadowWouldApply, Events: 1}) || len(recent) != 1 || recent[0].Event != "ev-s" {
		t.Fatalf("report %+v %+v %v; counts on the node %+v", counts, recent, err, eng.ShadowCounts())
	}
}
