package client_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/holdfast/holdfast/client"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
)

func check(t testing.TB, r *client.Replica, account, action string) *holdfastv1.CheckResponse {
	t.Helper()
	res, err := r.Check(context.Background(), &holdfastv1.CheckRequest{Account: account, Action: action})
	if err != nil {
		t.Fatalf("check %s %s: %v", account, action, err)
	}
	return res
}

func TestReplicaServesTradeFromCache(t *testing.T) {
	e := newEnv(t, true)
	r, calls, _ := e.replica(client.ReplicaConfig{})

	if res := check(t, r, "u1", "trade"); res.Effect != "allow" {
		t.Fatalf("trade: %s", res.Effect)
	}
	if n := calls.check.Load(); n != 1 {
		t.Fatalf("first check: %d server calls, want 1", n)
	}
	for range 100 {
		if res := check(t, r, "u1", "trade"); res.Effect != "allow" {
			t.Fatalf("trade: %s", res.Effect)
		}
	}
	hits, misses := r.Stats()
	if hits != 100 || misses != 1 || calls.check.Load() != 1 {
		t.Errorf("hits %d, misses %d, server calls %d; want 100, 1, 1", hits, misses, calls.check.Load())
	}
	// Another context (a session, the holder view) is another decision.
	if _, err := r.Check(context.Background(), &holdfastv1.CheckRequest{Account: "u1", Action: "trade", View: "holder"}); err != nil {
		t.Fatal(err)
	}
	if calls.check.Load() != 2 {
		t.Errorf("the holder view was answered from the staff view's entry")
	}
	t.Logf("replica lag %s", r.Lag())
}

func TestReplicaMoneyOutGoesToServer(t *testing.T) {
	e := newEnv(t, true)
	ctx := context.Background()
	r, calls, _ := e.replica(client.ReplicaConfig{})

	check(t, r, "u2", "trade")
	check(t, r, "u2", "withdraw")
	if _, err := e.client("self").Self().PanicLock(ctx, connect.NewRequest(&holdfastv1.PanicLockRequest{Account: "u2"})); err != nil {
		t.Fatal(err)
	}
	before := calls.check.Load()
	hits0, _ := r.Stats()
	// The server knows at once; the replica never answers withdraw itself.
	for _, action := range []string{"withdraw", "internal_transfer", "p2p_trade", "withdraw"} {
		res := check(t, r, "u2", action)
		if res.Effect != "deny" || len(res.Causes) == 0 || res.Causes[0].GetKind() != "panic_lock" {
			t.Errorf("%s after a panic lock: %s %v", action, res.Effect, res.Causes)
		}
	}
	if hits, _ := r.Stats(); calls.check.Load() != before+4 || hits != hits0 {
		t.Errorf("money-out checks: %d server calls, %d hits; want 4, 0", calls.check.Load()-before, hits-hits0)
	}
	// A panic lock leaves trading alone.
	eventually(t, "trade still allowed, and cached again", func() bool {
		h0, _ := r.Stats()
		res := check(t, r, "u2", "trade")
		h1, _ := r.Stats()
		return res.Effect == "allow" && h1 > h0
	})
	// The linearizable path agrees.
	wd, err := r.Client().AuthorizeWithdrawal(ctx, &holdfastv1.AuthorizeWithdrawalRequest{Account: "u2", Id: "wd-1", Asset: "BTC", Amount: "0.5", UsdValue: "32500", Address: "bc1q"})
	if err != nil || wd.Outcome != "deny" {
		t.Errorf("withdrawal under a panic lock: %v %v", wd, err)
	}
}

func TestReplicaInvalidatedByFeed(t *testing.T) {
	e := newEnv(t, true)
	ctx := context.Background()
	r, calls, _ := e.replica(client.ReplicaConfig{})

	for range 3 {
		if res := check(t, r, "u3", "trade"); res.Effect != "allow" {
			t.Fatalf("trade: %s", res.Effect)
		}
	}
	if calls.check.Load() != 1 {
		t.Fatalf("trade not cached: %d server calls", calls.check.Load())
	}
	// An allow without retry_after stays cached until the feed says the
	// account changed: only the feed can flip it.
	applied := time.Now()
	if _, err := e.client("alice").Restriction().Apply(ctx, connect.NewRequest(&holdfastv1.ApplyRequest{Account: "u3", Kind: "reduce_only", Reason: "api abuse"})); err != nil {
		t.Fatal(err)
	}
	took := eventually(t, "the replica denying trade after reduce_only", func() bool {
		return check(t, r, "u3", "trade").Effect == "deny"
	})
	t.Logf("reduce_only reached the replica %s after the apply returned (%s after it was sent)", took, time.Since(applied))
	if took > 2*time.Second {
		t.Errorf("took %s, more than MaxLag", took)
	}
	res := check(t, r, "u3", "trade")
	if res.Effect != "deny" || res.Causes[0].GetKind() != "reduce_only" {
		t.Errorf("trade: %s %v", res.Effect, res.Causes)
	}
	if res := check(t, r, "u3", "reduce_position"); res.Effect != "allow" {
		t.Errorf("reduce_position under reduce_only: %s", res.Effect)
	}
	// Another account's cached decisions survived.
	check(t, r, "u4", "trade")
	n := calls.check.Load()
	check(t, r, "u4", "trade")
	if calls.check.Load() != n {
		t.Errorf("u4's decision was not cached")
	}
}

func TestReplicaRetryAfterExpires(t *testing.T) {
	e := newEnv(t, true)
	ctx := context.Background()
	r, _, _ := e.replica(client.ReplicaConfig{})

	if _, err := e.client("alice").Restriction().Apply(ctx, connect.NewRequest(&holdfastv1.ApplyRequest{Account: "u5", Kind: "reduce_only", Duration: "2s", Reason: "burst"})); err != nil {
		t.Fatal(err)
	}
	var res *holdfastv1.CheckResponse
	eventually(t, "the replica denying trade", func() bool {
		res = check(t, r, "u5", "trade")
		return res.Effect == "deny"
	})
	if res.RetryAfter == nil {
		t.Fatalf("a 2 s reduce_only without retry_after: %v", res)
	}
	// It ends by time alone, with no feed message: the entry must expire.
	end := res.RetryAfter.AsTime()
	eventually(t, "trade allowed again after the restriction ended", func() bool {
		return check(t, r, "u5", "trade").Effect == "allow"
	})
	if late := time.Since(end); late > time.Second {
		t.Errorf("allowed %s after the restriction ended", late)
	}
}

func TestReplicaStaleForwardsEverything(t *testing.T) {
	e := newEnv(t, true)
	const maxLag = 300 * time.Millisecond
	r, calls, stop := e.replica(client.ReplicaConfig{MaxLag: maxLag})

	check(t, r, "u6", "trade")
	check(t, r, "u6", "trade")
	if hits, _ := r.Stats(); hits != 1 {
		t.Fatalf("not cached while fresh: %d hits", hits)
	}
	stop()
	stopped := time.Now()
	took := eventually(t, "the replica going stale", r.Stale)
	if took < maxLag-100*time.Millisecond {
		t.Errorf("stale %s after the feed stopped; MaxLag is %s", took, maxLag)
	}
	t.Logf("stale %s after the feed stopped; lag %s", time.Since(stopped), r.Lag())
	hits0, _ := r.Stats()
	n := calls.check.Load()
	for range 5 {
		check(t, r, "u6", "trade")
	}
	if hits, _ := r.Stats(); hits != hits0 || calls.check.Load() != n+5 {
		t.Errorf("stale: %d hits, %d server calls; want 0, 5", hits-hits0, calls.check.Load()-n)
	}
}

// TestReplicaDiscardsRacingFetch: a change notification that arrives while
// a fetch is in flight keeps that fetch's answer out of the cache. The
// notification is delivered from inside the call, where the bus would
// deliver it in the worst case.
func TestReplicaDiscardsRacingFetch(t *testing.T) {
	e := newEnv(t, false)
	var r *client.Replica
	race := true
	intercept := connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if race {
				_ = r.Refresh(ctx, "u7")
			}
			return next(ctx, req)
		}
	}))
	calls := &counter{}
	r = client.NewReplica(e.client("check", intercept, calls.interceptor()), nil, client.ReplicaConfig{MaxLag: time.Hour})
	r.FeedAt(time.Now())

	check(t, r, "u7", "trade")
	check(t, r, "u7", "trade")
	if calls.check.Load() != 2 || r.Len() != 0 {
		t.Errorf("a fetch overtaken by a change was cached: %d server calls, %d entries", calls.check.Load(), r.Len())
	}
	race = false
	check(t, r, "u7", "trade")
	check(t, r, "u7", "trade")
	if calls.check.Load() != 3 || r.Len() != 1 {
		t.Errorf("without the race: %d server calls, %d entries; want 3, 1", calls.check.Load(), r.Len())
	}
	// Rebuild drops everything.
	_ = r.Rebuild(context.Background())
	if r.Len() != 0 {
		t.Errorf("%d entries after Rebuild", r.Len())
	}
}

func TestReplicaBounded(t *testing.T) {
	e := newEnv(t, false)
	r := client.NewReplica(e.client("check"), nil, client.ReplicaConfig{MaxLag: time.Hour, MaxEntries: 16})
	if !r.Stale() {
		t.Fatal("a replica that never heard from the feed is not stale")
	}
	r.FeedAt(time.Now())
	for i := range 200 {
		if res := check(t, r, fmt.Sprintf("acct-%d", i), "trade"); res.Effect != "allow" {
			t.Fatalf("trade: %s", res.Effect)
		}
		if n := r.Len(); n > 16 {
			t.Fatalf("%d entries after %d accounts; MaxEntries is 16", n, i+1)
		}
	}
	if r.Len() < 8 {
		t.Errorf("only %d entries kept", r.Len())
	}
}

func TestReplicaHitDoesNotAllocate(t *testing.T) {
	e := newEnv(t, false)
	r := client.NewReplica(e.client("check"), nil, client.ReplicaConfig{MaxLag: time.Hour})
	r.FeedAt(time.Now())
	ctx := context.Background()
	req := &holdfastv1.CheckRequest{Account: "u8", Action: "api_access", ApiKey: "", Ip: "192.0.2.1"}
	if _, err := r.Check(ctx, req); err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(1000, func() { _, _ = r.Check(ctx, req) }); allocs != 0 {
		t.Errorf("a hit allocates %.1f times", allocs)
	}
}

// BenchmarkReplicaCheckHit is a gateway's trade check answered from the
// cache.
func BenchmarkReplicaCheckHit(b *testing.B) {
	r, req := benchReplica(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Check(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	if hits, misses := r.Stats(); misses != 1 || hits == 0 {
		b.Fatalf("hits %d, misses %d", hits, misses)
	}
}

// BenchmarkReplicaCheckHitParallel is the same from every core at once,
// over 1024 accounts.
func BenchmarkReplicaCheckHitParallel(b *testing.B) {
	r, _ := benchReplica(b)
	ctx := context.Background()
	reqs := make([]*holdfastv1.CheckRequest, 1024)
	for i := range reqs {
		reqs[i] = &holdfastv1.CheckRequest{Account: fmt.Sprintf("acct-%d", i), Action: "trade"}
		if _, err := r.Check(ctx, reqs[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := r.Check(ctx, reqs[i&1023]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func benchReplica(b *testing.B) (*client.Replica, *holdfastv1.CheckRequest) {
	e := newEnv(b, false)
	r := client.NewReplica(e.client("check"), nil, client.ReplicaConfig{MaxLag: time.Hour})
	r.FeedAt(time.Now())
	req := &holdfastv1.CheckRequest{Account: "u1", Action: "trade", Session: "", Device: "dev-1", Ip: "192.0.2.1"}
	if _, err := r.Check(context.Background(), req); err != nil {
		b.Fatal(err)
	}
	return r, req
}

// TestReplicaManyContexts: an account checked in many contexts (API keys
// used from many addresses) keeps them all, and a change drops them all.
func TestReplicaManyContexts(t *testing.T) {
	e := newEnv(t, false)
	calls := &counter{}
	r := client.NewReplica(e.client("check", calls.interceptor()), nil, client.ReplicaConfig{MaxLag: time.Hour})
	r.FeedAt(time.Now())
	ctx := context.Background()
	for round := range 2 {
		for i := range 20 {
			req := &holdfastv1.CheckRequest{Account: "u10", Action: "login", Ip: fmt.Sprintf("192.0.2.%d", i)}
			if res, err := r.Check(ctx, req); err != nil || res.Effect != "allow" {
				t.Fatalf("round %d, ip %d: %v %v", round, i, res, err)
			}
		}
	}
	if hits, misses := r.Stats(); hits != 20 || misses != 20 || calls.check.Load() != 20 || r.Len() != 20 {
		t.Errorf("hits %d, misses %d, server calls %d, entries %d; want 20 each", hits, misses, calls.check.Load(), r.Len())
	}
	_ = r.Refresh(ctx, "u10")
	if r.Len() != 0 {
		t.Errorf("%d entries after the account changed", r.Len())
	}
}

// TestReplicaFeedFromAFastClock: a heartbeat stamped by a node whose clock
// runs 30 s ahead proves the feed alive now, not for the next 30 s: once
// the feed is silent for longer than MaxLag, the replica is stale.
func TestReplicaFeedFromAFastClock(t *testing.T) {
	e := newEnv(t, false)
	r := client.NewReplica(e.client("check"), nil, client.ReplicaConfig{MaxLag: 50 * time.Millisecond})
	r.FeedAt(time.Now().Add(30 * time.Second))
	time.Sleep(100 * time.Millisecond) // silence, twice the max lag
	if !r.Stale() {
		t.Errorf("a replica that heard nothing for 100 ms (max lag 50 ms) is fresh: lag %v", r.Lag())
	}
}
