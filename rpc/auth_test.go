package rpc_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
)

// TestAuth: who may call what. Missing or bad tokens are unauthenticated;
// a valid token without the procedure's scope is permission_denied.
func TestAuth(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.apply("alice", "acct-1", holdfast.KindReduceOnly, "24h")
	check := func(c *rpc.Clients) error {
		_, err := c.Decision.Check(ctx, connect.NewRequest(&holdfastv1.CheckRequest{Account: "acct-1", Action: "trade"}))
		return err
	}
	apply := func(c *rpc.Clients) error {
		_, err := c.Restriction.Apply(ctx, connect.NewRequest(&holdfastv1.ApplyRequest{Account: "acct-2", Kind: "reduce_only", Duration: "24h"}))
		return err
	}
	freeze := func(c *rpc.Clients) error {
		_, err := c.Self.Freeze(ctx, connect.NewRequest(&holdfastv1.FreezeRequest{Account: "acct-3", Duration: "24h"}))
		return err
	}
	verify := func(c *rpc.Clients) error {
		_, err := c.Self.Verify(ctx, connect.NewRequest(&holdfastv1.VerifyRequest{Account: "acct-4", Factors: []string{"email"}}))
		return err
	}
	forged := rpc.NewClients(e.srv.Client(), e.srv.URL, "hf_"+strings.Repeat("A", 43))
	tests := []struct {
		name   string
		call   func(*rpc.Clients) error
		client *rpc.Clients
		code   holdfast.Code // "" = success
	}{
		{"no token", check, rpc.NewClients(e.srv.Client(), e.srv.URL, ""), holdfast.Unauthenticated},
		{"malformed token", check, rpc.NewClients(e.srv.Client(), e.srv.URL, "secret"), holdfast.Unauthenticated},
		{"unknown token", check, forged, holdfast.Unauthenticated},
		{"check scope checks", check, e.as("check"), ""},
		{"self_service may not check", check, e.as("self"), holdfast.PermissionDenied},
		{"staff may not check without the check scope", check, e.as("admin"), holdfast.PermissionDenied},
		{"check may not apply", apply, e.as("check"), holdfast.PermissionDenied},
		{"staff applies", apply, e.as("alice"), ""},
		{"self_service freezes for the holder", freeze, e.as("self"), ""},
		{"events may not freeze", freeze, e.as("events"), holdfast.PermissionDenied},
		{"events verifies", verify, e.as("events"), ""},
		{"staff verifies", verify, e.as("alice"), ""},
		{"self_service may not verify", verify, e.as("self"), holdfast.PermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(tt.client)
			if tt.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantErr(t, err, tt.code, "authorization")
		})
	}
	// Auth comes before the body is read: garbage from a stranger is
	// unauthenticated, not a parse error.
	if status, body := e.post("", "/holdfast.v1.DecisionService/Check", `{{{`); status != http.StatusUnauthorized {
		t.Errorf("status %d: %s", status, body)
	}
}

// TestTokensAreNotLogged runs requests with debug logging and checks that
// no secret reaches the log, while one line per request does.
func TestTokensAreNotLogged(t *testing.T) {
	e := newEnv(t)
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := rpc.Handler(rpc.Config{Engine: e.engine, Staff: e.db, Logger: log})
	srv := e.srv
	srv.Config.Handler = h
	for _, tok := range []string{"check", "self", ""} {
		e.post(tok, "/holdfast.v1.DecisionService/Check", `{"account":"acct-1","action":"trade"}`)
	}
	out := buf.String()
	for name, secret := range e.tokens {
		if strings.Contains(out, secret) {
			t.Errorf("token %s appears in the log", name)
		}
	}
	if strings.Count(out, `"msg":"rpc"`) != 3 {
		t.Errorf("log:\n%s", out)
	}
}

func TestNewToken(t *testing.T) {
	secret, tok, err := rpc.NewToken([]holdfast.Scope{holdfast.ScopeStaff, holdfast.ScopeCheck}, "admin", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "hf_") || len(secret) != 46 || tok.Hash != rpc.HashToken(secret) || strings.Contains(tok.Hash, secret) {
		t.Errorf("secret %q, token %+v", secret, tok)
	}
	for _, tt := range []struct {
		scopes []holdfast.Scope
		staff  string
		field  string
	}{
		{nil, "", "scopes"},
		{[]holdfast.Scope{"root"}, "", "scopes"},
		{[]holdfast.Scope{holdfast.ScopeCheck, holdfast.ScopeCheck}, "", "scopes"},
		{[]holdfast.Scope{holdfast.ScopeStaff}, "", "staff"},
		{[]holdfast.Scope{holdfast.ScopeCheck}, "admin", "staff"},
	} {
		_, _, err := rpc.NewToken(tt.scopes, tt.staff, time.Now())
		if holdfast.ErrorCode(err) != holdfast.InvalidArgument || holdfast.ErrorField(err) != tt.field {
			t.Errorf("NewToken(%v, %q) = %v, want invalid_argument on %s", tt.scopes, tt.staff, err, tt.field)
		}
	}
}
