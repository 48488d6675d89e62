package rpc_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
)

// TestErrorCodes drives each domain error code end to end through the
// generated client and checks the connect code, the ErrorDetail's domain
// code and field, and that the message leads with the domain code.
func TestErrorCodes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	panicID := e.apply("alice", "acct-panic", holdfast.KindPanicLock, "")
	e.apply("alice", "acct-frozen", holdfast.KindSelfFreeze, "7d")
	wd := &holdfastv1.AuthorizeWithdrawalRequest{Account: "acct-w", Id: "wd-1", Asset: "USDT", Amount: "100", Address: "addr-1"}
	if _, err := e.as("check").Decision.AuthorizeWithdrawal(ctx, connect.NewRequest(wd)); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name        string
		call        func() error
		code        holdfast.Code
		connectCode connect.Code
		field       string
	}{
		{"admin lifts a panic lock", func() error {
			_, err := e.as("admin").Restriction.Lift(ctx, connect.NewRequest(&holdfastv1.LiftRequest{Restriction: panicID, Reason: "asked by phone"}))
			return err
		}, holdfast.Immutable, connect.CodeFailedPrecondition, "restriction"},
		{"admin shortens a panic lock", func() error {
			_, err := e.as("admin").Restriction.Extend(ctx, connect.NewRequest(&holdfastv1.ExtendRequest{Account: "acct-panic", Kind: "panic_lock", Until: timestamppb.New(time.Now().Add(time.Hour))}))
			return err
		}, holdfast.Immutable, connect.CodeFailedPrecondition, "restriction"},
		{"extend by nothing", func() error {
			_, err := e.as("admin").Restriction.Extend(ctx, connect.NewRequest(&holdfastv1.ExtendRequest{Account: "acct-panic", Kind: "panic_lock"}))
			return err
		}, holdfast.InvalidArgument, connect.CodeInvalidArgument, "by"},
		{"support applies a law enforcement hold", func() error {
			_, err := e.as("alice").Restriction.Apply(ctx, connect.NewRequest(&holdfastv1.ApplyRequest{Account: "acct-1", Kind: "law_enforcement_hold"}))
			return err
		}, holdfast.PermissionDenied, connect.CodePermissionDenied, "actor"},
		{"support lifts a self_freeze nobody asked to end", func() error {
			_, err := e.as("alice").Restriction.Lift(ctx, connect.NewRequest(&holdfastv1.LiftRequest{Account: "acct-frozen", Kind: "self_freeze"}))
			return err
		}, holdfast.FailedPrecondition, connect.CodeFailedPrecondition, "restriction"},
		{"withdrawal id replayed with another amount", func() error {
			other := proto.Clone(wd).(*holdfastv1.AuthorizeWithdrawalRequest)
			other.Amount = "200"
			_, err := e.as("check").Decision.AuthorizeWithdrawal(ctx, connect.NewRequest(other))
			return err
		}, holdfast.Conflict, connect.CodeAlreadyExists, "id"},
		{"unknown restriction", func() error {
			_, err := e.as("admin").Restriction.Get(ctx, connect.NewRequest(&holdfastv1.GetRequest{Restriction: "rst_nosuch"}))
			return err
		}, holdfast.NotFound, connect.CodeNotFound, "restriction"},
		{"unknown action", func() error {
			_, err := e.as("check").Decision.Check(ctx, connect.NewRequest(&holdfastv1.CheckRequest{Account: "acct-1", Action: "fly"}))
			return err
		}, holdfast.InvalidArgument, connect.CodeInvalidArgument, "action"},
		{"unknown kind", func() error {
			_, err := e.as("admin").Restriction.Apply(ctx, connect.NewRequest(&holdfastv1.ApplyRequest{Account: "acct-1", Kind: "house_arrest"}))
			return err
		}, holdfast.InvalidArgument, connect.CodeInvalidArgument, "kind"},
		{"bad duration", func() error {
			_, err := e.as("admin").Restriction.Apply(ctx, connect.NewRequest(&holdfastv1.ApplyRequest{Account: "acct-1", Kind: "reduce_only", Duration: "3 weeks"}))
			return err
		}, holdfast.InvalidArgument, connect.CodeInvalidArgument, "duration"},
		{"freeze for a duration the policy does not offer", func() error {
			_, err := e.as("self").Self.Freeze(ctx, connect.NewRequest(&holdfastv1.FreezeRequest{Account: "acct-1", Duration: "3d"}))
			return err
		}, holdfast.InvalidArgument, connect.CodeInvalidArgument, "duration"},
		{"unknown view", func() error {
			_, err := e.as("self").Self.Status(ctx, connect.NewRequest(&holdfastv1.StatusRequest{Account: "acct-1", View: "god"}))
			return err
		}, holdfast.InvalidArgument, connect.CodeInvalidArgument, "view"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			wantErr(t, err, tt.code, tt.field)
			if got := connect.CodeOf(err); got != tt.connectCode {
				t.Errorf("connect code = %v, want %v", got, tt.connectCode)
			}
			var ce *connect.Error
			if !connectErrorAs(err, &ce) || !strings.HasPrefix(ce.Message(), string(tt.code)+": ") {
				t.Errorf("message %q does not lead with %s", err, tt.code)
			}
		})
	}
}

func connectErrorAs(err error, target **connect.Error) bool {
	ce, ok := err.(*connect.Error)
	*target = ce
	return ok
}

// TestBadJSON sends broken bodies as curl would: each is invalid_argument
// naming the field, in the Connect JSON error format with the detail, and
// nothing is written.
func TestBadJSON(t *testing.T) {
	e := newEnv(t)
	e.apply("alice", "acct-1", holdfast.KindCoolingOff, "")
	before := e.history("acct-1")

	tests := []struct {
		name, procedure, body, field string
	}{
		{"malformed JSON", "/holdfast.v1.DecisionService/Check", `{"account":"acct-1","action":`, "body"},
		{"not an object", "/holdfast.v1.DecisionService/Check", `["withdraw"]`, "body"},
		{"empty body", "/holdfast.v1.RestrictionService/Apply", ``, "body"},
		{"unknown field", "/holdfast.v1.DecisionService/Check", `{"account":"acct-1","action":"withdraw","colour":"red"}`, "colour"},
		{"wrong type", "/holdfast.v1.RestrictionService/Apply", `{"account":"acct-1","kind":7}`, "kind"},
		{"oversized body", "/holdfast.v1.RestrictionService/Apply", `{"account":"acct-1","kind":"reduce_only","reason":"` + strings.Repeat("x", rpc.DefaultMaxBodyBytes) + `"}`, "body"},
		{"unknown kind", "/holdfast.v1.RestrictionService/Apply", `{"account":"acct-1","kind":"house_arrest"}`, "kind"},
		{"bad duration", "/holdfast.v1.RestrictionService/Apply", `{"account":"acct-1","kind":"reduce_only","duration":"-5h"}`, "duration"},
		{"bad extend", "/holdfast.v1.RestrictionService/Extend", `{"account":"acct-1","kind":"cooling_off","by":"soon"}`, "by"},
		{"bad until", "/holdfast.v1.RestrictionService/Extend", `{"account":"acct-1","kind":"cooling_off","until":"tomorrow"}`, "until"},
		{"unknown factor", "/holdfast.v1.SelfService/Verify", `{"account":"acct-1","factors":["retina"]}`, "factors"},
		{"bad account", "/holdfast.v1.RestrictionService/Apply", `{"account":"acct 1","kind":"reduce_only"}`, "account"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := "admin"
			if strings.Contains(tt.procedure, "DecisionService") {
				token = "check"
			}
			status, body := e.post(token, tt.procedure, tt.body)
			if status != 400 {
				t.Fatalf("status %d, want 400: %.300s", status, body)
			}
			got := decode(t, body)
			if got["code"] != "invalid_argument" {
				t.Errorf("code = %v", got["code"])
			}
			details, _ := got["details"].([]any)
			if len(details) != 1 {
				t.Fatalf("details = %v", got["details"])
			}
			d := details[0].(map[string]any)
			debug, _ := d["debug"].(map[string]any)
			if d["type"] != "holdfast.v1.ErrorDetail" || debug["code"] != "invalid_argument" || debug["field"] != tt.field {
				t.Errorf("detail = %v, want field %q", d, tt.field)
			}
		})
	}
	if after := e.history("acct-1"); after != before {
		t.Errorf("history grew from %d to %d entries on bad input", before, after)
	}
}

// TestFourEyesLift: a lift of a full_restriction returns a pending request;
// the asker cannot approve it; a different compliance officer can.
func TestFourEyesLift(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.apply("carol", "acct-aml", holdfast.KindFullRestriction, "")

	res, err := e.as("carol").Restriction.Lift(ctx, connect.NewRequest(&holdfastv1.LiftRequest{Restriction: id, Reason: "cleared"}))
	if err != nil {
		t.Fatal(err)
	}
	pending := res.Msg.Pending
	if res.Msg.Restriction != nil || pending == nil || pending.State != "pending" || pending.AskedBy != "staff:carol" {
		t.Fatalf("lift = %v, want a pending request", res.Msg)
	}
	if status, body := e.post("check", "/holdfast.v1.DecisionService/Check", `{"account":"acct-aml","action":"trade"}`); status != 200 || decode(t, body)["effect"] != "deny" {
		t.Fatalf("the restriction must stay until approved: %s", body)
	}

	list, err := e.as("dave").Restriction.ListApprovals(ctx, connect.NewRequest(&holdfastv1.ListApprovalsRequest{}))
	if err != nil || len(list.Msg.Approvals) != 1 || list.Msg.Approvals[0].Id != pending.Id {
		t.Fatalf("approvals = %v, %v", list, err)
	}
	_, err = e.as("carol").Restriction.Approve(ctx, connect.NewRequest(&holdfastv1.ApproveRequest{Request: pending.Id}))
	wantErr(t, err, holdfast.PermissionDenied, "")
	_, err = e.as("alice").Restriction.Approve(ctx, connect.NewRequest(&holdfastv1.ApproveRequest{Request: pending.Id}))
	wantErr(t, err, holdfast.PermissionDenied, "")

	approved, err := e.as("dave").Restriction.Approve(ctx, connect.NewRequest(&holdfastv1.ApproveRequest{Request: pending.Id}))
	if err != nil {
		t.Fatal(err)
	}
	if approved.Msg.Restriction.LiftedAt == nil || approved.Msg.Restriction.GetLiftedBy() != "staff:dave" {
		t.Fatalf("approve = %v", approved.Msg.Restriction)
	}
	if _, body := e.post("check", "/holdfast.v1.DecisionService/Check", `{"account":"acct-aml","action":"trade"}`); decode(t, body)["effect"] != "allow" {
		t.Fatalf("still restricted after approval: %s", body)
	}
	_, err = e.as("admin").Restriction.Approve(ctx, connect.NewRequest(&holdfastv1.ApproveRequest{Request: pending.Id}))
	wantErr(t, err, holdfast.FailedPrecondition, "request")
}

// TestSelfFreezeLifecycle: freeze, request_unfreeze (which opens the
// unlock_request case support decides it in), verify, support lifts.
func TestSelfFreezeLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	fr, err := e.as("self").Self.Freeze(ctx, connect.NewRequest(&holdfastv1.FreezeRequest{Account: "acct-1", Duration: "permanent"}))
	if err != nil {
		t.Fatal(err)
	}
	lift := func() error {
		_, err := e.as("alice").Restriction.Lift(ctx, connect.NewRequest(&holdfastv1.LiftRequest{Account: "acct-1", Kind: "self_freeze", Reason: "verified"}))
		return err
	}
	wantErr(t, lift(), holdfast.FailedPrecondition, "")
	if _, err := e.as("self").Self.RequestUnfreeze(ctx, connect.NewRequest(&holdfastv1.RequestUnfreezeRequest{Account: "acct-1"})); err != nil {
		t.Fatal(err)
	}
	cs, err := e.as("self").Case.ListCases(ctx, connect.NewRequest(&holdfastv1.ListCasesRequest{Account: "acct-1", Type: "unlock_request", Open: true}))
	if err != nil || len(cs.Msg.Cases) != 1 || len(cs.Msg.Cases[0].Restrictions) != 1 || cs.Msg.Cases[0].Restrictions[0] != fr.Msg.Restriction.Id {
		t.Fatalf("unlock_request cases after the request = %v, %v", cs, err)
	}
	wantErr(t, lift(), holdfast.FailedPrecondition, "")
	if _, err := e.as("events").Self.Verify(ctx, connect.NewRequest(&holdfastv1.VerifyRequest{Account: "acct-1", Factors: []string{"email"}})); err != nil {
		t.Fatal(err)
	}
	if err := lift(); err != nil {
		t.Fatal(err)
	}
	st, err := e.as("self").Self.Status(ctx, connect.NewRequest(&holdfastv1.StatusRequest{Account: "acct-1"}))
	if err != nil || len(st.Msg.Causes) != 0 || st.Msg.Effects["withdraw"] != "allow" {
		t.Fatalf("status after lift = %v, %v", st, err)
	}
}
