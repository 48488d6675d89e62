package rpc_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/gen/holdfast/v1/holdfastv1connect"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/rpc"
)

// TestCheckJSON posts checks as curl would and reads the JSON exactly:
// snake_case names, docs/design.md's words, "causes" present even when empty.
func TestCheckJSON(t *testing.T) {
	e := newEnv(t)
	e.apply("alice", "acct-cool", holdfast.KindCoolingOff, "")
	e.apply("carol", "acct-full", holdfast.KindFullRestriction, "")

	tests := []struct {
		name, body string
		effect     string
		kinds      []string
	}{
		{"unknown account is allowed", `{"account":"acct-none","action":"withdraw"}`, "allow", nil},
		{"cooling_off denies withdraw", `{"account":"acct-cool","action":"withdraw","device":"d1","ip":"10.0.0.1"}`, "deny", []string{"cooling_off"}},
		{"cooling_off leaves trade", `{"account":"acct-cool","action":"trade"}`, "allow", nil},
		{"full_restriction denies trade", `{"account":"acct-full","action":"trade","view":"staff"}`, "deny", []string{"full_restriction"}},
		{"full_restriction leaves login", `{"account":"acct-full","action":"login"}`, "allow", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.post("check", "/holdfast.v1.DecisionService/Check", tt.body)
			if status != 200 {
				t.Fatalf("status %d: %s", status, body)
			}
			got := decode(t, body)
			if got["effect"] != tt.effect {
				t.Errorf("effect = %v, want %s\n%s", got["effect"], tt.effect, body)
			}
			causes, ok := got["causes"].([]any)
			if !ok {
				t.Fatalf("causes missing or not a list: %s", body)
			}
			var kinds []string
			for _, c := range causes {
				c := c.(map[string]any)
				kinds = append(kinds, c["kind"].(string))
				for _, k := range []string{"id", "kind", "effect", "message", "starts_at", "resolution"} {
					if _, ok := c[k]; !ok {
						t.Errorf("cause lacks %q: %s", k, body)
					}
				}
				if strings.Contains(string(body), "startsAt") || strings.Contains(string(body), "retryAfter") {
					t.Errorf("camelCase name in %s", body)
				}
			}
			if !slices.Equal(kinds, tt.kinds) {
				t.Errorf("cause kinds = %v, want %v", kinds, tt.kinds)
			}
			if tt.effect == "allow" && string(body) != `{"effect":"allow","causes":[]}` {
				t.Errorf("allow answer = %s", body)
			}
		})
	}

	// A timed restriction says when it ends, in RFC 3339, and when to retry.
	_, body := e.post("check", "/holdfast.v1.DecisionService/Check", `{"account":"acct-cool","action":"withdraw"}`)
	got := decode(t, body)
	c := got["causes"].([]any)[0].(map[string]any)
	if c["level"] != "L1" || c["effect"] != "deny" {
		t.Errorf("cause = %v", c)
	}
	ends, err := time.Parse(time.RFC3339, c["ends_at"].(string))
	if err != nil || time.Until(ends) < 23*time.Hour {
		t.Errorf("ends_at = %v (%v)", c["ends_at"], err)
	}
	if got["retry_after"] != c["ends_at"] {
		t.Errorf("retry_after = %v, want the end %v", got["retry_after"], c["ends_at"])
	}
}

// TestCheckGRPC speaks gRPC over h2c through the generated client.
func TestCheckGRPC(t *testing.T) {
	e := newEnv(t)
	e.apply("alice", "acct-1", holdfast.KindCoolingOff, "48h")
	ctx := context.Background()
	res, err := e.grpc("check").Decision.Check(ctx, connect.NewRequest(&holdfastv1.CheckRequest{Account: "acct-1", Action: "withdraw"}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Msg.Effect != "deny" || len(res.Msg.Causes) != 1 || res.Msg.Causes[0].GetKind() != "cooling_off" {
		t.Fatalf("got %v", res.Msg)
	}
	batch, err := e.grpc("check").Decision.BatchCheck(ctx, connect.NewRequest(&holdfastv1.BatchCheckRequest{Checks: []*holdfastv1.CheckRequest{
		{Account: "acct-1", Action: "withdraw"}, {Account: "acct-1", Action: "trade"},
	}}))
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{batch.Msg.Decisions[0].Effect, batch.Msg.Decisions[1].Effect}; !slices.Equal(got, []string{"deny", "allow"}) {
		t.Fatalf("batch effects = %v", got)
	}
	// Errors over gRPC carry the same detail.
	_, err = e.grpc("check").Decision.BatchCheck(ctx, connect.NewRequest(&holdfastv1.BatchCheckRequest{Checks: []*holdfastv1.CheckRequest{
		{Account: "acct-1", Action: "withdraw"}, {Account: "acct-1", Action: "fly"},
	}}))
	wantErr(t, err, holdfast.InvalidArgument, "checks[1].action")
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("gRPC code = %v", connect.CodeOf(err))
	}
}

// TestHolderViewHidesLawEnforcementHold: the holder learns only what a
// terms_violation would show (under an opaque id, with no end), through
// Check and Status alike.
func TestHolderViewHidesLawEnforcementHold(t *testing.T) {
	e := newEnv(t)
	id := e.apply("lee", "acct-le", holdfast.KindLawEnforcementHold, "")
	_, cover := policy.Default().Cover()
	generic := cover.Holder.Message

	_, body := e.post("check", "/holdfast.v1.DecisionService/Check", `{"account":"acct-le","action":"withdraw","view":"holder"}`)
	got := decode(t, body)
	if got["effect"] != "deny" {
		t.Fatalf("effect = %v", got["effect"])
	}
	causes := got["causes"].([]any)
	if len(causes) != 1 {
		t.Fatalf("causes = %v", causes)
	}
	c := causes[0].(map[string]any)
	if c["message"] != generic {
		t.Errorf("message = %q, want %q", c["message"], generic)
	}
	// Shown as a terms_violation under review: an opaque id, a start, no end.
	if c["kind"] != "terms_violation" || c["id"] == id || c["id"] == nil || c["starts_at"] == nil || c["ends_at"] != nil {
		t.Errorf("holder cause is not shaped like a terms_violation: %s", body)
	}
	if _, ok := got["retry_after"]; ok || strings.Contains(string(body), id) || strings.Contains(string(body), "law_enforcement") {
		t.Errorf("holder answer leaks the hold: %s", body)
	}

	// Status through the app backend's self_service token: holder view even
	// when staff view is asked for.
	status, body := e.post("self", "/holdfast.v1.SelfService/Status", `{"account":"acct-le","view":"staff"}`)
	if status != 200 || strings.Contains(string(body), id) || strings.Contains(string(body), "law_enforcement") || !strings.Contains(string(body), generic) {
		t.Errorf("holder status leaks or lacks the generic text: %d %s", status, body)
	}
	// Staff see it.
	_, body = e.post("check", "/holdfast.v1.DecisionService/Check", `{"account":"acct-le","action":"withdraw","view":"staff"}`)
	if !strings.Contains(string(body), `"kind":"law_enforcement_hold"`) {
		t.Errorf("staff view lacks the kind: %s", body)
	}

	// A wallet asking for the holder view of a withdrawal decision gets the
	// generic cause, first time and on replay; the staff view has the kind.
	for i, want := range []string{"holder", "holder", "staff"} {
		status, body = e.post("check", "/holdfast.v1.DecisionService/AuthorizeWithdrawal",
			`{"account":"acct-le","id":"w-le","asset":"USDT","amount":"5","address":"a1","view":"`+want+`"}`)
		leaks := strings.Contains(string(body), id) || strings.Contains(string(body), "law_enforcement")
		if status != 200 || !strings.Contains(string(body), `"outcome":"deny"`) || leaks != (want == "staff") {
			t.Errorf("withdrawal %d in %s view: %d %s", i, want, status, body)
		}
	}
}

// TestAuthorizeWithdrawal: an answer per id, replays idempotent.
func TestAuthorizeWithdrawal(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.as("check").Decision
	req := &holdfastv1.AuthorizeWithdrawalRequest{Account: "acct-w", Id: "wd-1", Asset: "USDT", Amount: "100", Address: "addr-1"}
	first, err := c.AuthorizeWithdrawal(ctx, connect.NewRequest(req))
	if err != nil || first.Msg.Outcome != "approve" {
		t.Fatalf("got %v, %v", first, err)
	}
	e.apply("alice", "acct-w", holdfast.KindPanicLock, "")
	again, err := c.AuthorizeWithdrawal(ctx, connect.NewRequest(req))
	if err != nil || again.Msg.Outcome != "approve" || again.Msg.Seq != first.Msg.Seq {
		t.Fatalf("replay got %v, %v; want the first answer", again, err)
	}
	req.Id = "wd-2"
	denied, err := c.AuthorizeWithdrawal(ctx, connect.NewRequest(req))
	if err != nil || denied.Msg.Outcome != "deny" || denied.Msg.Causes[0].GetKind() != "panic_lock" {
		t.Fatalf("after the panic lock got %v, %v", denied, err)
	}
}

// TestCheckStream: each batch sent over the stream is answered in order,
// each check exactly as Check answers it, over the Connect streaming
// protocol and gRPC alike; an invalid check gets its error in its place
// and the stream goes on; a malformed batch ends it; the scope holds.
func TestCheckStream(t *testing.T) {
	e := newEnv(t)
	e.apply("alice", "acct-1", holdfast.KindCoolingOff, "48h")
	ctx := context.Background()
	checks := []*holdfastv1.CheckRequest{
		{Account: "acct-1", Action: "withdraw"},
		{Account: "acct-1", Action: "trade"},
		{Account: "acct-2", Action: "withdraw"},
		{Account: "acct-1", Action: "withdraw", View: "holder"},
	}
	h2c := func(name string, opts ...connect.ClientOption) *rpc.Clients {
		return rpc.NewClients(rpc.H2CClient(), e.srv.URL, e.tokens[name], opts...)
	}
	for name, c := range map[string]*rpc.Clients{"connect": h2c("check"), "grpc": h2c("check", connect.WithGRPC())} {
		t.Run(name, func(t *testing.T) {
			st := c.Decision.CheckStream(ctx)
			defer st.CloseResponse()
			// One batch of all, then one check per message.
			batches := [][]*holdfastv1.CheckRequest{checks}
			for _, q := range checks {
				batches = append(batches, []*holdfastv1.CheckRequest{q})
			}
			for _, b := range batches {
				if err := st.Send(&holdfastv1.CheckStreamRequest{Checks: b}); err != nil {
					t.Fatal(err)
				}
				got, err := st.Receive()
				if err != nil {
					t.Fatal(err)
				}
				if len(got.Decisions) != len(b) {
					t.Fatalf("%d answers to %d checks", len(got.Decisions), len(b))
				}
				for i, q := range b {
					want, err := c.Decision.Check(ctx, connect.NewRequest(q))
					if err != nil {
						t.Fatal(err)
					}
					if !proto.Equal(got.Decisions[i], want.Msg) {
						t.Fatalf("check %d: stream answered %v, Check %v", i, got.Decisions[i], want.Msg)
					}
				}
			}
			// A bad check is answered by its error, in its place.
			if err := st.Send(&holdfastv1.CheckStreamRequest{Checks: []*holdfastv1.CheckRequest{checks[1], {Account: "acct-1", Action: "fly"}, checks[0]}}); err != nil {
				t.Fatal(err)
			}
			got, err := st.Receive()
			if err != nil {
				t.Fatal(err)
			}
			if d := got.Decisions; d[0].Effect != "allow" || d[1].Effect != "" || d[1].GetError().GetCode() != "invalid_argument" || d[1].GetError().GetField() != "checks[1].action" || d[2].Effect != "deny" {
				t.Fatalf("a batch with a bad check: %v", got)
			}
			// An empty batch is a broken client: the stream ends. The server
			// may end it before Send has finished writing (an empty message
			// is all prefix): Send then wraps io.EOF and Receive has the
			// server's error, as connect documents.
			if err := st.Send(&holdfastv1.CheckStreamRequest{}); err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			_, err = st.Receive()
			wantErr(t, err, holdfast.InvalidArgument, "checks")
			st.CloseRequest()
		})
	}

	for token, code := range map[string]holdfast.Code{"": holdfast.Unauthenticated, "self": holdfast.PermissionDenied} {
		st := h2c(token).Decision.CheckStream(ctx)
		st.Send(&holdfastv1.CheckStreamRequest{Checks: checks[:1]})
		_, err := st.Receive()
		wantErr(t, err, code, "authorization")
		st.CloseResponse()
	}

	// A unary JSON call gets a clear error rather than a bare 415.
	status, body := e.post("check", holdfastv1connect.DecisionServiceCheckStreamProcedure, `{"checks":[{"account":"acct-1","action":"trade"}]}`)
	if status != http.StatusBadRequest || !strings.Contains(string(body), `"field":"content-type"`) {
		t.Fatalf("unary call to the stream: %d %s", status, body)
	}
}

// TestCheckStreamOutlivesServerTimeouts: the server's read and write
// timeouts bound a request, not a check stream, which lives as long as its
// client keeps it.
func TestCheckStreamOutlivesServerTimeouts(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewUnstartedServer(e.srv.Config.Handler)
	srv.Config.Protocols = rpc.NewHTTPServer("", nil).Protocols
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 200*time.Millisecond, 200*time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	c := rpc.NewClients(rpc.H2CClient(), srv.URL, e.tokens["check"], connect.WithGRPC())
	st := c.Decision.CheckStream(context.Background())
	defer st.CloseResponse()
	for i := range 3 {
		if err := st.Send(&holdfastv1.CheckStreamRequest{Checks: []*holdfastv1.CheckRequest{{Account: "acct-1", Action: "trade"}}}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if _, err := st.Receive(); err != nil {
			t.Fatalf("check %d, %v into the stream: %v", i, time.Duration(i)*300*time.Millisecond, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	st.CloseRequest()
}
