package rpc

import (
	"testing"

	"github.com/holdfast/holdfast"
)

// BenchmarkCallMetrics is what each Check costs the metrics: its rpc
// timer and its decision counter, looked up by label (before) and bound
// once (now).
func BenchmarkCallMetrics(b *testing.B) {
	m := NewMetrics()
	const procedure = "/holdfast.v1.DecisionService/Check"
	d := &holdfast.Decision{Effect: holdfast.Allow}
	b.Run("labels", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.rpc.WithLabelValues(procedure, "ok").Observe(1e-5)
			m.decisions.WithLabelValues("withdraw", d.Effect.String(), "none").Inc()
		}
	})
	b.Run("bound", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.rpcTimer(procedure, "ok").Observe(1e-5)
			m.decided("withdraw", d, 0)
		}
	})
}
