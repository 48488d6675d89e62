package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/tlog"
	"math/rand/v2"
	"os"
	"strconv"
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
	fillAccounts(b, db, accounts, now, func(tx holdfast.AccountTx, _ string) error {
		for i := range entries {
			if err := tx.Append(&holdfast.AuditEntry{At: now, Actor: "system", Action: holdfast.AuditApply, Reason: fmt.Sprint(i)}); err != nil {
				return err
			}
		}
		return nil
	})
	b.ResetTimer()
	for b.Loop() {
		rep, err := db.VerifyAudit(b.Context(), "")
		if err != nil || !rep.OK() || rep.Entries != accounts*entries {
			b.Fatalf("VerifyAudit = %+v, %v", rep, err)
		}
	}
	b.ReportMetric(float64(b.N*accounts*entries)/b.Elapsed().Seconds(), "entries/s")
}

// BenchLog fills s with leaves audit entries (HOLDFAST_BENCH_LEAVES,
// default 100,000; 100 per account), logs them, and measures what the
// transparency log costs: integration (leaves/s, reported once), an
// inclusion and a consistency proof at full size (ns/op of the
// sub-benchmarks), and `audit verify`'s rebuild of the tree (s per
// million leaves).
func BenchLog(b *testing.B, db holdfast.Store) {
	leaves := 100_000
	if v, err := strconv.Atoi(os.Getenv("HOLDFAST_BENCH_LEAVES")); err == nil && v > 0 {
		leaves = v
	}
	const perAccount = 100
	now := time.Date(2031, 1, 2, 3, 4, 5, 6, time.UTC)
	fillAccounts(b, db, (leaves+perAccount-1)/perAccount, now, func(tx holdfast.AccountTx, _ string) error {
		for i := range perAccount {
			if err := tx.Append(&holdfast.AuditEntry{At: now, Actor: "system", Action: holdfast.AuditApply, Reason: fmt.Sprint(i)}); err != nil {
				return err
			}
		}
		return nil
	})
	skey, _, _ := tlog.GenerateKey("holdfast.bench")
	signer, vkey, err := tlog.NewSigner(skey)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for {
		c, err := db.IntegrateLog(b.Context(), signer, now, 50_000)
		if err != nil {
			b.Fatal(err)
		}
		if c == nil {
			break
		}
	}
	integrated := time.Since(start)
	c, err := db.Checkpoint(b.Context())
	if err != nil || c == nil {
		b.Fatalf("Checkpoint = %v, %v", c, err)
	}
	b.Logf("%d leaves integrated in %v: %.0f leaves/s", c.Size, integrated.Round(time.Millisecond), float64(c.Size)/integrated.Seconds())
	r := rand.New(rand.NewPCG(1, 2))
	b.Run("inclusion", func(b *testing.B) {
		for b.Loop() {
			if _, err := db.LogInclusion(b.Context(), r.Uint64N(c.Size), c.Size); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("consistency", func(b *testing.B) {
		for b.Loop() {
			if _, err := db.LogConsistency(b.Context(), 1+r.Uint64N(c.Size-1), c.Size); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			rep, err := db.VerifyLog(b.Context(), []tlog.Checkpoint{c.Checkpoint}, vkey)
			if err != nil || !rep.OK() {
				b.Fatalf("VerifyLog = %+v, %v", rep, err)
			}
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)/float64(c.Size)*1e6, "s/Mleaves")
	})
}

// BenchVerifyState compares the state of s with its log after filling it
// with 2,000 accounts of 50 entries each, written as the engine writes
// them: a restriction and 49 withdrawal authorizations, each with its
// row. It reports the cost of the state half of `holdfast audit verify`.
func BenchVerifyState(b *testing.B, db holdfast.Store) {
	const accounts, entries = 2000, 50
	now := time.Date(2031, 1, 2, 3, 4, 5, 6, time.UTC)
	fillAccounts(b, db, accounts, now, func(tx holdfast.AccountTx, account string) error {
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

// fillAccounts runs fill in one update of each of accounts accounts
// (acct-0000000, …), eight at a time.
func fillAccounts(b *testing.B, db holdfast.Store, accounts int, now time.Time, fill func(tx holdfast.AccountTx, account string) error) {
	jobs := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for account := range jobs {
				if err := db.Update(b.Context(), account, now, func(tx holdfast.AccountTx) error { return fill(tx, account) }); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for a := range accounts {
		jobs <- fmt.Sprintf("acct-%07d", a)
	}
	close(jobs)
	wg.Wait()
}
