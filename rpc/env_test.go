package rpc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/rpc"
	"github.com/holdfast/holdfast/sqlite"
)

// env is a real server: SQLite in a temp dir, the engine with the default
// policy, and the API on a loopback listener speaking HTTP/1.1 and h2c.
type env struct {
	t      *testing.T
	db     *sqlite.DB
	engine *engine.Engine
	srv    *httptest.Server
	tokens map[string]string // name → secret
}

// Staff members and the tokens the tests use. A token named after a staff
// member has the staff scope and acts as that member.
var (
	testStaff = map[string][]holdfast.Role{
		"alice": {holdfast.RoleSupport},
		"carol": {holdfast.RoleCompliance},
		"dave":  {holdfast.RoleCompliance},
		"lee":   {holdfast.RoleLELiaison},
		"admin": {holdfast.RoleAdmin},
	}
	testTokens = map[string][]holdfast.Scope{
		"check":  {holdfast.ScopeCheck},
		"self":   {holdfast.ScopeSelfService},
		"events": {holdfast.ScopeEvents},
	}
)

func newEnv(t *testing.T, opts ...func(*rpc.Config)) *env {
	t.Helper()
	return newEnvWith(t, engine.Config{}, opts...)
}

// newEnvWith is newEnv with an engine configured as ec says (its store,
// policy, clock and logger are the env's).
func newEnvWith(t *testing.T, ec engine.Config, opts ...func(*rpc.Config)) *env {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := rpc.NewMetrics()
	ec.Store, ec.Policy, ec.Clock, ec.Logger = m.Store(db), policy.Default(), holdfast.WallClock{}, log
	eng, err := engine.New(ctx, ec)
	if err != nil {
		t.Fatal(err)
	}
	cfg := rpc.Config{Engine: eng, Staff: db, Metrics: m, Logger: log}
	for _, o := range opts {
		o(&cfg)
	}
	// Served as serve does: cleartext gRPC on grpc-go, the rest on
	// net/http, one port; e.grpc's clients reach grpc-go.
	api := rpc.New(cfg)
	srv := httptest.NewUnstartedServer(api)
	srv.Config.Protocols = rpc.NewHTTPServer("", nil).Protocols
	split := rpc.SplitGRPC(srv.Listener)
	srv.Listener = split.HTTP()
	grpcSrv, grpcLn := api.GRPCServer(nil), split.GRPC()
	go grpcSrv.Serve(grpcLn)
	srv.Start()
	t.Cleanup(func() { grpcSrv.Stop(); srv.Close() })

	e := &env{t: t, db: db, engine: eng, srv: srv, tokens: map[string]string{}}
	now := time.Now()
	for id, roles := range testStaff {
		if err := db.PutStaff(ctx, &holdfast.StaffMember{ID: id, Roles: roles, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		e.mint(id, []holdfast.Scope{holdfast.ScopeStaff}, id)
	}
	for name, scopes := range testTokens {
		e.mint(name, scopes, "")
	}
	return e
}

func (e *env) mint(name string, scopes []holdfast.Scope, staff string) {
	secret, tok, err := rpc.NewToken(scopes, staff, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.PutToken(context.Background(), tok); err != nil {
		e.t.Fatal(err)
	}
	e.tokens[name] = secret
}

// as returns Connect-protocol clients using the named token.
func (e *env) as(name string) *rpc.Clients {
	return rpc.NewClients(e.srv.Client(), e.srv.URL, e.tokens[name])
}

// grpc returns gRPC clients (over h2c) using the named token.
func (e *env) grpc(name string) *rpc.Clients {
	return rpc.NewClients(rpc.H2CClient(), e.srv.URL, e.tokens[name], connect.WithGRPC())
}

// post sends a JSON body the way curl would and returns the status and the
// raw response body.
func (e *env) post(token, procedure, body string) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+procedure, bytes.NewBufferString(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+e.tokens[token])
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// get fetches an operator endpoint.
func (e *env) get(path string) (int, string) {
	e.t.Helper()
	res, err := e.srv.Client().Get(e.srv.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// apply applies a restriction as a staff member and returns its id.
func (e *env) apply(staff, account string, kind holdfast.Kind, dur string) string {
	e.t.Helper()
	req := &holdfastv1.ApplyRequest{Account: account, Kind: string(kind), Duration: dur, Reason: "test"}
	if kp := e.engine.Policy().Kind(kind); kp != nil && kp.RequireReference {
		req.Reference = "ref-" + account // the API refuses such a kind without one
	}
	res, err := e.as(staff).Restriction.Apply(context.Background(), connect.NewRequest(req))
	if err != nil {
		e.t.Fatalf("apply %s to %s as %s: %v", kind, account, staff, err)
	}
	return res.Msg.Restriction.Id
}

// history returns the account's audit log length, read as admin.
// holder makes account known, as the exchange's services do: by
// reporting a sign-in.
func (e *env) holder(account string) {
	e.t.Helper()
	if status, body := e.post("events", "/holdfast.v1.EventService/Ingest", `{"event":{"type":"login","account":"`+account+`","device":"phone","session":"s1"}}`); status != 200 {
		e.t.Fatalf("login of %s: %d %s", account, status, body)
	}
}

// contact makes contact a trusted contact of account: invited through
// the API, accepted by its holder (in the Security Center).
func (e *env) contact(account, contact string) {
	e.t.Helper()
	e.holder(contact)
	if status, body := e.post("self", "/holdfast.v1.SelfService/AddTrustedContact", `{"account":"`+account+`","contact":"`+contact+`"}`); status != 200 {
		e.t.Fatalf("invite %s: %d %s", contact, status, body)
	}
	if err := e.engine.AcceptContactInvitation(context.Background(), contact, account, holdfast.User(contact)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) history(account string) int {
	e.t.Helper()
	res, err := e.as("admin").Restriction.History(context.Background(), connect.NewRequest(&holdfastv1.HistoryRequest{Account: account}))
	if err != nil {
		e.t.Fatal(err)
	}
	return len(res.Msg.Entries)
}

// decode unmarshals a JSON response body into a generic map.
func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, b)
	}
	return m
}

// wantErr checks a client error's domain code (from ErrorDetail) and field.
func wantErr(t *testing.T, err error, code holdfast.Code, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	gotCode, gotField, msg := rpc.ErrorInfo(err)
	if gotCode != string(code) || (field != "" && gotField != field) {
		t.Fatalf("got %s (field %q): %s; want %s (field %q)", gotCode, gotField, msg, code, field)
	}
}
