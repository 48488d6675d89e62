package engine_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// BenchmarkSecureAccount measures secure_account on the embedded store
// (synchronous=FULL) from the call to the moment this node's checks deny:
// the account's session, its API key and its withdrawals. Each iteration
// secures a fresh account holding one session and one key.
func BenchmarkSecureAccount(b *testing.B) {
	ctx := context.Background()
	eng, _ := newEngine(b, b.TempDir())
	for i := range b.N {
		acct := fmt.Sprintf("sec-%d", i)
		for _, ev := range []holdfast.Event{
			{Type: holdfast.EventLogin, Account: acct, Device: "d1", Session: "s1"},
			{Type: holdfast.EventAPIKeyCreated, Account: acct, APIKey: "k1", Permissions: []string{"read", "trade"}, IPWhitelist: []string{"10.0.0.1"}},
		} {
			if _, err := eng.Ingest(ctx, ev); err != nil {
				b.Fatal(err)
			}
		}
	}
	lats := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		acct := fmt.Sprintf("sec-%d", i)
		holder := holdfast.Actor{Type: holdfast.ActorUser, ID: acct}
		t0 := time.Now()
		if _, err := eng.SecureAccount(ctx, acct, holder); err != nil {
			b.Fatal(err)
		}
		for _, req := range []holdfast.CheckRequest{
			{Account: acct, Action: holdfast.ActionView, Session: "s1"},
			{Account: acct, Action: holdfast.ActionTrade, APIKey: "k1", IP: "10.0.0.1"},
			{Account: acct, Action: holdfast.ActionWithdraw},
		} {
			if d, err := eng.Check(ctx, req); err != nil || d.Effect != holdfast.Deny {
				b.Fatalf("%+v after secure_account: %v %v", req, d.Effect, err)
			}
		}
		lats = append(lats, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lats)
	b.ReportMetric(float64(lats[len(lats)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkCheckCredentials measures a check that names a session, an API
// key and an IP (the credential index on top of the decision index).
func BenchmarkCheckCredentials(b *testing.B) {
	ctx := context.Background()
	eng, _ := newEngine(b, b.TempDir())
	for _, ev := range []holdfast.Event{
		{Type: holdfast.EventLogin, Account: "u1", Device: "d1", Session: "s1"},
		{Type: holdfast.EventAPIKeyCreated, Account: "u1", APIKey: "k1", Permissions: []string{"read", "trade"}, IPWhitelist: []string{"10.0.0.0/8"}},
	} {
		if _, err := eng.Ingest(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
	req := holdfast.CheckRequest{Account: "u1", Action: holdfast.ActionTrade, Session: "s1", APIKey: "k1", IP: "10.1.2.3"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if d, err := eng.Check(ctx, req); err != nil || d.Effect != holdfast.Allow {
			b.Fatal(d, err)
		}
	}
}
