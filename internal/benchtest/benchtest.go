// Package benchtest holds what the benchmarks of several packages share.
package benchtest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/tlog"
)

// AntiEntropyPass times full anti-entropy passes of eng over a store of
// total accounts that its index matches, in slices of slice accounts, and
// fails if a pass repairs anything.
func AntiEntropyPass(b *testing.B, eng *engine.Engine, total, slice int) {
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if n, err := eng.ReconcileAll(ctx, slice); err != nil || n != 0 {
			b.Fatalf("a pass over a matching index repaired %d (%v)", n, err)
		}
	}
	perPass := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(perPass.Seconds()*1000, "ms/pass")
	b.ReportMetric(perPass.Seconds()*1e6/float64(total/slice), "µs/slice")
	b.ReportMetric(float64(total)/perPass.Seconds(), "accounts/s")
}

// Writes measures durable writes: b.N calls of write from
// 32 × GOMAXPROCS goroutines at once (so that commits can be grouped),
// each given a fresh number. Reports ops/s and the p50 and p99 latency.
func Writes(b *testing.B, write func(ctx context.Context, n int64) error) {
	ctx := context.Background()
	var (
		seq  atomic.Int64
		mu   sync.Mutex
		lats []time.Duration
	)
	b.SetParallelism(32)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var local []time.Duration
		for pb.Next() {
			t0 := time.Now()
			err := write(ctx, seq.Add(1))
			local = append(local, time.Since(t0))
			if err != nil {
				b.Error(err)
				return
			}
		}
		mu.Lock()
		lats = append(lats, local...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lats)
	if len(lats) > 0 {
		b.ReportMetric(float64(len(lats))/elapsed.Seconds(), "ops/s")
		b.ReportMetric(float64(lats[len(lats)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds()), "p99-µs")
	}
}

// Withdrawal authorizes withdrawal n, over 5,000 accounts.
func Withdrawal(eng *engine.Engine) func(ctx context.Context, n int64) error {
	return func(ctx context.Context, n int64) error {
		_, err := eng.AuthorizeWithdrawal(ctx, holdfast.WithdrawalRequest{
			Account: fmt.Sprintf("acct-%d", n%5000), ID: fmt.Sprintf("w-%d", n), Asset: "USDT", Amount: "250", Address: "addr",
		})
		return err
	}
}

// Apply applies a staff restriction, over 5,000 accounts.
func Apply(eng *engine.Engine) func(ctx context.Context, n int64) error {
	staff := holdfast.Staff("bench", holdfast.RoleSupport)
	return func(ctx context.Context, n int64) error {
		_, err := eng.Apply(ctx, holdfast.ApplyRequest{Account: fmt.Sprintf("acct-%d", n%5000), Kind: holdfast.KindReduceOnly,
			Duration: holdfast.Duration(time.Hour), Reason: "bench", Actor: staff})
		return err
	}
}

// LoggedEngine is an engine on db, with the default policy, that signs
// the transparency log and publishes its checkpoints every second, as
// `holdfast serve` does, until the benchmark ends.
func LoggedEngine(b *testing.B, db holdfast.Store) *engine.Engine {
	skey, _, err := tlog.GenerateKey("holdfast.bench")
	if err != nil {
		b.Fatal(err)
	}
	cfg := engine.Config{Store: db, Policy: policy.Default()}
	if cfg.LogSigner, cfg.LogVerifierKey, err = tlog.NewSigner(skey); err != nil {
		b.Fatal(err)
	}
	eng, err := engine.New(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	go eng.RunLog(ctx, time.Second)
	return eng
}
