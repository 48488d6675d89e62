package gateway

import (
	"context"
	"net/http"
	"net/netip"
	"strings"

	"github.com/holdfast/holdfast"
)

// Checker answers "may this account do this now?" (the engine's Check,
// with its lag bound: a node behind the change feed denies money-out).
type Checker interface {
	Check(ctx context.Context, req holdfast.CheckRequest) (holdfast.Decision, error)
}

// Request is what a gateway forwards about the request it holds.
type Request struct {
	// Method and URI are the original request's, the URI as sent (path
	// and query, origin form).
	Method, URI string
	Headers     Headers
	// Peer is the address the gateway received the request from, when
	// it says (Envoy does); the zero Addr when it does not.
	Peer netip.Addr
}

// Outcome is the kind of answer a gateway gets.
type Outcome int

const (
	// Allowed: forward the request.
	Allowed Outcome = iota
	// Denied: a decision said deny or review; Answer.Decision says why.
	Denied
	// Refused: the request is not let through without a decision: its
	// URI cannot be read, or no route maps it and its method's unmapped
	// verdict is deny. Answer.Err says which.
	Refused
	// Unauthenticated: a mapped route, and no account could be told.
	Unauthenticated
)

// Answer is the gateway's answer for one request.
type Answer struct {
	Outcome Outcome
	// Mapped requests carry their route and action and the (holder-view)
	// decision; Route.Index is -1 otherwise.
	Mapped   bool
	Route    Route
	Action   holdfast.Action
	Decision holdfast.Decision
	// Err is a *holdfast.Error for Refused and Unauthenticated.
	Err error
}

// Authorizer answers a gateway's question for one request from the
// policy's `gateway` section: which action it is, who asks, and what the
// engine says. Safe for concurrent use.
type Authorizer struct {
	table   *Table
	account holdfast.GatewayAccount
	proxies proxies
	jwt     *jwtVerifier
	check   Checker
}

// maxTokenBytes bounds a bearer token before any parsing.
const maxTokenBytes = 8 << 10

// NewAuthorizer compiles g. client fetches a JWKS URL (nil: a client with
// a 5 s timeout); ctx bounds nothing but carries it.
func NewAuthorizer(ctx context.Context, g holdfast.GatewayPolicy, check Checker, client *http.Client) (*Authorizer, error) {
	t, err := Compile(g)
	if err != nil {
		return nil, err
	}
	// Canonical names: http.Header.Get then takes its fast path.
	acct := g.Account
	for _, h := range []*string{&acct.Header, &acct.APIKeyHeader, &acct.SessionHeader, &acct.DeviceHeader} {
		*h = http.CanonicalHeaderKey(*h)
	}
	a := &Authorizer{table: t, account: acct, proxies: parseProxies(g.Account.TrustedProxies), check: check}
	if g.Account.JWT != nil {
		if a.jwt, err = newJWTVerifier(ctx, g.Account.JWT, client); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Authorize answers r. Its error is the engine's failure (a store it
// could not read): the gateway must fail closed.
func (a *Authorizer) Authorize(ctx context.Context, r Request) (Answer, error) {
	no := Answer{Route: Route{Index: -1}}
	switch {
	case r.Method == "":
		no.Outcome, no.Err = Refused, holdfast.Errorf(holdfast.InvalidArgument, "method", "the gateway sent no original method (X-Original-Method or X-Forwarded-Method)")
		return no, nil
	case r.URI == "":
		no.Outcome, no.Err = Refused, holdfast.Errorf(holdfast.InvalidArgument, "uri", "the gateway sent no original URI (X-Original-URI or X-Forwarded-Uri)")
		return no, nil
	case r.URI[0] != '/':
		no.Outcome, no.Err = Refused, holdfast.Errorf(holdfast.InvalidArgument, "uri", "the original URI must be a path starting with /")
		return no, nil
	}
	path := r.URI
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	d := a.table.Decide(r.Method, path)
	switch {
	case d.Refused != nil:
		no.Outcome, no.Err = Refused, holdfast.Errorf(holdfast.InvalidArgument, "uri", "%v", d.Refused)
		return no, nil
	case !d.Mapped && d.Verdict == holdfast.GatewayAllow:
		no.Outcome = Allowed
		return no, nil
	case !d.Mapped:
		no.Outcome, no.Err = Refused, holdfast.Errorf(holdfast.PermissionDenied, "uri", "no route maps %s %s, and the policy refuses unmapped %s requests", r.Method, d.Path, r.Method)
		return no, nil
	}
	ans := Answer{Mapped: true, Route: d.Route, Action: d.Action}
	id, err := a.Identify(ctx, r)
	if err != nil {
		ans.Outcome, ans.Err = Unauthenticated, err
		return ans, nil
	}
	dec, err := a.check.Check(ctx, holdfast.CheckRequest{
		Account: id.Account, Action: d.Action, Device: id.Device, Session: id.Session, APIKey: id.APIKey, IP: id.IP,
		View: holdfast.ViewHolder,
	})
	switch holdfast.ErrorCode(err) {
	case "":
	case holdfast.InvalidArgument:
		// A device, session or API key header that is no id: the request
		// is refused, naming the header.
		ans.Outcome, ans.Err = Refused, headerError(a.account, err)
		return ans, nil
	default:
		return ans, err
	}
	ans.Decision = dec
	if dec.Effect == holdfast.Allow {
		ans.Outcome = Allowed
	} else {
		ans.Outcome = Denied
	}
	return ans, nil
}

// Identify reads who r speaks for: the account from the JWT's claim when
// the policy names a key set (the account header is then ignored: a client
// could set it), else from the account header; the API key, session and
// device from their headers; the client's address from the peer and the
// trusted part of X-Forwarded-For.
func (a *Authorizer) Identify(ctx context.Context, r Request) (Identity, error) {
	h := r.Headers
	id := Identity{
		APIKey: h.Get(a.account.APIKeyHeader),
		IP:     a.proxies.clientIP(h.Get("X-Forwarded-For"), r.Peer),
	}
	if a.account.SessionHeader != "" {
		id.Session = h.Get(a.account.SessionHeader)
	}
	if a.account.DeviceHeader != "" {
		id.Device = h.Get(a.account.DeviceHeader)
	}
	if a.jwt != nil {
		raw, ok := bearer(h.Get("Authorization"))
		switch {
		case !ok:
			return id, accountError("no bearer token: the account comes from Authorization: Bearer <JWT>")
		case len(raw) > maxTokenBytes:
			return id, accountError("the bearer token is longer than %d bytes", maxTokenBytes)
		}
		acct, err := a.jwt.account(ctx, raw)
		if err != nil {
			return id, err
		}
		id.Account = acct
		return id, nil
	}
	id.Account = h.Get(a.account.Header)
	if id.Account == "" {
		return id, accountError("no account: the request carries no %s header", a.account.Header)
	}
	if err := holdfast.ValidateID("account", id.Account); err != nil {
		return id, accountError("the %s header is not an account id: %s", a.account.Header, holdfast.ErrorMessage(err))
	}
	return id, nil
}

// headerError renames a check's invalid field to the header it came from.
func headerError(acct holdfast.GatewayAccount, err error) error {
	field := holdfast.ErrorField(err)
	switch field {
	case "device":
		field = acct.DeviceHeader
	case "session":
		field = acct.SessionHeader
	case "api_key":
		field = acct.APIKeyHeader
	case "ip":
		field = "X-Forwarded-For"
	}
	return holdfast.Errorf(holdfast.InvalidArgument, field, "%s", holdfast.ErrorMessage(err))
}
