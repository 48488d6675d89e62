package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	natsserver "github.com/nats-io/nats-server/v2/server"

	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/internal/servicetest"
	"github.com/holdfast/holdfast/rpc"
)

// startNATS runs a real NATS server with JetStream in the test's process
// on addr, with its store in dir, so that the test can stop it and start
// it again as the same server.
func startNATS(t *testing.T, addr, dir string) *natsserver.Server {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	s, err := natsserver.NewServer(&natsserver.Options{Host: host, Port: p, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS did not start")
	}
	return s
}

// TestWritesAnswerWhileNATSIsDown: with the bus down, a write answers at
// once (the change waits in the outbox, not in the caller's request), and
// it still reaches the other node once NATS is back.
func TestWritesAnswerWhileNATSIsDown(t *testing.T) {
	dsn := freshDatabase(t, servicetest.Postgres(t))
	bin := buildHoldfast(t)
	natsAddr, natsDir := freePort(t), t.TempDir()
	ns := startNATS(t, natsAddr, natsDir)
	t.Cleanup(func() { ns.Shutdown() })
	natsURL := ns.ClientURL()

	if code, out, errw := cli(t, "staff", "add", "--store", dsn, "--id", "admin", "--roles", "admin"); code != 0 {
		t.Fatalf("staff add: %s %s", out, errw)
	}
	_, tok, _ := cli(t, "token", "create", "--store", dsn, "--scopes", "staff,check,self_service,events", "--staff", "admin")
	var pb [4]byte
	rand.Read(pb[:])
	prefix := "hfdown" + hex.EncodeToString(pb[:])
	var clients []*rpc.Clients
	var nodes []*node
	key := sharedAuditKey(t)
	for range 2 {
		addr := freePort(t)
		n := &node{t: t, url: "http://" + addr, args: []string{bin, "serve", "--addr", addr, "--data", t.TempDir(),
			"--store", dsn, "--bus", natsURL, "--bus-prefix", prefix, "--max-lag", "2s", "--log-level", "error"}}
		n.args = append(n.args, key...)
		n.start()
		t.Cleanup(n.kill)
		clients = append(clients, rpc.NewClients(nil, n.url, strings.TrimSpace(tok)))
		nodes = append(nodes, n)
	}
	a, b := clients[0], clients[1]

	ns.Shutdown()
	ns.WaitForShutdown()
	// A caller with a 5 s deadline, as the one that saw a committed panic
	// lock fail.
	for _, w := range []struct {
		name string
		call func(context.Context) error
	}{
		{"PanicLock", func(ctx context.Context) error {
			_, err := a.Self.PanicLock(ctx, connect.NewRequest(&holdfastv1.PanicLockRequest{Account: "u1", Duration: "72h"}))
			return err
		}},
		{"Apply", func(ctx context.Context) error {
			_, err := a.Restriction.Apply(ctx, connect.NewRequest(&holdfastv1.ApplyRequest{Account: "u2", Kind: "reduce_only", Reason: "bus down"}))
			return err
		}},
		{"Ingest", func(ctx context.Context) error {
			_, err := a.Event.Ingest(ctx, connect.NewRequest(&holdfastv1.IngestRequest{Event: &holdfastv1.Event{Id: "e-down", Type: "password_changed", Account: "u3"}}))
			return err
		}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		err := w.call(ctx)
		took := time.Since(start)
		cancel()
		// Generous: the point is not waiting for NATS (5 s before), not speed.
		if err != nil || took > 2*time.Second {
			t.Errorf("%s with NATS down: %v after %s; want an answer well within the caller's 5 s", w.name, err, took)
		}
	}

	// Past --max-lag without the feed, node B cannot know of the panic
	// lock: a gateway asking it is refused money-out routes, for any
	// account, and still let through to trade.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r := forwardAuth(t, nodes[1], strings.TrimSpace(tok), "POST", "/api/v1/withdrawals", "X-Account-Id", "u9")
		if r.status == http.StatusForbidden && strings.Contains(r.body, `"effect":"deny"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a stale node still answers the gateway %d %s for a withdrawal", r.status, r.body)
		}
	}
	if r := forwardAuth(t, nodes[1], strings.TrimSpace(tok), "POST", "/api/v1/orders", "X-Account-Id", "u9"); r.status != http.StatusOK {
		t.Errorf("a stale node refuses an order at the gateway: %d %s", r.status, r.body)
	}

	ns = startNATS(t, natsAddr, natsDir)
	back := time.Now()
	deadline := time.Now().Add(20 * time.Second)
	for {
		d, err := b.Decision.Check(context.Background(), connect.NewRequest(&holdfastv1.CheckRequest{Account: "u1", Action: "withdraw"}))
		if err == nil && d.Msg.Effect == "deny" && len(d.Msg.Causes) > 0 && d.Msg.Causes[0].GetKind() == "panic_lock" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node B never learnt of the panic lock made while NATS was down: %v %v", d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("node B denied money-out for the panic lock %s after NATS came back", time.Since(back))
}
