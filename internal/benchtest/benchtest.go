// Package benchtest holds what the benchmarks of several packages share.
package benchtest

import (
	"context"
	"testing"
	"time"

	"github.com/holdfast/holdfast/engine"
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
