package main

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
)

// otlpReceiver is an OTLP/HTTP trace receiver: what a collector does
// with what Holdfast exports, kept for the test to read.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, _ := io.ReadAll(body)
	var req coltracepb.ExportTraceServiceRequest
	if r.URL.Path != "/v1/traces" || proto.Unmarshal(b, &req) != nil {
		http.Error(w, "not an OTLP trace export", http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			o.spans = append(o.spans, ss.Spans...)
		}
	}
	o.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

// find waits for a span of trace whose parent is parent and whose name
// is name.
func (o *otlpReceiver) find(t *testing.T, trace, parent []byte, name string) *tracepb.Span {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		o.mu.Lock()
		for _, s := range o.spans {
			if string(s.TraceId) == string(trace) && string(s.ParentSpanId) == string(parent) && s.Name == name {
				o.mu.Unlock()
				return s
			}
		}
		o.mu.Unlock()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	var seen []string
	for _, s := range o.spans {
		if string(s.TraceId) == string(trace) {
			seen = append(seen, s.Name+" (parent "+hex.EncodeToString(s.ParentSpanId)+")")
		}
	}
	var all []string
	for _, s := range o.spans {
		all = append(all, s.Name+" "+hex.EncodeToString(s.TraceId))
	}
	t.Fatalf("no span %q under %x in trace %x; the trace has: %s; all: %s", name, parent, trace, strings.Join(seen, ", "), strings.Join(all, ", "))
	return nil
}

// TestTracing: with --otlp-endpoint, a check (over Connect and over
// gRPC) and a withdrawal reach an OTLP receiver as spans continuing the
// caller's W3C trace: the call's server span under the caller's span,
// and for the withdrawal the engine's decision and its store
// transaction beneath it.
func TestTracing(t *testing.T) {
	bin := buildHoldfast(t)
	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	t.Cleanup(collector.Close)
	data := t.TempDir()
	_, tok, _ := cli(t, "token", "create", "--data", data, "--scopes", "check")
	token := strings.TrimSpace(tok)
	addr := freePort(t)
	n := &node{t: t, url: "http://" + addr, args: []string{bin, "serve", "--addr", addr, "--data", data, "--log-level", "error", "--otlp-endpoint", collector.URL},
		env: []string{"OTEL_BSP_SCHEDULE_DELAY=100"}}
	n.start()
	t.Cleanup(n.kill)
	c := rpc.NewClients(nil, n.url, token)
	ctx := context.Background()
	traceparent := func(trace, span string) ([]byte, []byte, string) {
		tb, _ := hex.DecodeString(trace)
		sb, _ := hex.DecodeString(span)
		return tb, sb, "00-" + trace + "-" + span + "-01"
	}

	// A check over Connect.
	trace1, parent1, tp := traceparent("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
	req := connect.NewRequest(&holdfastv1.CheckRequest{Account: "acct-1", Action: "withdraw"})
	req.Header().Set("traceparent", tp)
	if _, err := c.Decision.Check(ctx, req); err != nil {
		t.Fatal(err)
	}
	recv.find(t, trace1, parent1, "holdfast.v1.DecisionService/Check")

	// A check over gRPC, served by grpc-go.
	trace2, parent2, tp := traceparent("5bf92f3577b34da6a3ce929d0e0e4736", "10f067aa0ba902b7")
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gctx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token, "traceparent", tp)
	if err := conn.Invoke(gctx, "/holdfast.v1.DecisionService/Check", &holdfastv1.CheckRequest{Account: "acct-1", Action: "trade"}, new(holdfastv1.CheckResponse)); err != nil {
		t.Fatal(err)
	}
	recv.find(t, trace2, parent2, "holdfast.v1.DecisionService/Check")

	// A withdrawal: the call, the engine's decision, the store transaction.
	trace3, parent3, tp := traceparent("6bf92f3577b34da6a3ce929d0e0e4736", "20f067aa0ba902b7")
	wreq := connect.NewRequest(&holdfastv1.AuthorizeWithdrawalRequest{Account: "acct-2", Id: "w-1", Asset: "USDT", Amount: "10", Address: "addr-1"})
	wreq.Header().Set("traceparent", tp)
	if _, err := c.Decision.AuthorizeWithdrawal(ctx, wreq); err != nil {
		t.Fatal(err)
	}
	call := recv.find(t, trace3, parent3, "holdfast.v1.DecisionService/AuthorizeWithdrawal")
	decide := recv.find(t, trace3, call.SpanId, "engine.authorize_withdrawal")
	recv.find(t, trace3, decide.SpanId, "store.update")
}
