package rpc_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
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

// TestReadyzSaysWhyStale: a node holding a change it could not apply (its
// store gone underneath) is stale however fresh its feed, and /readyz says
// so rather than "behind the change feed by" a few milliseconds.
func TestReadyzSaysWhyStale(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default(), Logger: log, Feed: &engine.FeedConfig{MaxLag: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rpc.Handler(rpc.Config{Engine: eng, Staff: db, Logger: log}))
	defer srv.Close()
	readyz := func() (int, string) {
		res, err := srv.Client().Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	eng.FeedAt(time.Now())
	if status, body := readyz(); status != 200 {
		t.Fatalf("before: /readyz = %d %q", status, body)
	}

	db.Close()
	if eng.Refresh(ctx, "acct-1") == nil || eng.Refresh(ctx, "acct-2") == nil {
		t.Fatal("a reload on a closed store succeeded")
	}
	eng.FeedAt(time.Now())
	status, body := readyz()
	if status != 503 || !strings.HasPrefix(body, "a change for 2 account(s) could not be applied yet") {
		t.Errorf("after failed reloads: /readyz = %d %q", status, body)
	}
	if eng.Rebuild(ctx) == nil {
		t.Fatal("a rebuild on a closed store succeeded")
	}
	status, body = readyz()
	if status != 503 || !strings.HasPrefix(body, "a rebuild of the index from the store failed") || !strings.Contains(body, "a change for 2 account(s)") {
		t.Errorf("after a failed rebuild: /readyz = %d %q", status, body)
	}
}
