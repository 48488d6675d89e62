package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// gatewayServer starts the real binary with an admin token (every scope)
// and a gateway token (scope check only); extra flags go to serve.
func gatewayServer(t *testing.T, extra ...string) (n *node, admin, gw string) {
	t.Helper()
	bin := buildHoldfast(t)
	data := t.TempDir()
	cli(t, "staff", "add", "--data", data, "--id", "admin", "--roles", "admin,compliance")
	_, admin, _ = cli(t, "token", "create", "--data", data, "--scopes", "staff,check,self_service,events", "--staff", "admin")
	_, gw, _ = cli(t, "token", "create", "--data", data, "--scopes", "check")
	addr := freePort(t)
	n = &node{t: t, url: "http://" + addr, args: append([]string{bin, "serve", "--addr", addr, "--data", data, "--log-level", "error"}, extra...)}
	n.start()
	t.Cleanup(n.kill)
	return n, strings.TrimSpace(admin), strings.TrimSpace(gw)
}

// staffCLI runs a CLI command against n as admin and fails the test on error.
func staffCLI(t *testing.T, n *node, admin string, args ...string) {
	t.Helper()
	args = append(args, "--server", n.url, "--token", admin)
	if code, out, errw := cli(t, args...); code != 0 {
		t.Fatalf("%s: exit %d\n%s%s", strings.Join(args[:len(args)-4], " "), code, out, errw)
	}
}

type authReply struct {
	status int
	header http.Header
	body   string
}

// forwardAuth asks n's /gateway/auth as nginx does, with the gateway's
// token in X-Holdfast-Authorization (when gw is set) and headers.
func forwardAuth(t *testing.T, n *node, gw, method, uri string, headers ...string) authReply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, n.url+"/gateway/auth", nil)
	if err != nil {
		t.Fatal(err)
	}
	if gw != "" {
		req.Header.Set("X-Holdfast-Authorization", "Bearer "+gw)
	}
	if method != "" {
		req.Header.Set("X-Original-Method", method)
	}
	if uri != "" {
		req.Header.Set("X-Original-URI", uri)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return authReply{res.StatusCode, res.Header, string(b)}
}

// TestGatewayForwardAuth asks /gateway/auth what nginx, Traefik and Caddy
// ask, on a real server with real restrictions.
func TestGatewayForwardAuth(t *testing.T) {
	n, admin, gw := gatewayServer(t)
	staffCLI(t, n, admin, "panic-lock", "--account", "acct-panic", "--duration", "24h")
	staffCLI(t, n, admin, "apply", "--account", "acct-le", "--kind", "law_enforcement_hold", "--reason", "court order 7", "--reference", "LE-2026-7")
	staffCLI(t, n, admin, "apply", "--account", "acct-frozen", "--kind", "withdrawal_freeze", "--reason", "flagged deposit")

	tests := []struct {
		name          string
		gw            string
		method, uri   string
		headers       []string
		status        int
		effect        string // X-Holdfast-Effect
		body          string // substring of the body
		retryAfter    bool
		traefikStyled bool // X-Forwarded-Method/Uri instead of X-Original-*
	}{
		{name: "panic lock stops a withdrawal", gw: gw, method: "POST", uri: "/api/v1/withdrawals", headers: []string{"X-Account-Id", "acct-panic"},
			status: 403, effect: "deny", body: `"effect":"deny"`, retryAfter: true},
		{name: "panic lock leaves orders open", gw: gw, method: "POST", uri: "/api/v1/orders", headers: []string{"X-Account-Id", "acct-panic"},
			status: 200, effect: "allow"},
		{name: "an order with a query string", gw: gw, method: "POST", uri: "/api/v1/orders/batch?symbol=BTCUSDT", headers: []string{"X-Account-Id", "acct-panic"},
			status: 200, effect: "allow"},
		{name: "Traefik's headers", gw: gw, method: "POST", uri: "/api/v1/withdrawals", headers: []string{"X-Account-Id", "acct-panic"},
			status: 403, effect: "deny", traefikStyled: true},
		{name: "an unrestricted account withdraws", gw: gw, method: "POST", uri: "/api/v1/withdrawals", headers: []string{"X-Account-Id", "acct-free"},
			status: 200, effect: "allow"},
		{name: "a withdrawal freeze", gw: gw, method: "POST", uri: "/api/v1/withdrawals", headers: []string{"X-Account-Id", "acct-frozen"},
			status: 403, effect: "deny", body: "withdrawal_freeze"},
		{name: "a law-enforcement hold shows only the generic cause", gw: gw, method: "POST", uri: "/api/v1/withdrawals", headers: []string{"X-Account-Id", "acct-le"},
			status: 403, effect: "deny", body: `"effect":"deny"`},
		{name: "no account on a mapped route", gw: gw, method: "POST", uri: "/api/v1/withdrawals",
			status: 401, effect: "deny", body: `"field":"account"`},
		{name: "an account header that is no id", gw: gw, method: "POST", uri: "/api/v1/withdrawals", headers: []string{"X-Account-Id", strings.Repeat("a", 300)},
			status: 401, body: `"code":"unauthenticated"`},
		{name: "an unmapped write", gw: gw, method: "POST", uri: "/api/v2/withdrawals", headers: []string{"X-Account-Id", "acct-free"},
			status: 403, effect: "deny", body: `"code":"permission_denied"`},
		{name: "an unmapped read needs no account", gw: gw, method: "GET", uri: "/public/ticker",
			status: 200, effect: "allow"},
		{name: "a dot-dot path", gw: gw, method: "POST", uri: "/api/v1/orders/../withdrawals", headers: []string{"X-Account-Id", "acct-panic"},
			status: 403, effect: "deny", body: `"code":"invalid_argument"`},
		{name: "a double-encoded path", gw: gw, method: "POST", uri: "/api/v1/%2577ithdrawals", headers: []string{"X-Account-Id", "acct-panic"},
			status: 403, effect: "deny", body: `"field":"uri"`},
		{name: "a URI that is no path", gw: gw, method: "POST", uri: "http://evil/api/v1/withdrawals", headers: []string{"X-Account-Id", "acct-panic"},
			status: 403, body: `"field":"uri"`},
		{name: "no original URI", gw: gw, method: "POST", headers: []string{"X-Account-Id", "acct-panic"},
			status: 403, body: `"field":"uri"`},
		{name: "a huge device header", gw: gw, method: "POST", uri: "/api/v1/withdrawals", headers: []string{"X-Account-Id", "acct-free", "X-Device-Id", strings.Repeat("d", 10000)},
			status: 403, body: `"field":"X-Device-Id"`},
		{name: "a forged client address", gw: gw, method: "POST", uri: "/api/v1/withdrawals", headers: []string{"X-Account-Id", "acct-free", "X-Forwarded-For", "not-an-ip, 10.0.0.1"},
			status: 200, effect: "allow"},
		{name: "the two header pairs disagree on the URI", gw: gw, method: "POST", uri: "/api/v1/orders", headers: []string{"X-Account-Id", "acct-panic", "X-Forwarded-Method", "POST", "X-Forwarded-Uri", "/api/v1/withdrawals"},
			status: 403, effect: "deny", body: `"field":"uri"`},
		{name: "the two header pairs disagree on the method", gw: gw, method: "GET", uri: "/api/v1/withdrawals", headers: []string{"X-Account-Id", "acct-panic", "X-Forwarded-Method", "POST", "X-Forwarded-Uri", "/api/v1/withdrawals"},
			status: 403, effect: "deny", body: `"field":"method"`},
		{name: "the two header pairs agree", gw: gw, method: "POST", uri: "/api/v1/orders", headers: []string{"X-Account-Id", "acct-panic", "X-Forwarded-Method", "POST", "X-Forwarded-Uri", "/api/v1/orders"},
			status: 200, effect: "allow"},
		{name: "no gateway token", method: "POST", uri: "/api/v1/orders", headers: []string{"X-Account-Id", "acct-free"},
			status: 401, body: `"field":"authorization"`},
		{name: "a wrong gateway token", gw: "hf_" + strings.Repeat("x", 43), method: "POST", uri: "/api/v1/orders", headers: []string{"X-Account-Id", "acct-free"},
			status: 401},
		{name: "a staff-only token", gw: admin, method: "POST", uri: "/api/v1/orders", headers: []string{"X-Account-Id", "acct-free"},
			status: 200, effect: "allow"}, // the admin token carries check too
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, uri := tt.method, tt.uri
			headers := tt.headers
			if tt.traefikStyled {
				headers = append(headers, "X-Forwarded-Method", method, "X-Forwarded-Uri", uri)
				method, uri = "", ""
			}
			r := forwardAuth(t, n, tt.gw, method, uri, headers...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.effect != "" && r.header.Get("X-Holdfast-Effect") != tt.effect {
				t.Errorf("X-Holdfast-Effect %q, want %q", r.header.Get("X-Holdfast-Effect"), tt.effect)
			}
			if !strings.Contains(r.body, tt.body) {
				t.Errorf("body %s lacks %s", r.body, tt.body)
			}
			ra := r.header.Get("Retry-After")
			if s, err := strconv.Atoi(ra); tt.retryAfter && (err != nil || s < 23*3600 || s > 24*3600) {
				t.Errorf("Retry-After %q, want the lock's remaining ~24h in seconds", ra)
			} else if !tt.retryAfter && ra != "" && r.status != 403 {
				t.Errorf("Retry-After %q on a %d", ra, r.status)
			}
			for _, secret := range []string{"law_enforcement", "LE-2026-7", "court order"} {
				if strings.Contains(r.body, secret) {
					t.Errorf("the body discloses %q: %s", secret, r.body)
				}
			}
		})
	}

	// Lifting the freeze opens withdrawals within the feed (one node: at once).
	staffCLI(t, n, admin, "lift", "--account", "acct-frozen", "--kind", "withdrawal_freeze", "--reason", "cleared")
	if r := forwardAuth(t, n, gw, "POST", "/api/v1/withdrawals", "X-Account-Id", "acct-frozen"); r.status != 200 {
		t.Fatalf("after the lift: %d %s", r.status, r.body)
	}

	// Every answer is counted by route and effect.
	res, err := http.Get(n.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{
		`holdfast_gateway_decisions_total{effect="deny",route="POST /api/v1/withdrawals"} 4`,
		`holdfast_gateway_decisions_total{effect="unauthenticated",route="POST /api/v1/withdrawals"} 2`,
		`holdfast_gateway_decisions_total{effect="refused",route="unmapped"} 7`,
		`holdfast_gateway_duration_seconds_count{transport="forward_auth"}`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(string(b), "} 0\n", "holdfast_gateway_decisions"))
		}
	}
}

// TestGatewayJWT: with a key set in the policy the account comes from a
// verified bearer token, and every bad token is a 401 with its reason.
func TestGatewayJWT(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dir := t.TempDir()
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	jwksFile := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwksFile, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	_, def, _ := cli(t, "policy", "show")
	withJWT := strings.Replace(def, "    header: X-Account-Id\n",
		"    header: X-Account-Id\n    jwt: {jwks_file: "+jwksFile+", claim: uid, issuer: https://auth.example, audience: exchange-api}\n", 1)
	if withJWT == def {
		t.Fatal("policy show has no account header line to add the key set under")
	}
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(withJWT), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errw := cli(t, "policy", "validate", policyFile); code != 0 {
		t.Fatalf("policy validate: %s%s", out, errw)
	}
	n, admin, gw := gatewayServer(t, "--policy", policyFile)
	staffCLI(t, n, admin, "panic-lock", "--account", "acct-jwt", "--duration", "24h")

	sign := func(k *ecdsa.PrivateKey, claims map[string]any) string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jwt.Signed(s).Claims(claims).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	now := time.Now()
	good := map[string]any{"uid": "acct-jwt", "iss": "https://auth.example", "aud": "exchange-api", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
	with := func(k string, v any) map[string]any {
		c := map[string]any{}
		for kk, vv := range good {
			c[kk] = vv
		}
		c[k] = v
		return c
	}
	b64 := base64.RawURLEncoding.EncodeToString
	payload, _ := json.Marshal(good)
	algNone := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64(payload) + "."

	tests := []struct {
		name, authorization string
		headers             []string
		status              int
		body                string
	}{
		{"a good token on a locked account", "Bearer " + sign(key, good), nil, 403, `"effect":"deny"`},
		{"the header is ignored beside a token", "Bearer " + sign(key, with("uid", "acct-free")), []string{"X-Account-Id", "acct-jwt"}, 200, ""},
		{"the header alone is not enough", "", []string{"X-Account-Id", "acct-free"}, 401, "no bearer token"},
		{"a bad signature", "Bearer " + sign(other, good), nil, 401, "refused"},
		{"alg none", "Bearer " + algNone, nil, 401, "refused"},
		{"expired", "Bearer " + sign(key, with("exp", now.Add(-time.Minute).Unix())), nil, 401, "expired"},
		{"another audience", "Bearer " + sign(key, with("aud", "someone-else")), nil, 401, "refused"},
		{"another issuer", "Bearer " + sign(key, with("iss", "https://evil.example")), nil, 401, "refused"},
		{"no account claim", "Bearer " + sign(key, with("uid", 42)), nil, 401, `no \"uid\" claim`},
		{"garbage", "Bearer not.a.jwt", nil, 401, "refused"},
		{"a huge token", "Bearer " + strings.Repeat("a", 9000), nil, 401, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.headers
			if tt.authorization != "" {
				h = append(h, "Authorization", tt.authorization)
			}
			r := forwardAuth(t, n, gw, "POST", "/api/v1/withdrawals", h...)
			if r.status != tt.status || !strings.Contains(r.body, tt.body) {
				t.Fatalf("got %d %s, want %d with %s", r.status, r.body, tt.status, tt.body)
			}
		})
	}
}

// TestGatewayExtAuthz sends the CheckRequests Envoy sends, with grpc-go
// and the go-control-plane types, to a real server.
func TestGatewayExtAuthz(t *testing.T) {
	n, admin, gw := gatewayServer(t)
	staffCLI(t, n, admin, "panic-lock", "--account", "acct-panic", "--duration", "24h")
	staffCLI(t, n, admin, "apply", "--account", "acct-le", "--kind", "law_enforcement_hold", "--reason", "court order 7", "--reference", "LE-2026-7")

	conn, err := grpc.NewClient(strings.TrimPrefix(n.url, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := authv3.NewAuthorizationClient(conn)
	envoy := func(method, path string, headers map[string]string) *authv3.CheckRequest {
		h := map[string]string{":authority": "api.exchange.example", ":method": method, ":path": path, ":scheme": "https",
			"user-agent": "curl/8", "x-request-id": "7f2c", "x-forwarded-proto": "https"}
		for k, v := range headers {
			h[k] = v
		}
		return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
				SocketAddress: &corev3.SocketAddress{Address: "203.0.113.9", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 51234}}}}},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Id: "7f2c", Method: method, Path: path, Host: "api.exchange.example", Scheme: "https", Protocol: "HTTP/1.1", Headers: h,
			}},
		}}
	}
	call := func(gwToken string, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if gwToken != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+gwToken)
		}
		return client.Check(ctx, req)
	}
	tests := []struct {
		name         string
		req          *authv3.CheckRequest
		code         codes.Code
		httpStatus   int // of the denied response; 0 when allowed
		body, header string
	}{
		{"panic lock stops a withdrawal", envoy("POST", "/api/v1/withdrawals", map[string]string{"x-account-id": "acct-panic"}), codes.PermissionDenied, 403, `"effect":"deny"`, "retry-after"},
		{"orders stay open", envoy("POST", "/api/v1/orders", map[string]string{"x-account-id": "acct-panic"}), codes.OK, 0, "", "x-holdfast-action"},
		{"no account", envoy("POST", "/api/v1/withdrawals", nil), codes.Unauthenticated, 401, `"field":"account"`, ""},
		{"law-enforcement hold", envoy("POST", "/api/v1/withdrawals", map[string]string{"x-account-id": "acct-le"}), codes.PermissionDenied, 403, `"effect":"deny"`, ""},
		{"a dot-dot path", envoy("POST", "/api/v1/orders/../withdrawals", map[string]string{"x-account-id": "acct-panic"}), codes.InvalidArgument, 400, `"field":"uri"`, ""},
		{"an unmapped write", envoy("PATCH", "/api/v1/withdrawals", map[string]string{"x-account-id": "acct-free"}), codes.PermissionDenied, 403, `"code":"permission_denied"`, ""},
		{"a huge header", envoy("POST", "/api/v1/orders", map[string]string{"x-account-id": "acct-free", "x-session-id": strings.Repeat("s", 20000)}), codes.InvalidArgument, 400, `"field":"X-Session-Id"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := call(gw, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := codes.Code(res.GetStatus().GetCode()); got != tt.code {
				t.Fatalf("status %s, want %s: %v", got, tt.code, res)
			}
			var headers []*corev3.HeaderValueOption
			if tt.httpStatus == 0 {
				if res.GetOkResponse() == nil {
					t.Fatalf("no ok_response: %v", res)
				}
				headers = res.GetOkResponse().GetHeaders()
			} else {
				d := res.GetDeniedResponse()
				if int(d.GetStatus().GetCode()) != tt.httpStatus || !strings.Contains(d.GetBody(), tt.body) {
					t.Fatalf("denied %d %s, want %d with %s", d.GetStatus().GetCode(), d.GetBody(), tt.httpStatus, tt.body)
				}
				for _, secret := range []string{"law_enforcement", "LE-2026-7", "court order"} {
					if strings.Contains(d.GetBody(), secret) {
						t.Errorf("the body discloses %q: %s", secret, d.GetBody())
					}
				}
				headers = d.GetHeaders()
			}
			if tt.header != "" && !hasHeader(headers, tt.header) {
				t.Errorf("no %s header in %v", tt.header, headers)
			}
		})
	}

	// The gateway's own token: none, or one without the check scope.
	if _, err := call("", envoy("POST", "/api/v1/orders", map[string]string{"x-account-id": "acct-free"})); status.Code(err) != codes.Unauthenticated {
		t.Errorf("no token: %v, want Unauthenticated", err)
	}
	_, selfService, _ := cli(t, "token", "create", "--server", n.url, "--token", admin, "--scopes", "self_service")
	if s := strings.TrimSpace(selfService); s != "" {
		if _, err := call(s, envoy("POST", "/api/v1/orders", map[string]string{"x-account-id": "acct-free"})); status.Code(err) != codes.PermissionDenied {
			t.Errorf("a self_service token: %v, want PermissionDenied", err)
		}
	}
}

func hasHeader(hs []*corev3.HeaderValueOption, key string) bool {
	for _, h := range hs {
		if strings.EqualFold(h.GetHeader().GetKey(), key) {
			return true
		}
	}
	return false
}

// grepLines returns the lines of s holding sub and not ending in skip.
func grepLines(s, skip, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && !strings.HasSuffix(l+"\n", skip) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
