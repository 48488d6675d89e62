package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
)

// TestAntiEntropyConverges: three nodes, two of which lose every change
// the feed brings (HOLDFAST_TEST_DROP_FEED). The one running anti-entropy
// (a slice of 10 accounts every 100 ms) converges on what node 0
// committed, applies and lifts alike, within two passes; the one with
// anti-entropy off never does, which shows the feed was truly lost.
func TestAntiEntropyConverges(t *testing.T) {
	cl := startCluster(t, clusterSpec{nodes: 3, node: func(i int) (args, env []string) {
		switch i {
		case 1:
			return []string{"--anti-entropy-every", "100ms", "--anti-entropy-slice", "10"}, []string{dropFeedEnv + "=1"}
		case 2:
			return []string{"--anti-entropy-every", "0"}, []string{dropFeedEnv + "=1"}
		}
		return nil, nil
	}})
	ctx := context.Background()
	var clients []*rpc.Clients
	for _, n := range cl.nodes {
		clients = append(clients, rpc.NewClients(nil, n.url, cl.token))
	}
	const accounts = 25
	// Two passes over the accounts (and the staff chain's): a change may
	// land just behind the pass's cursor. With 2 s to spare for a loaded
	// machine.
	bound := 2*time.Duration((accounts+1+9)/10)*100*time.Millisecond + 2*time.Second
	trade := func(c *rpc.Clients, acct string) string {
		t.Helper()
		res, err := c.Decision.Check(ctx, connect.NewRequest(&holdfastv1.CheckRequest{Account: acct, Action: "trade"}))
		if err != nil {
			t.Fatal(err)
		}
		return res.Msg.Effect
	}
	converge := func(want string) {
		t.Helper()
		start := time.Now()
		for i := range accounts {
			acct := fmt.Sprintf("ae-%d", i)
			for trade(clients[1], acct) != want {
				if time.Since(start) > bound {
					t.Fatalf("node 1 does not answer %s for %s %v after the commits (bound %v)", want, acct, time.Since(start), bound)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if trade(clients[0], acct) != want {
				t.Fatalf("node 0 does not answer %s for %s", want, acct)
			}
		}
		t.Logf("node 1 answered %s for every account within %v", want, time.Since(start))
	}

	var ids []string
	for i := range accounts {
		res, err := clients[0].Restriction.Apply(ctx, connect.NewRequest(&holdfastv1.ApplyRequest{Account: fmt.Sprintf("ae-%d", i), Kind: "reduce_only", Reason: "anti-entropy"}))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Msg.Restriction.Id)
	}
	converge("deny")
	for i := range accounts {
		if e := trade(clients[2], fmt.Sprintf("ae-%d", i)); e != "allow" {
			t.Fatalf("node 2, its feed dropped and no anti-entropy, answered %s: the feed was not lost", e)
		}
	}
	if m := cl.nodes[1].metric(t, "holdfast_index_repairs_total"); m != fmt.Sprintf("holdfast_index_repairs_total %d", accounts) {
		t.Errorf("node 1: %q, want %d repairs", m, accounts)
	}
	if m := cl.nodes[1].metric(t, "holdfast_index_full_pass_age_seconds"); !strings.HasPrefix(m, "holdfast_index_full_pass_age_seconds ") {
		t.Errorf("node 1 exports no full pass age: %q", m)
	}
	if m := cl.nodes[2].metric(t, "holdfast_index_repairs_total"); m != "" {
		t.Errorf("node 2, anti-entropy off, exports %q", m)
	}

	if code, out, errw := cli(t, "staff", "add", "--store", cl.dsn, "--id", "sam", "--roles", "support"); code != 0 {
		t.Fatalf("staff add: %s %s", out, errw)
	}
	_, tok, _ := cli(t, "token", "create", "--store", cl.dsn, "--scopes", "staff", "--staff", "sam")
	support := rpc.NewClients(nil, cl.nodes[0].url, strings.TrimSpace(tok))
	for _, id := range ids {
		if _, err := support.Restriction.Lift(ctx, connect.NewRequest(&holdfastv1.LiftRequest{Restriction: id, Reason: "done"})); err != nil {
			t.Fatal(err)
		}
	}
	converge("allow")
	if m := cl.nodes[1].metric(t, "holdfast_index_repairs_total"); m != fmt.Sprintf("holdfast_index_repairs_total %d", 2*accounts) {
		t.Errorf("node 1: %q, want %d repairs", m, 2*accounts)
	}
}
