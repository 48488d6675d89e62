package sqlite_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// BenchmarkVerifyAudit checks every chain of a store holding 2,000
// accounts of 50 entries each: the cost of `holdfast audit verify`.
func BenchmarkVerifyAudit(b *testing.B) {
	const accounts, entries = 2000, 50
	db := open(b, b.TempDir())
	defer db.Close()
	now := time.Date(2031, 1, 2, 3, 4, 5, 6, time.UTC)
	var wg sync.WaitGroup
	for a := range accounts {
		wg.Go(func() {
			err := db.Update(b.Context(), fmt.Sprintf("acct-%04d", a), now, func(tx holdfast.AccountTx) error {
				for i := range entries {
					if err := tx.Append(&holdfast.AuditEntry{At: now, Actor: "system", Action: holdfast.AuditApply, Reason: fmt.Sprint(i)}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	b.ResetTimer()
	for b.Loop() {
		rep, err := db.VerifyAudit(b.Context(), "")
		if err != nil || !rep.OK() || rep.Entries != accounts*entries {
			b.Fatalf("VerifyAudit = %+v, %v", rep, err)
		}
	}
	b.ReportMetric(float64(b.N*accounts*entries)/b.Elapsed().Seconds(), "entries/s")
}
