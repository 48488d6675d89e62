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
