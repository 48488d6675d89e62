package engine_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/holdfast/holdfast"
)

// BenchmarkAuthorizeWithdrawalHistory measures authorizations on accounts
// that each hold one restriction in force and five lifted ones: what an
// update's load of restrictions costs per row (decision 91 reads every
// row with its last audit entry, since a row edited to look lifted must
// still count).
func BenchmarkAuthorizeWithdrawalHistory(b *testing.B) {
	ctx := context.Background()
	eng, _ := newEngine(b, b.TempDir())
	const accounts = 1000
	support := holdfast.Staff("s", holdfast.RoleSupport)
	inParallel(b, accounts, func(i int) error {
		acct := fmt.Sprintf("acct-%d", i)
		for range 5 {
			r, err := eng.Apply(ctx, holdfast.ApplyRequest{Account: acct, Kind: holdfast.KindReduceOnly, Actor: support})
			if err != nil {
				return err
			}
			if _, err := eng.Lift(ctx, holdfast.LiftRequest{Target: holdfast.Target{Restriction: r.ID}, Actor: holdfast.Staff("c", holdfast.RoleCompliance)}); err != nil {
				return err
			}
		}
		_, err := eng.Apply(ctx, holdfast.ApplyRequest{Account: acct, Kind: holdfast.KindReduceOnly, Actor: support})
		return err
	})
	var seq atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			if _, err := eng.AuthorizeWithdrawal(ctx, holdfast.WithdrawalRequest{
				Account: fmt.Sprintf("acct-%d", n%accounts), ID: fmt.Sprintf("w-%d", n), Asset: "USDT", Amount: "250", Address: "addr",
			}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "auth/s")
}
