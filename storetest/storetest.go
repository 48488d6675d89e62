// Package storetest is the contract every holdfast.Store passes: SQLite
// always, PostgreSQL when one is reachable. A store joins by calling Run
// from its own tests.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// Opener opens the store whose data lives at dir. The first call for a dir
// gets an empty store; a later call with the same dir, after the previous
// store was closed, must see the same data (a file store reopens the file,
// a server store reconnects to the database or schema it maps dir to).
type Opener func(t *testing.T, dir string) holdfast.Store

// Run runs the contract suite. Every test gets its own store from open and
// closes it when done.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"UpdateRollsBackOnError", testUpdateRollsBack},
		{"TxMethodErrorFailsUpdate", testTxMethodErrorFailsUpdate},
		{"CanceledUpdateDoesNotRun", testCanceledUpdate},
		{"UpdatePanics", testUpdatePanics},
		{"NewAccount", testNewAccount},
		{"ReadsOwnWrites", testReadsOwnWrites},
		{"RestrictionsInForceOrToCome", testRestrictionsInForce},
		{"RestrictionStaysWithItsAccount", testRestrictionOwner},
		{"TimeRoundTrip", testTimeRoundTrip},
		{"AuditChain", testAuditChain},
		{"ConcurrentUpdatesOneAccount", testConcurrentOneAccount},
		{"ConcurrentUpdatesManyAccounts", testConcurrentManyAccounts},
		{"FailingUpdatesDoNotFailOthers", testFailuresIsolated},
		{"Withdrawal", testWithdrawal},
		{"Approvals", testApprovals},
		{"ActiveRestrictions", testActiveRestrictions},
		{"AccountDigests", testAccountDigests},
		{"RestrictionFilters", testRestrictionFilters},
		{"NotFound", testNotFound},
		{"StaffAndTokens", testStaffAndTokens},
		{"StaffLifecycle", testStaffLifecycle},
		{"UseLinkOnce", testUseLink},
		{"PageSessions", testPageSessions},
		{"TOTPStepOnce", testTOTPStep},
		{"EmergencyCodes", testEmergencyCodes},
		{"PolicyVersions", testPolicy},
		{"PolicyBacktest", testPolicyBacktest},
		{"RateLimits", testRateLimits},
		{"PersistsAcrossReopen", testReopen},
		{"Events", testEvents},
		{"EventDuplicates", testEventDuplicates},
		{"ActivityAndOrigin", testActivityOrigin},
		{"WithdrawalWindow", testWithdrawalWindow},
		{"WithdrawnSince", testWithdrawnSince},
		{"Outbox", testOutbox},
		{"Cases", testCases},
		{"OutboxLifecycle", testOutboxLifecycle},
		{"OutboxRedrivePending", testRedrivePending},
		{"OutboxClaimsAcrossHandles", testClaimsAcrossHandles},
		{"OutboxEnqueueStampsCreation", testEnqueueStampsCreation},
		{"StoreID", testStoreID},
		{"TransparencyLog", testTransparencyLog},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newHarness(t, open))
		})
	}
}

// t0 is the suite's "now": nanoseconds set, so truncation shows.
var t0 = time.Date(2031, 3, 4, 5, 6, 7, 891234567, time.UTC)

// harness holds the store under test and can reopen it.
type harness struct {
	t    *testing.T
	open Opener
	dir  string
	s    holdfast.Store
	ctx  context.Context
}

func newHarness(t *testing.T, open Opener) *harness {
	h := &harness{t: t, open: open, dir: t.TempDir(), ctx: t.Context()}
	h.s = open(t, h.dir)
	t.Cleanup(func() {
		if err := h.s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

// reopen closes the store and opens the same data again.
func (h *harness) reopen() {
	h.t.Helper()
	if err := h.s.Close(); err != nil {
		h.t.Fatalf("Close: %v", err)
	}
	h.s = h.open(h.t, h.dir)
}

// update runs fn and fails the test if the update fails.
func (h *harness) update(account string, now time.Time, fn func(tx holdfast.AccountTx) error) {
	h.t.Helper()
	if err := h.s.Update(h.ctx, account, now, fn); err != nil {
		h.t.Fatalf("Update(%s): %v", account, err)
	}
}

// save stores restrictions, each with an audit entry, in one update.
func (h *harness) save(account string, now time.Time, rs ...*holdfast.Restriction) {
	h.t.Helper()
	h.update(account, now, func(tx holdfast.AccountTx) error {
		for _, r := range rs {
			if err := tx.SaveRestriction(r); err != nil {
				return err
			}
			if err := tx.Append(entry(account, now, holdfast.AuditApply, r.ID)); err != nil {
				return err
			}
		}
		return nil
	})
}

// restriction returns a restriction of kind that starts at start and ends
// after d (never when d is 0).
func restriction(id, account string, kind holdfast.Kind, start time.Time, d time.Duration) *holdfast.Restriction {
	r := &holdfast.Restriction{
		ID: id, Account: account, Kind: kind, StartsAt: start, CreatedAt: start,
		Reason: "reason " + id, Disclose: true, AppliedBy: "system",
	}
	if d != 0 {
		r.EndsAt = start.Add(d)
	}
	return r
}

// entry returns an unchained audit entry.
func entry(account string, at time.Time, action, restriction string) *holdfast.AuditEntry {
	return &holdfast.AuditEntry{Account: account, At: at, Actor: "system", Action: action, Restriction: restriction}
}

// ids returns the restrictions' ids, sorted when sorted is set.
func ids(rs []*holdfast.Restriction, sorted bool) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	if sorted {
		slices.Sort(out)
	}
	return out
}

// sameJSON fails unless got and want encode alike: a comparison that sees
// every exported field and treats times by instant and zone.
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err1 := json.Marshal(got)
	w, err2 := json.Marshal(want)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if string(g) != string(w) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// wantCode fails unless err carries code (and field, when given).
func wantCode(t *testing.T, what string, err error, code holdfast.Code, field string) {
	t.Helper()
	if got := holdfast.ErrorCode(err); got != code {
		t.Errorf("%s: code %q (err %v), want %q", what, got, err, code)
		return
	}
	if field != "" && holdfast.ErrorField(err) != field {
		t.Errorf("%s: field %q, want %q", what, holdfast.ErrorField(err), field)
	}
}

// verifyOK fails unless every chain verifies with the given totals.
func (h *harness) verifyOK(account string, accounts int, entries int64) {
	h.t.Helper()
	rep, err := h.s.VerifyAudit(h.ctx, account)
	if err != nil {
		h.t.Fatalf("VerifyAudit(%q): %v", account, err)
	}
	if !rep.OK() || rep.Accounts != accounts || rep.Entries != entries {
		h.t.Errorf("VerifyAudit(%q) = %+v, want OK with %d accounts and %d entries", account, rep, accounts, entries)
	}
}

// history returns the account's entries and checks their seqs are 1..n.
func (h *harness) history(account string) []holdfast.AuditEntry {
	h.t.Helper()
	es, err := h.s.History(h.ctx, account)
	if err != nil {
		h.t.Fatalf("History(%s): %v", account, err)
	}
	for i, e := range es {
		if e.Seq != int64(i+1) {
			h.t.Fatalf("History(%s)[%d].Seq = %d, want %d", account, i, e.Seq, i+1)
		}
	}
	return es
}

func name(prefix string, i int) string { return fmt.Sprintf("%s-%03d", prefix, i) }
