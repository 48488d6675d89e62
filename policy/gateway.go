package policy

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/gateway"
)

// gateway checks the `gateway` section: its routes, unmapped verdicts and
// where the account comes from.
func (c *checker) gateway(p *holdfast.Policy) {
	const path = "gateway"
	g := p.Gateway
	for i, r := range g.Routes {
		rp := fmt.Sprintf("%s.routes[%d]", path, i)
		for _, f := range []struct{ name, v string }{{"method", r.Method}, {"path", r.Path}, {"action", string(r.Action)}} {
			if f.v == "" {
				c.errorf(rp+"."+f.name, "%s is required", f.name)
			}
		}
		if r.Method != "" && r.Path != "" {
			if field, err := gateway.CheckRoute(r); err != nil {
				c.errorf(rp+"."+field, "%v", err)
			}
		}
		if r.Action != "" && !r.Action.Valid() {
			c.errorf(rp+".action", "unknown action %q (want %s)", r.Action, list(holdfast.Actions))
		}
	}
	for _, v := range []struct {
		field string
		v     holdfast.GatewayVerdict
	}{{"safe", g.Unmapped.Safe}, {"other", g.Unmapped.Other}} {
		if v.v != "" && v.v != holdfast.GatewayAllow && v.v != holdfast.GatewayDeny {
			c.errorf(path+".unmapped."+v.field, "unknown verdict %q (want allow or deny)", v.v)
		}
	}
	c.gatewayAccount(path+".account", g.Account)
}

func (c *checker) gatewayAccount(path string, a holdfast.GatewayAccount) {
	seen := map[string]string{}
	for _, h := range []struct{ field, v string }{
		{"header", a.Header}, {"api_key_header", a.APIKeyHeader}, {"session_header", a.SessionHeader}, {"device_header", a.DeviceHeader},
	} {
		if h.v == "" {
			continue
		}
		if !headerName(h.v) {
			c.errorf(path+"."+h.field, "%q is not a header name (letters, digits and !#$%%&'*+-.^_`|~)", h.v)
			continue
		}
		k := strings.ToLower(h.v)
		if first, dup := seen[k]; dup {
			c.errorf(path+"."+h.field, "header %s is also %s", h.v, first)
		}
		seen[k] = h.field
	}
	if j := a.JWT; j != nil {
		jp := path + ".jwt"
		switch {
		case j.JWKSURL == "" && j.JWKSFile == "":
			c.errorf(jp, "jwt needs jwks_url or jwks_file, the keys tokens are verified with")
		case j.JWKSURL != "" && j.JWKSFile != "":
			c.errorf(jp+".jwks_file", "give jwks_url or jwks_file, not both")
		case j.JWKSURL != "":
			if why := jwksURL(j.JWKSURL); why != "" {
				c.errorf(jp+".jwks_url", "%s", why)
			}
		}
		if j.Claim != "" && strings.TrimSpace(j.Claim) != j.Claim {
			c.errorf(jp+".claim", "claim %q has spaces around it", j.Claim)
		}
	}
	for i, s := range a.TrustedProxies {
		fp := fmt.Sprintf("%s.trusted_proxies[%d]", path, i)
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			c.errorf(fp, "%q is not a network in CIDR form (10.0.0.0/8, fd00::/8)", s)
			continue
		}
		if pfx.Masked() != pfx {
			c.errorf(fp, "%s has bits set past its prefix; write %s", s, pfx.Masked())
		}
		for j, o := range a.TrustedProxies[:i] {
			if q, err := netip.ParsePrefix(o); err == nil && q.Masked() == pfx.Masked() {
				c.errorf(fp, "%s is listed twice (trusted_proxies[%d])", s, j)
				break
			}
		}
	}
}

// headerName reports whether s is an HTTP field name (an RFC 9110 token).
func headerName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// jwksURL returns why u cannot be a key set's address: it must be https,
// or http only to this machine, since keys fetched in the clear could be
// swapped for an attacker's.
func jwksURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return fmt.Sprintf("%q is not an absolute URL", u)
	}
	switch p.Scheme {
	case "https":
		return ""
	case "http":
		h := p.Hostname()
		if ip, err := netip.ParseAddr(h); h == "localhost" || err == nil && ip.IsLoopback() {
			return ""
		}
	}
	return fmt.Sprintf("%q must be https (http only to localhost)", u)
}

// gatewayDefaults fills the fields of a valid `gateway` section left out.
func gatewayDefaults(g *holdfast.GatewayPolicy) {
	if g.Unmapped.Safe == "" {
		g.Unmapped.Safe = holdfast.GatewayAllow
	}
	if g.Unmapped.Other == "" {
		g.Unmapped.Other = holdfast.GatewayDeny
	}
	if g.Account.Header == "" {
		g.Account.Header = holdfast.DefaultAccountHeader
	}
	if g.Account.APIKeyHeader == "" {
		g.Account.APIKeyHeader = holdfast.DefaultAPIKeyHeader
	}
	if g.Account.JWT != nil && g.Account.JWT.Claim == "" {
		g.Account.JWT.Claim = holdfast.DefaultJWTClaim
	}
}
