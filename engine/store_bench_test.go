package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/internal/benchtest"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/sqlite"
)

// BenchmarkAuthorizeWithdrawal measures durable authorizations on the
// embedded store (synchronous=FULL): 32 wallet callers at once, so that
// group commit can batch them, while checkpoints of the transparency log
// are published every second. Reports ops/s and the p50 and p99 latency.
func BenchmarkAuthorizeWithdrawal(b *testing.B) {
	eng := newLoggedEngine(b)
	benchtest.Writes(b, benchtest.Withdrawal(eng))
}

// BenchmarkApply measures staff applies on the embedded store, as
// BenchmarkAuthorizeWithdrawal does authorizations.
func BenchmarkApply(b *testing.B) {
	eng := newLoggedEngine(b)
	benchtest.Writes(b, benchtest.Apply(eng))
}

// newLoggedEngine is an engine on a fresh embedded store that publishes
// the transparency log's checkpoints as a server does.
func newLoggedEngine(b *testing.B) *engine.Engine {
	db, err := sqlite.Open(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return benchtest.LoggedEngine(b, db)
}

// BenchmarkColdStart measures the time from opening a store holding
// 100,000 active restrictions to a ready engine (index rebuilt).
func BenchmarkColdStart(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	eng, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default()})
	if err != nil {
		b.Fatal(err)
	}
	const total = 100_000
	support := holdfast.Staff("s", holdfast.RoleSupport)
	inParallel(b, total, func(i int) error {
		_, err := eng.Apply(ctx, holdfast.ApplyRequest{Account: fmt.Sprintf("acct-%d", i), Kind: holdfast.KindReduceOnly, Actor: support})
		return err
	})
	db.Close()
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		db, err := sqlite.Open(ctx, dir)
		if err != nil {
			b.Fatal(err)
		}
		eng, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default()})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(t0).Seconds()*1000, "ms-to-ready")
		if _, n := eng.IndexStats(); n != total {
			b.Fatalf("index holds %d restrictions, want %d", n, total)
		}
		db.Close()
	}
}

// BenchmarkIngest measures durable event intake on the embedded store: each
// event runs the default policy's rules and commits its effects, the event
// and its audit entry (synchronous=FULL), 64 callers at once.
func BenchmarkIngest(b *testing.B) { benchmarkIngest(b, false) }

// BenchmarkIngestShadowed is BenchmarkIngest with a version shadowed
// beside the default: api_burst at 50 orders a minute instead of 100, so
// that two events in five of api_activity (one in ten of all) would be
// judged otherwise and keep an outcome.
func BenchmarkIngestShadowed(b *testing.B) { benchmarkIngest(b, true) }

func benchmarkIngest(b *testing.B, shadowed bool) {
	ctx := context.Background()
	eng, _ := newEngine(b, b.TempDir())
	if shadowed {
		alice := holdfast.Staff("alice", holdfast.RoleCompliance)
		if _, err := eng.InstallPolicy(ctx); err != nil {
			b.Fatal(err)
		}
		yml := bytes.Replace(policy.DefaultYAML(), []byte("event.orders_per_minute > 100.0"), []byte("event.orders_per_minute > 50.0"), 1)
		v, err := eng.PushPolicy(ctx, alice, yml, "stricter")
		if err != nil {
			b.Fatal(err)
		}
		if err := eng.SetPolicyShadow(ctx, alice, v.Hash, "bench"); err != nil {
			b.Fatal(err)
		}
		run, stop := context.WithCancel(ctx)
		var done sync.WaitGroup
		done.Go(func() { eng.RunShadow(run) }) // as serve runs it
		defer func() { stop(); done.Wait() }()
	}
	opm := func(v float64) *float64 { return &v }
	var seq atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			acct := fmt.Sprintf("acct-%d", n%5000)
			var ev holdfast.Event
			switch n % 4 {
			case 0:
				ev = holdfast.Event{Type: holdfast.EventLogin, Device: fmt.Sprintf("d%d", n%3), Country: "DE"}
			case 1:
				ev = holdfast.Event{Type: holdfast.EventDeposit, Asset: "USDT", Amount: "250"}
			case 2:
				ev = holdfast.Event{Type: holdfast.EventAPIActivity, OrdersPerMinute: opm(float64(n % 120))}
			default:
				ev = holdfast.Event{Type: holdfast.EventWithdrawalRequested, Asset: "USDT", Amount: "100"}
			}
			ev.ID, ev.Account = fmt.Sprintf("e-%d", n), acct
			if _, err := eng.Ingest(ctx, ev); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkRefresh measures how fast a node applies the change feed on the
// embedded store: each op reloads one of 10,000 restricted accounts into
// the index (Refresh), as a node does for each index_changed message,
// from both cores.
func BenchmarkRefresh(b *testing.B) {
	ctx := context.Background()
	eng, _ := newEngine(b, b.TempDir())
	const accounts = 10_000
	support := holdfast.Staff("s", holdfast.RoleSupport)
	for i := range accounts {
		if _, err := eng.Apply(ctx, holdfast.ApplyRequest{Account: fmt.Sprintf("acct-%d", i), Kind: holdfast.KindReduceOnly, Actor: support}); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := eng.Refresh(ctx, fmt.Sprintf("acct-%d", n.Add(1)%accounts)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "refresh/s")
}

// BenchmarkAntiEntropyPass measures one full anti-entropy pass on the
// embedded store: 100,000 accounts, 10,000 of them restricted, compared
// with an index that matches (so nothing is reloaded) in slices of 500.
func BenchmarkAntiEntropyPass(b *testing.B) {
	ctx := context.Background()
	eng, db := newEngine(b, b.TempDir())
	const total, restricted, slice = 100_000, 10_000, 500
	support := holdfast.Staff("s", holdfast.RoleSupport)
	inParallel(b, total, func(i int) error {
		acct := fmt.Sprintf("acct-%06d", i)
		if i%(total/restricted) == 0 {
			_, err := eng.Apply(ctx, holdfast.ApplyRequest{Account: acct, Kind: holdfast.KindReduceOnly, Actor: support})
			return err
		}
		return db.Update(ctx, acct, time.Now(), func(tx holdfast.AccountTx) error { return tx.SaveAccount() })
	})
	// A node started after the writes: its entries are at sequence 0.
	node, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default()})
	if err != nil {
		b.Fatal(err)
	}
	benchtest.AntiEntropyPass(b, node, total, slice)
}

// inParallel runs fn for 0..n-1, 64 at a time (so that the embedded
// store's writer commits them in groups), and fails b on any error.
func inParallel(b *testing.B, n int, fn func(i int) error) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
}
