package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
)

// TestRecordEmergency: a signed-out request is recorded on an account
// Holdfast knows, and an unknown account is refused without being
// created; only the emergency actions are accepted.
func TestRecordEmergency(t *testing.T) {
	ctx := context.Background()
	eng, db, _ := securityEngine(t)
	if _, err := eng.Ingest(ctx, holdfast.Event{Type: holdfast.EventLogin, Account: "u1", Device: "d1", Session: "s1"}); err != nil {
		t.Fatal(err)
	}
	rec := engine.EmergencyRecord{Challenge: "emc_1", Channel: "email", Client: "203.0.113.7"}
	if err := eng.RecordEmergency(ctx, "u1", holdfast.AuditEmergencyCodeSent, rec, "asked"); err != nil {
		t.Fatal(err)
	}
	h, err := db.History(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	last := h[len(h)-1]
	if last.Action != holdfast.AuditEmergencyCodeSent || last.Actor != "system" || !strings.Contains(string(last.After), `"client":"203.0.113.7"`) || last.Reason != "asked" {
		t.Errorf("the entry: %+v", last)
	}
	err = eng.RecordEmergency(ctx, "nobody", holdfast.AuditEmergencyCodeRefused, rec, "wrong")
	if holdfast.ErrorCode(err) != holdfast.NotFound {
		t.Errorf("an unknown account: %v, want not_found", err)
	}
	if _, err := db.Account(ctx, "nobody"); holdfast.ErrorCode(err) != holdfast.NotFound {
		t.Errorf("the unknown account was created: %v", err)
	}
	if err := eng.RecordEmergency(ctx, "u1", holdfast.AuditApply, rec, ""); holdfast.ErrorCode(err) != holdfast.InvalidArgument {
		t.Errorf("another action: %v, want invalid_argument", err)
	}
	rep, err := db.VerifyState(ctx, "u1")
	if err != nil || !rep.OK() {
		t.Errorf("the state after the entries: %+v %v", rep, err)
	}
}

// TestSecureAccountFrom: the freeze's reason names where the holder
// pressed, and a press from either place while it lasts is a repeat.
func TestSecureAccountFrom(t *testing.T) {
	ctx := context.Background()
	eng, _, clk := securityEngine(t)
	res, err := eng.SecureAccountFrom(ctx, "u1", user("u1"), "signed out: with a code")
	if err != nil {
		t.Fatal(err)
	}
	if res.Repeat || res.Freeze.Reason != "holder secured the account (signed out: with a code)" || !res.Freeze.EndsAt.Equal(clk.now.Add(7*24*time.Hour)) {
		t.Errorf("the freeze: %+v", res.Freeze)
	}
	clk.now = clk.now.Add(time.Hour)
	again, err := eng.SecureAccount(ctx, "u1", user("u1"))
	if err != nil || !again.Repeat || again.Freeze.ID != res.Freeze.ID {
		t.Errorf("pressed again signed in: %+v %v", again, err)
	}
	if _, err := eng.SecureAccountFrom(ctx, "u1", user("u2"), "signed out"); holdfast.ErrorCode(err) != holdfast.PermissionDenied {
		t.Errorf("another holder: %v, want permission_denied", err)
	}
}
