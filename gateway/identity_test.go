package gateway_test

import (
	"context"
	"net/http"
	"net/netip"
	"testing"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/gateway"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/sqlite"
)

// TestClientIP: X-Forwarded-For is believed only as far back as the
// trusted proxies (the default policy's private networks) wrote it.
func TestClientIP(t *testing.T) {
	a, err := gateway.NewAuthorizer(context.Background(), policy.Default().Gateway, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, xff, peer, want string
	}{
		{"no header, no peer", "", "", ""},
		{"a public peer is the client, whatever it claims", "198.51.100.7", "203.0.113.9", "203.0.113.9"},
		{"a trusted peer passes on its header", "198.51.100.7", "10.1.2.3", "198.51.100.7"},
		{"the client's own entries before the proxy's are not believed", "1.1.1.1, 198.51.100.7, 10.0.0.5", "10.1.2.3", "198.51.100.7"},
		{"only proxies: the first is the client", "10.0.0.9, 10.0.0.5", "10.1.2.3", "10.0.0.9"},
		{"no peer (forward-auth): the header alone", "1.1.1.1, 198.51.100.7", "", "198.51.100.7"},
		{"IPv6 and spaces", " 2001:db8::1 ,fd00::2", "", "2001:db8::1"},
		{"an entry that is no address ends the walk unknown", "198.51.100.7, bogus, 10.0.0.5", "", ""},
		{"IPv4-mapped IPv6 is unmapped", "::ffff:198.51.100.7", "", "198.51.100.7"},
		{"empty entries are skipped", "198.51.100.7,,", "10.0.0.1", "198.51.100.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.xff != "" {
				h.Set("X-Forwarded-For", tt.xff)
			}
			h.Set("X-Account-Id", "acct-1")
			var peer netip.Addr
			if tt.peer != "" {
				peer = netip.MustParseAddr(tt.peer)
			}
			id, err := a.Identify(context.Background(), gateway.Request{Method: "POST", URI: "/x", Headers: h, Peer: peer})
			if err != nil {
				t.Fatal(err)
			}
			if id.IP != tt.want {
				t.Errorf("client %q, want %q", id.IP, tt.want)
			}
		})
	}
}

// TestIdentifyHeaders: the account, API key, session and device come from
// the headers the policy names, in any case; no account is unauthenticated.
func TestIdentifyHeaders(t *testing.T) {
	g := policy.Default().Gateway
	a, err := gateway.NewAuthorizer(context.Background(), g, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.Identify(context.Background(), gateway.Request{Headers: gateway.LowerHeaders{
		"x-account-id": "acct-9", "x-api-key": "key-1", "x-session-id": "ses-1", "x-device-id": "dev-1",
	}})
	if err != nil || id != (gateway.Identity{Account: "acct-9", APIKey: "key-1", Session: "ses-1", Device: "dev-1"}) {
		t.Fatalf("%+v %v", id, err)
	}
	_, err = a.Identify(context.Background(), gateway.Request{Headers: gateway.LowerHeaders{"x-api-key": "key-1"}})
	if holdfast.ErrorCode(err) != holdfast.Unauthenticated || holdfast.ErrorField(err) != "account" {
		t.Fatalf("no account: %v", err)
	}
}

// BenchmarkAuthorize: one gateway question (Envoy's header map, a mapped
// route, an account with a restriction) answered by a real engine on a
// SQLite store, without the transport.
func BenchmarkAuthorize(b *testing.B) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	eng, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default(), Clock: holdfast.WallClock{}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := eng.Apply(ctx, holdfast.ApplyRequest{Account: "acct-1", Kind: holdfast.KindWithdrawalFreeze, Reason: "bench", Actor: holdfast.Staff("ops", holdfast.RoleCompliance)}); err != nil {
		b.Fatal(err)
	}
	a, err := gateway.NewAuthorizer(ctx, policy.Default().Gateway, eng, nil)
	if err != nil {
		b.Fatal(err)
	}
	reqs := []gateway.Request{
		{Method: "POST", URI: "/api/v1/withdrawals", Headers: gateway.LowerHeaders{":authority": "api.example", "x-account-id": "acct-1", "x-forwarded-for": "198.51.100.7", "user-agent": "bench"}},
		{Method: "POST", URI: "/api/v1/orders?symbol=BTCUSDT", Headers: gateway.LowerHeaders{":authority": "api.example", "x-account-id": "acct-2", "x-forwarded-for": "198.51.100.7", "user-agent": "bench"}},
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := a.Authorize(ctx, reqs[i%2]); err != nil {
			b.Fatal(err)
		}
	}
}
