package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"

	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/internal/servicetest"
	"github.com/holdfast/holdfast/rpc"
	"github.com/holdfast/holdfast/tlog"
)

// The services a cluster test needs: the machine's PostgreSQL and NATS
// unless the environment names others.
func clusterServices(t *testing.T) (pgAdmin, natsURL string) {
	t.Helper()
	return servicetest.Postgres(t), servicetest.NATS(t)
}

// freshDatabase creates a database of the test's own and returns its URL.
func freshDatabase(t *testing.T, admin string) string {
	t.Helper()
	ctx := context.Background()
	var b [6]byte
	rand.Read(b[:])
	name := "hf_cluster_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, admin)
		if err == nil {
			c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	return strings.Replace(admin, "/postgres?", "/"+name+"?", 1)
}

// node is one `holdfast serve` process.
type node struct {
	t    *testing.T
	args []string
	env  []string // added to the test's environment
	url  string
	cmd  *exec.Cmd
}

func (n *node) start() {
	n.t.Helper()
	n.cmd = exec.Command(n.args[0], n.args[1:]...)
	n.cmd.Stdout, n.cmd.Stderr = nil, nil
	if n.env != nil {
		n.cmd.Env = append(os.Environ(), n.env...)
	}
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	waitOK(n.t, n.url+"/readyz", 20*time.Second)
}

// waitOK waits until url answers 200, or fails t after within.
func waitOK(t *testing.T, url string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		// The last answer says why, when the wait fails.
		var last string
		resp, err := probe.Get(url)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(body))
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not answering 200 within %v; last answer: %s", url, within, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// probe asks nodes whether they are up: a node behind a cut link must
// not hold the question forever.
var probe = &http.Client{Timeout: 2 * time.Second}

func (n *node) kill() {
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	_, _ = n.cmd.Process.Wait()
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// cluster is n `holdfast serve` processes on one fresh PostgreSQL database
// and one NATS, and an admin token good on all of them.
type cluster struct {
	nodes      []*node
	token, dsn string
}

func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	return startCluster(t, clusterSpec{nodes: n})
}

// clusterSpec varies a test cluster.
type clusterSpec struct {
	nodes int
	// prefix is the bus prefix (default: a random one of the cluster's own).
	prefix string
	// store, when set, gives the DSN node i uses to reach the cluster's
	// database dsn (through a proxy, say).
	store func(i int, dsn string) string
	// node, when set, gives node i more flags and environment.
	node func(i int) (args, env []string)
}

func startCluster(t *testing.T, spec clusterSpec) *cluster {
	t.Helper()
	n := spec.nodes
	pgAdmin, natsURL := clusterServices(t)
	dsn := freshDatabase(t, pgAdmin)
	bin := buildHoldfast(t)
	prefix := spec.prefix
	if prefix == "" {
		var pb [4]byte
		rand.Read(pb[:])
		prefix = "hfcluster" + hex.EncodeToString(pb[:])
	}
	t.Cleanup(func() {
		nc, err := nats.Connect(natsURL)
		if err != nil {
			return
		}
		defer nc.Close()
		js, _ := nc.JetStream()
		for _, s := range []string{"_CHANGES", "_EVENTS", "_DEAD"} {
			_ = js.DeleteStream(strings.ToUpper(prefix) + s)
		}
	})

	if code, out, errw := cli(t, "migrate", "--store", dsn); code != 0 {
		t.Fatalf("migrate: %s %s", out, errw)
	}
	if code, out, errw := cli(t, "staff", "add", "--store", dsn, "--id", "admin", "--roles", "admin"); code != 0 {
		t.Fatalf("staff add: %s %s", out, errw)
	}
	_, tok, _ := cli(t, "token", "create", "--store", dsn, "--scopes", "staff,check,self_service,events", "--staff", "admin")
	nodes := make([]*node, n)
	key := sharedAuditKey(t)
	for i := range nodes {
		addr := freePort(t)
		store := dsn
		if spec.store != nil {
			store = spec.store(i, dsn)
		}
		nodes[i] = &node{t: t, url: "http://" + addr, args: []string{bin, "serve", "--addr", addr, "--data", t.TempDir(),
			"--store", store, "--bus", natsURL, "--bus-prefix", prefix, "--max-lag", "2s", "--log-level", "error"}}
		nodes[i].args = append(nodes[i].args, key...)
		if spec.node != nil {
			args, env := spec.node(i)
			nodes[i].args, nodes[i].env = append(nodes[i].args, args...), env
		}
		nodes[i].start()
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.kill()
		}
	})
	return &cluster{nodes: nodes, token: strings.TrimSpace(tok), dsn: dsn}
}

// propagation applies a trade-blocking restriction to each of accounts
// fresh accounts through the first node and returns, for each, the time
// from the commit until every other node denies a trade check.
func (cl *cluster) propagation(t *testing.T, accounts int, tag string) []time.Duration {
	t.Helper()
	ctx := context.Background()
	var clients []*rpc.Clients
	for _, n := range cl.nodes {
		clients = append(clients, rpc.NewClients(nil, n.url, cl.token))
	}
	var lats []time.Duration
	for i := range accounts {
		acct := fmt.Sprintf("%s-%d", tag, i)
		if _, err := clients[0].Restriction.Apply(ctx, connect.NewRequest(&holdfastv1.ApplyRequest{Account: acct, Kind: "reduce_only", Reason: "propagation"})); err != nil {
			t.Fatal(err)
		}
		committed := time.Now()
		for _, c := range clients[1:] {
			for {
				res, err := c.Decision.Check(ctx, connect.NewRequest(&holdfastv1.CheckRequest{Account: acct, Action: "trade"}))
				if err == nil && res.Msg.Effect == "deny" {
					break
				}
				if time.Since(committed) > 2*time.Second {
					t.Fatalf("%s not denied by every node within the 2 s lag bound", acct)
				}
			}
		}
		lats = append(lats, time.Since(committed))
	}
	slices.Sort(lats)
	return lats
}

// TestPropagationByNodes measures how propagation grows with the nodes:
// 2, 3 and 5 nodes on the same database and NATS (and the same two
// cores). Opt-in: HOLDFAST_BENCH_NODES=1.
func TestPropagationByNodes(t *testing.T) {
	if os.Getenv("HOLDFAST_BENCH_NODES") != "1" {
		t.Skip("set HOLDFAST_BENCH_NODES=1 to run (about a minute)")
	}
	for _, n := range []int{2, 3, 5} {
		cl := newCluster(t, n)
		lats := cl.propagation(t, 200, fmt.Sprintf("n%d", n))
		t.Logf("%d nodes: propagation to every node p50 %s, p99 %s, max %s", n, lats[len(lats)/2], lats[len(lats)*99/100], lats[len(lats)-1])
		for _, nd := range cl.nodes {
			nd.kill()
		}
	}
}

// TestThreeNodes runs three servers on one PostgreSQL and one NATS: a
// panic lock through node A is seen at once by B and C on the
// linearizable path, and within the lag bound by their checks; killing A
// with SIGKILL in the middle of a flood loses nothing that was committed;
// A restarts and catches up.
func TestThreeNodes(t *testing.T) {
	cl := newCluster(t, 3)
	nodes, token, dsn := cl.nodes, cl.token, cl.dsn
	if code, out, errw := cli(t, "staff", "add", "--store", dsn, "--id", "sue", "--roles", "support"); code != 0 {
		t.Fatalf("staff add: %s %s", out, errw)
	}
	_, sueTok, _ := cli(t, "token", "create", "--store", dsn, "--scopes", "staff", "--staff", "sue")
	sue := strings.TrimSpace(sueTok)
	ctx := context.Background()
	clients := make([]*rpc.Clients, 3)
	for i, n := range nodes {
		clients[i] = rpc.NewClients(nil, n.url, token)
	}
	a, b, c := clients[0], clients[1], clients[2]

	// A panic lock through A: B and C refuse the withdrawal at once.
	if _, err := a.Self.PanicLock(ctx, connect.NewRequest(&holdfastv1.PanicLockRequest{Account: "u1", Duration: "72h"})); err != nil {
		t.Fatal(err)
	}
	for i, cl := range []*rpc.Clients{b, c} {
		res, err := cl.Decision.AuthorizeWithdrawal(ctx, connect.NewRequest(&holdfastv1.AuthorizeWithdrawalRequest{
			Account: "u1", Id: fmt.Sprintf("w-%d", i), Asset: "USDT", Amount: "10", Address: "addr-1",
		}))
		if err != nil || res.Msg.Outcome != "deny" {
			t.Fatalf("node %c authorized a withdrawal after the panic lock: %v %v", 'B'+i, res, err)
		}
	}
	// Their checks follow within the lag bound: measure the propagation of
	// a trade-blocking restriction from A's commit to B's and C's index.
	lats := cl.propagation(t, 200, "p")
	t.Logf("propagation to every node: p50 %s, p99 %s, max %s", lats[len(lats)/2], lats[len(lats)*99/100], lats[len(lats)-1])
	// B's metrics saw those changes arrive: the feed's delay histogram.
	if n, _ := strconv.Atoi(strings.TrimPrefix(cl.nodes[1].metric(t, "holdfast_feed_delay_seconds_count"), "holdfast_feed_delay_seconds_count ")); n < 200 {
		t.Errorf("node B's holdfast_feed_delay_seconds counted %d feed messages; want at least the 200 changes", n)
	}

	// Kill A (SIGKILL) in the middle of a flood of applies through it:
	// every apply A confirmed is in the store and seen by B.
	var (
		mu        sync.Mutex
		confirmed []string
		stop      atomic.Bool
		wg        sync.WaitGroup
	)
	for w := range 8 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				acct := fmt.Sprintf("f-%d-%d", w, i)
				_, err := a.Restriction.Apply(ctx, connect.NewRequest(&holdfastv1.ApplyRequest{Account: acct, Kind: "reduce_only", Reason: "flood"}))
				if err != nil {
					return
				}
				mu.Lock()
				confirmed = append(confirmed, acct)
				mu.Unlock()
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	nodes[0].kill()
	stop.Store(true)
	wg.Wait()
	if len(confirmed) == 0 {
		t.Fatal("the flood confirmed nothing before the kill")
	}
	sueB := rpc.NewClients(nil, nodes[1].url, sue)
	for _, acct := range confirmed {
		res, err := sueB.Restriction.List(ctx, connect.NewRequest(&holdfastv1.ListRequest{Account: acct, Active: true}))
		if err != nil || len(res.Msg.Restrictions) != 1 {
			t.Fatalf("%s was confirmed by A before it died but is not in the store: %v %v", acct, res, err)
		}
		d, err := b.Decision.Check(ctx, connect.NewRequest(&holdfastv1.CheckRequest{Account: acct, Action: "trade"}))
		if err != nil || d.Msg.Effect != "deny" {
			// A may have died between its commit and the fast-path
			// publish; the outbox's slow path must bring it.
			deadline := time.Now().Add(5 * time.Second)
			for (err != nil || d.Msg.Effect != "deny") && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
				d, err = b.Decision.Check(ctx, connect.NewRequest(&holdfastv1.CheckRequest{Account: acct, Action: "trade"}))
			}
			if err != nil || d.Msg.Effect != "deny" {
				t.Fatalf("node B never learnt of %s: %v %v", acct, d, err)
			}
		}
	}
	t.Logf("%d applies confirmed by node A before SIGKILL; all in the store and on node B", len(confirmed))

	// While A is down, B commits; A restarts, catches up, and agrees.
	if _, err := b.Restriction.Apply(ctx, connect.NewRequest(&holdfastv1.ApplyRequest{Account: "late", Kind: "reduce_only", Reason: "while A was down"})); err != nil {
		t.Fatal(err)
	}
	nodes[0].start()
	a = rpc.NewClients(nil, nodes[0].url, token)
	for _, acct := range []string{"late", "u1", confirmed[len(confirmed)-1]} {
		action := "trade"
		if acct == "u1" {
			action = "withdraw"
		}
		d, err := a.Decision.Check(ctx, connect.NewRequest(&holdfastv1.CheckRequest{Account: acct, Action: action}))
		if err != nil || d.Msg.Effect != "deny" {
			t.Errorf("restarted node A on %s %s: %v %v", acct, action, d, err)
		}
	}
}

// buildHoldfast builds the binary once per test run, for the tests that
// run it as a process (and kill it).
func buildHoldfast(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "holdfast-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "holdfast")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// TestMain removes the binary buildHoldfast made.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// sharedAuditKey returns the flag that gives a node the test's one audit
// signing key: every node on one store must sign the log with the same.
func sharedAuditKey(t *testing.T) []string {
	t.Helper()
	skey, _, err := tlog.GenerateKey("holdfast.test")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audit.key")
	if err := os.WriteFile(path, []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"--audit-key", path}
}
