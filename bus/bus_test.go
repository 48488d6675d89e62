package bus_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/bus"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/internal/servicetest"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/sqlite"
)

// connect opens a bus under a prefix of its own, removed when the test
// ends.
func connect(t *testing.T, url, prefix string) *bus.Bus {
	t.Helper()
	b, err := bus.Connect(context.Background(), url, bus.Config{Prefix: prefix, Heartbeat: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func prefix(t *testing.T) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	p := "hftest" + hex.EncodeToString(b[:])
	url := servicetest.NATS(t)
	t.Cleanup(func() {
		nc, err := nats.Connect(url)
		if err != nil {
			return
		}
		defer nc.Close()
		js, _ := nc.JetStream()
		for _, s := range []string{"_CHANGES", "_EVENTS", "_DEAD"} {
			_ = js.DeleteStream(strings.ToUpper(p) + s)
		}
	})
	return p
}

// node is an engine on a shared store with its own bus connection.
func node(t *testing.T, ctx context.Context, db *sqlite.DB, url, pfx string) (*engine.Engine, *bus.Bus) {
	t.Helper()
	b := connect(t, url, pfx)
	start, err := b.FeedStart(ctx)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default(), Feed: &engine.FeedConfig{
		MaxLag: time.Second,
		OnCommit: func(account string, seq int64, id string) {
			if err := b.PublishChange(ctx, account, seq, id); err != nil {
				t.Errorf("publish: %v", err)
			}
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	go b.RunFeed(ctx, eng, start)
	return eng, b
}

func eventually(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

// TestFeedKeepsNodesFresh: two nodes on one store; what node A commits,
// node B's index shows within moments, through JetStream; both measure a
// small lag from the heartbeats.
func TestFeedKeepsNodesFresh(t *testing.T) {
	url := servicetest.NATS(t)
	pfx := prefix(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, _ := node(t, ctx, db, url, pfx)
	b, _ := node(t, ctx, db, url, pfx)
	eventually(t, "node B catching up with the heartbeats", func() bool { return !b.Stale() })

	if _, err := a.PanicLock(ctx, "u1", 0, holdfast.User("u1")); err != nil {
		t.Fatal(err)
	}
	took := eventually(t, "node B denying trade-side checks after node A's panic lock", func() bool {
		d, err := b.Check(ctx, holdfast.CheckRequest{Account: "u1", Action: holdfast.ActionWithdraw})
		return err == nil && d.Effect == holdfast.Deny && len(d.Causes) > 0 && d.Causes[0].Kind == holdfast.KindPanicLock
	})
	t.Logf("propagated in %s; node B lag %s", took, b.FeedLag())
	if lag := b.FeedLag(); lag > time.Second {
		t.Errorf("node B lags %s", lag)
	}
	if _, err := a.Ingest(ctx, holdfast.Event{Type: holdfast.EventLogin, Account: "u2", Device: "d1", Session: "s1"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node B knowing node A's new session", func() bool {
		d, err := b.Check(ctx, holdfast.CheckRequest{Account: "u2", Action: holdfast.ActionView, Session: "s1"})
		return err == nil && d.Effect == holdfast.Allow
	})
}

// TestIntake: events published to the bus are ingested in order per
// account; an invalid one is dead-lettered with its error.
func TestIntake(t *testing.T) {
	url := servicetest.NATS(t)
	pfx := prefix(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eng, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default()})
	if err != nil {
		t.Fatal(err)
	}
	b := connect(t, url, pfx)
	cfg := bus.IntakeConfig{Partitions: 4, MaxDeliver: 3}
	go b.RunIntake(ctx, eng, cfg)

	// A KYC status goes missing, then comes back: only in this order does
	// the account end unrestricted.
	for i, ev := range []holdfast.Event{
		{ID: "e1", Type: holdfast.EventKYCStatus, Account: "u1", Status: "missing"},
		{ID: "e2", Type: holdfast.EventKYCStatus, Account: "u1", Status: "ok"},
		{ID: "e3", Type: holdfast.EventKYCStatus, Account: "u1", Status: "missing"},
		{ID: "e4", Type: holdfast.EventKYCStatus, Account: "u1", Status: "ok"},
		{ID: "bad", Type: holdfast.EventLogin, Account: "u1", Amount: "5"},
	} {
		if err := b.PublishEvent(ctx, &ev, cfg.Partitions); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	eventually(t, "all four events ingested", func() bool {
		n := 0
		_ = db.Events(ctx, holdfast.EventFilter{Account: "u1"}, func(*holdfast.Event) error { n++; return nil })
		return n == 4
	})
	var order []string
	_ = db.Events(ctx, holdfast.EventFilter{Account: "u1"}, func(ev *holdfast.Event) error { order = append(order, ev.ID); return nil })
	if len(order) != 4 || order[0] != "e1" || order[1] != "e2" || order[2] != "e3" || order[3] != "e4" {
		t.Errorf("ingested in the order %v", order)
	}
	// The index follows the commit by a moment.
	eventually(t, "withdraw allowed after missing, ok, missing, ok", func() bool {
		d, _ := eng.Check(ctx, holdfast.CheckRequest{Account: "u1", Action: holdfast.ActionWithdraw})
		return d.Effect == holdfast.Allow
	})
	var dead []bus.DeadLetter
	eventually(t, "the invalid event dead-lettered", func() bool {
		dead, err = b.DeadLetters(ctx, 10)
		return err == nil && len(dead) == 1
	})
	if dead[0].Error == "" || dead[0].Deliveries != 1 {
		t.Errorf("dead letter %+v", dead[0])
	}
}

// TestIntakeRefusesBadValues: an event over NATS is judged like one over
// the API — a time beyond what Holdfast keeps, or a deposit without its
// USD value, is invalid at once (dead-lettered on its first delivery, its
// error naming the field) rather than failing as internal and retried.
func TestIntakeRefusesBadValues(t *testing.T) {
	url := servicetest.NATS(t)
	pfx := prefix(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eng, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default()})
	if err != nil {
		t.Fatal(err)
	}
	b := connect(t, url, pfx)
	cfg := bus.IntakeConfig{Partitions: 2, MaxDeliver: 3}
	go b.RunIntake(ctx, eng, cfg)
	for _, ev := range []holdfast.Event{
		{ID: "far", Type: holdfast.EventLogin, Account: "u1", At: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)},
		{ID: "unpriced", Type: holdfast.EventDeposit, Account: "u1", Asset: "BTC", Amount: "50"},
	} {
		if err := b.PublishEvent(ctx, &ev, cfg.Partitions); err != nil {
			t.Fatal(err)
		}
	}
	var dead []bus.DeadLetter
	eventually(t, "both events dead-lettered", func() bool {
		dead, err = b.DeadLetters(ctx, 10)
		return err == nil && len(dead) == 2
	})
	for _, d := range dead {
		if d.Deliveries != 1 || !strings.Contains(d.Error, "invalid_argument") || !(strings.Contains(d.Error, "(field at)") || strings.Contains(d.Error, "(field usd_value)")) {
			t.Errorf("dead letter %+v: want invalid_argument naming at or usd_value, on the first delivery", d)
		}
	}
	n := 0
	_ = db.Events(ctx, holdfast.EventFilter{Account: "u1"}, func(*holdfast.Event) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d refused events recorded", n)
	}
}

// TestFeedAfterRestore: a store is restored from a backup and makes a
// change at an audit sequence its lost copy had used already, within
// JetStream's two minutes for repeats. Same store id, same account, same
// sequence: the change must still reach the other node.
func TestFeedAfterRestore(t *testing.T) {
	url := servicetest.NATS(t)
	pfx := prefix(t)
	dir, backup := t.TempDir(), t.TempDir()
	db, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := os.CopyFS(backup, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	for round, d := range []string{dir, backup} {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		db, err := sqlite.Open(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		a, _ := node(t, ctx, db, url, pfx)
		b, _ := node(t, ctx, db, url, pfx)
		staff := holdfast.Actor{Type: holdfast.ActorStaff, ID: "sue", Roles: []holdfast.Role{holdfast.RoleSupport}}
		if _, err := a.Apply(ctx, holdfast.ApplyRequest{Account: "u1", Kind: holdfast.KindReduceOnly, Reason: fmt.Sprintf("round %d", round), Actor: staff}); err != nil {
			t.Fatal(err)
		}
		eventually(t, fmt.Sprintf("round %d: node B denying the trade node A restricted", round), func() bool {
			d, err := b.Check(ctx, holdfast.CheckRequest{Account: "u1", Action: holdfast.ActionTrade})
			return err == nil && d.Effect == holdfast.Deny
		})
		cancel()
	}
}
