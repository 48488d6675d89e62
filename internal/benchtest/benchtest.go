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

// Callers is how many goroutines Writes runs at once, whatever
// GOMAXPROCS is: the figure the throughput targets are stated for.
const Callers = 32

// Writes measures durable writes: b.N calls of write from exactly Callers
// goroutines at once (so that commits can be grouped), each call given a
// fresh number. Reports ops/s, the p50 and p99 latency of one call, and
// the number of callers.
func Writes(b *testing.B, write func(ctx context.Context, n int64) error) {
	ctx := context.Background()
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		lats = make([][]time.Duration, Callers)
	)
	b.ResetTimer()
	start := time.Now()
	for c := range Callers {
		wg.Go(func() {
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				t0 := time.Now()
				err := write(ctx, n)
				lats[c] = append(lats[c], time.Since(t0))
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lats...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(len(all))/elapsed.Seconds(), "ops/s")
		b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
		b.ReportMetric(Callers, "callers")
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
