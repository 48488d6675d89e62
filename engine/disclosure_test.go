package engine_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/holdfast/holdfast"
)

// TestLawEnforcementHoldNeverReachesTheHolder applies a non-disclosable
// law-enforcement hold (and records a seizure), then walks every surface
// the holder can reach — checks, status, withdrawals, blocked operations'
// errors, restriction reads, cases, the security overview and checkup —
// and asserts none names the kind, the authority's reference, the reason
// or the seizure. The holder sees only the cover kind (terms_violation).
func TestLawEnforcementHoldNeverReachesTheHolder(t *testing.T) {
	ctx := context.Background()
	eng, _, _ := securityEngine(t)
	lee := holdfast.Actor{Type: holdfast.ActorStaff, ID: "lee", Roles: []holdfast.Role{holdfast.RoleLELiaison}}
	no := false
	hold, err := eng.Apply(ctx, holdfast.ApplyRequest{
		Account: "u1", Kind: holdfast.KindLawEnforcementHold, Disclose: &no, Actor: lee,
		Reason: "freeze order from the prosecutor", Reference: "AUTH-REF-7731",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.RecordSeizure(ctx, holdfast.SeizureRequest{Account: "u1", Asset: "BTC", Amount: "1.5", Reference: "SEIZE-REF-42", Actor: lee}); err != nil {
		t.Fatal(err)
	}
	// A disclosable restriction beside it, so the holder has a case to open.
	if _, err := eng.Ingest(ctx, holdfast.Event{Type: holdfast.EventC2CDisputeOpened, Account: "u1", CaseRef: "C2C-1"}); err != nil {
		t.Fatal(err)
	}
	holder := user("u1")
	var seen []any
	look := func(what string, v any, err error) {
		t.Helper()
		if err != nil {
			// An error is a surface too: its message and causes.
			seen = append(seen, what+": "+err.Error())
			var he *holdfast.Error
			if e, ok := err.(*holdfast.Error); ok {
				he = e
				seen = append(seen, he.Causes)
			}
			return
		}
		seen = append(seen, v)
	}

	d, err := eng.Check(ctx, holdfast.CheckRequest{Account: "u1", Action: holdfast.ActionTrade, View: holdfast.ViewHolder})
	look("check", d, err)
	if d.Effect != holdfast.Deny || len(d.Causes) != 1 || d.Causes[0].Kind != holdfast.KindTermsViolation || d.Causes[0].ID == hold.ID || !d.RetryAfter.IsZero() {
		t.Errorf("holder check: %+v", d)
	}
	st, err := eng.Status(ctx, "u1", holdfast.ViewStaff, holder)
	look("status", st, err)
	w, err := eng.AuthorizeWithdrawal(ctx, holdfast.WithdrawalRequest{Account: "u1", ID: "w1", Asset: "BTC", Amount: "0.1", USDValue: "6500", Address: "a1"})
	if err == nil {
		look("withdrawal", w.HolderCauses, nil)
	}
	_, err = eng.AddWhitelistAddress(ctx, "u1", holdfast.NewWhitelistAddress{Address: "addr-1", Network: "BTC"}, holder)
	look("whitelist add", nil, err)
	if holdfast.ErrorCode(err) != holdfast.FailedPrecondition {
		t.Errorf("whitelist add under the hold: %v", err)
	}
	// Asking for the hold by its id reads like asking for one that never
	// existed (the id is the holder's own input, so it is not a leak).
	_, errGet := eng.Get(ctx, hold.ID, holder)
	_, errNone := eng.Get(ctx, "rst_nonexistent", holder)
	if holdfast.ErrorCode(errGet) != holdfast.NotFound || strings.ReplaceAll(errGet.Error(), hold.ID, "X") != strings.ReplaceAll(errNone.Error(), "rst_nonexistent", "X") {
		t.Errorf("getting the hidden hold: %v; an unknown id: %v", errGet, errNone)
	}
	for _, op := range []func(id string) error{
		func(id string) error {
			_, err := eng.Lift(ctx, holdfast.LiftRequest{Target: holdfast.Target{Restriction: id}, Actor: holder})
			return err
		},
		func(id string) error {
			_, err := eng.Extend(ctx, holdfast.ExtendRequest{Target: holdfast.Target{Restriction: id}, By: holdfast.Duration(3600e9), Actor: holder})
			return err
		},
	} {
		errHidden, errNone := op(hold.ID), op("rst_nonexistent")
		if holdfast.ErrorCode(errHidden) != holdfast.NotFound || strings.ReplaceAll(errHidden.Error(), hold.ID, "X") != strings.ReplaceAll(errNone.Error(), "rst_nonexistent", "X") {
			t.Errorf("acting on the hidden hold: %v; on an unknown id: %v", errHidden, errNone)
		}
	}
	rs, err := eng.List(ctx, holdfast.RestrictionFilter{Account: "u1"}, holder)
	look("list", rs, err)
	_, errHidden := eng.OpenCase(ctx, holdfast.OpenCaseRequest{Account: "u1", Type: holdfast.CaseC2CAppeal, Restriction: hold.ID, Actor: holder})
	_, errUnknown := eng.OpenCase(ctx, holdfast.OpenCaseRequest{Account: "u1", Type: holdfast.CaseC2CAppeal, Restriction: "rst_nonexistent", Actor: holder})
	if holdfast.ErrorCode(errHidden) != holdfast.NotFound || strings.ReplaceAll(errHidden.Error(), hold.ID, "X") != strings.ReplaceAll(errUnknown.Error(), "rst_nonexistent", "X") {
		t.Errorf("linking the hidden hold: %v; an unknown id: %v (must read alike)", errHidden, errUnknown)
	}
	c, err := eng.OpenCase(ctx, holdfast.OpenCaseRequest{Account: "u1", Type: holdfast.CaseC2CAppeal, Actor: holder})
	look("open case", c, err)
	cs, err := eng.Cases(ctx, holdfast.CaseFilter{}, holder)
	look("cases", cs, err)
	ov, err := eng.Security(ctx, "u1", holder)
	look("security", ov, err)
	ck, err := eng.SecurityCheckup(ctx, "u1", holder)
	look("checkup", ck, err)
	_, err = eng.History(ctx, "u1", holder)
	look("history", nil, err)
	if holdfast.ErrorCode(err) != holdfast.PermissionDenied {
		t.Errorf("holder reading the audit log: %v", err)
	}

	blob, _ := json.Marshal(seen)
	for _, leak := range []string{"law_enforcement", "AUTH-REF-7731", "SEIZE-REF-42", "prosecutor", "seizure", hold.ID} {
		if strings.Contains(string(blob), leak) {
			t.Errorf("the holder can read %q:\n%s", leak, blob)
		}
	}
	if _, cover := eng.Policy().Cover(); !strings.Contains(string(blob), cover.Holder.Message) {
		t.Errorf("the holder is not shown the cover kind's message:\n%s", blob)
	}

	// Staff without the LE roles see the hold but not its reference,
	// reason or the seizure's details.
	sue := holdfast.Actor{Type: holdfast.ActorStaff, ID: "sue", Roles: []holdfast.Role{holdfast.RoleSupport}}
	rep, err := eng.AccountReport(ctx, "u1", sue)
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := json.Marshal(rep)
	for _, leak := range []string{"AUTH-REF-7731", "SEIZE-REF-42", "prosecutor"} {
		if strings.Contains(string(sb), leak) {
			t.Errorf("support can read %q in the account report", leak)
		}
	}
	lb, _ := json.Marshal(must(eng.AccountReport(ctx, "u1", lee)))
	for _, want := range []string{"AUTH-REF-7731", "SEIZE-REF-42"} {
		if !strings.Contains(string(lb), want) {
			t.Errorf("the LE liaison cannot read %q in the account report", want)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
