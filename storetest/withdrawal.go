package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// A recorded authorization comes back whole in later updates of its
// account only; recording the same id twice is a conflict.
func testWithdrawal(t *testing.T, h *harness) {
	w := &holdfast.Withdrawal{
		WithdrawalRequest: holdfast.WithdrawalRequest{Account: "a1", ID: "w1", Asset: "USDT", Amount: "150000.25",
			USDValue: "150000.25", Address: "0xabc", AvailableBalance: "200000"},
		Outcome: holdfast.ReviewOutcome,
		Causes: []holdfast.Cause{
			{ID: "r1", Kind: holdfast.KindRecoveryCooldown, Effect: holdfast.Review, Message: "recently recovered",
				StartsAt: t0, EndsAt: t0.Add(7 * 24 * time.Hour), Resolution: []string{"wait"}},
			{Effect: holdfast.Deny, Message: "under review"},
		},
		DecidedAt: t0,
	}
	h.update("a1", t0, func(tx holdfast.AccountTx) error {
		e := entry("a1", t0, holdfast.AuditWithdrawal, "")
		if err := tx.Append(e); err != nil {
			return err
		}
		w.Seq = e.Seq
		return tx.SaveWithdrawal(w)
	})
	h.update("a1", t0.Add(time.Hour), func(tx holdfast.AccountTx) error {
		got, err := tx.Withdrawal("w1")
		if err != nil {
			return err
		}
		sameJSON(t, "Withdrawal", got, w)
		if got == nil || !got.Same(&w.WithdrawalRequest) || got.Seq != 1 {
			t.Errorf("Withdrawal = %+v, want the same request at seq 1", got)
		}
		if got, err := tx.Withdrawal("w2"); got != nil || err != nil {
			t.Errorf("Withdrawal(w2) = %+v, %v; want nil, nil", got, err)
		}
		return nil
	})
	// Ids are per account.
	h.update("a2", t0, func(tx holdfast.AccountTx) error {
		if got, err := tx.Withdrawal("w1"); got != nil || err != nil {
			t.Errorf("a2 sees a1's withdrawal: %+v, %v", got, err)
		}
		other := *w
		other.Account = "a2"
		return tx.SaveWithdrawal(&other)
	})
	err := h.s.Update(h.ctx, "a1", t0, func(tx holdfast.AccountTx) error { return tx.SaveWithdrawal(w) })
	wantCode(t, "second SaveWithdrawal of w1", err, holdfast.Conflict, "")
}

// Approvals lists pending requests of every account, oldest first; a
// decided request leaves the list but stays readable by id.
func testApprovals(t *testing.T, h *harness) {
	ap := func(id, account string, created time.Duration) *holdfast.Approval {
		return &holdfast.Approval{ID: id, Account: account, Restriction: "r-" + account, Kind: holdfast.KindFullRestriction,
			AskedBy: "staff:c1", AskedRoles: []holdfast.Role{holdfast.RoleCompliance}, Reason: "cleared",
			CreatedAt: t0.Add(created), ExpiresAt: t0.Add(created + time.Hour), State: holdfast.ApprovalPending}
	}
	for _, account := range []string{"a1", "a2"} {
		h.save(account, t0, restriction("r-"+account, account, holdfast.KindFullRestriction, t0, 0))
	}
	p1, p2, p3, p4 := ap("p1", "a1", 0), ap("p2", "a2", time.Minute), ap("p3", "a1", 2*time.Minute), ap("p4", "a1", -time.Hour)
	h.update("a1", t0, func(tx holdfast.AccountTx) error {
		for _, a := range []*holdfast.Approval{p3, p1, p4} {
			if err := tx.SaveApproval(a); err != nil {
				return err
			}
		}
		return nil
	})
	h.update("a2", t0, func(tx holdfast.AccountTx) error { return tx.SaveApproval(p2) })

	list := func(want ...string) {
		t.Helper()
		got, err := h.s.Approvals(h.ctx)
		if err != nil {
			t.Fatal(err)
		}
		var g []string
		for _, a := range got {
			g = append(g, a.ID)
		}
		if !slices.Equal(g, want) {
			t.Errorf("Approvals = %v, want %v", g, want)
		}
	}
	list("p4", "p1", "p2", "p3") // p4 has expired, but only StateAt says so

	h.update("a2", t0.Add(time.Minute), func(tx holdfast.AccountTx) error {
		got := tx.Approvals()
		if len(got) != 1 || got[0].ID != "p2" {
			t.Errorf("tx.Approvals() = %v, want [p2]", got)
			return nil
		}
		a := got[0]
		a.State, a.DecidedBy, a.DecidedAt = holdfast.ApprovalApproved, "staff:c2", t0.Add(time.Minute)
		return tx.SaveApproval(a)
	})
	list("p4", "p1", "p3")
	got, err := h.s.Approval(h.ctx, "p2")
	if err != nil {
		t.Fatal(err)
	}
	want := *p2
	want.State, want.DecidedBy, want.DecidedAt = holdfast.ApprovalApproved, "staff:c2", t0.Add(time.Minute)
	sameJSON(t, "Approval(p2)", got, &want)
	h.update("a1", t0, func(tx holdfast.AccountTx) error {
		var ids []string
		for _, a := range tx.Approvals() {
			ids = append(ids, a.ID)
		}
		sameJSON(t, "a1 tx.Approvals()", ids, []string{"p4", "p1", "p3"})
		return nil
	})
}

// Withdrawals returns the account's authorizations decided at or after
// since, oldest first, its own update's writes included and other
// accounts' left out.
func testWithdrawalWindow(t *testing.T, h *harness) {
	since := t0.Add(-24 * time.Hour)
	w := func(account, id string, at time.Time) *holdfast.Withdrawal {
		return &holdfast.Withdrawal{WithdrawalRequest: holdfast.WithdrawalRequest{Account: account, ID: id, Asset: "USDT", Amount: "1", Address: "x"},
			Outcome: holdfast.Approve, Causes: []holdfast.Cause{}, HolderCauses: []holdfast.Cause{}, DecidedAt: at}
	}
	// Saved out of time order.
	h.update("a1", t0, func(tx holdfast.AccountTx) error {
		for _, x := range []*holdfast.Withdrawal{
			w("a1", "now", t0), w("a1", "too-old", since.Add(-time.Nanosecond)),
			w("a1", "at-since", since), w("a1", "hour-ago", t0.Add(-time.Hour)),
		} {
			if err := tx.SaveWithdrawal(x); err != nil {
				return err
			}
		}
		return nil
	})
	h.update("a2", t0, func(tx holdfast.AccountTx) error { return tx.SaveWithdrawal(w("a2", "other", t0)) })
	window := func(tx holdfast.AccountTx) []string {
		ws, err := tx.Withdrawals(since)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, x := range ws {
			ids = append(ids, x.ID)
		}
		return ids
	}
	h.reopen()
	h.update("a1", t0, func(tx holdfast.AccountTx) error {
		if got, want := window(tx), []string{"at-since", "hour-ago", "now"}; !slices.Equal(got, want) {
			t.Errorf("Withdrawals(since) = %v, want %v", got, want)
		}
		if err := tx.SaveWithdrawal(w("a1", "just-now", t0.Add(time.Second))); err != nil {
			return err
		}
		if got, want := window(tx), []string{"at-since", "hour-ago", "now", "just-now"}; !slices.Equal(got, want) {
			t.Errorf("Withdrawals(since) after a save = %v, want %v", got, want)
		}
		ws, err := tx.Withdrawals(t0)
		if err != nil {
			return err
		}
		if len(ws) != 2 {
			t.Fatalf("Withdrawals(t0) = %d, want 2", len(ws))
		}
		sameJSON(t, "Withdrawals(t0)[0]", ws[0], w("a1", "now", t0))
		return nil
	})
	h.update("nobody", t0, func(tx holdfast.AccountTx) error {
		if got := window(tx); len(got) != 0 {
			t.Errorf("Withdrawals of an account with none = %v", got)
		}
		return nil
	})
}
