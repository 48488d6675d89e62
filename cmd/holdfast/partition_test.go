package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/anishathalye/porcupine"

	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/internal/servicetest"
	"github.com/holdfast/holdfast/internal/testnet"
	"github.com/holdfast/holdfast/rpc"
)

// The partition suite: three `holdfast serve` nodes, each on a host of its
// own (a network namespace), reaching PostgreSQL and a NATS server of the
// suite's own through relays the test controls. Clients on the machine
// call every node at once while one fault at a time is injected and
// healed; every call goes into a history (JSON lines), which is then
// checked (docs/reliability.md says more):
//   - the money-out history (freezes, lifts, extensions, panic locks,
//     withdrawal authorizations) is linearizable against a model of one
//     account (porcupine);
//   - a node never answers allow to a money-out check while a lock has
//     been acknowledged for longer than the max lag (and not lifted), and
//     never denies trade;
//   - every acknowledged withdrawal answers the same when retried, after
//     the fault, on any node; every acknowledged lock is in the store;
//   - no approved withdrawal follows a lock in its account's audit chain,
//     and `holdfast audit verify` passes.
// HOLDFAST_PARTITION_SECONDS sets each fault's run (default 9);
// HOLDFAST_PARTITION_HISTORY, a directory to keep the histories in.

const (
	freezeKind = "withdrawal_freeze"
	nodeMaxLag = 2 * time.Second
)

// op is one call in the history.
type op struct {
	Client int `json:"client"`
	Node   int `json:"node"`
	// apply (a withdrawal_freeze for 2 h), lift (the newest freeze),
	// extend (the newest freeze, by an hour), panic (a staff panic lock,
	// 24 h), liftpanic (which must be refused), withdraw, retry, check
	// (withdraw), trade (a trade check).
	Kind    string `json:"op"`
	Account string `json:"account"`
	ID      string `json:"id,omitempty"`
	Call    int64  `json:"call"`
	Return  int64  `json:"return"`
	// Result: ok, none (a lift or extension found no freeze), approve,
	// review, deny, allow, unknown (no answer: it may or may not have
	// taken effect), or fail (a definite refusal, which changed nothing).
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
	Fault  string `json:"fault"`
}

// natsServer is a NATS server of the suite's own, restartable with its
// store kept.
type natsServer struct {
	bin, addr, dir string
	cmd            *exec.Cmd
}

func (s *natsServer) start(t *testing.T) {
	t.Helper()
	host, port, _ := net.SplitHostPort(s.addr)
	s.cmd = exec.Command(s.bin, "-a", host, "-p", port, "-js", "-sd", s.dir)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", s.addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("nats-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *natsServer) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		s.cmd.Wait()
	}
}

// nsNode is one `holdfast serve` in its host.
type nsNode struct {
	h    *testnet.Host
	args []string
	env  []string
	url  string
	cmd  *exec.Cmd
}

func (n *nsNode) start(t *testing.T, wantReady bool) {
	t.Helper()
	n.cmd = n.h.Command(context.Background(), n.args[0], n.args[1:]...)
	n.cmd.Env = append(os.Environ(), n.env...)
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	path := "/healthz"
	if wantReady {
		path = "/readyz"
	}
	// Generous: three nodes start at once, on two cores, beside the rest
	// of the suite.
	waitOK(t, n.url+path, 60*time.Second)
}

func (n *nsNode) kill() {
	if n.cmd != nil && n.cmd.Process != nil {
		n.cmd.Process.Signal(syscall.SIGKILL)
		n.cmd.Wait()
	}
}

// partitionSuite is the running system and what the faults act on.
type partitionSuite struct {
	t       *testing.T
	dsn     string
	token   string
	nats    *natsServer
	hosts   []*testnet.Host
	pg, bus []*testnet.Forward
	nodes   []*nsNode
	clients []*rpc.Clients
}

func newPartitionSuite(t *testing.T) *partitionSuite {
	t.Helper()
	tn := testnet.New(t)
	natsBin, err := exec.LookPath("nats-server")
	if err != nil {
		servicetest.Missing(t, "nats-server is not installed")
	}
	dsn := freshDatabase(t, servicetest.Postgres(t))
	bin := buildHoldfast(t)
	s := &partitionSuite{t: t, dsn: dsn}
	s.nats = &natsServer{bin: natsBin, addr: freePort(t), dir: t.TempDir()}
	s.nats.start(t)
	t.Cleanup(s.nats.stop)

	for _, args := range [][]string{
		{"migrate", "--store", dsn},
		{"staff", "add", "--store", dsn, "--id", "ops", "--roles", "admin,compliance"},
	} {
		if code, out, errw := cli(t, args...); code != 0 {
			t.Fatalf("%v: %s %s", args, out, errw)
		}
	}
	_, tok, _ := cli(t, "token", "create", "--store", dsn, "--scopes", "staff,check", "--staff", "ops")
	s.token = strings.TrimSpace(tok)
	var pb [4]byte
	rand.Read(pb[:])
	prefix := "hfpart" + hex.EncodeToString(pb[:])
	pgAddr := strings.TrimPrefix(strings.SplitN(strings.TrimPrefix(dsn, "postgres://"), "/", 2)[0], "postgres@")
	key := sharedAuditKey(t)
	for i := range 3 {
		h := tn.Host(fmt.Sprintf("n%d", i))
		pg, bus := tn.Forward(h.Gateway, pgAddr), tn.Forward(h.Gateway, s.nats.addr)
		nodeDSN := strings.Replace(dsn, pgAddr, pg.Addr(), 1)
		n := &nsNode{h: h, url: "http://" + h.Addr + ":7433", args: []string{bin, "serve", "--addr", h.Addr + ":7433",
			"--data", t.TempDir(), "--store", nodeDSN, "--bus", "nats://" + bus.Addr(), "--bus-prefix", prefix,
			"--max-lag", nodeMaxLag.String(), "--log-level", "error"}}
		n.args = append(n.args, key...)
		s.hosts, s.pg, s.bus, s.nodes = append(s.hosts, h), append(s.pg, pg), append(s.bus, bus), append(s.nodes, n)
		s.clients = append(s.clients, rpc.NewClients(&http.Client{Timeout: 3 * time.Second}, n.url, s.token))
	}
	for _, n := range s.nodes {
		n.start(t, true)
	}
	t.Cleanup(func() {
		for _, n := range s.nodes {
			n.kill()
		}
	})
	return s
}

// fault is one fault: inject starts it, heal ends it.
type fault struct {
	name         string
	inject, heal func(s *partitionSuite)
	// broken runs node 1 as a node that decides withdrawals from its
	// index, and node 1 cut from the feed: the checker must object.
	broken bool
}

func partitionFaults() []fault {
	return []fault{
		{name: "none", inject: func(*partitionSuite) {}, heal: func(*partitionSuite) {}},
		{name: "node-postgres partition",
			inject: func(s *partitionSuite) { s.pg[0].Block() }, heal: func(s *partitionSuite) { s.pg[0].Unblock() }},
		{name: "node-nats partition",
			inject: func(s *partitionSuite) { s.bus[1].Block() }, heal: func(s *partitionSuite) { s.bus[1].Unblock() }},
		{name: "one-way: node hears nothing from nats",
			inject: func(s *partitionSuite) { s.bus[2].Drop(testnet.Down) }, heal: func(s *partitionSuite) { s.bus[2].Restore(testnet.Down) }},
		{name: "node cut off from everything",
			inject: func(s *partitionSuite) { s.hosts[0].Cut() }, heal: func(s *partitionSuite) { s.hosts[0].Heal() }},
		{name: "slow links: 200 ms ± 100 ms, 5 % loss",
			inject: func(s *partitionSuite) {
				for _, f := range []*testnet.Forward{s.pg[1], s.bus[1]} {
					f.Delay(200*time.Millisecond, 100*time.Millisecond)
					f.Loss(0.05)
				}
			},
			heal: func(s *partitionSuite) {
				for _, f := range []*testnet.Forward{s.pg[1], s.bus[1]} {
					f.Delay(0, 0)
					f.Loss(0)
				}
			}},
		{name: "kill -9 and restart",
			inject: func(s *partitionSuite) { s.nodes[2].kill() }, heal: func(s *partitionSuite) { s.nodes[2].start(s.t, true) }},
		{name: "clock 30 s ahead",
			inject: func(s *partitionSuite) {
				s.nodes[0].kill()
				s.nodes[0].env = []string{clockOffsetEnv + "=30s"}
				s.nodes[0].start(s.t, false) // stale by its own clock: never ready
			},
			heal: func(s *partitionSuite) {
				s.nodes[0].kill()
				s.nodes[0].env = nil
				s.nodes[0].start(s.t, true)
			}},
		{name: "nats restart, store kept",
			inject: func(s *partitionSuite) { s.nats.stop() }, heal: func(s *partitionSuite) { s.nats.start(s.t) }},
		{name: "mixed: postgres cut from node 0, nats one-way on node 1, node 2 killed, slow lossy link on node 1",
			inject: func(s *partitionSuite) {
				s.pg[0].Block()
				s.bus[1].Drop(testnet.Down)
				s.pg[1].Delay(200*time.Millisecond, 100*time.Millisecond)
				s.pg[1].Loss(0.05)
				s.nodes[2].kill()
			},
			heal: func(s *partitionSuite) {
				s.pg[0].Unblock()
				s.bus[1].Restore(testnet.Down)
				s.pg[1].Delay(0, 0)
				s.pg[1].Loss(0)
				s.nodes[2].start(s.t, true)
			}},
	}
}

// TestPartitions runs every fault in turn, then a deliberately broken node
// that the checker must catch.
func TestPartitions(t *testing.T) {
	s := newPartitionSuite(t)
	// Each fault lasts a third of the run: longer than the clients'
	// timeouts (2 s) and the nodes' max lag (2 s), so that calls fail and
	// nodes go stale.
	run := 9 * time.Second
	if v := os.Getenv("HOLDFAST_PARTITION_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatal(err)
		}
		run = time.Duration(n) * time.Second
	}
	for _, f := range partitionFaults() {
		t.Run(f.name, func(t *testing.T) {
			hist, recovery := s.workload(t, f, run)
			v := s.check(t, f.name, hist)
			if len(v) > 0 {
				t.Errorf("%d violations:\n%s", len(v), strings.Join(v, "\n"))
			}
			t.Logf("| %s | %s | %d | %s |", f.name, summary(hist), len(v), recovery.Round(10*time.Millisecond))
		})
	}
	t.Run("broken node is caught", func(t *testing.T) {
		// Anti-entropy off too: it would repair the broken node's index
		// within a second even without the feed.
		s.nodes[1].kill()
		s.nodes[1].env = []string{brokenWithdrawalsEnv + "=1"}
		s.nodes[1].args = append(s.nodes[1].args, "--anti-entropy-every", "0")
		s.nodes[1].start(t, true)
		f := fault{name: "broken node", broken: true,
			inject: func(s *partitionSuite) { s.bus[1].Drop(testnet.Down) },
			heal:   func(s *partitionSuite) { s.bus[1].Restore(testnet.Down) }}
		// Twice as long, so that the broken node surely decides while a
		// lock it has not heard of is in force.
		hist, _ := s.workload(t, f, 2*run)
		if v := s.check(t, f.name, hist); len(v) == 0 {
			t.Error("the checker found nothing wrong with a node that decides withdrawals from its index while cut from the feed")
		} else {
			t.Logf("caught: %d violations, first: %s", len(v), v[0])
		}
	})
}

// workload runs clients against every node for d, injecting f after a
// third of it and healing it after two thirds, and returns the history and
// how long after the heal every node was ready again.
func (s *partitionSuite) workload(t *testing.T, f fault, d time.Duration) ([]op, time.Duration) {
	tag := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, f.name)
	tag = tag[:min(len(tag), 24)]
	// Panic locks last 24 h: they go to the third account only, so that
	// the other two keep changing state.
	accounts := []string{tag + "-a", tag + "-b", tag + "-p"}
	var (
		mu      sync.Mutex
		hist    []op
		stop    = make(chan struct{})
		wg      sync.WaitGroup
		nextID  int
		settled = map[string]string{} // withdrawal id -> its account
	)
	record := func(o op) {
		mu.Lock()
		defer mu.Unlock()
		hist = append(hist, o)
		if o.Kind == "withdraw" && isOutcome(o.Result) {
			settled[o.ID] = o.Account
		}
	}
	for c := range 6 {
		wg.Go(func() {
			r := mrand.New(mrand.NewPCG(uint64(c), uint64(time.Now().UnixNano())))
			for {
				select {
				case <-stop:
					return
				default:
				}
				node := r.IntN(len(s.nodes))
				o := op{Client: c, Node: node, Account: accounts[r.IntN(len(accounts))], Fault: f.name}
				switch p := r.IntN(100); {
				case p < 8: // fewer applies than lifts, so that accounts
					// keep going back to unlocked
					o.Kind = "apply"
				case p < 22:
					o.Kind = "lift"
				case p < 25:
					o.Kind = "extend"
				case p < 27:
					o.Kind, o.Account = "panic", accounts[2]
				case p < 28:
					o.Kind, o.Account = "liftpanic", accounts[2]
				case p < 64:
					o.Kind = "withdraw"
					mu.Lock()
					nextID++
					o.ID = fmt.Sprintf("%s-w%d", tag, nextID)
					mu.Unlock()
				case p < 76:
					o.Kind = "retry"
					mu.Lock()
					for id, acct := range settled { // map order: a random one
						o.ID, o.Account = id, acct
						break
					}
					mu.Unlock()
					if o.ID == "" {
						continue
					}
				case p < 90:
					o.Kind = "check"
				default:
					o.Kind = "trade"
				}
				s.call(&o)
				record(o)
			}
		})
	}
	time.Sleep(d / 3)
	f.inject(s)
	time.Sleep(d / 3)
	healed := time.Now()
	f.heal(s)
	recovery := s.ready(t, healed)
	time.Sleep(d/3 - min(d/3, time.Since(healed)))
	close(stop)
	wg.Wait()
	s.keep(t, f.name, hist)
	return hist, recovery
}

// ready waits until every node answers /readyz and returns the time since
// from.
func (s *partitionSuite) ready(t *testing.T, from time.Time) time.Duration {
	for _, n := range s.nodes {
		waitOK(t, n.url+"/readyz", 60*time.Second-time.Since(from))
	}
	return time.Since(from)
}

// summary counts a history's operations: all, then those without an
// answer.
func summary(hist []op) string {
	unknown := 0
	for _, o := range hist {
		if o.Result == "unknown" {
			unknown++
		}
	}
	return fmt.Sprintf("%d | %d", len(hist), unknown)
}

// call makes o's call and fills in its times and result.
func (s *partitionSuite) call(o *op) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c := s.clients[o.Node]
	o.Call = time.Now().UnixNano()
	var err error
	switch o.Kind {
	case "apply", "panic":
		kind, d := freezeKind, "2h"
		if o.Kind == "panic" {
			kind, d = "panic_lock", "24h"
		}
		var res *connect.Response[holdfastv1.ApplyResponse]
		res, err = c.Restriction.Apply(ctx, connect.NewRequest(&holdfastv1.ApplyRequest{Account: o.Account, Kind: kind, Duration: d, Reason: "partition suite"}))
		if err == nil {
			o.Result, o.ID = "ok", res.Msg.Restriction.GetId()
		}
	case "extend":
		_, err = c.Restriction.Extend(ctx, connect.NewRequest(&holdfastv1.ExtendRequest{Account: o.Account, Kind: freezeKind, By: "1h", Reason: "partition suite"}))
		o.Result = "ok"
		if code := connect.CodeOf(err); code == connect.CodeNotFound || code == connect.CodeFailedPrecondition {
			o.Result, o.Error, err = "none", err.Error(), nil
		}
	case "liftpanic":
		_, err = c.Restriction.Lift(ctx, connect.NewRequest(&holdfastv1.LiftRequest{Account: o.Account, Kind: "panic_lock", Reason: "partition suite"}))
		o.Result = "ok"
		if err != nil && definite(err) {
			o.Result, err = "fail", nil
		}
	case "lift":
		var res *connect.Response[holdfastv1.LiftResponse]
		res, err = c.Restriction.Lift(ctx, connect.NewRequest(&holdfastv1.LiftRequest{Account: o.Account, Kind: freezeKind, Reason: "partition suite"}))
		o.Result = "ok"
		if err == nil {
			o.ID = res.Msg.GetRestriction().GetId() // which one, for a failure's history
		}
		if code := connect.CodeOf(err); code == connect.CodeNotFound || code == connect.CodeFailedPrecondition {
			o.Result, o.Error, err = "none", err.Error(), nil
		}
	case "withdraw", "retry":
		var res *connect.Response[holdfastv1.AuthorizeWithdrawalResponse]
		res, err = c.Decision.AuthorizeWithdrawal(ctx, connect.NewRequest(&holdfastv1.AuthorizeWithdrawalRequest{
			Account: o.Account, Id: o.ID, Asset: "USDT", Amount: "10", Address: "addr-1"}))
		if err == nil {
			o.Result = res.Msg.Outcome
		}
	case "check", "trade":
		action := "withdraw"
		if o.Kind == "trade" {
			action = "trade"
		}
		var res *connect.Response[holdfastv1.CheckResponse]
		res, err = c.Decision.Check(ctx, connect.NewRequest(&holdfastv1.CheckRequest{Account: o.Account, Action: action}))
		if err == nil {
			o.Result = res.Msg.Effect
		}
	}
	o.Return = time.Now().UnixNano()
	if err != nil {
		o.Error = err.Error()
		o.Result = "unknown"
		var dial *net.OpError
		switch {
		case errors.As(err, &dial) && dial.Op == "dial":
			o.Result = "fail" // the node was not reached: nothing was sent
		case slices.Contains([]connect.Code{connect.CodeInvalidArgument, connect.CodePermissionDenied, connect.CodeUnauthenticated}, connect.CodeOf(err)):
			o.Result = "fail" // refused before anything was written
		}
	}
}

// definite reports an error that is the server's answer, not the lack of
// one: the call changed nothing.
func definite(err error) bool {
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded, connect.CodeCanceled, connect.CodeUnknown, connect.CodeInternal:
		return false
	}
	return true
}

// isOutcome reports a withdrawal's answer.
func isOutcome(r string) bool { return r == "approve" || r == "review" || r == "deny" }

// keep writes the history as JSON lines where HOLDFAST_PARTITION_HISTORY
// says, or into the test's temporary directory.
func (s *partitionSuite) keep(t *testing.T, name string, hist []op) {
	dir := os.Getenv("HOLDFAST_PARTITION_HISTORY")
	if dir == "" {
		dir = t.TempDir()
	}
	f, err := os.Create(filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for _, o := range hist {
		enc.Encode(o)
	}
}

// lockState is one account's money-out state in the model.
type lockState struct {
	freezes int  // withdrawal freezes in force
	panic   bool // a panic lock in force (24 h: never ends in a run)
}

// lockModel is one account's money-out state: each apply adds a freeze, a
// lift ends the newest, an extension needs one; a panic lock never ends
// in a run and no lift may end it. A withdrawal answered deny needs a
// freeze or a panic lock, one answered approve or review neither. An
// unknown answer may have taken effect or not (it has no return time, so
// it may come last).
var lockModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		for _, o := range h {
			a := o.Input.(op).Account
			by[a] = append(by[a], o)
		}
		var out [][]porcupine.Operation
		for _, p := range by {
			out = append(out, p)
		}
		return out
	},
	Init: func() any { return lockState{} },
	Step: func(state, input, output any) (bool, any) {
		st, in, res := state.(lockState), input.(op), output.(string)
		locked := st.freezes > 0 || st.panic
		switch in.Kind {
		case "apply":
			if res != "fail" {
				st.freezes++
			}
			return true, st
		case "panic":
			if res != "fail" {
				st.panic = true
			}
			return true, st
		case "liftpanic":
			return res != "ok", st // nobody may end a panic lock
		case "lift":
			switch res {
			case "ok":
				ok := st.freezes > 0
				st.freezes = max(st.freezes-1, 0)
				return ok, st
			case "none":
				return st.freezes == 0, st
			case "unknown":
				st.freezes = max(st.freezes-1, 0)
			}
			return true, st
		case "extend":
			switch res {
			case "ok":
				return st.freezes > 0, st
			case "none":
				return st.freezes == 0, st
			}
			return true, st
		default: // withdraw
			switch res {
			case "deny":
				return locked, st
			case "approve", "review":
				return !locked, st
			}
			return true, st
		}
	},
	DescribeOperation: func(input, output any) string {
		in := input.(op)
		return fmt.Sprintf("%s %s %s on n%d -> %s", in.Kind, in.Account, in.ID, in.Node, output)
	},
}

// check returns every violation the history and the stores show.
func (s *partitionSuite) check(t *testing.T, name string, hist []op) []string {
	var v []string
	// Linearizability of the money-out history.
	var ops []porcupine.Operation
	for _, o := range hist {
		// A retry answers with the decision its id's first call made, at
		// that call's point in the order: the retry invariant below checks
		// it, not the model.
		if o.Kind == "check" || o.Kind == "trade" || o.Kind == "retry" {
			continue
		}
		ret := o.Return
		if o.Result == "unknown" {
			// A call without an answer that cannot change the model's
			// state (a withdrawal, an extension, a refused lift) fits
			// anywhere: leaving it out keeps the search small.
			if o.Kind != "apply" && o.Kind != "panic" && o.Kind != "lift" {
				continue
			}
			ret = math.MaxInt64 // it may take effect any time after its call
		}
		ops = append(ops, porcupine.Operation{ClientId: o.Client, Input: o, Call: o.Call, Output: o.Result, Return: ret})
	}
	switch porcupine.CheckOperationsTimeout(lockModel, ops, time.Minute) {
	case porcupine.Illegal:
		v = append(v, fmt.Sprintf("%s: the money-out history (%d operations) is not linearizable", name, len(ops)))
	case porcupine.Unknown:
		v = append(v, fmt.Sprintf("%s: the linearizability of the money-out history (%d operations) could not be decided within a minute", name, len(ops)))
	}
	// A node never allows money-out while a lock has been acknowledged for
	// longer than the max lag and no lift was called since.
	slack := int64(nodeMaxLag + time.Second)
	for _, c := range hist {
		if c.Kind != "check" || c.Result != "allow" {
			continue
		}
		for _, a := range hist {
			if a.Kind != "apply" || a.Result != "ok" || a.Account != c.Account || a.Return >= c.Call-slack {
				continue
			}
			lifted := false
			for _, l := range hist {
				if l.Kind == "lift" && l.Account == c.Account && l.Call > a.Call && l.Call <= c.Return {
					lifted = true
					break
				}
			}
			if !lifted {
				v = append(v, fmt.Sprintf("%s: node %d allowed withdraw on %s %v after a lock was acknowledged",
					name, c.Node, c.Account, time.Duration(c.Call-a.Return)))
				break
			}
		}
	}
	// No restriction of the workload blocks trade, and a node that is
	// behind fails closed for money-out only: every trade check allows.
	for _, o := range hist {
		if o.Kind == "trade" && o.Result == "deny" {
			v = append(v, fmt.Sprintf("%s: node %d denied trade on %s", name, o.Node, o.Account))
		}
	}
	// Every acknowledged withdrawal answers the same on a retry, on every
	// node, once the fault is healed.
	first := map[string]string{}
	for _, o := range hist {
		if (o.Kind == "withdraw" || o.Kind == "retry") && isOutcome(o.Result) {
			if f, ok := first[o.ID]; ok && f != o.Result {
				v = append(v, fmt.Sprintf("%s: withdrawal %s answered %s, then %s", name, o.ID, f, o.Result))
			} else if !ok {
				first[o.ID] = o.Result
			}
		}
	}
	// The retries run side by side: one at a time, the thousands a run
	// acknowledges took minutes.
	account := map[string]string{}
	for _, o := range hist {
		if _, ok := account[o.ID]; !ok {
			account[o.ID] = o.Account
		}
	}
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		retried []string
		slots   = make(chan struct{}, 16)
	)
	for id, want := range first {
		for i := range s.nodes {
			wg.Add(1)
			slots <- struct{}{}
			go func() {
				defer func() { <-slots; wg.Done() }()
				o := op{Node: i, Kind: "retry", Account: account[id], ID: id}
				for try := 0; try < 20; try++ {
					if s.call(&o); o.Result != "unknown" {
						break
					}
					time.Sleep(250 * time.Millisecond)
				}
				if o.Result != want {
					mu.Lock()
					retried = append(retried, fmt.Sprintf("%s: withdrawal %s answered %s, and %s on node %d after the fault (%s)", name, id, want, o.Result, i, o.Error))
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	slices.Sort(retried)
	v = append(v, retried...)
	// Every acknowledged lock is in the store.
	for _, o := range hist {
		if o.Kind != "apply" || o.Result != "ok" {
			continue
		}
		var err error
		for try := 0; try < 20; try++ {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err = s.clients[try%len(s.clients)].Restriction.Get(ctx, connect.NewRequest(&holdfastv1.GetRequest{Restriction: o.ID}))
			cancel()
			if err == nil || connect.CodeOf(err) == connect.CodeNotFound {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		if err != nil {
			v = append(v, fmt.Sprintf("%s: lock %s on %s was acknowledged but cannot be read: %v", name, o.ID, o.Account, err))
		}
	}
	// In each account's audit chain, the order of its commits, no approved
	// withdrawal follows a lock that was not lifted before it.
	accounts := map[string]bool{}
	for _, o := range hist {
		accounts[o.Account] = true
	}
	for acct := range accounts {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := s.clients[0].Restriction.History(ctx, connect.NewRequest(&holdfastv1.HistoryRequest{Account: acct}))
		cancel()
		if err != nil {
			v = append(v, fmt.Sprintf("%s: history of %s: %v", name, acct, err))
			continue
		}
		locks := map[string]bool{}
		for _, e := range res.Msg.Entries {
			switch e.Action {
			case "apply":
				locks[e.GetRestriction()] = true
			case "lift":
				delete(locks, e.GetRestriction())
			case "authorize_withdrawal":
				outcome := e.GetAfter().GetFields()["outcome"].GetStringValue()
				if outcome == "approve" && len(locks) > 0 {
					v = append(v, fmt.Sprintf("%s: %s's audit entry %d approves a withdrawal after a lock in force (%d locks)", name, acct, e.Seq, len(locks)))
				}
			}
		}
	}
	// The audit chains are whole.
	if code, out, errw := cli(t, "audit", "verify", "--store", s.dsn); code != 0 {
		v = append(v, fmt.Sprintf("%s: audit verify: %s %s", name, out, errw))
	}
	return v
}
