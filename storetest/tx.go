package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// Inside an update, every read reflects the update's own writes, whether or
// not the list was read before the write.
func testReadsOwnWrites(t *testing.T, h *harness) {
	now := t0
	later := now.Add(time.Hour)
	h.update("a1", now, func(tx holdfast.AccountTx) error {
		if rs := tx.Restrictions(); len(rs) != 0 {
			t.Errorf("Restrictions of a new account = %v", ids(rs, false))
		}
		r1 := restriction("r1", "a1", holdfast.KindCoolingOff, now, 24*time.Hour)
		endsNow := restriction("ends-now", "a1", holdfast.KindReduceOnly, now.Add(-time.Hour), time.Hour)
		future := restriction("future", "a1", holdfast.KindSelfFreeze, later, 0)
		for _, r := range []*holdfast.Restriction{r1, endsNow, future} {
			if err := tx.SaveRestriction(r); err != nil {
				return err
			}
		}
		if got := ids(tx.Restrictions(), true); !slices.Equal(got, []string{"future", "r1"}) {
			t.Errorf("Restrictions after saves = %v, want [future r1]", got)
		}
		r1.EndsAt = later.Add(time.Hour) // an extension replaces the cached copy
		if err := tx.SaveRestriction(r1); err != nil {
			return err
		}
		for _, r := range tx.Restrictions() {
			if r.ID == "r1" && !r.EndsAt.Equal(r1.EndsAt) {
				t.Errorf("extended r1 ends %v in Restrictions(), want %v", r.EndsAt, r1.EndsAt)
			}
		}
		r1.LiftedAt, r1.LiftedBy = now, "staff:s1"
		if err := tx.SaveRestriction(r1); err != nil {
			return err
		}
		if got := ids(tx.Restrictions(), true); !slices.Equal(got, []string{"future"}) {
			t.Errorf("Restrictions after lift = %v, want [future]", got)
		}

		ap := &holdfast.Approval{ID: "ap1", Account: "a1", Restriction: "future", Kind: holdfast.KindSelfFreeze,
			AskedBy: "staff:s1", AskedRoles: []holdfast.Role{holdfast.RoleSupport}, CreatedAt: now, ExpiresAt: later, State: holdfast.ApprovalPending}
		if err := tx.SaveApproval(ap); err != nil {
			return err
		}
		if got := tx.Approvals(); len(got) != 1 || got[0].ID != "ap1" {
			t.Errorf("Approvals after save = %v, want [ap1]", got)
		}
		ap.State, ap.DecidedBy, ap.DecidedAt = holdfast.ApprovalApproved, "staff:s2", now
		if err := tx.SaveApproval(ap); err != nil {
			return err
		}
		if got := tx.Approvals(); len(got) != 0 {
			t.Errorf("Approvals after approval = %v, want none", got)
		}

		w := &holdfast.Withdrawal{WithdrawalRequest: holdfast.WithdrawalRequest{Account: "a1", ID: "w1", Asset: "USDT", Amount: "10", Address: "addr"},
			Outcome: holdfast.ReviewOutcome, Causes: []holdfast.Cause{}, DecidedAt: now, Seq: 1}
		if err := tx.SaveWithdrawal(w); err != nil {
			return err
		}
		got, err := tx.Withdrawal("w1")
		if err != nil {
			return err
		}
		sameJSON(t, "Withdrawal after save", got, w)

		tx.Account().AddTag(holdfast.TagDormant)
		if err := tx.SaveAccount(); err != nil {
			return err
		}
		e := entry("a1", now, holdfast.AuditAccountUpdated, "")
		if err := tx.Append(e); err != nil {
			return err
		}
		if a := tx.Account(); a.AuditSeq != 1 || a.AuditHash != e.Hash || !a.HasTag(holdfast.TagDormant) {
			t.Errorf("Account() after Append = %+v, want head 1/%s and tag dormant", a, e.Hash)
		}
		return nil
	})

	// Saving before the first read: the list read afterwards holds it.
	h.update("a1", now, func(tx holdfast.AccountTx) error {
		if err := tx.SaveRestriction(restriction("r2", "a1", holdfast.KindC2CFreeze, now, 0)); err != nil {
			return err
		}
		if got := ids(tx.Restrictions(), true); !slices.Equal(got, []string{"future", "r2"}) {
			t.Errorf("Restrictions = %v, want [future r2]", got)
		}
		return nil
	})
}

// Restrictions() holds what is in force or still to come at the update's
// now: not lifted, and no end or an end after now.
func testRestrictionsInForce(t *testing.T, h *harness) {
	now := t0
	h.save("a1", now.Add(-48*time.Hour),
		restriction("active", "a1", holdfast.KindCoolingOff, now.Add(-time.Hour), 2*time.Hour),
		restriction("permanent", "a1", holdfast.KindPermanentBan, now.Add(-time.Hour), 0),
		restriction("future", "a1", holdfast.KindSelfFreeze, now.Add(time.Hour), time.Hour),
		restriction("ended", "a1", holdfast.KindReduceOnly, now.Add(-3*time.Hour), time.Hour),
		restriction("ends-now", "a1", holdfast.KindPanicLock, now.Add(-time.Hour), time.Hour),
		restriction("ends-after-now", "a1", holdfast.KindPanicLock, now.Add(-time.Hour), time.Hour+time.Nanosecond),
	)
	lifted := restriction("lifted", "a1", holdfast.KindWithdrawalFreeze, now.Add(-time.Hour), 0)
	lifted.LiftedAt, lifted.LiftedBy, lifted.LiftReason = now.Add(-time.Minute), "staff:s1", "appeal approved"
	h.save("a1", now, lifted)
	h.save("a2", now, restriction("other-account", "a2", holdfast.KindCoolingOff, now, time.Hour))

	want := []string{"active", "ends-after-now", "future", "permanent"}
	h.update("a1", now, func(tx holdfast.AccountTx) error {
		if got := ids(tx.Restrictions(), true); !slices.Equal(got, want) {
			t.Errorf("Restrictions() = %v, want %v", got, want)
		}
		return nil
	})
	rs, err := h.s.Restrictions(h.ctx, holdfast.RestrictionFilter{Account: "a1", ActiveAt: now})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(rs, true); !slices.Equal(got, want) {
		t.Errorf("Restrictions(ActiveAt) = %v, want %v", got, want)
	}
}

// A restriction id belongs to one account: another account's update can
// neither save it under its own account nor under the other.
func testRestrictionOwner(t *testing.T, h *harness) {
	h.save("a1", t0, restriction("r1", "a1", holdfast.KindCoolingOff, t0, time.Hour))
	for _, owner := range []string{"a1", "a2"} {
		err := h.s.Update(h.ctx, "a2", t0, func(tx holdfast.AccountTx) error {
			r := restriction("r1", owner, holdfast.KindPermanentBan, t0, 0)
			return tx.SaveRestriction(r)
		})
		if err == nil {
			t.Errorf("a2 saved restriction r1 of a1 (as %s)", owner)
		}
	}
	r, err := h.s.Restriction(h.ctx, "r1")
	if err != nil || r.Account != "a1" || r.Kind != holdfast.KindCoolingOff {
		t.Errorf("r1 after foreign saves = %+v, %v", r, err)
	}
}
