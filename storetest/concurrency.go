package storetest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// parallel runs fn(i) for i in [0,n) on n goroutines at once.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

// Updates to one account are serial: every read-modify-write lands, the
// chain has no gaps, and a check-then-act inside fn never races.
func testConcurrentOneAccount(t *testing.T, h *harness) {
	const n = 200
	errs := make([]error, n)
	parallel(n, func(i int) {
		errs[i] = h.s.Update(h.ctx, "a1", t0, func(tx holdfast.AccountTx) error {
			a := tx.Account()
			a.KnownDevices = append(a.KnownDevices, name("dev", i))
			if err := tx.SaveAccount(); err != nil {
				return err
			}
			// Apply a panic lock only if none is in force: exactly one
			// update may find none.
			if !slices.ContainsFunc(tx.Restrictions(), func(r *holdfast.Restriction) bool { return r.Kind == holdfast.KindPanicLock }) {
				if err := tx.SaveRestriction(restriction(name("lock", i), "a1", holdfast.KindPanicLock, t0, 24*time.Hour)); err != nil {
					return err
				}
			}
			e := entry("a1", t0, holdfast.AuditAccountUpdated, "")
			e.Reason = name("dev", i)
			return tx.Append(e)
		})
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	if es := h.history("a1"); len(es) != n {
		t.Errorf("history has %d entries, want %d", len(es), n)
	}
	h.verifyOK("a1", 1, n)
	a, err := h.s.Account(h.ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.KnownDevices) != n || a.AuditSeq != n {
		t.Errorf("account has %d devices and head %d, want %d of each (lost updates)", len(a.KnownDevices), a.AuditSeq, n)
	}
	rs, err := h.s.Restrictions(h.ctx, holdfast.RestrictionFilter{Account: "a1", Kind: holdfast.KindPanicLock})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		t.Errorf("%d panic locks applied by check-then-act, want 1", len(rs))
	}
}

// Updates to different accounts proceed side by side without mixing.
func testConcurrentManyAccounts(t *testing.T, h *harness) {
	const accounts, per = 20, 10
	errs := make([]error, accounts*per)
	parallel(accounts*per, func(i int) {
		account := name("acct", i%accounts)
		errs[i] = h.s.Update(h.ctx, account, t0, func(tx holdfast.AccountTx) error {
			r := restriction(name("r", i), account, holdfast.KindReduceOnly, t0, time.Hour)
			if err := tx.SaveRestriction(r); err != nil {
				return err
			}
			return tx.Append(entry(account, t0, holdfast.AuditApply, r.ID))
		})
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	for a := range accounts {
		account := name("acct", a)
		es := h.history(account)
		rs, err := h.s.Restrictions(h.ctx, holdfast.RestrictionFilter{Account: account})
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != per || len(rs) != per {
			t.Errorf("%s has %d entries and %d restrictions, want %d of each", account, len(es), len(rs), per)
		}
		for _, e := range es {
			if e.Account != account {
				t.Errorf("%s holds an entry of %s", account, e.Account)
			}
		}
	}
	h.verifyOK("", accounts, accounts*per)
}

// Updates that fail (by returning an error or by a failed write) roll back
// alone: updates committed alongside them keep every write.
func testFailuresIsolated(t *testing.T, h *harness) {
	const n, accounts = 120, 4
	w := func(account string) *holdfast.Withdrawal {
		return &holdfast.Withdrawal{WithdrawalRequest: holdfast.WithdrawalRequest{Account: account, ID: "dup", Asset: "BTC", Amount: "1", Address: "addr"},
			Outcome: holdfast.Approve, Causes: []holdfast.Cause{}, DecidedAt: t0}
	}
	for a := range accounts {
		h.update(name("acct", a), t0, func(tx holdfast.AccountTx) error { return tx.SaveWithdrawal(w(name("acct", a))) })
	}
	fails := func(i int) bool { return i%3 != 0 }
	errs := make([]error, n)
	parallel(n, func(i int) {
		account := name("acct", i%accounts)
		errs[i] = h.s.Update(h.ctx, account, t0, func(tx holdfast.AccountTx) error {
			r := restriction(name("r", i), account, holdfast.KindScamProtection, t0, time.Hour)
			if err := tx.SaveRestriction(r); err != nil {
				return err
			}
			if err := tx.Append(entry(account, t0, holdfast.AuditApply, r.ID)); err != nil {
				return err
			}
			switch i % 3 {
			case 1:
				return holdfast.Errorf(holdfast.PermissionDenied, "actor", "update %d refused", i)
			case 2:
				return tx.SaveWithdrawal(w(account)) // fails: already recorded
			}
			return nil
		})
	})
	committed := map[string]int64{}
	for i, err := range errs {
		switch {
		case fails(i) && err == nil:
			t.Errorf("update %d succeeded, want an error", i)
		case !fails(i) && err != nil:
			t.Errorf("update %d: %v", i, err)
		case i%3 == 1:
			wantCode(t, "refused update", err, holdfast.PermissionDenied, "actor")
		}
		_, rerr := h.s.Restriction(h.ctx, name("r", i))
		if fails(i) != (holdfast.ErrorCode(rerr) == holdfast.NotFound) {
			t.Errorf("update %d (fails %v): Restriction: %v", i, fails(i), rerr)
		}
		if !fails(i) {
			committed[name("acct", i%accounts)]++
		}
	}
	for account, want := range committed {
		if es := h.history(account); int64(len(es)) != want {
			t.Errorf("%s has %d entries, want %d", account, len(es), want)
		}
	}
	h.verifyOK("", accounts, n/3)
}
