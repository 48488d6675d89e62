package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/bus"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/sqlite"
)

// startNATS runs a real NATS server with JetStream in the test's process,
// on a fixed port and store directory so that it can be stopped and
// started again as the same server.
func startNATS(t *testing.T, port int, dir string) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS did not start")
	}
	return s
}

// TestNATSOutage: NATS stops under load. The node that stops hearing the
// feed fails closed for money-out checks within its lag bound while
// commits go on (their changes wait in the outbox); NATS comes back, the
// node recovers by itself and knows every change, lost nothing.
func TestNATSOutage(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	natsDir := t.TempDir()
	port := 14222 + int(time.Now().UnixNano()%1000)
	ns := startNATS(t, port, natsDir)
	url := ns.ClientURL()

	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	newNode := func() (*engine.Engine, *bus.Bus) {
		b, err := bus.Connect(ctx, url, bus.Config{Prefix: "outage", Heartbeat: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		start, err := b.FeedStart(ctx)
		if err != nil {
			t.Fatal(err)
		}
		eng, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default(), Feed: &engine.FeedConfig{
			MaxLag: 300 * time.Millisecond,
			OnCommit: func(account string, seq int64, id string) {
				_ = b.PublishChange(ctx, account, seq, id) // fails during the outage; the outbox keeps it
			},
		}})
		if err != nil {
			t.Fatal(err)
		}
		go b.RunFeed(ctx, eng, start)
		return eng, b
	}
	a, _ := newNode()
	b, _ := newNode()
	eventually(t, "node B fed", func() bool { return !b.Stale() })

	ns.Shutdown()
	ns.WaitForShutdown()
	eventually(t, "node B failing closed while NATS is down", func() bool {
		d, err := b.Check(ctx, holdfast.CheckRequest{Account: "u9", Action: holdfast.ActionWithdraw})
		return err == nil && d.Effect == holdfast.Deny && b.Stale()
	})
	if d, _ := b.Check(ctx, holdfast.CheckRequest{Account: "u9", Action: holdfast.ActionTrade}); d.Effect != holdfast.Allow {
		t.Errorf("a stale node refused a trade check: %+v", d)
	}
	// Commits go on during the outage.
	if _, err := a.Apply(ctx, holdfast.ApplyRequest{Account: "u1", Kind: holdfast.KindReduceOnly, Reason: "during the outage",
		Actor: holdfast.Actor{Type: holdfast.ActorStaff, ID: "sue", Roles: []holdfast.Role{holdfast.RoleSupport}}}); err != nil {
		t.Fatal(err)
	}

	// NATS comes back as the same server; the outbox's pending change is
	// published again (here by hand, as every node's deliverer does).
	ns = startNATS(t, port, natsDir)
	defer ns.Shutdown()
	pb, err := bus.Connect(ctx, url, bus.Config{Prefix: "outage"})
	if err != nil {
		t.Fatal(err)
	}
	defer pb.Close()
	pending, err := db.ClaimCommandsOf(ctx, holdfast.TypeFilter{Types: []holdfast.CommandType{holdfast.CommandIndexChanged}}, time.Now(), time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range pending {
		if err := pb.Send(ctx, &d.Command); err != nil {
			t.Fatal(err)
		}
	}
	took := eventually(t, "node B recovering and knowing the change made during the outage", func() bool {
		d, err := b.Check(ctx, holdfast.CheckRequest{Account: "u1", Action: holdfast.ActionTrade})
		return err == nil && d.Effect == holdfast.Deny && !b.Stale()
	})
	t.Logf("recovered %s after NATS came back", took)
	if d, _ := b.Check(ctx, holdfast.CheckRequest{Account: "u9", Action: holdfast.ActionWithdraw}); d.Effect != holdfast.Allow {
		t.Errorf("after recovery, money-out is still refused: %+v", d)
	}
}
