package rpc_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
)

func TestOperatorEndpoints(t *testing.T) {
	e := newEnv(t)
	e.apply("alice", "acct-1", holdfast.KindCoolingOff, "")
	e.post("check", "/holdfast.v1.DecisionService/Check", `{"account":"acct-1","action":"withdraw"}`)

	if status, body := e.get("/healthz"); status != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", status, body)
	}
	if status, body := e.get("/readyz"); status != 200 || body != "ready\n" {
		t.Errorf("/readyz = %d %q", status, body)
	}
	status, body := e.get("/metrics")
	if status != 200 {
		t.Fatalf("/metrics = %d", status)
	}
	for _, want := range []string{
		`holdfast_decisions_total{action="withdraw",effect="deny",kind="cooling_off"} 1`,
		`holdfast_check_duration_seconds_count 1`,
		`holdfast_rpc_duration_seconds_count{code="ok",procedure="/holdfast.v1.DecisionService/Check"} 1`,
		`holdfast_store_commit_duration_seconds_count{result="ok"}`,
		`holdfast_index_accounts 1`,
		`holdfast_index_restrictions 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestGate: while the engine loads, the node is live but not ready.
func TestGate(t *testing.T) {
	var g rpc.Gate
	srv := httptest.NewServer(&g)
	defer srv.Close()
	get := func(path string) int {
		res, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if get("/healthz") != 200 || get("/readyz") != 503 || get("/holdfast.v1.DecisionService/Check") != 503 {
		t.Error("before Open: want /healthz 200, the rest 503")
	}
	g.Open(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	if get("/readyz") != 204 {
		t.Error("after Open the real handler must answer")
	}
}

// TestInternalErrors: a panic or a store failure reaches the caller only as
// a generic internal error; the server keeps serving.
func TestInternalErrors(t *testing.T) {
	e := newEnv(t)
	// A handler without an engine panics on its first call.
	broken := httptest.NewServer(rpc.Handler(rpc.Config{Staff: e.db, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	defer broken.Close()
	c := rpc.NewClients(broken.Client(), broken.URL, e.tokens["check"])
	for range 2 {
		_, err := c.Decision.Check(context.Background(), connect.NewRequest(&holdfastv1.CheckRequest{Account: "acct-1", Action: "trade"}))
		wantErr(t, err, holdfast.Internal, "")
		if connect.CodeOf(err) != connect.CodeInternal || strings.Contains(err.Error(), "nil pointer") {
			t.Errorf("panic leaked: %v", err)
		}
	}

	// The store going away mid-flight.
	e.db.Close()
	_, err := e.as("alice").Restriction.Apply(context.Background(), connect.NewRequest(&holdfastv1.ApplyRequest{Account: "acct-1", Kind: "reduce_only", Duration: "24h"}))
	wantErr(t, err, holdfast.Internal, "")
	if _, _, msg := rpc.ErrorInfo(err); strings.Contains(msg, "sqlite") || strings.Contains(msg, "closed") {
		t.Errorf("store error leaked: %s", msg)
	}
}
