package storetest

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// TamperState edits the state tables behind the store's back, one way per
// subtest, leaving the audit log intact. VerifyState must report exactly
// the tampered row, naming its account, record and first differing field;
// the other accounts must verify clean. A restriction row edited to look
// ended, lifted or weaker must still be loaded as the log has it.
func TamperState(t *testing.T, open Opener, raw Raw) {
	for _, tc := range []struct {
		name    string
		tamper  []string
		account string
		record  string
		field   string // "" : the row or the log's record is missing
		problem string // a word the problem must contain
	}{
		{"end moved", []string{`UPDATE restrictions SET ends_at = 1 WHERE id = 'rst-panic'`}, "victim", "restriction rst-panic", "ends_at", "differs"},
		{"lifted in the table", []string{`UPDATE restrictions SET lifted_at = 1, lifted_by = 'mallory' WHERE id = 'rst-panic'`}, "victim", "restriction rst-panic", "lifted_at", "differs"},
		{"kind weakened", []string{`UPDATE restrictions SET kind = 'step_up_verification' WHERE id = 'rst-panic'`}, "victim", "restriction rst-panic", "kind", "differs"},
		{"restriction deleted", []string{`DELETE FROM restrictions WHERE id = 'rst-freeze'`}, "frozen", "restriction rst-freeze", "", "deleted"},
		{"restriction without entry", []string{`INSERT INTO restrictions (id, account, kind, starts_at, disclose, created_at) VALUES ('rst-forged', 'frozen', 'reduce_only', 1, true, 1)`}, "frozen", "restriction rst-forged", "", "no audit entry"},
		{"withdrawal outcome changed", []string{`UPDATE withdrawals SET outcome = 'approve' WHERE id = 'w-1'`}, "withdrawer", "withdrawal w-1", "outcome", "differs"},
		{"withdrawal total changed", []string{`UPDATE withdrawals SET total = '1' WHERE id = 'w-1'`}, "withdrawer", "withdrawal w-1", "total", "running total"},
		{"withdrawal deleted", []string{`DELETE FROM withdrawals WHERE id = 'w-1'`}, "withdrawer", "withdrawal w-1", "", "deleted"},
		{"case status changed", []string{`UPDATE cases SET state = 'approved' WHERE id = 'case-1'`}, "appellant", "case case-1", "state", "column"},
		{"case document changed", []string{`UPDATE cases SET doc = replace(doc, '"state":"open"', '"state":"approved"') WHERE id = 'case-1'`}, "appellant", "case case-1", "state", "differs"},
		{"trusted contact added", []string{`UPDATE accounts SET trusted_contacts = '["mallory"]' WHERE id = 'appellant'`}, "appellant", "account", "trusted_contacts", "differs"},
		{"request approved in the table", []string{`UPDATE approvals SET state = 'approved', decided_by = 'staff:mallory' WHERE id = 'apr-1'`}, "frozen", "request apr-1", "state", "differs"},
		{"policy approver changed", []string{`UPDATE policy_versions SET approved_by = 'staff:mallory' WHERE state = 'active'`}, holdfast.PolicyAccount, "policy version " + policyOne, "approved_by", "differs"},
		{"active policy retired in the table", []string{`UPDATE policy_versions SET state = 'retired' WHERE state = 'active'`}, holdfast.PolicyAccount, "policy version " + policyOne, "state", "differs"},
		{"policy YAML swapped", []string{`UPDATE policy_versions SET yaml = (SELECT p.yaml FROM policy_versions p WHERE p.comment = 'first') WHERE comment = 'second'`}, holdfast.PolicyAccount, "policy version " + policyTwo, "yaml", "changed"},
		{"policy request approved in the table", []string{`UPDATE policy_activations SET state = 'approved', decided_by = 'staff:mallory' WHERE id = 'pact-1'`}, holdfast.PolicyAccount, "policy activation pact-1", "state", "differs"},
		{"policy request deleted", []string{`DELETE FROM policy_activations WHERE id = 'pact-1'`}, holdfast.PolicyAccount, "policy activation pact-1", "", "deleted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, open)
			stateFixture(h)
			raw(t, h.dir, tc.tamper...)
			for _, scope := range []string{"", tc.account} {
				rep, err := h.s.VerifyState(h.ctx, scope)
				if err != nil {
					t.Fatal(err)
				}
				if len(rep.Breaks) != 1 {
					t.Fatalf("VerifyState(%q) breaks = %+v, want one", scope, rep.Breaks)
				}
				b := rep.Breaks[0]
				if b.Account != tc.account || b.Record != tc.record || b.Field != tc.field || !strings.Contains(b.Problem, tc.problem) {
					t.Errorf("VerifyState(%q) = %+v, want %s %s field %q (%s)", scope, b, tc.account, tc.record, tc.field, tc.problem)
				}
			}
			if tc.account == "victim" {
				panicLockStillInForce(t, h)
			}
		})
	}
	t.Run("untampered", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, open)
		stateFixture(h)
		rep, err := h.s.VerifyState(h.ctx, "")
		if err != nil || !rep.OK() || rep.Accounts != 6 {
			t.Fatalf("VerifyState() = %+v, %v; want OK over 5 accounts and the policy chain", rep, err)
		}
	})
}

// panicLockStillInForce: every load of the victim's restrictions has the
// panic lock in force until the end its log records.
func panicLockStillInForce(t *testing.T, h *harness) {
	t.Helper()
	at, end := t0.Add(time.Hour), t0.Add(96*time.Hour)
	check := func(how string, rs []*holdfast.Restriction) {
		t.Helper()
		i := slices.IndexFunc(rs, func(r *holdfast.Restriction) bool { return r.ID == "rst-panic" })
		if i < 0 {
			t.Errorf("%s: the panic lock is missing: %v", how, ids(rs, false))
			return
		}
		if r := rs[i]; r.Kind != holdfast.KindPanicLock || !r.ActiveAt(at) || !r.EndsAt.Equal(end) {
			t.Errorf("%s: panic lock = %+v, want one in force until %v", how, r, end)
		}
	}
	var active []*holdfast.Restriction
	if err := h.s.ActiveRestrictions(h.ctx, at, func(r *holdfast.Restriction) error {
		active = append(active, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	check("ActiveRestrictions", active)
	listed, err := h.s.Restrictions(h.ctx, holdfast.RestrictionFilter{Account: "victim", ActiveAt: at})
	if err != nil {
		t.Fatal(err)
	}
	check("Restrictions", listed)
	h.update("victim", at, func(tx holdfast.AccountTx) error {
		check("AccountTx.Restrictions", tx.Restrictions())
		return nil
	})
}

// stateFixture writes, as the engine does (each record with an entry
// whose After is the record), a panic lock extended once (victim), a
// self-freeze with a pending lift request (frozen), a withdrawal
// (withdrawer), a case moved on once and a trusted contact (appellant),
// an account with a lifted restriction (bystander), and policy versions
// (policyFixture).
func stateFixture(h *harness) {
	h.t.Helper()
	policyFixture(h)
	write := func(tx holdfast.AccountTx, at time.Time, action, restriction string, after any) error {
		b, err := json.Marshal(after)
		if err != nil {
			return err
		}
		return tx.Append(&holdfast.AuditEntry{At: at, Actor: "system", Action: action, Restriction: restriction, After: b})
	}
	saveR := func(tx holdfast.AccountTx, at time.Time, action string, r *holdfast.Restriction) error {
		if err := tx.SaveRestriction(r); err != nil {
			return err
		}
		return write(tx, at, action, r.ID, r)
	}
	lock := restriction("rst-panic", "victim", holdfast.KindPanicLock, t0, 72*time.Hour)
	h.update("victim", t0, func(tx holdfast.AccountTx) error { return saveR(tx, t0, holdfast.AuditApply, lock) })
	lock.EndsAt = t0.Add(96 * time.Hour)
	h.update("victim", t0.Add(time.Minute), func(tx holdfast.AccountTx) error {
		return saveR(tx, t0.Add(time.Minute), holdfast.AuditExtend, lock)
	})

	freeze := restriction("rst-freeze", "frozen", holdfast.KindSelfFreeze, t0, 0)
	req := &holdfast.Approval{ID: "apr-1", Account: "frozen", Restriction: freeze.ID, Kind: freeze.Kind, Op: holdfast.ApprovalLift,
		AskedBy: "staff:ann", AskedRoles: []holdfast.Role{"support"}, CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour), State: holdfast.ApprovalPending}
	h.update("frozen", t0, func(tx holdfast.AccountTx) error {
		if err := saveR(tx, t0, holdfast.AuditApply, freeze); err != nil {
			return err
		}
		if err := tx.SaveApproval(req); err != nil {
			return err
		}
		return write(tx, t0, holdfast.AuditLiftRequested, freeze.ID, req)
	})

	w := &holdfast.Withdrawal{
		WithdrawalRequest: holdfast.WithdrawalRequest{Account: "withdrawer", ID: "w-1", Asset: "USDT", Amount: "10", Address: "addr-1"},
		Outcome:           holdfast.DenyOutcome, DecidedAt: t0,
		Causes:       []holdfast.Cause{{Kind: holdfast.KindWithdrawalFreeze, Effect: holdfast.Deny, Message: "held"}},
		HolderCauses: []holdfast.Cause{},
	}
	h.update("withdrawer", t0, func(tx holdfast.AccountTx) error {
		e := &holdfast.AuditEntry{At: t0, Actor: "system", Action: holdfast.AuditWithdrawal}
		e.After, _ = json.Marshal(w)
		if err := tx.Append(e); err != nil {
			return err
		}
		w.Seq = e.Seq
		return tx.SaveWithdrawal(w)
	})

	c := &holdfast.Case{ID: "case-1", Account: "appellant", Type: holdfast.CaseSourceOfFunds, State: holdfast.CaseOpen,
		Restrictions: []string{}, OpenedBy: "user:appellant", CreatedAt: t0, UpdatedAt: t0, DueAt: t0.Add(72 * time.Hour),
		Entries: []holdfast.CaseEntry{}}
	h.update("appellant", t0, func(tx holdfast.AccountTx) error {
		tx.Account().TrustedContacts = []string{"friend"}
		if err := tx.SaveAccount(); err != nil {
			return err
		}
		if err := write(tx, t0, holdfast.AuditAccountUpdated, "", tx.Account()); err != nil {
			return err
		}
		if err := tx.SaveCase(c); err != nil {
			return err
		}
		if err := write(tx, t0, holdfast.AuditCaseOpened, "", c); err != nil {
			return err
		}
		c.Assignee, c.UpdatedAt = "staff:carol", t0.Add(time.Minute)
		if err := tx.SaveCase(c); err != nil {
			return err
		}
		return write(tx, t0, holdfast.AuditCaseAssign, "", c)
	})

	gone := restriction("rst-gone", "bystander", holdfast.KindCoolingOff, t0, time.Hour)
	h.update("bystander", t0, func(tx holdfast.AccountTx) error { return saveR(tx, t0, holdfast.AuditApply, gone) })
	gone.LiftedAt, gone.LiftedBy, gone.LiftReason = t0.Add(time.Minute), "staff:ann", "done"
	h.update("bystander", t0.Add(time.Minute), func(tx holdfast.AccountTx) error {
		return saveR(tx, t0.Add(time.Minute), holdfast.AuditLift, gone)
	})
}

// The policy versions of policyFixture.
var (
	policyOne = holdfast.PolicyHash(policyYAML("one"))
	policyTwo = holdfast.PolicyHash(policyYAML("two"))
)

// policyFixture installs policyOne (comment "first", active), pushes
// policyTwo (comment "second"), shadows it and asks to activate it
// (pact-1, pending).
func policyFixture(h *harness) {
	h.t.Helper()
	e := func(d time.Duration) *holdfast.AuditEntry {
		return &holdfast.AuditEntry{At: t0.Add(d), Actor: "staff:ann", Reason: "fixture"}
	}
	err := errors.Join(
		h.s.InstallPolicy(h.ctx, &holdfast.PolicyVersion{YAML: policyYAML("one"), Comment: "first", Author: "staff:ann"}, e(0)),
		h.s.PushPolicy(h.ctx, &holdfast.PolicyVersion{YAML: policyYAML("two"), Comment: "second", Author: "staff:ann"}, e(time.Minute)),
		h.s.SetPolicyShadow(h.ctx, policyTwo, e(2*time.Minute)),
		h.s.RequestPolicyActivation(h.ctx, &holdfast.PolicyActivation{ID: "pact-1", Hash: policyTwo, Reason: "ship", RequestedBy: "staff:ann"}, e(3*time.Minute)),
	)
	if err != nil {
		h.t.Fatalf("policy fixture: %v", err)
	}
}
