package main

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"

	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
)

// TestStoreReadFailureIsNotAnAnswer: when a read inside an account's
// transaction fails (here the restrictions table vanishes from under the
// node, as a connection cut mid-transaction did in the partition suite),
// the caller gets the store's failure, never a definite answer drawn from
// the empty view, such as "account has no active withdrawal_freeze".
func TestStoreReadFailureIsNotAnAnswer(t *testing.T) {
	cl := newCluster(t, 1)
	ctx := context.Background()
	// withdrawal_freeze is compliance's to lift.
	if code, out, errw := cli(t, "staff", "add", "--store", cl.dsn, "--id", "cora", "--roles", "compliance"); code != 0 {
		t.Fatalf("staff add: %s %s", out, errw)
	}
	_, tok, _ := cli(t, "token", "create", "--store", cl.dsn, "--scopes", "staff,check", "--staff", "cora")
	c := rpc.NewClients(nil, cl.nodes[0].url, strings.TrimSpace(tok))
	const acct = "storefault-1"
	applied, err := c.Restriction.Apply(ctx, connect.NewRequest(&holdfastv1.ApplyRequest{Account: acct, Kind: "withdrawal_freeze", Duration: "2h", Reason: "store fault"}))
	if err != nil {
		t.Fatal(err)
	}

	db, err := pgx.Connect(ctx, cl.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	rename := func(from, to string) {
		t.Helper()
		if _, err := db.Exec(ctx, "ALTER TABLE "+from+" RENAME TO "+to); err != nil {
			t.Fatal(err)
		}
	}
	rename("restrictions", "restrictions_away")
	restored := false
	defer func() {
		if !restored {
			rename("restrictions_away", "restrictions")
		}
	}()

	for _, w := range []struct {
		name string
		call func() error
	}{
		{"Lift", func() error {
			_, err := c.Restriction.Lift(ctx, connect.NewRequest(&holdfastv1.LiftRequest{Account: acct, Kind: "withdrawal_freeze", Reason: "store fault"}))
			return err
		}},
		{"Extend", func() error {
			_, err := c.Restriction.Extend(ctx, connect.NewRequest(&holdfastv1.ExtendRequest{Account: acct, Kind: "withdrawal_freeze", By: "1h", Reason: "store fault"}))
			return err
		}},
		{"AuthorizeWithdrawal", func() error {
			res, err := c.Decision.AuthorizeWithdrawal(ctx, connect.NewRequest(&holdfastv1.AuthorizeWithdrawalRequest{
				Account: acct, Id: "storefault-w1", Asset: "USDT", Amount: "10", Address: "addr-1"}))
			if err == nil && res.Msg.Outcome != "deny" {
				t.Errorf("AuthorizeWithdrawal with its read failed: %s", res.Msg.Outcome)
			}
			return err
		}},
	} {
		err := w.call()
		if code := connect.CodeOf(err); code != connect.CodeUnavailable && code != connect.CodeInternal {
			t.Errorf("%s with the restrictions unreadable: %v (code %v); want the store's failure (unavailable or internal)", w.name, err, code)
		}
	}

	rename("restrictions_away", "restrictions")
	restored = true
	lifted, err := c.Restriction.Lift(ctx, connect.NewRequest(&holdfastv1.LiftRequest{Account: acct, Kind: "withdrawal_freeze", Reason: "store back"}))
	if err != nil {
		t.Fatalf("Lift once the store is back: %v", err)
	}
	if got, want := lifted.Msg.GetRestriction().GetId(), applied.Msg.GetRestriction().GetId(); got != want {
		t.Errorf("Lift ended %s, want %s", got, want)
	}
}
