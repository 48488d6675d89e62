package bench

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/gateway"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/sqlite"
)

// extAuthzRego is what an OPA-Envoy deployment would write for the
// default policy's gateway section: the first route (in order) whose
// method and path match names the action; the account comes from the
// x-account-id header; the action is allowed unless an active restriction
// of the account denies it or sends it to review (a gateway cannot hold a
// request for review, so review is refused like deny). A request no route
// matches is allowed for GET, HEAD and OPTIONS and refused otherwise
// (unmapped: {safe: allow, other: deny}). Route paths are globs with "/"
// as delimiter, made from the policy's patterns ({id} → *, a trailing * →
// **), compared lower-cased as Holdfast compares them.
//
// It does less than Holdfast's gateway: the path is only stripped of its
// query, not decoded and cleaned (decision 129).
const extAuthzRego = `package envoy.authz

http := input.attributes.request.http

path := lower(split(http.path, "?")[0])

account := object.get(http.headers, "x-account-id", "")

now := time.now_ns() / 1000000000

hits contains i if {
	some i, r in data.routes
	r.method in {"*", upper(http.method)}
	glob.match(r.glob, ["/"], path)
}

action := data.routes[min(hits)].action if count(hits) > 0

fx contains e if {
	some r in data.restrictions[account]
	r.start <= now
	not ended(r)
	e := data.effects[r.kind][action]
}

ended(r) if {
	r.end != 0
	r.end <= now
}

default effect := "allow"

effect := "deny" if {
	"deny" in fx
} else := "review" if {
	"review" in fx
}

result := {"allowed": effect == "allow", "action": action, "effect": effect} if {
	action
	account != ""
}

result := {"allowed": false, "action": action, "reason": "no account"} if {
	action
	account == ""
}

result := {"allowed": http.method in {"GET", "HEAD", "OPTIONS"}, "reason": "unmapped"} if {
	not action
}
`

// routeGlobs turns the policy's gateway routes into the Rego data above.
func routeGlobs(tb testing.TB) []any {
	var out []any
	for _, r := range policy.Default().Gateway.Routes {
		if strings.ContainsAny(r.Path, "?[]\\") {
			tb.Fatalf("route %q: a character glob.match would read as a pattern", r.Path)
		}
		var segs []string
		for s := range strings.SplitSeq(strings.ToLower(r.Path), "/") {
			if strings.HasPrefix(s, "{") {
				s = "*"
			}
			segs = append(segs, s)
		}
		g := strings.Join(segs, "/")
		if strings.HasSuffix(r.Path, "*") {
			g += "*" // a prefix: ** crosses segments
		}
		out = append(out, map[string]any{"method": r.Method, "glob": g, "action": string(r.Action)})
	}
	return out
}

// opaAuthz is an Envoy ext_authz server over OPA, doing what OPA's Envoy
// plugin does for each Check: build the input from the request's HTTP
// attributes, evaluate a prepared query, answer OK or PERMISSION_DENIED
// with a 403 and a JSON body. It is kinder to OPA than the plugin in one
// way: the input is built directly from method, path and headers, not by
// turning the whole CheckRequest into JSON and back. Callers authenticate
// with a bearer token in the gRPC metadata, compared by SHA-256 hash, as
// Holdfast does.
type opaAuthz struct {
	authv3.UnimplementedAuthorizationServer
	pq   rego.PreparedEvalQuery
	want [32]byte
	noop bool // answer OK at once (HOLDFAST_BENCH_EXTAUTHZ_NOOP)
}

func newOPAAuthz(tb testing.TB, secret string) *opaAuthz {
	data := opaData(dataSet())
	data["routes"] = routeGlobs(tb)
	pq, err := rego.New(
		rego.Query("data.envoy.authz.result"),
		rego.Module("authz.rego", extAuthzRego),
		rego.Store(inmem.NewFromObject(data)),
	).PrepareForEval(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	// HOLDFAST_BENCH_EXTAUTHZ_NOOP=1 answers OK without asking OPA: the
	// ceiling of grpc-go and the load generator on this machine.
	return &opaAuthz{pq: pq, want: sha256.Sum256([]byte(secret)), noop: os.Getenv("HOLDFAST_BENCH_EXTAUTHZ_NOOP") == "1"}
}

func (s *opaAuthz) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	var tok string
	if v := md.Get("authorization"); len(v) == 1 {
		tok, _ = strings.CutPrefix(v[0], "Bearer ")
	}
	got := sha256.Sum256([]byte(tok))
	if tok == "" || subtle.ConstantTimeCompare(got[:], s.want[:]) != 1 {
		return nil, status.Error(codes.Unauthenticated, "a bearer token is required")
	}
	if s.noop {
		return &authv3.CheckResponse{
			Status:       &rpcstatus.Status{Code: int32(codes.OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}},
		}, nil
	}
	h := req.GetAttributes().GetRequest().GetHttp()
	headers := make(map[string]any, len(h.GetHeaders()))
	for k, v := range h.GetHeaders() {
		headers[k] = v
	}
	input := map[string]any{"attributes": map[string]any{"request": map[string]any{"http": map[string]any{
		"method": h.GetMethod(), "path": h.GetPath(), "headers": headers,
	}}}}
	rs, err := s.pq.Eval(ctx, rego.EvalInput(input))
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil, status.Errorf(codes.Internal, "opa: unexpected result %v", rs)
	}
	res, _ := rs[0].Expressions[0].Value.(map[string]any)
	if allowed, _ := res["allowed"].(bool); allowed {
		return &authv3.CheckResponse{
			Status:       &rpcstatus.Status{Code: int32(codes.OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}},
		}, nil
	}
	delete(res, "allowed")
	body, _ := json.Marshal(res)
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(codes.PermissionDenied)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode_Forbidden},
			Headers: []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "content-type", Value: "application/json"}}},
			Body:    string(body),
		}},
	}, nil
}

// serveOPAAuthz serves s on ln with gRPC reflection, as ghz and grpcurl
// expect; it returns the server for Stop.
func serveOPAAuthz(s *opaAuthz, ln net.Listener) *grpc.Server {
	gs := grpc.NewServer()
	authv3.RegisterAuthorizationServer(gs, s)
	reflection.Register(gs)
	go gs.Serve(ln)
	return gs
}

// authzRequest is one request of the load's mix.
func authzRequest(method, path, account, requestID string) *authv3.CheckRequest {
	headers := map[string]string{"user-agent": "bench/1", "x-request-id": requestID}
	if account != "" {
		headers["x-account-id"] = account
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Method: method, Path: path, Host: "api.example", Scheme: "https", Protocol: "HTTP/1.1", Headers: headers},
	}}}
}

// authzMix returns n requests: 40% POST /api/v1/withdrawals, 40% POST
// /api/v1/orders, 20% GET /api/v1/balances; half over every account and
// half over the restricted ones, so that denials are frequent.
func authzMix(n int) []*authv3.CheckRequest {
	ds := dataSet()
	r := rand.New(rand.NewPCG(19, 7))
	out := make([]*authv3.CheckRequest, n)
	for i := range out {
		acct := accountID(r.IntN(numAccounts))
		if i%2 == 1 {
			acct = ds.restricted[r.IntN(len(ds.restricted))]
		}
		method, path := "POST", "/api/v1/withdrawals"
		switch p := r.IntN(10); {
		case p >= 8:
			method, path = "GET", "/api/v1/balances"
		case p >= 4:
			path = "/api/v1/orders"
		}
		out[i] = authzRequest(method, path, acct, fmt.Sprintf("req-%d", i))
	}
	return out
}

// wantAuthz is the expected answer, from Holdfast's own route matcher and a
// direct reading of the data: true for allow.
func wantAuthz(tb testing.TB, t *gateway.Table, req *authv3.CheckRequest, now int64) bool {
	h := req.GetAttributes().GetRequest().GetHttp()
	d := t.Decide(h.GetMethod(), h.GetPath())
	if !d.Mapped {
		return d.Verdict == holdfast.GatewayAllow
	}
	acct := h.GetHeaders()["x-account-id"]
	if acct == "" {
		return false
	}
	return reference(question{Account: acct, Action: d.Action}, now) == holdfast.Allow
}

func dialAuthz(tb testing.TB, addr string) authv3.AuthorizationClient {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cc.Close() })
	return authv3.NewAuthorizationClient(cc)
}

func withToken(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// allowedBy reads a CheckResponse as Envoy would, and checks that a denial
// carries a 403 and a JSON body.
func allowedBy(tb testing.TB, res *authv3.CheckResponse) bool {
	tb.Helper()
	switch c := codes.Code(res.GetStatus().GetCode()); c {
	case codes.OK:
		return true
	case codes.PermissionDenied:
		d := res.GetDeniedResponse()
		if d.GetStatus().GetCode() != typev3.StatusCode_Forbidden || !json.Valid([]byte(d.GetBody())) {
			tb.Fatalf("denied response: status %v, body %q", d.GetStatus().GetCode(), d.GetBody())
		}
		return false
	default:
		tb.Fatalf("status %v", c)
		return false
	}
}

// TestOPAExtAuthz starts the OPA ext_authz server on loopback and asks it
// over gRPC: the load's mix, routes the mix does not use (parameters,
// prefixes, case, unmapped methods, a query), a request without an
// account and callers without the token; every answer must match
// Holdfast's route matcher over a direct reading of the data.
func TestOPAExtAuthz(t *testing.T) {
	secret := "hf_bench_secret"
	srv := newOPAAuthz(t, secret)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := serveOPAAuthz(srv, ln)
	defer gs.Stop()
	c := dialAuthz(t, ln.Addr().String())
	ctx := withToken(context.Background(), secret)
	table, err := gateway.Compile(policy.Default().Gateway)
	if err != nil {
		t.Fatal(err)
	}

	reqs := authzMix(2_000)
	ds := dataSet()
	r := rand.New(rand.NewPCG(3, 4))
	for i, p := range []string{
		"/api/v1/orders/42", "/API/v1/Orders-batch", "/api/v1/positions/7/close", "/api/v1/positions/7/close/x",
		"/api/v1/p2p/offers/9", "/api/v1/security/2fa", "/api/v1/transfers?x=1", "/api/v1/withdrawal-addresses",
		"/api/v1/api-keys", "/api/v1/deposit-addresses", "/api/v1/sessions", "/api/v1", "/api/v2/orders", "/healthz",
	} {
		for _, m := range []string{"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "post", "get"} {
			reqs = append(reqs, authzRequest(m, p, ds.restricted[r.IntN(len(ds.restricted))], fmt.Sprint("x", i)))
		}
	}
	reqs = append(reqs, authzRequest("POST", "/api/v1/withdrawals", "", "none"), authzRequest("GET", "/api/v1/balances", "", "none-get"))
	var allowed, denied int
	for _, q := range reqs {
		want := wantAuthz(t, table, q, time.Now().Unix())
		res, err := c.Check(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		h := q.GetAttributes().GetRequest().GetHttp()
		if got := allowedBy(t, res); got != want {
			t.Fatalf("%s %s account %q: allowed %v, want %v", h.Method, h.Path, h.Headers["x-account-id"], got, want)
		}
		if want {
			allowed++
		} else {
			denied++
		}
	}
	t.Logf("%d allowed, %d denied", allowed, denied)
	if allowed == 0 || denied == 0 {
		t.Fatal("the requests should have both answers")
	}
	for _, bad := range []context.Context{context.Background(), withToken(context.Background(), "hf_other")} {
		if _, err := c.Check(bad, reqs[0]); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("without the token: %v, want Unauthenticated", err)
		}
	}
}

// TestOPAExtAuthzServer serves the OPA ext_authz server until interrupted,
// for bench/extauthz.sh: HOLDFAST_BENCH_EXTAUTHZ is the address to listen
// on, HOLDFAST_BENCH_EXTAUTHZ_TOKEN the bearer token callers must send.
func TestOPAExtAuthzServer(t *testing.T) {
	addr := os.Getenv("HOLDFAST_BENCH_EXTAUTHZ")
	if addr == "" {
		t.Skip("set HOLDFAST_BENCH_EXTAUTHZ=host:port (and HOLDFAST_BENCH_EXTAUTHZ_TOKEN) to serve")
	}
	secret := os.Getenv("HOLDFAST_BENCH_EXTAUTHZ_TOKEN")
	if secret == "" {
		t.Fatal("HOLDFAST_BENCH_EXTAUTHZ_TOKEN is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t0 := time.Now()
	srv := newOPAAuthz(t, secret)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	gs := serveOPAAuthz(srv, ln)
	fmt.Printf("opa ext_authz listening on %s (loaded in %v)\n", ln.Addr(), time.Since(t0).Round(time.Millisecond))
	<-ctx.Done()
	gs.Stop()
}

// TestExtAuthzPrepare writes what bench/extauthz.sh needs into the
// directory HOLDFAST_BENCH_EXTAUTHZ_PREP: data/, a Holdfast data directory
// holding the fixture's restrictions (serve it with holdfast serve --data);
// requests.json, the load's CheckRequests as ghz data (an array, which ghz
// sends round-robin); authz.protoset, the descriptors of
// envoy.service.auth.v3 for ghz --protoset.
func TestExtAuthzPrepare(t *testing.T) {
	dir := os.Getenv("HOLDFAST_BENCH_EXTAUTHZ_PREP")
	if dir == "" {
		t.Skip("set HOLDFAST_BENCH_EXTAUTHZ_PREP=DIR to write the ext_authz load's data")
	}
	ctx := context.Background()
	t0 := time.Now()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	if err := fillStore(ctx, db, dataSet()); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("filled %s in %v", filepath.Join(dir, "data"), time.Since(t0).Round(time.Millisecond))

	var msgs []json.RawMessage
	for _, q := range authzMix(envInt("HOLDFAST_BENCH_EXTAUTHZ_REQUESTS", 10_000)) {
		b, err := protojson.Marshal(q)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, b)
	}
	b, _ := json.Marshal(msgs)
	if err := os.WriteFile(filepath.Join(dir, "requests.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}

	b = protoset(t, authv3.File_envoy_service_auth_v3_external_auth_proto)
	if err := os.WriteFile(filepath.Join(dir, "authz.protoset"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestExtAuthzSameAnswers asks two running ext_authz servers the first
// requests of requests.json and requires the same verdict from both, so
// that the load compares servers that agree: HOLDFAST_BENCH_EXTAUTHZ_SAME
// is "addr1,token1,addr2,token2", HOLDFAST_BENCH_EXTAUTHZ_PREP the
// directory TestExtAuthzPrepare wrote.
func TestExtAuthzSameAnswers(t *testing.T) {
	spec := strings.Split(os.Getenv("HOLDFAST_BENCH_EXTAUTHZ_SAME"), ",")
	if len(spec) != 4 {
		t.Skip("set HOLDFAST_BENCH_EXTAUTHZ_SAME=addr1,token1,addr2,token2 and HOLDFAST_BENCH_EXTAUTHZ_PREP=DIR")
	}
	b, err := os.ReadFile(filepath.Join(os.Getenv("HOLDFAST_BENCH_EXTAUTHZ_PREP"), "requests.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	a, z := dialAuthz(t, spec[0]), dialAuthz(t, spec[2])
	actx, zctx := withToken(context.Background(), spec[1]), withToken(context.Background(), spec[3])
	var allowed, denied int
	for _, m := range raw[:min(len(raw), 2_000)] {
		q := &authv3.CheckRequest{}
		if err := protojson.Unmarshal(m, q); err != nil {
			t.Fatal(err)
		}
		ra, err := a.Check(actx, q)
		if err != nil {
			t.Fatalf("%s: %v", spec[0], err)
		}
		rz, err := z.Check(zctx, q)
		if err != nil {
			t.Fatalf("%s: %v", spec[2], err)
		}
		ga, gz := allowedBy(t, ra), allowedBy(t, rz)
		if ga != gz {
			h := q.GetAttributes().GetRequest().GetHttp()
			t.Errorf("%s %s %s: %s allowed %v, %s allowed %v", h.Method, h.Path, h.Headers["x-account-id"], spec[0], ga, spec[2], gz)
		}
		if ga {
			allowed++
		} else {
			denied++
		}
	}
	t.Logf("%d requests: %d allowed, %d denied", allowed+denied, allowed, denied)
}
