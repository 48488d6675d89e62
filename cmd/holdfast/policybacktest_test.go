package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/rpc"
)

// TestPolicyBacktestOnPush records bursts of 80 orders a minute on a real
// server, pushes the stricter API-burst threshold (50), and follows the
// backtest the push started until it is done: reduce_only is applied to
// exactly those accounts, only by the pushed version.
func TestPolicyBacktestOnPush(t *testing.T) {
	c, bursts := backtestServer(t, nil, nil)

	// The installed first version was never pushed: no backtest.
	if code, _, errw := c.run("policy", "backtest", policy.Default().Hash[:12]); code == 0 || !strings.Contains(errw, "not_found") {
		t.Errorf("backtest of the installed version: exit %d, %s", code, errw)
	}

	version := c.pushStricter()
	bt := c.follow(version)
	if bt.State != "done" || bt.Version != version || bt.Baseline != policy.Default().Hash || bt.Events != "4" || bt.Capped != "" || bt.Error != "" {
		t.Fatalf("backtest: %+v", bt)
	}
	i := slices.IndexFunc(bt.Kinds, func(k backtestKind) bool { return k.Kind == "reduce_only" })
	if i < 0 {
		t.Fatalf("no reduce_only in %+v", bt.Kinds)
	}
	if k := bt.Kinds[i]; k.Baseline != 0 || k.Candidate != 3 || k.OnlyBaselineCount != 0 || k.OnlyCandidateCount != 3 || !slices.Equal(k.OnlyCandidate, bursts) {
		t.Errorf("reduce_only: %+v, want only the candidate restricting %v", k, bursts)
	}

	out := c.must("policy", "backtest", version[:12])
	for _, want := range []string{"done", "4 event(s) replayed", "reduce_only  0", "reduce_only only under the candidate (3):\n  acct-bt-1\n  acct-bt-2\n  acct-bt-3\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("policy backtest lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "acct-bt-calm") || strings.Contains(out, "CAPPED") {
		t.Errorf("policy backtest:\n%s", out)
	}
}

// TestPolicyBacktestAcrossNodes: on PostgreSQL, a version pushed to one
// node is backtested there, and another node shows the run and its result.
func TestPolicyBacktestAcrossNodes(t *testing.T) {
	cl := newCluster(t, 2)
	ctx := context.Background()
	a, b := rpc.NewClients(nil, cl.nodes[0].url, cl.token), rpc.NewClients(nil, cl.nodes[1].url, cl.token)
	opm := 80.0
	for i := range 3 {
		if _, err := a.Event.Ingest(ctx, connect.NewRequest(&holdfastv1.IngestRequest{Event: &holdfastv1.Event{
			Id: fmt.Sprintf("ev-%d", i), Type: "api_activity", Account: fmt.Sprintf("pg-burst-%d", i), OrdersPerMinute: &opm}})); err != nil {
			t.Fatal(err)
		}
	}
	yml := strings.Replace(string(policy.DefaultYAML()), "event.orders_per_minute > 100.0", "event.orders_per_minute > 50.0", 1)
	pushed, err := a.Policy.PushPolicy(ctx, connect.NewRequest(&holdfastv1.PushPolicyRequest{Yaml: yml}))
	if err != nil {
		t.Fatal(err)
	}
	var bt *holdfastv1.PolicyBacktest
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		res, err := b.Policy.GetPolicyBacktest(ctx, connect.NewRequest(&holdfastv1.GetPolicyBacktestRequest{Version: pushed.Msg.Version.Hash}))
		if err != nil {
			t.Fatal(err)
		}
		if bt = res.Msg.Backtest; bt.State != "running" || time.Now().After(deadline) {
			break
		}
	}
	if bt.State != "done" || bt.Events != 3 || len(bt.Kinds) != 1 || bt.Kinds[0].Kind != "reduce_only" ||
		!slices.Equal(bt.Kinds[0].OnlyCandidate, []string{"pg-burst-0", "pg-burst-1", "pg-burst-2"}) || bt.Kinds[0].Baseline != 0 {
		t.Fatalf("the other node's view of the backtest: %v", bt)
	}
}

// TestPolicyBacktestCaps: serve's backtest caps, from a flag and from the
// environment, bound the backtest a push starts.
func TestPolicyBacktestCaps(t *testing.T) {
	c, _ := backtestServer(t, []string{"--backtest-max-events", "2"}, nil)
	if bt := c.follow(c.pushStricter()); bt.State != "done" || bt.Events != "2" || bt.Capped != "size" {
		t.Errorf("--backtest-max-events 2: %+v", bt)
	}

	// A window of a millisecond holds none of the events recorded before.
	c, _ = backtestServer(t, nil, []string{"HOLDFAST_BACKTEST_WINDOW=1ms"})
	time.Sleep(10 * time.Millisecond)
	if bt := c.follow(c.pushStricter()); bt.State != "done" || bt.Events != "0" || bt.Capped != "" {
		t.Errorf("HOLDFAST_BACKTEST_WINDOW=1ms: %+v", bt)
	}

	if code, _, errw := cli(t, "serve", "--data", t.TempDir(), "--backtest-timeout", "0s"); code != 2 || !strings.Contains(errw, "field backtest-timeout") {
		t.Errorf("serve --backtest-timeout 0s: exit %d, %s", code, errw)
	}
}

// backtestCLI runs the CLI against one server as a compliance officer.
type backtestCLI struct {
	t          *testing.T
	url, token string
}

func (c backtestCLI) run(args ...string) (int, string, string) {
	c.t.Helper()
	return cli(c.t, append(args, "--server", c.url, "--token", c.token)...)
}

func (c backtestCLI) must(args ...string) string {
	c.t.Helper()
	code, out, errw := c.run(args...)
	if code != 0 {
		c.t.Fatalf("%s: exit %d\n%s%s", strings.Join(args, " "), code, out, errw)
	}
	return out
}

// backtestServer starts a server on a fresh store, with args and env added,
// and records bursts of 80 orders a minute on three accounts (returned)
// and 20 on a fourth.
func backtestServer(t *testing.T, args, env []string) (backtestCLI, []string) {
	t.Helper()
	bin := buildHoldfast(t)
	data := t.TempDir()
	if code, out, errw := cli(t, "staff", "add", "--data", data, "--id", "alice", "--roles", "compliance"); code != 0 {
		t.Fatalf("staff add: %s%s", out, errw)
	}
	_, tok, _ := cli(t, "token", "create", "--data", data, "--scopes", "staff,events", "--staff", "alice")
	addr := freePort(t)
	n := &node{t: t, url: "http://" + addr, env: env, args: append([]string{bin, "serve", "--addr", addr, "--data", data, "--log-level", "error"}, args...)}
	n.start()
	t.Cleanup(n.kill)
	c := backtestCLI{t: t, url: n.url, token: strings.TrimSpace(tok)}
	bursts := []string{"acct-bt-1", "acct-bt-2", "acct-bt-3"}
	for _, a := range bursts {
		c.must("event", "--type", "api_activity", "--account", a, "--orders-per-minute", "80")
	}
	c.must("event", "--type", "api_activity", "--account", "acct-bt-calm", "--orders-per-minute", "20")
	return c, bursts
}

// pushStricter pushes the default policy with the API-burst threshold
// halved (100 → 50 orders a minute) and returns the pushed version.
func (c backtestCLI) pushStricter() string {
	c.t.Helper()
	b := strings.Replace(string(policy.DefaultYAML()), "event.orders_per_minute > 100.0", "event.orders_per_minute > 50.0", 1)
	file := filepath.Join(c.t.TempDir(), "stricter.yaml")
	if err := os.WriteFile(file, []byte(b), 0o600); err != nil {
		c.t.Fatal(err)
	}
	out := c.must("policy", "push", file, "--comment", "halve the API burst threshold")
	version := regexp.MustCompile(`[0-9a-f]{64}`).FindString(out)
	if version == "" || !strings.Contains(out, "policy backtest "+version[:12]) {
		c.t.Fatalf("push printed %q", out)
	}
	return version
}

type backtestKind struct {
	Kind               string   `json:"kind"`
	Baseline           int      `json:"baseline"`
	Candidate          int      `json:"candidate"`
	OnlyBaselineCount  int      `json:"only_baseline_count"`
	OnlyCandidateCount int      `json:"only_candidate_count"`
	OnlyCandidate      []string `json:"only_candidate"`
}

type pushedBacktest struct {
	Version  string         `json:"version"`
	Baseline string         `json:"baseline"`
	State    string         `json:"state"`
	Events   string         `json:"events"` // int64: a string in protojson
	Capped   string         `json:"capped"`
	Error    string         `json:"error"`
	Kinds    []backtestKind `json:"kinds"`
}

// follow reads version's backtest until it is no longer running (a
// minute at most).
func (c backtestCLI) follow(version string) pushedBacktest {
	c.t.Helper()
	var got struct {
		Backtest pushedBacktest `json:"backtest"`
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if err := json.Unmarshal([]byte(c.must("policy", "backtest", version[:12], "--json")), &got); err != nil {
			c.t.Fatal(err)
		}
		if got.Backtest.State != "running" || time.Now().After(deadline) {
			return got.Backtest
		}
	}
}
