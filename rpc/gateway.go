package rpc

import (
	"context"
	"errors"
	"github.com/holdfast/holdfast/internal/telemetry"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/gateway"
)

// forwardAuthPath is the HTTP forward-auth endpoint for nginx
// auth_request, Traefik ForwardAuth, Caddy forward_auth and HAProxy.
const forwardAuthPath = "/gateway/auth"

// gatewayCredentialHeader carries the gateway's own bearer token on a
// forward-auth call, so that the client's Authorization (a JWT naming the
// account) reaches Holdfast untouched beside it.
const gatewayCredentialHeader = "X-Holdfast-Authorization"

// Effects a gateway answer is counted under, besides allow, deny and
// review: unauthenticated (no account), refused (an unmapped write or a
// URI that cannot be read) and error (the engine failed; the gateway
// fails closed).
const (
	gatewayUnauthenticated = "unauthenticated"
	gatewayRefused         = "refused"
	gatewayError           = "error"
)

var gatewayEffects = []string{"allow", "deny", "review", gatewayUnauthenticated, gatewayRefused, gatewayError}

// gatewayServer answers gateways: forward-auth over HTTP and Envoy's
// ext_authz over gRPC, from the Authorizer of the policy in force. A policy
// version activated while the server runs brings its own route map.
type gatewayServer struct {
	*server
	eng  *engine.Engine
	mu   sync.Mutex // builds of cur
	cur  atomic.Pointer[gatewayState]
	took *prometheus.HistogramVec
}

// gatewayState is one policy version's gateway.
type gatewayState struct {
	hash string
	auth *gateway.Authorizer
	// setupErr is why no Authorizer could be built (a JWKS file that
	// cannot be read): every answer is then an error, never an allow.
	setupErr error
	// counted[route+1][effect]: route -1 is an unmapped or refused
	// request. Resolved once so that counting costs no label lookup.
	counted [][]prometheus.Counter
}

// newGatewayServer serves the engine's policy; auth, when set, is that
// policy's Authorizer, built by the caller (serve builds it first, so
// that a JWKS file that cannot be read stops it at start).
func newGatewayServer(s *server, e *engine.Engine, auth *gateway.Authorizer) *gatewayServer {
	g := &gatewayServer{server: s, eng: e, took: s.metrics.gatewayDuration}
	if e == nil {
		g.cur.Store(g.build(nil, nil, errors.New("gateway: no engine")))
		return g
	}
	g.cur.Store(g.build(e.Policy(), auth, nil))
	return g
}

// state is the gateway of the policy in force, built on first use after
// a switch.
func (g *gatewayServer) state() *gatewayState {
	st := g.cur.Load()
	if g.eng == nil {
		return st
	}
	p := g.eng.Policy()
	if st.hash == p.Hash {
		return st
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if st = g.cur.Load(); st.hash != p.Hash {
		st = g.build(p, nil, nil)
		g.cur.Store(st)
	}
	return st
}

// build makes p's gateway (p nil: none, failing with err).
func (g *gatewayServer) build(p *holdfast.Policy, auth *gateway.Authorizer, err error) *gatewayState {
	st := &gatewayState{auth: auth, setupErr: err}
	var routes []holdfast.GatewayRoute
	if p != nil {
		st.hash, routes = p.Hash, p.Gateway.Routes
		if st.auth == nil {
			st.auth, st.setupErr = gateway.NewAuthorizer(context.Background(), p.Gateway, g.eng, nil)
		}
	}
	if st.setupErr != nil && p != nil {
		g.log.Error("gateway: every gateway request will fail closed", "policy", p.Hash, "err", st.setupErr)
	}
	st.counted = make([][]prometheus.Counter, len(routes)+1)
	for i := range st.counted {
		label := "unmapped"
		if i > 0 {
			label = routes[i-1].Method + " " + routes[i-1].Path
		}
		for _, effect := range gatewayEffects {
			st.counted[i] = append(st.counted[i], g.metrics.gatewayDecisions.WithLabelValues(label, effect))
		}
	}
	return st
}

// originalHeader is the original request's method or URI, from nginx's
// header or Traefik's and Caddy's. Those two pass the client's own headers
// on to the auth call: a client could add X-Original-URI: /api/v1/orders
// to a withdrawal, so two names that disagree are refused, never ranked.
func originalHeader(h http.Header, nginx, traefik, field string) (string, error) {
	a, b := h.Values(nginx), h.Values(traefik)
	if len(a) > 1 || len(b) > 1 {
		return "", holdfast.Errorf(holdfast.InvalidArgument, field, "the original %s is sent more than once", field)
	}
	switch {
	case len(a) == 0 && len(b) == 0:
		return "", nil
	case len(b) == 0:
		return a[0], nil
	case len(a) == 0 || a[0] == b[0]:
		return b[0], nil
	}
	return "", holdfast.Errorf(holdfast.InvalidArgument, field, "%s and %s disagree; the gateway must send one and strip the other from clients", nginx, traefik)
}

// authorize answers r and counts it. A non-nil error means fail closed.
func (g *gatewayServer) authorize(ctx context.Context, r gateway.Request, transport string) (gateway.Answer, error) {
	start := time.Now()
	st := g.state()
	var ans gateway.Answer
	err := st.setupErr
	if g.tracing {
		var span trace.Span
		ctx, span = telemetry.Tracer().Start(ctx, "gateway.decide", trace.WithAttributes(attribute.String("holdfast.gateway.transport", transport)))
		defer func() {
			span.SetAttributes(attribute.Int("holdfast.gateway.outcome", int(ans.Outcome)), attribute.String("holdfast.action", string(ans.Action)),
				attribute.String("holdfast.effect", string(ans.Decision.Effect)))
			telemetry.End(span, err)
		}()
	}
	if err == nil {
		ans, err = st.auth.Authorize(ctx, r)
	}
	g.count(st, &ans, err, transport, start)
	return ans, err
}

// count records one answer of st (err: the engine failed) and its time.
func (g *gatewayServer) count(st *gatewayState, ans *gateway.Answer, err error, transport string, start time.Time) {
	effect := gatewayError
	if err == nil {
		switch ans.Outcome {
		case gateway.Allowed:
			effect = "allow"
		case gateway.Denied:
			effect = ans.Decision.Effect.String()
		case gateway.Unauthenticated:
			effect = gatewayUnauthenticated
		case gateway.Refused:
			effect = gatewayRefused
		}
	}
	route := ans.Route.Index + 1
	if !ans.Mapped || route >= len(st.counted) {
		route = 0
	}
	for i, e := range gatewayEffects {
		if e == effect {
			st.counted[route][i].Inc()
			break
		}
	}
	g.took.WithLabelValues(transport).Observe(time.Since(start).Seconds())
}

// retryAfter is the Retry-After value of a decision that ends by time
// (whole seconds, at least 1), or "".
func retryAfter(d *holdfast.Decision) string {
	if d.RetryAfter.IsZero() {
		return ""
	}
	s := math.Ceil(time.Until(d.RetryAfter).Seconds())
	return strconv.FormatInt(int64(max(s, 1)), 10)
}

// serveForwardAuth is /gateway/auth. The original request comes in
// X-Original-Method/X-Original-URI (nginx) or X-Forwarded-Method/
// X-Forwarded-Uri (Traefik, Caddy). Allow is 200; a decision of deny or
// review, an unmapped write or an unreadable URI is 403 with a JSON body
// (gateways pass only 401 and 403 through to the client); no account is
// 401. An engine failure is 500, which every gateway treats as a refusal.
func (g *gatewayServer) serveForwardAuth(w http.ResponseWriter, r *http.Request) {
	req := gateway.Request{Headers: r.Header}
	var err error
	req.Method, err = originalHeader(r.Header, "X-Original-Method", "X-Forwarded-Method", "method")
	if err == nil {
		req.URI, err = originalHeader(r.Header, "X-Original-URI", "X-Forwarded-Uri", "uri")
	}
	var ans gateway.Answer
	if err != nil {
		ans, err = gateway.Answer{Outcome: gateway.Refused, Route: gateway.Route{Index: -1}, Err: err}, nil
		g.count(g.state(), &ans, nil, "forward_auth", time.Now())
	} else {
		ctx := r.Context()
		if g.tracing {
			// The caller's trace, as the gateway passed it on.
			ctx = otel.GetTextMapPropagator().Extract(ctx, propagation.HeaderCarrier(r.Header))
		}
		ans, err = g.authorize(ctx, req, "forward_auth")
	}
	h := w.Header()
	if err != nil {
		h.Set("X-Holdfast-Effect", "deny")
		g.writeJSONError(w, r, http.StatusInternalServerError, err)
		return
	}
	if ans.Mapped {
		h.Set("X-Holdfast-Action", string(ans.Action))
	}
	switch ans.Outcome {
	case gateway.Allowed:
		h.Set("X-Holdfast-Effect", "allow")
		w.WriteHeader(http.StatusOK)
	case gateway.Denied:
		h.Set("X-Holdfast-Effect", ans.Decision.Effect.String())
		if ra := retryAfter(&ans.Decision); ra != "" {
			h.Set("Retry-After", ra)
		}
		body, _ := MarshalJSON(pbDecision(&ans.Decision))
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		w.Write(append(body, '\n'))
	case gateway.Unauthenticated:
		h.Set("X-Holdfast-Effect", "deny")
		g.writeJSONError(w, r, http.StatusUnauthorized, ans.Err)
	default:
		h.Set("X-Holdfast-Effect", "deny")
		g.writeJSONError(w, r, http.StatusForbidden, ans.Err)
	}
}

// writeJSONError writes err as the API's ErrorDetail; an error that is
// not a domain error is logged and shown as internal.
func (g *gatewayServer) writeJSONError(w http.ResponseWriter, r *http.Request, status int, err error) {
	var he *holdfast.Error
	if !errors.As(err, &he) {
		g.log.ErrorContext(r.Context(), "gateway: failing closed", "err", err)
	}
	body, _ := MarshalJSON(pbErrorDetail(asDomainError(err)))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// asDomainError is err as the caller may see it: a domain error as is,
// anything else as internal with the generic message.
func asDomainError(err error) *holdfast.Error {
	var he *holdfast.Error
	if errors.As(err, &he) {
		return he
	}
	return &holdfast.Error{Code: holdfast.Internal, Message: internalMessage}
}
