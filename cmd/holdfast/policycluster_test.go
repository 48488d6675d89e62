package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/rpc"
)

// TestPolicyActivationAcrossNodes: three nodes take events while a new
// policy version (api_burst's reduce_only for 12h instead of 24h) is
// activated on one of them and approved on another. Every event is judged
// by exactly one version, the one its restriction names, and lasts what
// that version says; from one second after the approval every node
// judges by the new version.
func TestPolicyActivationAcrossNodes(t *testing.T) {
	cl := newCluster(t, 3)
	if code, out, errw := cli(t, "staff", "add", "--store", cl.dsn, "--id", "carol", "--roles", "compliance"); code != 0 {
		t.Fatalf("staff add: %s %s", out, errw)
	}
	_, carolTok, _ := cli(t, "token", "create", "--store", cl.dsn, "--scopes", "staff", "--staff", "carol")
	carol := rpc.NewClients(nil, cl.nodes[1].url, strings.TrimSpace(carolTok))
	var clients []*rpc.Clients
	for _, n := range cl.nodes {
		clients = append(clients, rpc.NewClients(nil, n.url, cl.token))
	}
	ctx := context.Background()
	oldHash := policy.Default().Hash
	yml := strings.Replace(string(policy.DefaultYAML()), "- apply: {kind: reduce_only, duration: 24h}", "- apply: {kind: reduce_only, duration: 12h}", 1)
	pushed, err := clients[0].Policy.PushPolicy(ctx, connect.NewRequest(&holdfastv1.PushPolicyRequest{Yaml: yml, Comment: "shorter burst lock"}))
	if err != nil {
		t.Fatal(err)
	}
	newHash := pushed.Msg.Version.Hash
	asked, err := clients[0].Policy.ActivatePolicy(ctx, connect.NewRequest(&holdfastv1.ActivatePolicyRequest{Version: newHash, Reason: "bots got faster"}))
	if err != nil {
		t.Fatal(err)
	}

	// Events on every node, before, during and after the switch.
	type sent struct {
		account string
		node    int
		at      time.Time
	}
	var (
		mu     sync.Mutex
		events []sent
		stop   atomic.Bool
		wg     sync.WaitGroup
		seq    atomic.Int64
	)
	opm := 500.0
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				i := seq.Add(1)
				node := w % len(clients)
				acct := fmt.Sprintf("burst-%d", i)
				at := time.Now()
				_, err := clients[node].Event.Ingest(ctx, connect.NewRequest(&holdfastv1.IngestRequest{Event: &holdfastv1.Event{
					Id: fmt.Sprintf("ev-%d", i), Type: "api_activity", Account: acct, OrdersPerMinute: &opm}}))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				events = append(events, sent{acct, node, at})
				mu.Unlock()
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	asking := time.Now()
	if _, err := carol.Policy.DecidePolicyActivation(ctx, connect.NewRequest(&holdfastv1.DecidePolicyActivationRequest{Id: asked.Msg.Activation.Id, Approve: true})); err != nil {
		t.Fatal(err)
	}
	approved := time.Now()
	t.Logf("the approval took %s", approved.Sub(asking).Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	stop.Store(true)
	wg.Wait()

	want := map[string]time.Duration{oldHash: 24 * time.Hour, newHash: 12 * time.Hour}
	lastOld := make([]time.Time, len(clients))
	judged := map[string]int{}
	for _, e := range events {
		res, err := clients[0].Restriction.List(ctx, connect.NewRequest(&holdfastv1.ListRequest{Account: e.account}))
		if err != nil || len(res.Msg.Restrictions) != 1 {
			t.Fatalf("%s: %v %v", e.account, res, err)
		}
		r := res.Msg.Restrictions[0]
		v := r.GetOrigin().GetPolicy()
		d, ok := want[v]
		if !ok {
			t.Fatalf("%s: judged by %q, neither version", e.account, v)
		}
		if got := r.EndsAt.AsTime().Sub(r.StartsAt.AsTime()); got != d {
			t.Errorf("%s: judged by %s but lasts %s", e.account, v[:12], got)
		}
		judged[v]++
		if v == oldHash && e.at.After(lastOld[e.node]) {
			lastOld[e.node] = e.at
		}
	}
	for i, at := range lastOld {
		if lag := at.Sub(approved); lag > time.Second {
			t.Errorf("node %d judged an event sent %s after the approval by the old version", i, lag)
		} else {
			t.Logf("node %d: last event judged by the old version was sent %s after the approval", i, lag.Round(time.Millisecond))
		}
	}
	if judged[oldHash] == 0 || judged[newHash] == 0 {
		t.Fatalf("events judged by each version: %v", judged)
	}
	t.Logf("%d events: %d by the old version, %d by the new", len(events), judged[oldHash], judged[newHash])
}

// TestPolicyShadowAcrossNodes: a version shadowed on one node is run on
// every node's events within the poll, and so is the end of shadowing.
func TestPolicyShadowAcrossNodes(t *testing.T) {
	cl := newCluster(t, 2)
	a, b := rpc.NewClients(nil, cl.nodes[0].url, cl.token), rpc.NewClients(nil, cl.nodes[1].url, cl.token)
	ctx := context.Background()
	yml := strings.Replace(string(policy.DefaultYAML()), "event.orders_per_minute > 100.0", "event.orders_per_minute > 50.0", 1)
	pushed, err := a.Policy.PushPolicy(ctx, connect.NewRequest(&holdfastv1.PushPolicyRequest{Yaml: yml}))
	if err != nil {
		t.Fatal(err)
	}
	version := pushed.Msg.Version.Hash
	opm := 80.0 // a burst for the shadowed version only
	seq := 0
	ingestOnB := func() string {
		seq++
		id := fmt.Sprintf("shadow-ev-%d", seq)
		if _, err := b.Event.Ingest(ctx, connect.NewRequest(&holdfastv1.IngestRequest{Event: &holdfastv1.Event{
			Id: id, Type: "api_activity", Account: fmt.Sprintf("shadow-%d", seq), OrdersPerMinute: &opm}})); err != nil {
			t.Fatal(err)
		}
		return id
	}
	judged := func() map[string]bool {
		res, err := a.Policy.ShadowReport(ctx, connect.NewRequest(&holdfastv1.ShadowReportRequest{Version: version, Examples: 500}))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, o := range res.Msg.Outcomes {
			out[o.Event] = true
		}
		return out
	}

	if _, err := a.Policy.ShadowPolicy(ctx, connect.NewRequest(&holdfastv1.ShadowPolicyRequest{Version: version, Reason: "try the stricter burst rule"})); err != nil {
		t.Fatal(err)
	}
	var seen string
	for deadline := time.Now().Add(10 * time.Second); seen == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		id := ingestOnB()
		time.Sleep(300 * time.Millisecond) // outcomes are written in batches
		if judged()[id] {
			seen = id
		}
	}
	if seen == "" {
		t.Fatal("node 1 never ran the version shadowed on node 0")
	}

	if _, err := a.Policy.ShadowPolicy(ctx, connect.NewRequest(&holdfastv1.ShadowPolicyRequest{Version: "", Reason: "enough"})); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // several polls
	after := []string{ingestOnB(), ingestOnB(), ingestOnB()}
	time.Sleep(time.Second)
	got := judged()
	for _, id := range after {
		if got[id] {
			t.Errorf("node 1 still shadowed event %s after shadowing stopped on node 0", id)
		}
	}
}
