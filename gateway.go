package holdfast

// GatewayPolicy maps the exchange's HTTP API onto actions, for a gateway
// that asks Holdfast before forwarding a request (docs/policy.md,
// `gateway`). The section is optional; left out, no route is mapped and
// unmapped requests get the defaults below.
type GatewayPolicy struct {
	// Routes are tried in order; the first whose method and path match
	// names the request's action.
	Routes []GatewayRoute `yaml:"routes" json:"routes"`
	// Unmapped is what a request no route matches gets.
	Unmapped GatewayUnmapped `yaml:"unmapped" json:"unmapped"`
	// Account says where the gateway finds who is asking.
	Account GatewayAccount `yaml:"account" json:"account"`
}

// GatewayRoute maps requests to an action. Method is an HTTP method or
// "*"; Path is exact ("/api/v1/withdrawals"), ends in "*" for a prefix
// ("/api/v1/orders*"), or has "{param}" segments ("/api/v1/orders/{id}").
type GatewayRoute struct {
	Method string `yaml:"method" json:"method"`
	Path   string `yaml:"path" json:"path"`
	Action Action `yaml:"action" json:"action"`
}

// GatewayVerdict is what an unmapped request gets.
type GatewayVerdict string

const (
	GatewayAllow GatewayVerdict = "allow"
	GatewayDeny  GatewayVerdict = "deny"
)

// GatewayUnmapped splits unmapped requests by method: Safe is for GET,
// HEAD and OPTIONS, which read; Other for every other method.
type GatewayUnmapped struct {
	Safe  GatewayVerdict `yaml:"safe" json:"safe"`
	Other GatewayVerdict `yaml:"other" json:"other"`
}

// SafeMethod reports whether method (exactly as sent) only reads: GET,
// HEAD or OPTIONS. "get" is not: a method is case-sensitive, and an odd
// spelling is not given the benefit of the doubt.
func SafeMethod(method string) bool {
	return method == "GET" || method == "HEAD" || method == "OPTIONS"
}

// For returns the verdict for an unmapped request with method. A verdict
// left empty is the shipped default: allow for safe methods, deny for
// the rest.
func (u GatewayUnmapped) For(method string) GatewayVerdict {
	if SafeMethod(method) {
		if u.Safe == "" {
			return GatewayAllow
		}
		return u.Safe
	}
	if u.Other == "" {
		return GatewayDeny
	}
	return u.Other
}

// GatewayAccount says which request headers name the account and its
// context. Empty header names take the defaults the policy loader fills
// in (DefaultAccountHeader, DefaultAPIKeyHeader); an empty SessionHeader
// or DeviceHeader is not read.
type GatewayAccount struct {
	Header        string      `yaml:"header" json:"header"`
	JWT           *GatewayJWT `yaml:"jwt" json:"jwt,omitempty"`
	APIKeyHeader  string      `yaml:"api_key_header" json:"api_key_header"`
	SessionHeader string      `yaml:"session_header" json:"session_header,omitempty"`
	DeviceHeader  string      `yaml:"device_header" json:"device_header,omitempty"`
	// TrustedProxies are the networks (CIDR prefixes) whose
	// X-Forwarded-For is believed; the client is the last address in it
	// not in one of them.
	TrustedProxies []string `yaml:"trusted_proxies" json:"trusted_proxies,omitempty"`
}

// GatewayJWT takes the account from a claim of a bearer token, verified
// with keys from JWKSURL or JWKSFile (exactly one).
type GatewayJWT struct {
	JWKSURL  string `yaml:"jwks_url" json:"jwks_url,omitempty"`
	JWKSFile string `yaml:"jwks_file" json:"jwks_file,omitempty"`
	// Claim names the account; "sub" when empty.
	Claim    string `yaml:"claim" json:"claim"`
	Issuer   string `yaml:"issuer" json:"issuer,omitempty"`
	Audience string `yaml:"audience" json:"audience,omitempty"`
}

// The defaults for GatewayAccount and GatewayJWT.
const (
	DefaultAccountHeader = "X-Account-Id"
	DefaultAPIKeyHeader  = "X-Api-Key"
	DefaultJWTClaim      = "sub"
)
