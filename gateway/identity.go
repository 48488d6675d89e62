package gateway

import (
	"net/netip"
	"strings"

	"github.com/holdfast/holdfast"
)

// Headers reads a request's headers by name, ignoring case: http.Header
// does, and so does LowerHeaders for the lower-cased maps Envoy sends.
type Headers interface {
	Get(name string) string
}

// LowerHeaders are headers keyed by lower-case name, as HTTP/2 and Envoy's
// ext_authz carry them.
type LowerHeaders map[string]string

// Get returns the header name, whatever its case. Lower-casing a name
// of up to 64 bytes (every policy header name) allocates nothing.
func (h LowerHeaders) Get(name string) string {
	if len(name) > 64 {
		return h[strings.ToLower(name)]
	}
	var buf [64]byte
	b := buf[:len(name)]
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return h[string(b)]
}

// Identity is who a request speaks for and from where, as the policy's
// `gateway.account` section reads it.
type Identity struct {
	Account, APIKey, Session, Device string
	// IP is the client's address, "" when it cannot be told.
	IP string
}

// proxies are the trusted proxy networks of a policy, parsed once.
type proxies []netip.Prefix

func parseProxies(cidrs []string) proxies {
	var ps proxies
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil {
			ps = append(ps, p.Masked())
		}
	}
	return ps
}

func (ps proxies) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the address the request came from: walking from the peer
// (the address the gateway saw, if it says) back through X-Forwarded-For,
// the first address not in a trusted proxy network. Only a trusted proxy
// can have written the entry before it, so anything further left is the
// client's own word. An entry that is not an address ends the walk with
// no answer: the client is not known.
func (ps proxies) clientIP(xff string, peer netip.Addr) string {
	if peer.IsValid() && !ps.trusted(peer) {
		return peer.Unmap().String()
	}
	var last netip.Addr
	for xff != "" {
		i := strings.LastIndexByte(xff, ',')
		entry := strings.TrimSpace(xff[i+1:])
		xff = xff[:max(i, 0)]
		if entry == "" {
			continue
		}
		a, err := netip.ParseAddr(entry)
		if err != nil {
			return ""
		}
		last = a.Unmap()
		if !ps.trusted(last) {
			return last.String()
		}
	}
	if last.IsValid() {
		return last.String() // every hop is trusted: the first is the client
	}
	if peer.IsValid() {
		return peer.Unmap().String()
	}
	return ""
}

// bearer returns the token of an "Authorization: Bearer …" value.
func bearer(v string) (string, bool) {
	scheme, tok, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// accountError is why a request names no account, for the 401.
func accountError(format string, args ...any) error {
	return holdfast.Errorf(holdfast.Unauthenticated, "account", format, args...)
}
