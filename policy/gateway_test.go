package policy

import (
	"strings"
	"testing"

	"github.com/holdfast/holdfast"
)

// TestGatewayErrors: each bad gateway field is reported with its path and
// line, as the rest of the policy is.
func TestGatewayErrors(t *testing.T) {
	def := string(DefaultYAML())
	const g = "\ngateway:"
	tests := []struct {
		name                string
		edit                edit
		field, marker, want string
	}{
		{"unknown method", edit{g, "method: POST, path: /api/v1/withdrawals", "method: POTS, path: /api/v1/withdrawals"}, "gateway.routes[4].method", "POTS", `unknown method "POTS"`},
		{"lower-case method", edit{g, "method: POST, path: /api/v1/transfers", "method: post, path: /api/v1/transfers"}, "gateway.routes[5].method", "post, path", "in capitals"},
		{"unknown action", edit{g, "action: withdraw}", "action: withdrawl}"}, "gateway.routes[4].action", "withdrawl", `unknown action "withdrawl"`},
		{"path without /", edit{g, "path: /api/v1/transfers", "path: api/v1/transfers"}, "gateway.routes[5].path", "api/v1/transfers", "must start with /"},
		{"star inside a path", edit{g, "path: /api/v1/p2p/*", "path: /api/*/p2p"}, "gateway.routes[6].path", "/api/*/p2p", "* only at the end"},
		{"dot-dot in a path", edit{g, "path: /api/v1/transfers", "path: /api/v1/../transfers"}, "gateway.routes[5].path", "/api/v1/../transfers", `".." segment`},
		{"bad parameter", edit{g, `path: "/api/v1/orders/{id}"`, `path: "/api/v1/orders/{id"`}, "gateway.routes[1].path", "{id\"", "a parameter is a whole segment"},
		{"route without path", edit{g, "path: /api/v1/transfers, ", ""}, "gateway.routes[5].path", "internal_transfer", "path is required"},
		{"unknown route field", edit{g, "path: /api/v1/transfers", "pth: /api/v1/transfers"}, "gateway.routes[5].pth", "pth:", "unknown field"},
		{"bad verdict", edit{g, "unmapped: {safe: allow, other: deny}", "unmapped: {safe: allow, other: refuse}"}, "gateway.unmapped.other", "unmapped:", `unknown verdict "refuse"`},
		{"bad header", edit{g, "header: X-Account-Id", "header: X Account Id"}, "gateway.account.header", "header: X Account", "not a header name"},
		{"header used twice", edit{g, "device_header: X-Device-Id", "device_header: x-session-id"}, "gateway.account.device_header", "device_header:", "also session_header"},
		{"bad CIDR", edit{g, "[10.0.0.0/8,", "[10.0.0.0/33,"}, "gateway.account.trusted_proxies[0]", "trusted_proxies:", "not a network in CIDR form"},
		{"CIDR with host bits", edit{g, "172.16.0.0/12", "172.16.0.1/12"}, "gateway.account.trusted_proxies[1]", "trusted_proxies:", "write 172.16.0.0/12"},
		{"CIDR twice", edit{g, "192.168.0.0/16", "10.0.0.0/8"}, "gateway.account.trusted_proxies[2]", "trusted_proxies:", "listed twice"},
		{"jwt without keys", edit{g, "    api_key_header:", "    jwt: {claim: sub}\n    api_key_header:"}, "gateway.account.jwt", "jwt:", "jwks_url or jwks_file"},
		{"jwt with both keys", edit{g, "    api_key_header:", "    jwt: {jwks_url: https://idp/keys, jwks_file: /k.json}\n    api_key_header:"}, "gateway.account.jwt.jwks_file", "jwt:", "not both"},
		{"jwt keys in the clear", edit{g, "    api_key_header:", "    jwt: {jwks_url: http://idp.example/keys}\n    api_key_header:"}, "gateway.account.jwt.jwks_url", "jwt:", "must be https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := tt.edit.apply(t, def)
			_, err := Parse([]byte(text))
			wantLineError(t, err, text, tt.edit.anchor, tt.marker, tt.field, tt.want)
		})
	}
}

// TestGatewayDefaults: a stored version without a gateway section (one
// written before it existed) maps nothing, lets safe methods through,
// refuses the rest and reads the default headers.
func TestGatewayDefaults(t *testing.T) {
	def := string(DefaultYAML())
	start := strings.Index(def, "\ngateway:")
	end := strings.Index(def, "\n# Triggers.")
	p, err := ParseVersion([]byte(def[:start+1] + def[end+1:]))
	if err != nil {
		t.Fatal(err)
	}
	g := p.Gateway
	if len(g.Routes) != 0 || g.Unmapped.Safe != holdfast.GatewayAllow || g.Unmapped.Other != holdfast.GatewayDeny ||
		g.Account.Header != "X-Account-Id" || g.Account.APIKeyHeader != "X-Api-Key" || g.Account.JWT != nil {
		t.Fatalf("gateway defaults: %+v", g)
	}
	p, err = Parse([]byte(strings.Replace(def, "    api_key_header:", "    jwt: {jwks_file: /etc/holdfast/jwks.json}\n    api_key_header:", 1)))
	if err != nil || p.Gateway.Account.JWT.Claim != "sub" {
		t.Fatalf("jwt claim default: %v %+v", err, p.Gateway.Account.JWT)
	}
}
