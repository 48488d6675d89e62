package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/policy"
)

// benchIndex loads an index the way Rebuild does, with restricted of the
// accounts holding one or two restrictions, without a store: the benchmark
// measures the in-memory path alone.
func benchEngine(b *testing.B, restricted int) *Engine {
	b.Helper()
	clk := holdfast.NewCoarseClock(time.Millisecond)
	b.Cleanup(clk.Stop)
	e := &Engine{clock: clk, index: newIndex()}
	e.pol.Store(policy.Default())
	now := time.Now()
	kinds := []holdfast.Kind{holdfast.KindCoolingOff, holdfast.KindReduceOnly, holdfast.KindWithdrawalFreeze, holdfast.KindPanicLock}
	rules := make(map[string][]rule, restricted)
	for i := range restricted {
		acct := fmt.Sprintf("acct-%d", i*10) // every tenth account of a million
		var rs []*holdfast.Restriction
		for j := range 1 + i%2 {
			rs = append(rs, &holdfast.Restriction{
				ID: fmt.Sprintf("r%d-%d", i, j), Account: acct, Kind: kinds[(i+j)%len(kinds)],
				StartsAt: now.Add(-time.Hour), EndsAt: now.Add(24 * time.Hour), Disclose: true,
			})
		}
		rules[acct] = e.rulesFor(rs, now)
	}
	e.index.load(rules, now.UnixNano())
	return e
}

// BenchmarkCheck: 1,000,000 accounts of which 100,000 hold restrictions;
// each op checks a random account and action.
func BenchmarkCheck(b *testing.B) {
	e := benchEngine(b, 100_000)
	reqs := make([]holdfast.CheckRequest, 1<<16)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range reqs {
		reqs[i] = holdfast.CheckRequest{Account: fmt.Sprintf("acct-%d", r.IntN(1_000_000)), Action: holdfast.Actions[r.IntN(holdfast.NumActions)]}
	}
	b.Run("serial", func(b *testing.B) {
		buf := make([]holdfast.Cause, 0, 8)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			e.CheckInto(&reqs[i&(len(reqs)-1)], buf)
			i++
		}
	})
	b.Run("unrestricted-random", func(b *testing.B) {
		misses := make([]holdfast.CheckRequest, 0, len(reqs))
		for _, q := range reqs {
			if e.index.get(q.Account) == nil {
				misses = append(misses, q)
			}
		}
		misses = misses[:1<<15]
		buf := make([]holdfast.Cause, 0, 8)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			e.CheckInto(&misses[i&(len(misses)-1)], buf)
			i++
		}
	})
	b.Run("restricted-random", func(b *testing.B) {
		hits := make([]holdfast.CheckRequest, 1<<15)
		for i := range hits {
			hits[i] = holdfast.CheckRequest{Account: fmt.Sprintf("acct-%d", r.IntN(100_000)*10), Action: holdfast.Actions[r.IntN(holdfast.NumActions)]}
		}
		buf := make([]holdfast.Cause, 0, 8)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			e.CheckInto(&hits[i&(len(hits)-1)], buf)
			i++
		}
	})
	b.Run("restricted-only", func(b *testing.B) {
		buf := make([]holdfast.Cause, 0, 8)
		req := holdfast.CheckRequest{Account: "acct-10", Action: holdfast.ActionTrade}
		b.ReportAllocs()
		for b.Loop() {
			e.CheckInto(&req, buf)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			buf := make([]holdfast.Cause, 0, 8)
			i := rand.IntN(len(reqs))
			for pb.Next() {
				e.CheckInto(&reqs[i&(len(reqs)-1)], buf)
				i++
			}
		})
	})
}

// BenchmarkCheckScale: how a random check's cost grows with the accounts
// and the restrictions held (a tenth of the accounts restricted), at three
// sizes.
func BenchmarkCheckScale(b *testing.B) {
	for _, restricted := range []int{10_000, 100_000, 1_000_000} {
		accounts := restricted * 10
		b.Run(fmt.Sprintf("accounts=%d", accounts), func(b *testing.B) {
			e := benchEngine(b, restricted)
			reqs := make([]holdfast.CheckRequest, 1<<16)
			r := rand.New(rand.NewPCG(3, 4))
			for i := range reqs {
				reqs[i] = holdfast.CheckRequest{Account: fmt.Sprintf("acct-%d", r.IntN(accounts)), Action: holdfast.Actions[r.IntN(holdfast.NumActions)]}
			}
			buf := make([]holdfast.Cause, 0, 8)
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				e.CheckInto(&reqs[i&(len(reqs)-1)], buf)
				i++
			}
		})
	}
}

// BenchmarkCheckPerAccount: how a check on a restricted account grows with
// the restrictions the account holds (1, 4 and 16 in force, every one
// covering the action), the account hot in cache.
func BenchmarkCheckPerAccount(b *testing.B) {
	for _, n := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("restrictions=%d", n), func(b *testing.B) {
			clk := holdfast.NewCoarseClock(time.Millisecond) // as the server's
			b.Cleanup(clk.Stop)
			e := &Engine{clock: clk, index: newIndex()}
			e.pol.Store(policy.Default())
			now := time.Now()
			var rs []*holdfast.Restriction
			for j := range n {
				rs = append(rs, &holdfast.Restriction{
					ID: fmt.Sprintf("r-%d", j), Account: "acct-1", Kind: holdfast.KindWithdrawalFreeze,
					StartsAt: now.Add(-time.Hour), EndsAt: now.Add(time.Duration(j+1) * time.Hour), Disclose: true,
				})
			}
			e.index.load(map[string][]rule{"acct-1": e.rulesFor(rs, now)}, now.UnixNano())
			req := holdfast.CheckRequest{Account: "acct-1", Action: holdfast.ActionWithdraw}
			buf := make([]holdfast.Cause, 0, 16)
			if d := e.CheckInto(&req, buf); d.Effect != holdfast.Deny || len(d.Causes) != n {
				b.Fatalf("%s with %d causes", d.Effect, len(d.Causes))
			}
			b.ReportAllocs()
			for b.Loop() {
				e.CheckInto(&req, buf)
			}
		})
	}
}
