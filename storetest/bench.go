package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// BenchUpdates runs b.N updates of s, each calling write, from
// parallelism goroutines per GOMAXPROCS over 1000 accounts, and reports
// them as ops/s. i numbers the update, from 1.
func BenchUpdates(b *testing.B, s holdfast.Store, parallelism int, write func(tx holdfast.AccountTx, account string, i int64, now time.Time) error) {
	now := time.Date(2031, 1, 2, 3, 4, 5, 6, time.UTC)
	var next atomic.Int64
	b.SetParallelism(parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			account := fmt.Sprintf("acct-%d", i%1000)
			err := s.Update(b.Context(), account, now, func(tx holdfast.AccountTx) error { return write(tx, account, i, now) })
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchVerifyAudit checks every chain of s after filling it with 2,000
// accounts of 50 entries each: the cost of `holdfast audit verify`.
func BenchVerifyAudit(b *testing.B, db holdfast.Store) {
	const accounts, entries = 2000, 50
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

// BenchVerifyState compares the state of s with its log after filling it
// with 2,000 accounts of 50 entries each, written as the engine writes
// them: a restriction and 49 withdrawal authorizations, each with its
// row. It reports the cost of the state half of `holdfast audit verify`.
func BenchVerifyState(b *testing.B, db holdfast.Store) {
	const accounts, entries = 2000, 50
	now := time.Date(2031, 1, 2, 3, 4, 5, 6, time.UTC)
	var wg sync.WaitGroup
	for a := range accounts {
		wg.Go(func() {
			account := fmt.Sprintf("acct-%04d", a)
			err := db.Update(b.Context(), account, now, func(tx holdfast.AccountTx) error {
				r := restriction("r-"+account, account, holdfast.KindCoolingOff, now, time.Hour)
				if err := tx.SaveRestriction(r); err != nil {
					return err
				}
				e := entry(account, now, holdfast.AuditApply, r.ID)
				e.After, _ = json.Marshal(r)
				if err := tx.Append(e); err != nil {
					return err
				}
				for i := range entries - 1 {
					w := &holdfast.Withdrawal{WithdrawalRequest: holdfast.WithdrawalRequest{Account: account, ID: fmt.Sprint("w-", i), Asset: "USDT", Amount: "10", Address: "addr"},
						Outcome: holdfast.Approve, Causes: []holdfast.Cause{}, HolderCauses: []holdfast.Cause{}, DecidedAt: now}
					e := entry(account, now, holdfast.AuditWithdrawal, "")
					e.After, _ = json.Marshal(w)
					if err := tx.Append(e); err != nil {
						return err
					}
					w.Seq = e.Seq
					if err := tx.SaveWithdrawal(w); err != nil {
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
		rep, err := db.VerifyState(b.Context(), "")
		if err != nil || !rep.OK() || rep.Entries != accounts*entries {
			b.Fatalf("VerifyState = %+v, %v", rep, err)
		}
	}
	b.ReportMetric(float64(b.N*accounts*entries)/b.Elapsed().Seconds(), "entries/s")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N*accounts*entries)*1e6, "s/M-entries")
}
