package gateway_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/gateway"
	"github.com/holdfast/holdfast/policy"
)

func defaultTable(t testing.TB) *gateway.Table {
	t.Helper()
	tb, err := gateway.Compile(policy.Default().Gateway)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestMatchDefaultTable(t *testing.T) {
	tb := defaultTable(t)
	tests := []struct {
		method, path string
		action       holdfast.Action // "" for unmapped
		verdict      holdfast.GatewayVerdict
	}{
		{"POST", "/api/v1/orders", holdfast.ActionTrade, ""},
		{"POST", "/api/v1/orders/batch", holdfast.ActionTrade, ""},
		{"PUT", "/api/v1/orders/123", holdfast.ActionTrade, ""},
		{"PUT", "/api/v1/orders", "", holdfast.GatewayDeny},
		{"PUT", "/api/v1/orders/1/2", "", holdfast.GatewayDeny},
		{"DELETE", "/api/v1/orders/123", holdfast.ActionReducePosition, ""},
		{"POST", "/api/v1/positions/BTC-PERP/close", holdfast.ActionReducePosition, ""},
		{"POST", "/api/v1/withdrawals", holdfast.ActionWithdraw, ""},
		{"POST", "/api/v1/withdrawals/", holdfast.ActionWithdraw, ""},
		{"POST", "/api/v1/withdrawals?x=1", holdfast.ActionWithdraw, ""},
		{"post", "/api/v1/withdrawals", holdfast.ActionWithdraw, ""},
		{"POST", "/API/V1/Withdrawals", holdfast.ActionWithdraw, ""},
		{"POST", "//api//v1///withdrawals", holdfast.ActionWithdraw, ""},
		{"POST", "/api/v1/./withdrawals", holdfast.ActionWithdraw, ""},
		{"POST", "/api/v1%2Fwithdrawals", holdfast.ActionWithdraw, ""},
		{"POST", "/api/v1/%77ithdrawals", holdfast.ActionWithdraw, ""},
		{"POST", "/api/v1/withdrawals/123", "", holdfast.GatewayDeny},
		{"POST", "/api/v1/transfers", holdfast.ActionInternalTransfer, ""},
		{"POST", "/api/v1/p2p/offers", holdfast.ActionP2PTrade, ""},
		{"POST", "/api/v1/p2p", "", holdfast.GatewayDeny},
		{"POST", "/api/v1/withdrawal-addresses", holdfast.ActionAddWithdrawalAddress, ""},
		{"POST", "/api/v1/api-keys", holdfast.ActionCreateAPIKey, ""},
		{"PATCH", "/api/v1/security/2fa", holdfast.ActionChangeSecuritySettings, ""},
		{"GET", "/api/v1/balances", holdfast.ActionView, ""},
		{"GET", "/api/v1/withdrawals", holdfast.ActionView, ""},
		{"GET", "/health", "", holdfast.GatewayAllow},
		{"HEAD", "/api/v2/x", "", holdfast.GatewayAllow},
		{"get", "/health", "", holdfast.GatewayDeny}, // not a safe method as spelt
		{"POST", "/api/v2/withdrawals", "", holdfast.GatewayDeny},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			d := tb.Decide(tt.method, tt.path)
			if d.Refused != nil {
				t.Fatalf("refused: %v", d.Refused)
			}
			if d.Action != tt.action || d.Mapped != (tt.action != "") || d.Verdict != tt.verdict {
				t.Fatalf("got %+v; want action %q verdict %q", d, tt.action, tt.verdict)
			}
			_, a, ok := tb.Match(tt.method, tt.path)
			if a != tt.action || ok != d.Mapped {
				t.Fatalf("Match = %q, %v; Decide = %+v", a, ok, d)
			}
		})
	}
}

// A path that could mean something else behind the gateway is refused,
// and denied whatever the method: /api/v1/withdrawals/../orders must not
// be read as an order, nor a GET.
func TestRefusedPaths(t *testing.T) {
	tb := defaultTable(t)
	for path, want := range map[string]error{
		"/api/v1/withdrawals/../orders":     gateway.ErrPathDotDot,
		"/api/v1/withdrawals/%2e%2e/orders": gateway.ErrPathDotDot,
		"/api/v1/withdrawals/%2E%2E":        gateway.ErrPathDotDot,
		"/api/v1/x/..":                      gateway.ErrPathDotDot,
		"/..":                               gateway.ErrPathDotDot,
		"/api/v1/%252e%252e/withdrawals":    gateway.ErrPathEncoding,
		"/api/v1/with%":                     gateway.ErrPathEncoding,
		"/api/v1/with%4":                    gateway.ErrPathEncoding,
		"/api/v1/with%zz":                   gateway.ErrPathEncoding,
		"/api/v1\\withdrawals":              gateway.ErrPathChar,
		"/api/v1/%5cwithdrawals":            gateway.ErrPathChar,
		"/api/v1/with%00drawals":            gateway.ErrPathChar,
		// Servlet containers strip ";params" from a segment: the server
		// behind would read a withdrawal where the table sees no route.
		"/api/v1/withdrawals;jsessionid=1": gateway.ErrPathChar,
		"/api/v1/withdrawals%3Bx":          gateway.ErrPathChar,
		"api/v1/withdrawals":               gateway.ErrPathEmpty,
		"":                                 gateway.ErrPathEmpty,
		"*":                                gateway.ErrPathEmpty,
		"/" + strings.Repeat("a", 9000):    gateway.ErrPathTooLong,
	} {
		for _, m := range []string{"GET", "POST"} {
			d := tb.Decide(m, path)
			if !errors.Is(d.Refused, want) || d.Verdict != holdfast.GatewayDeny || d.Mapped {
				t.Errorf("%s %.40q: %+v; want refused with %v", m, path, d, want)
			}
		}
	}
}

func TestClean(t *testing.T) {
	for raw, want := range map[string]string{
		"/":                     "/",
		"//":                    "/",
		"/a/./b/":               "/a/b",
		"/a/.hidden":            "/a/.hidden",
		"/a/...":                "/a/...",
		"/a%20b":                "/a b",
		"/api/v1/orders?id=1#x": "/api/v1/orders",
	} {
		if got, err := gateway.Clean(raw); got != want || err != nil {
			t.Errorf("Clean(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
}

func TestPatterns(t *testing.T) {
	routes := []holdfast.GatewayRoute{
		{Method: "*", Path: "/", Action: holdfast.ActionView},
		{Method: "GET", Path: "/a/{id}/b", Action: holdfast.ActionView},
		{Method: "GET", Path: "/a/{id}/*", Action: holdfast.ActionTrade},
		{Method: "POST", Path: "/*", Action: holdfast.ActionWithdraw},
	}
	tb, err := gateway.Compile(holdfast.GatewayPolicy{Routes: routes})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		method, path string
		index        int
	}{
		{"DELETE", "/", 0},
		{"GET", "/a/1/b", 1},
		{"GET", "/a/1/b/c", 2},
		{"GET", "/a/1/c", 2},
		{"GET", "/a/1", -1},
		{"GET", "/a", -1},
		{"POST", "/anything/at/all", 3},
		{"POST", "/", 0},
	} {
		r, _, _ := tb.Match(tt.method, tt.path)
		if r.Index != tt.index {
			t.Errorf("%s %s matched route %d; want %d", tt.method, tt.path, r.Index, tt.index)
		}
	}
	for _, bad := range []holdfast.GatewayRoute{
		{Method: "GETS", Path: "/a"},
		{Method: "get", Path: "/a"},
		{Method: "GET", Path: "a"},
		{Method: "GET", Path: "/a//b"},
		{Method: "GET", Path: "/a/"},
		{Method: "GET", Path: "/a/../b"},
		{Method: "GET", Path: "/a*/b"},
		{Method: "GET", Path: "/a/{id"},
		{Method: "GET", Path: "/a/x{id}"},
		{Method: "GET", Path: "/a/{}"},
		{Method: "GET", Path: "/a/{id}*"},
		{Method: "GET", Path: "/a%2fb"},
		{Method: "GET", Path: "/a?b"},
	} {
		if _, err := gateway.CheckRoute(bad); err == nil {
			t.Errorf("CheckRoute(%+v) accepted", bad)
		}
	}
}

// FuzzDecide: no path panics, and whatever a path decodes to, Decide
// never maps it more leniently than its cleaned form would: a path that
// reaches a route is the same request as its clean path.
func FuzzDecide(f *testing.F) {
	for _, s := range []string{"/api/v1/withdrawals", "/api/v1/withdrawals/../orders", "//a//b/", "/%2e%2e/", "/%", "/a%2F..%2Fb", "/" + strings.Repeat("a/", 5000), "/\x00", "/é/%C3%A9"} {
		f.Add("POST", s)
	}
	tb := defaultTable(f)
	f.Fuzz(func(t *testing.T, method, path string) {
		d := tb.Decide(method, path)
		if d.Refused != nil {
			if d.Verdict != holdfast.GatewayDeny || d.Mapped {
				t.Fatalf("refused but %+v", d)
			}
			return
		}
		if strings.Contains(d.Path, "/../") || strings.HasSuffix(d.Path, "/..") || strings.Contains(d.Path, "//") {
			t.Fatalf("cleaned path %q still has .. or //", d.Path)
		}
		again := tb.Decide(method, d.Path)
		if again.Path != d.Path || again.Action != d.Action || again.Verdict != d.Verdict {
			t.Fatalf("%q decides %+v but its clean form %q decides %+v", path, d, d.Path, again)
		}
	})
}

func BenchmarkMatchDefault(b *testing.B) {
	tb := defaultTable(b)
	reqs := []struct{ method, path string }{
		{"POST", "/api/v1/orders"},
		{"DELETE", "/api/v1/orders/12345"},
		{"POST", "/api/v1/withdrawals"},
		{"GET", "/api/v1/balances"},
		{"POST", "/api/v2/unmapped"},
		{"GET", "/api/v1/markets/BTC-USDT/trades?limit=100"},
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r := reqs[i%len(reqs)]
		tb.Match(r.method, r.path)
	}
}

// BenchmarkMatchUnclean: paths that need decoding or cleaning take the
// slow path, which copies.
func BenchmarkMatchUnclean(b *testing.B) {
	tb := defaultTable(b)
	paths := []string{"/api/v1//withdrawals/", "/api/v1/%6Frders/42", "/api/v1/./balances"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		tb.Match("POST", paths[i%len(paths)])
	}
}
