package storetest

import (
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// testCases: a case round-trips whole, reads its own writes inside the
// update, stays with its account, survives a reopen, and lists filter and
// sort earliest due first. Amount holds ride on the account.
func testCases(t *testing.T, h *harness) {
	mk := func(id, account string, typ holdfast.CaseType, state holdfast.CaseState, due time.Duration) *holdfast.Case {
		return &holdfast.Case{
			ID: id, Account: account, Type: typ, State: state, Restrictions: []string{"rst-" + id},
			OpenedBy: "user:" + account, CreatedAt: t0, UpdatedAt: t0, DueAt: t0.Add(due),
			Entries: []holdfast.CaseEntry{{At: t0, Actor: "user:" + account, Type: holdfast.EntryEvidence,
				Evidence: &holdfast.EvidenceRef{SHA256: "ab12", Name: "statement.pdf", ContentType: "application/pdf", Size: 42}}},
		}
	}
	c1 := mk("case-1", "acct-a", holdfast.CaseSourceOfFunds, holdfast.CaseOpen, 72*time.Hour)
	c2 := mk("case-2", "acct-a", holdfast.CaseUnlockRequest, holdfast.CaseUnderReview, 24*time.Hour)
	c3 := mk("case-3", "acct-b", holdfast.CaseSourceOfFunds, holdfast.CaseApproved, time.Hour)
	h.update("acct-a", t0, func(tx holdfast.AccountTx) error {
		for _, c := range []*holdfast.Case{c1, c2} {
			if err := tx.SaveCase(c); err != nil {
				return err
			}
		}
		if got := tx.Cases(); len(got) != 2 {
			t.Errorf("inside the update: %d cases, want 2", len(got))
		}
		tx.Account().Holds = []holdfast.AmountHold{{Asset: "BTC", Amount: "0.5", Case: "case-1", CreatedAt: t0}}
		return tx.SaveAccount()
	})
	h.update("acct-b", t0, func(tx holdfast.AccountTx) error { return tx.SaveCase(c3) })
	err := h.s.Update(h.ctx, "acct-b", t0, func(tx holdfast.AccountTx) error { return tx.SaveCase(c1.Clone()) })
	if err == nil {
		t.Error("saving acct-a's case in acct-b's update succeeded")
	}
	h.reopen()

	got, err := h.s.Case(h.ctx, "case-1")
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "case-1", got, c1)
	_, err = h.s.Case(h.ctx, "case-9")
	wantCode(t, "unknown case", err, holdfast.NotFound, "case")

	for _, tc := range []struct {
		f    holdfast.CaseFilter
		want []string
	}{
		{holdfast.CaseFilter{}, []string{"case-3", "case-2", "case-1"}},
		{holdfast.CaseFilter{Account: "acct-a"}, []string{"case-2", "case-1"}},
		{holdfast.CaseFilter{Type: holdfast.CaseSourceOfFunds}, []string{"case-3", "case-1"}},
		{holdfast.CaseFilter{State: holdfast.CaseUnderReview}, []string{"case-2"}},
		{holdfast.CaseFilter{Open: true}, []string{"case-2", "case-1"}},
		{holdfast.CaseFilter{Limit: 1}, []string{"case-3"}},
	} {
		cs, err := h.s.Cases(h.ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range cs {
			ids = append(ids, c.ID)
		}
		if len(ids) != len(tc.want) || (len(ids) > 0 && ids[0] != tc.want[0]) || (len(ids) > 1 && ids[1] != tc.want[1]) {
			t.Errorf("Cases(%+v) = %v, want %v", tc.f, ids, tc.want)
		}
	}
	a, err := h.s.Account(h.ctx, "acct-a")
	if err != nil || len(a.Holds) != 1 || a.Holds[0].Amount != "0.5" {
		t.Errorf("holds after reopen: %+v %v", a, err)
	}
}
