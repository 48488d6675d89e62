package rpc_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"

	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
)

// TestGRPCGate: the native gRPC procedures and the bridged ones answer
// unavailable while the gate is fenced, as HTTP answers 503, and serve
// again once it is lifted; the gRPC metrics count native calls.
func TestGRPCGate(t *testing.T) {
	e := newEnv(t)
	m := rpc.NewMetrics()
	api := rpc.New(rpc.Config{Engine: e.engine, Staff: e.db, Metrics: m, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	var gate rpc.Gate
	gate.Open(api)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	split := rpc.SplitGRPC(ln)
	hs := rpc.NewHTTPServer("", &gate)
	go hs.Serve(split.HTTP())
	defer hs.Close()
	gs, grpcLn := api.GRPCServer(&gate), split.GRPC()
	go gs.Serve(grpcLn)
	defer gs.Stop()

	c := rpc.NewClients(rpc.H2CClient(), "http://"+ln.Addr().String(), e.tokens["check"], connect.WithGRPC())
	ctx := context.Background()
	req := &holdfastv1.CheckRequest{Account: "acct-1", Action: "withdraw"}
	calls := func() (native, bridged error) {
		_, native = c.Decision.Check(ctx, connect.NewRequest(req))
		_, bridged = c.Decision.BatchCheck(ctx, connect.NewRequest(&holdfastv1.BatchCheckRequest{Checks: []*holdfastv1.CheckRequest{req}}))
		return native, bridged
	}
	if native, bridged := calls(); native != nil || bridged != nil {
		t.Fatalf("open: %v, %v", native, bridged)
	}
	gate.Fence("not serving: lost the node lock on the store")
	native, bridged := calls()
	if connect.CodeOf(native) != connect.CodeUnavailable || connect.CodeOf(bridged) != connect.CodeUnavailable || !strings.Contains(bridged.Error(), "lost the node lock") {
		t.Fatalf("fenced: %v, %v; want unavailable", native, bridged)
	}
	gate.Fence("")
	if native, bridged := calls(); native != nil || bridged != nil {
		t.Fatalf("lifted: %v, %v", native, bridged)
	}
	res, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{
		`holdfast_rpc_duration_seconds_count{code="ok",procedure="/holdfast.v1.DecisionService/Check"} 2`,
		`holdfast_rpc_duration_seconds_count{code="ok",procedure="/holdfast.v1.DecisionService/BatchCheck"} 2`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestGRPCBodyLimit: over gRPC a message larger than the server's body
// limit is resource_exhausted with connect's words, whether grpc-go
// answers it natively (Check) or hands it to connect (BatchCheck).
func TestGRPCBodyLimit(t *testing.T) {
	e := newEnv(t, func(c *rpc.Config) { c.MaxBodyBytes = 1024 })
	ctx := context.Background()
	big := &holdfastv1.CheckRequest{Account: strings.Repeat("a", 2000), Action: "withdraw"}
	_, native := e.grpc("check").Decision.Check(ctx, connect.NewRequest(big))
	_, bridged := e.grpc("check").Decision.BatchCheck(ctx, connect.NewRequest(&holdfastv1.BatchCheckRequest{Checks: []*holdfastv1.CheckRequest{big}}))
	for name, err := range map[string]error{"native": native, "bridged": bridged} {
		if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "is larger than configured max 1024") {
			t.Errorf("%s: %v, want resource_exhausted over 1024 bytes", name, err)
		}
	}
	if _, err := e.grpc("check").Decision.Check(ctx, connect.NewRequest(&holdfastv1.CheckRequest{Account: "acct-1", Action: "withdraw"})); err != nil {
		t.Fatalf("a small Check: %v", err)
	}
}
