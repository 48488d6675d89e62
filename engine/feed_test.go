package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/policy"
)

// TestFeedCarriesChangesBetweenNodes: two engines share one store, as two
// nodes share PostgreSQL. What node A commits reaches node B through the
// change command A writes (here handed straight to B's Refresh, where a
// cluster goes through the bus), and B, not yet fed, fails closed for
// money-out only.
func TestFeedCarriesChangesBetweenNodes(t *testing.T) {
	ctx := context.Background()
	_, db := newEngine(t, t.TempDir())
	var nodeB *engine.Engine
	var published []string
	nodeA, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default(), Feed: &engine.FeedConfig{
		OnCommit: func(account string, seq int64, id string) {
			published = append(published, id)
			if err := nodeB.Refresh(ctx, account); err != nil {
				t.Error(err)
			}
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	nodeB, err = engine.New(ctx, engine.Config{Store: db, Policy: policy.Default(), Feed: &engine.FeedConfig{MaxLag: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	check := func(e *engine.Engine, action holdfast.Action, session string) holdfast.Decision {
		t.Helper()
		d, err := e.Check(ctx, holdfast.CheckRequest{Account: "u1", Action: action, Session: session})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// B has heard nothing from the feed yet: it refuses money-out, and
	// only money-out.
	if d := check(nodeB, holdfast.ActionWithdraw, ""); d.Effect != holdfast.Deny || !nodeB.Stale() {
		t.Errorf("an unfed node allowed a withdrawal: %+v", d)
	}
	if d := check(nodeB, holdfast.ActionTrade, ""); d.Effect != holdfast.Allow {
		t.Errorf("an unfed node refused trade: %+v", d)
	}
	nodeB.FeedAt(time.Now())
	if d := check(nodeB, holdfast.ActionWithdraw, ""); d.Effect != holdfast.Allow || nodeB.Stale() {
		t.Errorf("a fed node: %+v", d)
	}

	if _, err := nodeA.Ingest(ctx, holdfast.Event{Type: holdfast.EventLogin, Account: "u1", Device: "d1", Session: "s1"}); err != nil {
		t.Fatal(err)
	}
	if d := check(nodeB, holdfast.ActionView, "s1"); d.Effect != holdfast.Allow {
		t.Errorf("node B does not know the session node A registered: %+v", d)
	}
	if _, err := nodeA.PanicLock(ctx, "u1", 0, holdfast.User("u1")); err != nil {
		t.Fatal(err)
	}
	if d := check(nodeB, holdfast.ActionWithdraw, ""); d.Effect != holdfast.Deny || len(d.Causes) == 0 || d.Causes[0].Kind != holdfast.KindPanicLock {
		t.Errorf("node B after node A's panic lock: %+v", d)
	}
	// Every change went to the outbox too, for a node that missed the fast
	// path.
	all, err := db.ListCommands(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range all {
		if d.Command.Type == holdfast.CommandIndexChanged {
			n++
		}
	}
	if n != len(published) || n < 2 {
		t.Errorf("%d index_changed commands in the outbox, %d published", n, len(published))
	}
	// A late, repeated message changes nothing.
	if err := nodeB.Refresh(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if d := check(nodeB, holdfast.ActionWithdraw, ""); d.Effect != holdfast.Deny {
		t.Errorf("after a repeated refresh: %+v", d)
	}
}

// TestSkewedClocksStayLinearizable: node A's clock runs ahead of node B's;
// a panic lock A commits starts "in B's future", yet B, authorizing after
// the commit, refuses the withdrawal: the commit came first.
func TestSkewedClocksStayLinearizable(t *testing.T) {
	ctx := context.Background()
	_, db := newEngine(t, t.TempDir())
	base := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	nodeA, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default(), Clock: &fixedClock{now: base.Add(50 * time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	nodeB, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default(), Clock: &fixedClock{now: base}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodeA.PanicLock(ctx, "u1", 0, holdfast.User("u1")); err != nil {
		t.Fatal(err)
	}
	w, err := nodeB.AuthorizeWithdrawal(ctx, holdfast.WithdrawalRequest{Account: "u1", ID: "w1", Asset: "USDT", Amount: "10", Address: "a1"})
	if err != nil || w.Outcome != holdfast.DenyOutcome {
		t.Fatalf("node B, behind node A's clock, after A's panic lock: %+v %v", w, err)
	}
}

// TestFeedFromAFastClockIsNotFreshness: a heartbeat stamped by a node
// whose clock runs 30 s ahead must not keep this node fresh for 30 s. Once
// the feed goes silent, the node is stale after its max lag by its own
// clock, and refuses money-out.
func TestFeedFromAFastClockIsNotFreshness(t *testing.T) {
	ctx := context.Background()
	_, db := newEngine(t, t.TempDir())
	clk := &fixedClock{now: time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)}
	node, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default(), Clock: clk,
		Feed: &engine.FeedConfig{MaxLag: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	node.FeedAt(clk.now.Add(30 * time.Second)) // the last message, from a clock 30 s ahead
	if node.Stale() {
		t.Fatal("a node just fed is stale")
	}
	clk.now = clk.now.Add(3 * time.Second) // then silence, beyond the max lag
	if !node.Stale() {
		t.Errorf("a node that heard nothing for 3 s (max lag 2 s) is fresh: lag %v", node.FeedLag())
	}
	d, err := node.Check(ctx, holdfast.CheckRequest{Account: "u1", Action: holdfast.ActionWithdraw})
	if err != nil || d.Effect != holdfast.Deny {
		t.Errorf("a node beyond its max lag answered a withdrawal check %+v, %v; want deny", d, err)
	}
}
