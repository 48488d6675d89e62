// Package rpc serves Holdfast's API: the connect services of
// proto/holdfast/v1 (gRPC, gRPC-Web and JSON over HTTP from one schema),
// bearer-token authentication, one error presenter, and the operator
// endpoints /healthz, /readyz and /metrics, with gRPC server reflection
// and grpc.health.v1.Health for tools and probes. Handlers parse, validate, call
// the engine and respond; every rule lives in the engine.
package rpc

import (
	"bytes"
	"connectrpc.com/otelconnect"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/blob"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/gateway"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/gen/holdfast/v1/holdfastv1connect"
)

// Config wires the API.
type Config struct {
	Engine *engine.Engine
	// Tracing adds OpenTelemetry spans to every call (trusting the
	// caller's W3C trace context) and gateway decision, through the
	// global tracer provider (internal/telemetry). Off: no interceptor.
	Tracing bool
	// Staff resolves tokens and staff roles (the store).
	Staff   holdfast.StaffStore
	Metrics *Metrics     // nil: fresh metrics
	Logger  *slog.Logger // nil: slog.Default()
	// MaxBodyBytes bounds a request body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int
	// Outbox lets staff watch and redrive deliveries; nil: not offered.
	Outbox Outbox
	// Evidence keeps the files attached to cases; nil: uploads and
	// downloads fail (failed_precondition).
	Evidence blob.Store
	// MaxEvidenceBytes is the largest file the evidence store accepts; the
	// CaseService reads bodies up to it plus 64 KiB (base64-inflated for
	// JSON). 0 means DefaultMaxEvidenceBytes.
	MaxEvidenceBytes int64
	// TokenRates bound each token's intake and self-service calls per
	// second; the zero value means no limit (serve passes its flags,
	// default DefaultTokenRates).
	TokenRates TokenRates
	// AuthCache, if set, lets the caller make the API forget cached
	// tokens (see AuthCache.Forget).
	AuthCache *AuthCache
	// Gateway answers forward-auth and ext_authz; nil: built from the
	// engine's policy (serve builds it first, so that a JWKS file that
	// cannot be read stops it at start).
	Gateway *gateway.Authorizer
}

// DefaultMaxBodyBytes is 1 MiB: a BatchCheck of 1000 checks fits easily.
const DefaultMaxBodyBytes = 1 << 20

// DefaultMaxEvidenceBytes is 10 MiB: a scanned statement or a photo.
const DefaultMaxEvidenceBytes = 10 << 20

// evidenceSlack is what a CaseService body may carry beyond the file.
const evidenceSlack = 64 << 10

// bodyLimits are the request-body bounds: the server's, and the
// CaseService's, which carries files.
type bodyLimits struct {
	max  int64 // every other procedure
	file int64 // the evidence limit
}

// caseServicePrefix starts the CaseService's procedure paths.
var caseServicePrefix = "/" + holdfastv1connect.CaseServiceName + "/"

// of returns the limit for a body of the procedure at path: the evidence
// limit plus 64 KiB for the CaseService (the file as base64 in JSON), the
// server's limit for everything else.
func (l bodyLimits) of(path string, isJSON bool) int64 {
	if !strings.HasPrefix(path, caseServicePrefix) {
		return l.max
	}
	n := l.file + evidenceSlack
	if isJSON {
		n = 4*((l.file+2)/3) + evidenceSlack
	}
	return max(n, l.max)
}

// server is what the handlers share.
type server struct {
	engine   *engine.Engine
	metrics  *Metrics
	log      *slog.Logger
	box      Outbox
	evidence blob.Store
	// tracing: spans for calls and gateway decisions (Config.Tracing).
	tracing bool
}

// Handler returns the whole API over HTTP: every service, /healthz,
// /readyz and /metrics. Serve it with NewHTTPServer so that gRPC works
// without TLS.
func Handler(cfg Config) http.Handler { return New(cfg) }

// API is the whole API: an http.Handler, and the source of the native
// gRPC server (GRPCServer) that shares its authentication, limits and
// metrics.
type API struct {
	http.Handler
	s        *server
	auth     *authenticator
	decide   *decisions
	gw       *gatewayServer
	maxBody  int   // a native call's message
	maxFrame int64 // the largest message of any procedure (evidence)
}

// New builds the API.
func New(cfg Config) *API {
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxEvidenceBytes <= 0 {
		cfg.MaxEvidenceBytes = DefaultMaxEvidenceBytes
	}
	limits := bodyLimits{max: int64(cfg.MaxBodyBytes), file: cfg.MaxEvidenceBytes}
	s := &server{engine: cfg.Engine, metrics: cfg.Metrics, log: cfg.Logger, box: cfg.Outbox, evidence: cfg.Evidence, tracing: cfg.Tracing}
	cfg.Metrics.watchIndex(cfg.Engine)
	if cfg.Outbox != nil {
		cfg.Metrics.watchOutbox(cfg.Outbox, cfg.Engine.Now)
	}

	opts := append(codecOptions(),
		connect.WithInterceptors(observer{s}),
		connect.WithRecover(s.recovered),
		connect.WithReadMaxBytes(cfg.MaxBodyBytes),
		// Decisions are a few hundred bytes: compressing them cost a fifth
		// of the server's CPU under load and saved nothing on the wire.
		connect.WithCompressMinBytes(4096),
	)
	if cfg.Tracing {
		otel, err := otelconnect.NewInterceptor(otelconnect.WithTrustRemote(), otelconnect.WithoutMetrics())
		if err != nil {
			panic("rpc: otelconnect: " + err.Error()) // only for bad options
		}
		opts = append(opts, connect.WithInterceptors(otel))
	}
	mux := http.NewServeMux()
	mux.Handle(holdfastv1connect.NewDecisionServiceHandler(&decisions{s}, opts...))
	mux.Handle(holdfastv1connect.NewRestrictionServiceHandler(&restrictions{s}, opts...))
	mux.Handle(holdfastv1connect.NewSelfServiceHandler(&selfService{s}, opts...))
	mux.Handle(holdfastv1connect.NewEventServiceHandler(&events{s}, opts...))
	// Cases carry files: their bodies may be as large as the evidence
	// limit allows (checkBody bounds each encoding exactly).
	caseOpts := append(slices.Clone(opts), connect.WithReadMaxBytes(int(limits.of(caseServicePrefix, true))))
	mux.Handle(holdfastv1connect.NewCaseServiceHandler(&cases{s}, caseOpts...))
	mux.Handle(holdfastv1connect.NewComplianceServiceHandler(&compliance{s}, opts...))
	mux.Handle(holdfastv1connect.NewPolicyServiceHandler(&policies{s}, opts...))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	// This handler exists only once the engine has loaded its index (see
	// Gate); then a node is ready unless it is behind the change feed.
	// Rules that failed to evaluate do not make a node unready: it still
	// answers checks correctly, and each such rule failed open or closed
	// as the policy says. They are listed after the first line.
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if cfg.Engine.Stale() {
			w.Header().Set("Retry-After", "1")
			msg := staleDetail(cfg.Engine)
			if d := ruleErrorDetail(cfg.Engine); d != "" {
				msg += "\n" + strings.TrimSuffix(d, "\n")
			}
			http.Error(w, msg, http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n"+ruleErrorDetail(cfg.Engine))
	})
	handleDiscovery(mux, cfg.Engine)
	gw := newGatewayServer(s, cfg.Engine, cfg.Gateway)
	mux.HandleFunc(forwardAuthPath, gw.serveForwardAuth)
	mux.Handle(extAuthzProcedure, connect.NewUnaryHandler(extAuthzProcedure, gw.extAuthzCheck, opts...))
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Metrics.Registry, promhttp.HandlerOpts{}))

	ew := connect.NewErrorWriter(opts...)
	fail := func(w http.ResponseWriter, r *http.Request, err error) {
		_ = ew.Write(w, r, s.refused(r.Context(), r.URL.Path, err))
	}
	handleAudit(mux, cfg.Engine, fail)
	auth := newAuthenticator(cfg.Staff, cfg.TokenRates)
	auth.rejected = cfg.Metrics.authRejected
	if cfg.AuthCache != nil {
		cfg.AuthCache.add(auth)
	}
	bodyFail := func(w http.ResponseWriter, r *http.Request, err error) {
		if r.URL.Path == holdfastv1connect.EventServiceIngestProcedure {
			s.metrics.events.WithLabelValues("unknown", eventInvalid).Inc() // not even its type could be read
		}
		fail(w, r, err)
	}
	return &API{
		Handler: auth.authorize(checkBody(mux, limits, bodyFail), fail),
		s:       s, auth: auth, decide: &decisions{s}, gw: gw,
		maxBody: cfg.MaxBodyBytes, maxFrame: limits.of(caseServicePrefix, false),
	}
}

// refused presents the error of a call refused before its handler ran
// (authentication, limits, an unreadable body) and logs it at debug level.
func (s *server) refused(ctx context.Context, procedure string, err error) *connect.Error {
	ce := present(ctx, s.log, procedure, err)
	s.log.DebugContext(ctx, "rpc", "procedure", procedure, "code", ce.Code().String(), "err", ce.Message())
	return ce
}

// staleDetail says why a stale node is not ready. A node holding a change
// it could not apply may be only milliseconds behind the feed's
// heartbeats: "behind by 3ms" alone would send an operator to the wrong
// place.
func staleDetail(e *engine.Engine) string {
	var lines []string
	accounts, rebuild := e.FeedHeld()
	if rebuild {
		lines = append(lines, "a rebuild of the index from the store failed (store unreachable?); retrying")
	}
	if accounts > 0 {
		lines = append(lines, fmt.Sprintf("a change for %d account(s) could not be applied yet (store unreachable?); retrying", accounts))
	}
	switch lag := e.FeedLag(); {
	case lag == time.Duration(1<<63-1):
		lines = append(lines, "no message from the change feed yet")
	case len(lines) > 0:
		lines = append(lines, fmt.Sprintf("change feed lag %s", lag.Round(time.Millisecond)))
	default:
		lines = append(lines, fmt.Sprintf("behind the change feed by %s", lag.Round(time.Millisecond)))
	}
	return strings.Join(lines, "\n")
}

// ruleErrorDetail lists, one line each, the rules that failed to evaluate
// on this node since it started ("" when none did).
func ruleErrorDetail(e *engine.Engine) string {
	var b strings.Builder
	for _, r := range e.RuleErrors() {
		fails := "open (skipped)"
		if r.FailsClosed {
			fails = "closed (restrictions applied)"
		}
		fmt.Fprintf(&b, "rule %s failed to evaluate %d time(s), last at %s on event %s, failing %s: %s\n",
			r.Rule, r.Count, r.Last.UTC().Format(time.RFC3339), r.LastEvent, fails, r.LastError)
	}
	return b.String()
}

// NewHTTPServer serves h on addr over HTTP/1.1 and cleartext HTTP/2 (h2c),
// so gRPC clients work on loopback without TLS.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	p.SetHTTP2(true) // over TLS, when served with certificates
	return &http.Server{
		Addr:      addr,
		Handler:   h,
		Protocols: &p,
		// A slow or stalled client cannot hold a connection: headers within
		// 10 s, a whole request (a 10 MiB evidence upload included) within
		// 2 min, an answer written within 2 min.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
}

// Gate lets the listener come up before the engine has loaded its index:
// until Open, /healthz answers 200 and everything else (/readyz included)
// 503, so an orchestrator sees a live but not ready node. Fence closes it
// again but for /healthz and /metrics. The native gRPC server asks the
// same gate (GRPCServer).
type Gate struct {
	h     atomic.Pointer[http.Handler]
	fence atomic.Pointer[string]
}

// Open starts serving h.
func (g *Gate) Open(h http.Handler) { g.h.Store(&h) }

// Fence refuses every call but liveness and metrics with reason (503,
// gRPC unavailable); "" serves again.
func (g *Gate) Fence(reason string) {
	if reason == "" {
		g.fence.Store(nil)
		return
	}
	g.fence.Store(&reason)
}

// refusal is why the gate turns a call to path away now ("": it does not).
func (g *Gate) refusal(path string) string {
	if g.h.Load() == nil {
		if path == "/healthz" {
			return ""
		}
		return "starting: loading the decision index"
	}
	if r := g.fence.Load(); r != nil && path != "/healthz" && path != "/metrics" {
		return *r
	}
	return ""
}

func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if reason := g.refusal(r.URL.Path); reason != "" {
		w.Header().Set("Retry-After", "1")
		http.Error(w, reason, http.StatusServiceUnavailable)
		return
	}
	if h := g.h.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	io.WriteString(w, "ok\n") // /healthz while starting
}

// observe presents handler errors, times each call and logs one line per
// request at debug level (never a token or header).
func (s *server) observe(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		start := time.Now()
		res, err := next(ctx, req)
		return res, s.observed(ctx, req.Spec().Procedure, req.Peer().Protocol, start, err)
	}
}

// observeStream is observe for a streaming call, measured as a whole.
func (s *server) observeStream(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		start := time.Now()
		return s.observed(ctx, conn.Spec().Procedure, conn.Peer().Protocol, start, next(ctx, conn))
	}
}

// observed records a finished call and presents its error.
func (s *server) observed(ctx context.Context, procedure, protocol string, start time.Time, err error) error {
	code := "ok"
	if err != nil {
		ce := present(ctx, s.log, procedure, err)
		code, err = ce.Code().String(), ce
	}
	took := time.Since(start)
	s.metrics.rpcTimer(procedure, code).Observe(took.Seconds())
	if s.log.Enabled(ctx, slog.LevelDebug) {
		var token string
		if p := PrincipalFrom(ctx); p != nil {
			token = p.TokenID
		}
		s.log.DebugContext(ctx, "rpc", "procedure", procedure, "protocol", protocol, "token", token, "code", code, "duration", took)
	}
	return err
}

// observer applies observe and observeStream.
type observer struct{ s *server }

func (o observer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc { return o.s.observe(next) }

func (o observer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (o observer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return o.s.observeStream(next)
}

// recovered turns a handler panic into an internal error; the server stays up.
func (s *server) recovered(ctx context.Context, spec connect.Spec, _ http.Header, p any) error {
	s.log.ErrorContext(ctx, "panic in handler", "procedure", spec.Procedure, "panic", p, "stack", string(debug.Stack()))
	return domainError(&holdfast.Error{Code: holdfast.Internal, Message: internalMessage})
}

// inputTypes maps each unary procedure to its request message, and
// streamingProcedures lists the others, for checkBody.
var inputTypes, streamingProcedures = func() (map[string]protoreflect.MessageType, map[string]bool) {
	out, streaming := map[string]protoreflect.MessageType{}, map[string]bool{}
	for _, fd := range []protoreflect.FileDescriptor{holdfastv1.File_holdfast_v1_decision_proto, holdfastv1.File_holdfast_v1_restriction_proto, holdfastv1.File_holdfast_v1_selfservice_proto, holdfastv1.File_holdfast_v1_event_proto, holdfastv1.File_holdfast_v1_case_proto, holdfastv1.File_holdfast_v1_policy_proto} {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				md := sd.Methods().Get(j)
				procedure := "/" + string(sd.FullName()) + "/" + string(md.Name())
				if md.IsStreamingClient() || md.IsStreamingServer() {
					streaming[procedure] = true
					continue
				}
				mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName())
				if err != nil {
					panic(err) // generated code registers every message
				}
				out[procedure] = mt
			}
		}
	}
	return out, streaming
}()

// checkBody reads a Connect-protocol unary body (JSON or binary) and, for
// JSON, decodes it once, so that an oversized, malformed or misspelt body is
// an invalid_argument naming the field ("body", "colour") carrying the same
// ErrorDetail as every other error. Connect decodes before any interceptor
// runs and would answer with a bare message (or resource_exhausted). gRPC
// bodies are left to connect's own limit. Streaming calls pass through,
// freed of the server's per-request timeouts.
func checkBody(next http.Handler, limits bodyLimits, fail func(http.ResponseWriter, *http.Request, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mt, ok := inputTypes[r.URL.Path]
		ct := r.Header.Get("Content-Type")
		isJSON := strings.HasPrefix(ct, "application/json")
		if streamingProcedures[r.URL.Path] {
			if isJSON || strings.HasPrefix(ct, "application/proto") {
				fail(w, r, errorf(holdfast.InvalidArgument, "content-type", "%s is a streaming call: use gRPC or the Connect streaming protocol (application/connect+proto or application/connect+json) over HTTP/2", r.URL.Path))
				return
			}
			// The server's timeouts bound a request; a stream lives as
			// long as its (authenticated) client keeps it.
			rc := http.NewResponseController(w)
			_ = rc.SetReadDeadline(time.Time{})
			_ = rc.SetWriteDeadline(time.Time{})
			next.ServeHTTP(w, r)
			return
		}
		if !ok || r.Method != http.MethodPost || !(isJSON || strings.HasPrefix(ct, "application/proto")) {
			next.ServeHTTP(w, r)
			return
		}
		limit := limits.of(r.URL.Path, isJSON)
		body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err != nil {
			fail(w, r, errorf(holdfast.InvalidArgument, "body", "could not read the request body: %v", err))
			return
		}
		if int64(len(body)) > limit {
			fail(w, r, errorf(holdfast.InvalidArgument, "body", "request body is larger than %d bytes", limit))
			return
		}
		if isJSON && (r.Header.Get("Content-Encoding") == "" || r.Header.Get("Content-Encoding") == "identity") {
			if err := jsonIn.Unmarshal(body, mt.New().Interface()); err != nil {
				// A batch of events whose only faults are in some events:
				// those fail in their places, the others go on.
				clean, bad, ok := splitBatch(r.URL.Path, body)
				if !ok {
					fail(w, r, domainError(jsonError(err, body)))
					return
				}
				body = clean
				r = r.WithContext(context.WithValue(r.Context(), batchErrorsKey{}, bad))
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}
