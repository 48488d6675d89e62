package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/internal/servicetest"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/postgres"
	"github.com/holdfast/holdfast/rpc"
)

// pgNodes starts `holdfast serve` processes on one fresh database, with
// or without a bus, and runs ones expected to refuse.
type pgNodes struct {
	t                   *testing.T
	bin, dsn, nats, pre string
	token               string
	key                 []string // the nodes' shared audit key flag
}

func newPGNodes(t *testing.T, withNATS bool) *pgNodes {
	t.Helper()
	p := &pgNodes{t: t, dsn: freshDatabase(t, servicetest.Postgres(t)), key: sharedAuditKey(t)}
	if withNATS {
		p.nats = servicetest.NATS(t)
		var b [4]byte
		rand.Read(b[:])
		p.pre = "hfnodes" + hex.EncodeToString(b[:])
		t.Cleanup(func() {
			if nc, err := nats.Connect(p.nats); err == nil {
				js, _ := nc.JetStream()
				for _, s := range []string{"_CHANGES", "_EVENTS", "_DEAD"} {
					_ = js.DeleteStream(strings.ToUpper(p.pre) + s)
				}
				nc.Close()
			}
		})
	}
	p.bin = buildHoldfast(t)
	if code, out, errw := cli(t, "staff", "add", "--store", p.dsn, "--id", "admin", "--roles", "admin"); code != 0 {
		t.Fatalf("staff add: %s %s", out, errw)
	}
	_, tok, _ := cli(t, "token", "create", "--store", p.dsn, "--scopes", "staff,check,self_service,events", "--staff", "admin")
	p.token = strings.TrimSpace(tok)
	return p
}

func (p *pgNodes) args(addr string, bus bool) []string {
	args := append([]string{p.bin, "serve", "--addr", addr, "--data", p.t.TempDir(), "--store", p.dsn, "--log-level", "error"}, p.key...)
	if bus {
		args = append(args, "--bus", p.nats, "--bus-prefix", p.pre)
	}
	return args
}

// start starts a node and waits until it is ready.
func (p *pgNodes) start(bus bool) *node {
	addr := freePort(p.t)
	n := &node{t: p.t, url: "http://" + addr, args: p.args(addr, bus)}
	n.start()
	p.t.Cleanup(n.kill)
	return n
}

// refused runs a node that must refuse to start, saying why.
func (p *pgNodes) refused(bus bool, why string) {
	p.t.Helper()
	args := p.args(freePort(p.t), bus)
	code, _, errw := runBin(p.t, args[0], args[1:]...)
	if code <= 0 || !strings.Contains(errw, "failed_precondition") || !strings.Contains(errw, why) {
		p.t.Errorf("a node (bus %v) beside the running one: exit %d, stderr %q; want it refused, saying %q", bus, code, errw, why)
	}
}

// TestOneNodeWithoutABus: a node without a bus serves from an index only
// its own writes update, so it refuses to start beside any other node, and
// nodes with a bus refuse to start beside it.
func TestOneNodeWithoutABus(t *testing.T) {
	p := newPGNodes(t, true)
	alone := p.start(false)
	p.refused(false, "a node without --bus must be the only one")
	p.refused(true, "a Holdfast node without --bus serves")
	alone.kill()

	p.start(true)
	p.start(true) // nodes with a bus share the store
	p.refused(false, "a node without --bus must be the only one")
}

// TestLostNodeLock: when the connection holding a lone node's lock dies,
// the node stops answering until it holds the lock again, and then answers
// from the store as it is now, with what another node wrote meanwhile.
func TestLostNodeLock(t *testing.T) {
	p := newPGNodes(t, false)
	alone := p.start(false)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var (
		pid           int32
		classid, obj  uint32
		taken, locked bool
	)
	if err := conn.QueryRow(ctx, `SELECT pid, classid::bigint, objid::bigint FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&pid, &classid, &obj); err != nil {
		t.Fatalf("the lone node holds no advisory lock on its database: %v", err)
	}
	key := int64(uint64(classid)<<32 | uint64(obj))
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	// This test is now the other node: it takes the lock and writes.
	for deadline := time.Now().Add(5 * time.Second); !taken && time.Now().Before(deadline); {
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&taken); err != nil {
			t.Fatal(err)
		}
	}
	if !taken {
		t.Fatal("the lock was not released when its connection died")
	}
	db, err := postgres.Open(ctx, p.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	other, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Apply(ctx, holdfast.ApplyRequest{Account: "u1", Kind: holdfast.KindReduceOnly, Reason: "meanwhile",
		Actor: holdfast.Actor{Type: holdfast.ActorStaff, ID: "sue", Roles: []holdfast.Role{holdfast.RoleSupport}}}); err != nil {
		t.Fatal(err)
	}

	ready := func() bool {
		resp, err := http.Get(alone.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	c := rpc.NewClients(nil, alone.url, p.token)
	check := func() (*connect.Response[holdfastv1.CheckResponse], error) {
		return c.Decision.Check(ctx, connect.NewRequest(&holdfastv1.CheckRequest{Account: "u1", Action: "trade"}))
	}
	for deadline := time.Now().Add(10 * time.Second); ready(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the node lost its lock and stayed ready")
		}
	}
	// Not ready, and answering nothing, for as long as another holds it.
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if ready() {
			t.Fatal("the node became ready while another node held the lock")
		}
		if res, err := check(); err == nil {
			t.Fatalf("the node answered a check without its lock: %v", res.Msg)
		}
	}

	if err := conn.QueryRow(ctx, `SELECT pg_advisory_unlock($1)`, key).Scan(&locked); err != nil || !locked {
		t.Fatalf("unlock: %v %v", locked, err)
	}
	for deadline := time.Now().Add(10 * time.Second); !ready(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the node did not take its lock again")
		}
	}
	if res, err := check(); err != nil || res.Msg.Effect != "deny" {
		t.Errorf("back with its lock, the node answered %v %v for an account restricted meanwhile; want deny", res, err)
	}
}
