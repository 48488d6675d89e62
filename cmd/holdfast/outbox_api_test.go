package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
	"github.com/holdfast/holdfast/sqlite"
)

// TestStaffSeeAndRedriveDeliveries: support lists the outbox over the API,
// sees a command that kept failing as dead, and puts it back in line;
// compliance may not.
func TestStaffSeeAndRedriveDeliveries(t *testing.T) {
	url, dir := server(t)
	ctx := context.Background()
	token := func(id, roles string) string {
		if code, out, errw := cli(t, "staff", "add", "--data", dir, "--id", id, "--roles", roles); code != 0 {
			t.Fatalf("staff add: %s %s", out, errw)
		}
		_, tok, _ := cli(t, "token", "create", "--data", dir, "--scopes", "staff", "--staff", id)
		return strings.TrimSpace(tok)
	}
	sue, bob := rpc.NewClients(nil, url, token("sue", "support")), rpc.NewClients(nil, url, token("bob", "compliance"))
	if _, err := bob.Restriction.Apply(ctx, connect.NewRequest(&holdfastv1.ApplyRequest{Account: "u1", Kind: "reduce_only"})); err != nil {
		t.Fatal(err)
	}

	// Make the restriction_applied command dead, as a receiver that keeps
	// failing would, through a second handle on the same store.
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	services := sqlite.TypeFilter{Types: []holdfast.CommandType{holdfast.CommandNotifyHolder}, Except: true}
	claimed, err := db.ClaimCommandsOf(ctx, services, time.Now(), time.Minute, 10)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	if err := db.FailCommand(ctx, claimed[0].Command.ID, claimed[0].LeaseUntil, time.Now(), "receiver said 500", time.Time{}); err != nil {
		t.Fatal(err)
	}

	res, err := sue.Restriction.ListCommands(ctx, connect.NewRequest(&holdfastv1.ListCommandsRequest{State: "dead"}))
	if err != nil || len(res.Msg.Commands) != 1 {
		t.Fatalf("dead commands: %v %v", res, err)
	}
	c := res.Msg.Commands[0]
	if c.Type != string(holdfast.CommandRestrictionApplied) || c.GetLastError() != "receiver said 500" || c.Attempts != 1 {
		t.Errorf("dead command %+v", c)
	}
	if _, err := bob.Restriction.ListCommands(ctx, connect.NewRequest(&holdfastv1.ListCommandsRequest{})); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("compliance listing deliveries: %v, want permission_denied", err)
	}
	if _, err := sue.Restriction.ListCommands(ctx, connect.NewRequest(&holdfastv1.ListCommandsRequest{State: "lost"})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("unknown state: %v, want invalid_argument", err)
	}
	if _, err := sue.Restriction.RedriveCommand(ctx, connect.NewRequest(&holdfastv1.RedriveCommandRequest{Id: c.Id})); err != nil {
		t.Fatal(err)
	}
	res, err = sue.Restriction.ListCommands(ctx, connect.NewRequest(&holdfastv1.ListCommandsRequest{State: "pending"}))
	if err != nil || !slices.ContainsFunc(res.Msg.Commands, func(p *holdfastv1.OutboxCommand) bool { return p.Id == c.Id }) {
		t.Fatalf("after redrive, pending: %v %v", res, err)
	}
	if _, err := sue.Restriction.RedriveCommand(ctx, connect.NewRequest(&holdfastv1.RedriveCommandRequest{Id: "cmd_nope"})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("redrive of an unknown command: %v, want not_found", err)
	}
}
