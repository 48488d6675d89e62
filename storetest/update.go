package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// A failed update leaves no trace: not the account, restrictions, approvals,
// withdrawals, events, outbox commands or audit entries, and the next
// update continues the chain from the last committed head.
func testUpdateRollsBack(t *testing.T, h *harness) {
	r0 := restriction("r0", "a1", holdfast.KindCoolingOff, t0, 24*time.Hour)
	h.save("a1", t0, r0)

	t1 := t0.Add(time.Minute)
	boom := holdfast.Errorf(holdfast.FailedPrecondition, "action", "blocked")
	for _, account := range []string{"a1", "fresh"} {
		err := h.s.Update(h.ctx, account, t1, func(tx holdfast.AccountTx) error {
			tx.Account().AddTag(holdfast.TagHighRisk)
			if err := tx.SaveAccount(); err != nil {
				return err
			}
			for _, r := range tx.Restrictions() {
				r.LiftedAt, r.LiftedBy = t1, "staff:s1"
				if err := tx.SaveRestriction(r); err != nil {
					return err
				}
			}
			r1 := restriction("r1-"+account, account, holdfast.KindPanicLock, t1, time.Hour)
			if err := tx.SaveRestriction(r1); err != nil {
				return err
			}
			ap := &holdfast.Approval{ID: "ap-" + account, Account: account, Restriction: r1.ID, Kind: r1.Kind,
				AskedBy: "staff:s1", CreatedAt: t1, ExpiresAt: t1.Add(time.Hour), State: holdfast.ApprovalPending}
			if err := tx.SaveApproval(ap); err != nil {
				return err
			}
			w := &holdfast.Withdrawal{WithdrawalRequest: holdfast.WithdrawalRequest{Account: account, ID: "w1", Asset: "BTC", Amount: "1", Address: "addr"},
				Outcome: holdfast.Approve, Causes: []holdfast.Cause{}, DecidedAt: t1}
			if err := tx.SaveWithdrawal(w); err != nil {
				return err
			}
			if err := tx.SaveEvent(&holdfast.Event{ID: "ev-" + account, Type: holdfast.EventAMLAlert, Account: account, At: t1, Severity: "high"}); err != nil {
				return err
			}
			if err := tx.Enqueue(&holdfast.Command{ID: "cmd-" + account, Type: holdfast.CommandCancelAllOrders, Event: "ev-" + account, CreatedAt: t1}); err != nil {
				return err
			}
			for range 2 {
				if err := tx.Append(entry(account, t1, holdfast.AuditApply, r1.ID)); err != nil {
					return err
				}
			}
			return boom
		})
		var de *holdfast.Error
		if !errors.Is(err, boom) || !errors.As(err, &de) || de != boom {
			t.Fatalf("Update(%s) = %v, want the fn's own *holdfast.Error", account, err)
		}
		if _, err := h.s.Restriction(h.ctx, "r1-"+account); holdfast.ErrorCode(err) != holdfast.NotFound {
			t.Errorf("restriction saved by a failed update: %v", err)
		}
		if _, err := h.s.Approval(h.ctx, "ap-"+account); holdfast.ErrorCode(err) != holdfast.NotFound {
			t.Errorf("approval saved by a failed update: %v", err)
		}
	}

	if _, err := h.s.Account(h.ctx, "fresh"); holdfast.ErrorCode(err) != holdfast.NotFound {
		t.Errorf("account created by a failed update: %v", err)
	}
	a, err := h.s.Account(h.ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	if a.HasTag(holdfast.TagHighRisk) || a.AuditSeq != 1 {
		t.Errorf("account after failed update = %+v, want untagged with audit seq 1", a)
	}
	if r, err := h.s.Restriction(h.ctx, "r0"); err != nil || !r.LiftedAt.IsZero() {
		t.Errorf("restriction r0 after failed update = %+v, %v; want unlifted", r, err)
	}
	if es := h.history("a1"); len(es) != 1 {
		t.Errorf("history has %d entries after a failed update, want 1", len(es))
	}
	if es := h.history("fresh"); len(es) != 0 {
		t.Errorf("history of fresh has %d entries, want none", len(es))
	}
	h.update("a1", t1, func(tx holdfast.AccountTx) error {
		if w, err := tx.Withdrawal("w1"); w != nil || err != nil {
			t.Errorf("Withdrawal after failed update = %+v, %v; want nil, nil", w, err)
		}
		if got := ids(tx.Restrictions(), false); !slices.Equal(got, []string{"r0"}) {
			t.Errorf("Restrictions = %v, want [r0]", got)
		}
		if got := tx.Approvals(); len(got) != 0 {
			t.Errorf("Approvals = %v, want none", got)
		}
		if seen, err := tx.Event("ev-a1"); seen || err != nil {
			t.Errorf("Event after failed update = %v, %v; want false", seen, err)
		}
		// The command's id is free again: it was never kept.
		if err := tx.Enqueue(&holdfast.Command{ID: "cmd-a1", Type: holdfast.CommandNotifyHolder, CreatedAt: t1}); err != nil {
			t.Errorf("Enqueue of the failed update's command id: %v", err)
		}
		e := entry("a1", t1, holdfast.AuditAccountUpdated, "")
		if err := tx.Append(e); err != nil {
			return err
		}
		if e.Seq != 2 {
			t.Errorf("next entry seq = %d, want 2", e.Seq)
		}
		return nil
	})
	h.verifyOK("", 1, 2)
	if err := h.s.Events(h.ctx, holdfast.EventFilter{}, func(e *holdfast.Event) error {
		t.Errorf("event %s recorded by a failed update", e.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// An error from a tx method fails the update even if fn ignores it, so
// nothing is ever committed on a failed read or write.
func testTxMethodErrorFailsUpdate(t *testing.T, h *harness) {
	w := &holdfast.Withdrawal{WithdrawalRequest: holdfast.WithdrawalRequest{Account: "a1", ID: "w1", Asset: "BTC", Amount: "1", Address: "addr"},
		Outcome: holdfast.Approve, Causes: []holdfast.Cause{}, DecidedAt: t0}
	h.update("a1", t0, func(tx holdfast.AccountTx) error { return tx.SaveWithdrawal(w) })
	err := h.s.Update(h.ctx, "a1", t0, func(tx holdfast.AccountTx) error {
		if err := tx.SaveRestriction(restriction("r1", "a1", holdfast.KindReduceOnly, t0, 0)); err != nil {
			return err
		}
		_ = tx.SaveWithdrawal(w) // a second record of w1: conflict, ignored here
		return nil
	})
	wantCode(t, "Update after an ignored SaveWithdrawal conflict", err, holdfast.Conflict, "")
	if _, err := h.s.Restriction(h.ctx, "r1"); holdfast.ErrorCode(err) != holdfast.NotFound {
		t.Errorf("restriction committed past a failed tx method: %v", err)
	}
}

// An update whose context is done before it runs never runs.
func testCanceledUpdate(t *testing.T, h *harness) {
	ctx, cancel := context.WithCancel(h.ctx)
	cancel()
	ran := false
	err := h.s.Update(ctx, "a1", t0, func(tx holdfast.AccountTx) error {
		ran = true
		return tx.SaveAccount()
	})
	if !errors.Is(err, context.Canceled) || ran {
		t.Errorf("Update with canceled ctx = %v, ran %v; want context.Canceled, not run", err, ran)
	}
	if _, err := h.s.Account(h.ctx, "a1"); holdfast.ErrorCode(err) != holdfast.NotFound {
		t.Errorf("Account after canceled update: %v, want not_found", err)
	}
}

// An unknown account appears in the tx as new and unsaved; reading it
// creates nothing, appending to its log stores it.
func testNewAccount(t *testing.T, h *harness) {
	now := t0.Add(time.Hour)
	h.update("a1", now, func(tx holdfast.AccountTx) error {
		a := tx.Account()
		if a.ID != "a1" || !a.CreatedAt.Equal(now) || !a.LastActiveAt.Equal(now) || a.AuditSeq != 0 || len(a.Tags) != 0 {
			t.Errorf("new Account() = %+v", a)
		}
		return nil
	})
	if _, err := h.s.Account(h.ctx, "a1"); holdfast.ErrorCode(err) != holdfast.NotFound {
		t.Errorf("read-only update stored the account: %v", err)
	}
	h.update("a1", now, func(tx holdfast.AccountTx) error {
		return tx.Append(entry("a1", now, holdfast.AuditAccountCreated, ""))
	})
	a, err := h.s.Account(h.ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	if !a.CreatedAt.Equal(now) || a.AuditSeq != 1 || a.AuditHash == "" {
		t.Errorf("account after first Append = %+v", a)
	}
}

// A panicking fn rolls back and fails only its own update, as an internal
// error; the store carries on.
func testUpdatePanics(t *testing.T, h *harness) {
	err := h.s.Update(h.ctx, "a1", t0, func(tx holdfast.AccountTx) error {
		if err := tx.SaveAccount(); err != nil {
			return err
		}
		panic("bug")
	})
	if err == nil || holdfast.ErrorCode(err) != holdfast.Internal {
		t.Fatalf("Update with panicking fn = %v, want an internal error", err)
	}
	if _, err := h.s.Account(h.ctx, "a1"); holdfast.ErrorCode(err) != holdfast.NotFound {
		t.Errorf("account written by a panicking update: %v", err)
	}
	h.update("a1", t0, func(tx holdfast.AccountTx) error { return tx.SaveAccount() })
}
