package engine_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/policy"
)

// TestAntiEntropyRepairsLostChanges: two nodes on one store, and the
// change feed between them lost. What node A commits never reaches node
// B's index, until B's anti-entropy pass compares it with the store: an
// apply, an extension and a lift each converge, and a pass over a store
// that matches the index repairs nothing.
func TestAntiEntropyRepairsLostChanges(t *testing.T) {
	ctx := context.Background()
	nodeA, db := newEngine(t, t.TempDir())
	staff := holdfast.Staff("sam", holdfast.RoleSupport)
	// Before B starts: restricted accounts B loads at sequence 0, and
	// withdrawals that move their audit sequences without touching their
	// restrictions. Neither is a difference.
	for i := range 25 {
		acct := fmt.Sprintf("old%02d", i)
		if _, err := nodeA.Apply(ctx, holdfast.ApplyRequest{Account: acct, Kind: holdfast.KindReduceOnly, Actor: staff}); err != nil {
			t.Fatal(err)
		}
		if _, err := nodeA.Ingest(ctx, holdfast.Event{Type: holdfast.EventLogin, Account: "plain" + acct, Device: "d1", Session: "s1"}); err != nil {
			t.Fatal(err)
		}
	}
	nodeB, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default(), Feed: &engine.FeedConfig{MaxLag: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := nodeA.AuthorizeWithdrawal(ctx, holdfast.WithdrawalRequest{Account: fmt.Sprintf("old%02d", i), ID: fmt.Sprintf("w%d", i), Asset: "USDT", Amount: "1", Address: "a1"}); err != nil {
			t.Fatal(err)
		}
	}
	pass := func(want int) {
		t.Helper()
		before := nodeB.AntiEntropyStats()
		// Slices of 7 over 50 accounts: pages end mid-way and at the end.
		n, err := nodeB.ReconcileAll(ctx, 7)
		if err != nil {
			t.Fatal(err)
		}
		after := nodeB.AntiEntropyStats()
		if n != want || after.Repairs-before.Repairs != int64(want) {
			t.Fatalf("a pass repaired %d accounts (counter +%d), want %d", n, after.Repairs-before.Repairs, want)
		}
		if !after.LastFullPass.After(before.LastFullPass) {
			t.Errorf("last full pass %v, not after %v", after.LastFullPass, before.LastFullPass)
		}
	}
	trade := func(e *engine.Engine) holdfast.Decision {
		t.Helper()
		d, err := e.Check(ctx, holdfast.CheckRequest{Account: "u1", Action: holdfast.ActionTrade})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	pass(0)

	r, err := nodeA.Apply(ctx, holdfast.ApplyRequest{Account: "u1", Kind: holdfast.KindReduceOnly, Duration: holdfast.Duration(24 * time.Hour), Actor: staff})
	if err != nil {
		t.Fatal(err)
	}
	if d := trade(nodeB); d.Effect != holdfast.Allow {
		t.Fatalf("node B heard of the change without a feed: %+v", d)
	}
	pass(1)
	d := trade(nodeB)
	if d.Effect != holdfast.Deny || len(d.Causes) == 0 || !d.Causes[0].EndsAt.Equal(r.EndsAt) {
		t.Fatalf("node B after anti-entropy: %+v, want denied until %v", d, r.EndsAt)
	}
	pass(0)

	ext, err := nodeA.Extend(ctx, holdfast.ExtendRequest{Target: holdfast.Target{Restriction: r.ID}, By: holdfast.Duration(time.Hour), Actor: staff})
	if err != nil || ext.Restriction == nil {
		t.Fatalf("extend: %+v %v", ext, err)
	}
	if d := trade(nodeB); !d.Causes[0].EndsAt.Equal(r.EndsAt) {
		t.Fatalf("node B heard of the extension without a feed: %+v", d)
	}
	pass(1)
	if d := trade(nodeB); d.Effect != holdfast.Deny || !d.Causes[0].EndsAt.Equal(ext.Restriction.EndsAt) {
		t.Fatalf("node B after anti-entropy: %+v, want denied until %v", d, ext.Restriction.EndsAt)
	}

	if _, err := nodeA.Lift(ctx, holdfast.LiftRequest{Target: holdfast.Target{Restriction: r.ID}, Actor: staff}); err != nil {
		t.Fatal(err)
	}
	if d := trade(nodeB); d.Effect != holdfast.Deny {
		t.Fatalf("node B heard of the lift without a feed: %+v", d)
	}
	pass(1)
	if d := trade(nodeB); d.Effect != holdfast.Allow {
		t.Fatalf("node B after anti-entropy: %+v, want allowed", d)
	}
	pass(0)
	if d := trade(nodeA); d.Effect != holdfast.Allow {
		t.Fatalf("node A: %+v", d)
	}
}

// TestAntiEntropyLeavesEndedRestrictions: a restriction that ended by
// time is over on both sides, whether or not the index has pruned it yet,
// so it is no difference.
func TestAntiEntropyLeavesEndedRestrictions(t *testing.T) {
	ctx := context.Background()
	_, db := newEngine(t, t.TempDir())
	base := time.Now()
	clock := &fixedClock{now: base}
	writer, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default(), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writer.Apply(ctx, holdfast.ApplyRequest{Account: "u1", Kind: holdfast.KindReduceOnly, Duration: holdfast.Duration(time.Hour), Actor: holdfast.Staff("sam", holdfast.RoleSupport)}); err != nil {
		t.Fatal(err)
	}
	// Loaded at start, its entry has sequence 0: any reload would count.
	node, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default(), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{base, base.Add(time.Hour - 1), base.Add(time.Hour), base.Add(2 * time.Hour)} {
		clock.now = at
		if n, err := node.ReconcileAll(ctx, 100); err != nil || n != 0 {
			t.Errorf("a pass at %v after the start repaired %d (%v), want 0", at.Sub(base), n, err)
		}
	}
	if _, restrictions := node.IndexStats(); restrictions != 1 {
		t.Errorf("the index holds %d restrictions, want the ended one until prune drops it", restrictions)
	}
}

// TestAntiEntropyRacesCommits: node B runs anti-entropy flat out while
// both nodes apply and lift restrictions (B's own commits publishing to
// its index as the pass reloads). However they interleave, once the
// writes stop one more pass leaves B answering as A does, and a pass after
// that finds nothing to repair.
func TestAntiEntropyRacesCommits(t *testing.T) {
	ctx := context.Background()
	nodeA, db := newEngine(t, t.TempDir())
	nodeB, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default()})
	if err != nil {
		t.Fatal(err)
	}
	staff := holdfast.Staff("sam", holdfast.RoleSupport)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		nodeB.RunAntiEntropy(runCtx, engine.AntiEntropy{Every: time.Millisecond, Slice: 3})
	}()
	const accounts = 12
	writers := make(chan error, 2)
	for w, node := range []*engine.Engine{nodeA, nodeB} {
		go func() {
			for round := range 6 {
				for i := w; i < accounts; i += 2 {
					acct := fmt.Sprintf("u%02d", (i+round)%accounts)
					var err error
					if round%2 == 0 {
						_, err = node.Apply(ctx, holdfast.ApplyRequest{Account: acct, Kind: holdfast.KindReduceOnly, Duration: holdfast.Duration(time.Hour), Actor: staff})
					} else {
						err = liftAll(ctx, node, db, acct, staff)
					}
					if err != nil {
						writers <- err
						return
					}
				}
			}
			writers <- nil
		}()
	}
	for range 2 {
		if err := <-writers; err != nil {
			t.Fatal(err)
		}
	}
	stop()
	<-done
	// And changes B's pass has not seen: one each way on every account.
	for i := range accounts {
		acct := fmt.Sprintf("u%02d", i)
		if err := liftAll(ctx, nodeA, db, acct, staff); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if _, err := nodeA.Apply(ctx, holdfast.ApplyRequest{Account: acct, Kind: holdfast.KindReduceOnly, Actor: staff}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := nodeB.ReconcileAll(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if n, err := nodeB.ReconcileAll(ctx, 5); err != nil || n != 0 {
		t.Fatalf("a second pass repaired %d (%v)", n, err)
	}
	// nodeA heard nothing of B's commits either: bring it up to date too.
	if _, err := nodeA.ReconcileAll(ctx, 5); err != nil {
		t.Fatal(err)
	}
	for i := range accounts {
		acct := fmt.Sprintf("u%02d", i)
		a, errA := nodeA.Check(ctx, holdfast.CheckRequest{Account: acct, Action: holdfast.ActionTrade})
		b, errB := nodeB.Check(ctx, holdfast.CheckRequest{Account: acct, Action: holdfast.ActionTrade})
		if errA != nil || errB != nil || fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("%s: node A %+v %v, node B %+v %v", acct, a, errA, b, errB)
		}
	}
}

// liftAll lifts every restriction of acct through node (one the other
// node lifts meanwhile is no error).
func liftAll(ctx context.Context, node *engine.Engine, db holdfast.Store, acct string, actor holdfast.Actor) error {
	rs, err := db.Restrictions(ctx, holdfast.RestrictionFilter{Account: acct, ActiveAt: time.Now()})
	if err != nil {
		return err
	}
	for _, r := range rs {
		_, err := node.Lift(ctx, holdfast.LiftRequest{Target: holdfast.Target{Restriction: r.ID}, Actor: actor})
		if c := holdfast.ErrorCode(err); err != nil && c != holdfast.FailedPrecondition && c != holdfast.NotFound {
			return err
		}
	}
	return nil
}
