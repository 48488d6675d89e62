package rpc_test

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
)

// TestWithdrawalAmounts: a withdrawal of an asset that is not USD-pegged
// must say its USD value, and no amount or value is taken that is not a
// positive decimal within the policy's bounds. A refused request records
// nothing, so it cannot count towards the holder's daily total.
func TestWithdrawalAmounts(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	authorize := func(id, asset, amount, usd string) (*holdfastv1.AuthorizeWithdrawalResponse, error) {
		res, err := e.as("check").Decision.AuthorizeWithdrawal(ctx, connect.NewRequest(&holdfastv1.AuthorizeWithdrawalRequest{
			Account: "acct-amt", Id: id, Asset: asset, Amount: amount, UsdValue: usd, Address: "addr-1",
		}))
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	}
	huge := "1" + strings.Repeat("0", 30) // 1e30
	tests := []struct {
		name, asset, amount, usd, field string
	}{
		{"5 BTC without usd_value", "BTC", "5", "", "usd_value"},
		{"an unpriced asset", "SHIB", "100", "", "usd_value"},
		{"1e30 USDT", "USDT", huge, "", "amount"},
		{"1e30 BTC", "BTC", huge, "1000", "amount"},
		{"a USD value of 1e30", "BTC", "1", huge, "usd_value"},
		{"USDT above the USD bound", "USDT", "10000000001", "", "amount"},
		{"zero usd_value", "BTC", "5", "0", "usd_value"},
		{"zero amount", "USDT", "0", "", "amount"},
		{"negative amount", "USDT", "-5", "", "amount"},
		{"negative usd_value", "BTC", "5", "-300000", "usd_value"},
		{"NaN", "USDT", "NaN", "", "amount"},
		{"Inf", "BTC", "1", "Inf", "usd_value"},
		{"exponent", "USDT", "1e30", "", "amount"},
		{"hex", "USDT", "0x10", "", "amount"},
		{"thousands separator", "USDT", "1,000", "", "amount"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := authorize("wd-bad-"+string(rune('a'+i)), tt.asset, tt.amount, tt.usd)
			wantErr(t, err, holdfast.InvalidArgument, tt.field)
		})
	}
	if n := e.history("acct-amt"); n != 0 {
		t.Fatalf("refused withdrawals left %d audit entries", n)
	}
	// A stablecoin needs no price, and nothing refused counts towards the
	// daily total.
	w, err := authorize("wd-ok", "USDT", "100", "")
	if err != nil || w.Outcome != "approve" {
		t.Fatalf("100 USDT without usd_value: %v %v, want approve", w, err)
	}
	w, err = authorize("wd-btc", "BTC", "5", "300000")
	if err != nil || w.Outcome != "review" {
		t.Fatalf("5 BTC worth 300000 USD: %v %v, want review", w, err)
	}
}

// TestDepositAmounts: the same holds for the deposits (and withdrawal
// requests) that rules judge: a missing USD value must not hide a large
// deposit from the above-average rule.
func TestDepositAmounts(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ingest := func(ev *holdfastv1.Event) (*holdfastv1.IngestResult, error) {
		ev.Account = "acct-dep"
		res, err := e.as("events").Event.Ingest(ctx, connect.NewRequest(&holdfastv1.IngestRequest{Event: ev}))
		if err != nil {
			return nil, err
		}
		return res.Msg.Result, nil
	}
	for i := range 3 {
		if _, err := ingest(&holdfastv1.Event{Id: "dep-" + string(rune('a'+i)), Type: "deposit", Asset: "USDT", Amount: "100"}); err != nil {
			t.Fatal(err)
		}
	}
	huge := "1" + strings.Repeat("0", 30)
	for _, tt := range []struct {
		name  string
		ev    *holdfastv1.Event
		field string
	}{
		{"50 BTC without usd_value", &holdfastv1.Event{Type: "deposit", Asset: "BTC", Amount: "50"}, "usd_value"},
		{"a deposit of no stated value", &holdfastv1.Event{Type: "deposit", SourceRisk: "clean"}, "usd_value"},
		{"1e30 USDT", &holdfastv1.Event{Type: "deposit", Asset: "USDT", Amount: huge}, "amount"},
		{"a USD value of 1e30", &holdfastv1.Event{Type: "deposit", Asset: "BTC", Amount: "1", UsdValue: huge}, "usd_value"},
		{"zero usd_value", &holdfastv1.Event{Type: "deposit", Asset: "BTC", Amount: "1", UsdValue: "0"}, "usd_value"},
		{"a withdrawal request without usd_value", &holdfastv1.Event{Type: "withdrawal_requested", Asset: "ETH", Amount: "900", Address: "a1"}, "usd_value"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ingest(tt.ev)
			wantErr(t, err, holdfast.InvalidArgument, tt.field)
		})
	}
	// Priced, the same 50 BTC is far above the average and freezes.
	res, err := ingest(&holdfastv1.Event{Id: "dep-big", Type: "deposit", Asset: "BTC", Amount: "50", UsdValue: "3000000"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != 1 || res.Applied[0].Kind != "withdrawal_freeze" {
		t.Fatalf("a 3,000,000 USD deposit after three of 100 applied %v, want a withdrawal_freeze", res.Applied)
	}
}
