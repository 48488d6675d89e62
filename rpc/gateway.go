package rpc

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
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
// ext_authz over gRPC, from one Authorizer.
type gatewayServer struct {
	*server
	auth *gateway.Authorizer
	// setupErr is why no Authorizer could be built (a JWKS file that
	// cannot be read): every answer is then an error, never an allow.
	setupErr error
	// counted[route+1][effect]: route -1 is an unmapped or refused
	// request. Resolved once so that counting costs no label lookup.
	counted [][]prometheus.Counter
	took    *prometheus.HistogramVec
}

func newGatewayServer(s *server, e *engine.Engine, auth *gateway.Authorizer) *gatewayServer {
	g := &gatewayServer{server: s, auth: auth}
	var routes []holdfast.GatewayRoute
	switch {
	case e == nil:
		g.setupErr = errors.New("gateway: no engine")
	case g.auth == nil:
		g.auth, g.setupErr = gateway.NewAuthorizer(context.Background(), e.Policy().Gateway, e, nil)
		if g.setupErr != nil {
			s.log.Error("gateway: every gateway request will fail closed", "err", g.setupErr)
		}
	}
	if e != nil {
		routes = e.Policy().Gateway.Routes
	}
	g.counted = make([][]prometheus.Counter, len(routes)+1)
	for i := range g.counted {
		label := "unmapped"
		if i > 0 {
			label = routes[i-1].Method + " " + routes[i-1].Path
		}
		for _, effect := range gatewayEffects {
			g.counted[i] = append(g.counted[i], s.metrics.gatewayDecisions.WithLabelValues(label, effect))
		}
	}
	g.took = s.metrics.gatewayDuration
	return g
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
	var ans gateway.Answer
	err := g.setupErr
	if err == nil {
		ans, err = g.auth.Authorize(ctx, r)
	}
	g.count(&ans, err, transport, start)
	return ans, err
}

// count records one answer (err: the engine failed) and its time.
func (g *gatewayServer) count(ans *gateway.Answer, err error, transport string, start time.Time) {
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
	if !ans.Mapped || route >= len(g.counted) {
		route = 0
	}
	for i, e := range gatewayEffects {
		if e == effect {
			g.counted[route][i].Inc()
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
		g.count(&ans, nil, "forward_auth", time.Now())
	} else {
		ans, err = g.authorize(r.Context(), req, "forward_auth")
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
