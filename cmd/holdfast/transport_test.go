package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	hfclient "github.com/holdfast/holdfast/client"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/gen/holdfast/v1/holdfastv1connect"
	"github.com/holdfast/holdfast/rpc"
)

// TestGRPCTransportsOnOnePort: on the one port of the real binary, a
// grpc-go client (served by grpc-go, natively and bridged), the Connect
// client over gRPC (h2c), the Connect client over JSON (HTTP/1.1) and a
// plain HTTP/1.1 POST all get the same answers, and a token that is
// unknown or lacks the scope is refused with the same code, domain code
// and message on every transport.
func TestGRPCTransportsOnOnePort(t *testing.T) {
	bin := buildHoldfast(t)
	data := t.TempDir()
	cli(t, "staff", "add", "--data", data, "--id", "admin", "--roles", "admin,compliance")
	_, admin, _ := cli(t, "token", "create", "--data", data, "--scopes", "staff,check", "--staff", "admin")
	_, check, _ := cli(t, "token", "create", "--data", data, "--scopes", "check")
	_, events, _ := cli(t, "token", "create", "--data", data, "--scopes", "events")
	admin, check, events = strings.TrimSpace(admin), strings.TrimSpace(check), strings.TrimSpace(events)
	unknown := "hf_" + strings.Repeat("A", 43)
	addr := freePort(t)
	n := &node{t: t, url: "http://" + addr, args: []string{bin, "serve", "--addr", addr, "--data", data, "--log-level", "error"}}
	n.start()
	t.Cleanup(n.kill)
	staffCLI(t, n, admin, "panic-lock", "--account", "acct-locked", "--duration", "24h")

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	withToken := func(token string) context.Context {
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	// connectClients are the Connect client over gRPC (h2c) and over
	// JSON (HTTP/1.1).
	connectClients := func(token string) map[string]holdfastv1connect.DecisionServiceClient {
		t.Helper()
		grpcClient, err := hfclient.New(hfclient.Config{URL: n.url, Token: token, Retries: -1, HTTPClient: rpc.H2CClient(), Options: []connect.ClientOption{connect.WithGRPC()}})
		if err != nil {
			t.Fatal(err)
		}
		jsonClient, err := hfclient.New(hfclient.Config{URL: n.url, Token: token, Retries: -1, HTTPClient: http.DefaultClient, Options: []connect.ClientOption{connect.WithProtoJSON()}})
		if err != nil {
			t.Fatal(err)
		}
		return map[string]holdfastv1connect.DecisionServiceClient{"connect gRPC": grpcClient.Decision(), "connect JSON": jsonClient.Decision()}
	}
	req := &holdfastv1.CheckRequest{Account: "acct-locked", Action: "withdraw"}

	// Answers.
	var res holdfastv1.CheckResponse
	if err := conn.Invoke(withToken(check), holdfastv1connect.DecisionServiceCheckProcedure, req, &res); err != nil || res.Effect != "deny" {
		t.Fatalf("grpc-go Check: %v %v, want deny", &res, err)
	}
	var batch holdfastv1.BatchCheckResponse // bridged to connect
	if err := conn.Invoke(withToken(check), holdfastv1connect.DecisionServiceBatchCheckProcedure, &holdfastv1.BatchCheckRequest{Checks: []*holdfastv1.CheckRequest{req, {Account: "acct-free", Action: "withdraw"}}}, &batch); err != nil ||
		len(batch.Decisions) != 2 || batch.Decisions[0].Effect != "deny" || batch.Decisions[1].Effect != "allow" {
		t.Fatalf("grpc-go BatchCheck: %v %v", &batch, err)
	}
	for name, c := range connectClients(check) {
		got, err := c.Check(ctx, connect.NewRequest(req))
		if err != nil || got.Msg.Effect != "deny" {
			t.Fatalf("%s Check: %v %v, want deny", name, got, err)
		}
	}
	post, _ := http.NewRequestWithContext(ctx, http.MethodPost, n.url+holdfastv1connect.DecisionServiceCheckProcedure, strings.NewReader(`{"account":"acct-locked","action":"withdraw"}`))
	post.Header.Set("Content-Type", "application/json")
	post.Header.Set("Authorization", "Bearer "+check)
	hres, err := http.DefaultClient.Do(post)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(hres.Body)
	hres.Body.Close()
	if hres.StatusCode != 200 || hres.ProtoMajor != 1 || !strings.Contains(string(body), `"effect":"deny"`) {
		t.Fatalf("HTTP/1.1 POST: %s %s %s", hres.Proto, hres.Status, body)
	}
	// The Go client's CheckStream over gRPC (native on grpc-go).
	streamer, err := hfclient.New(hfclient.Config{URL: n.url, Token: check, HTTPClient: rpc.H2CClient(), Options: []connect.ClientOption{connect.WithGRPC()}})
	if err != nil {
		t.Fatal(err)
	}
	checker := streamer.Checker(ctx)
	defer checker.Close()
	if got, err := checker.Check(ctx, req); err != nil || got.Effect != "deny" {
		t.Fatalf("Checker: %v %v", got, err)
	}

	// Refusals: the same on every transport.
	for _, tc := range []struct {
		name, token string
		code        codes.Code
		domain      string
	}{
		{"unknown token", unknown, codes.Unauthenticated, "unauthenticated"},
		{"wrong scope", events, codes.PermissionDenied, "permission_denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := conn.Invoke(withToken(tc.token), holdfastv1connect.DecisionServiceCheckProcedure, req, &res)
			st := status.Convert(err)
			var detail *holdfastv1.ErrorDetail
			for _, d := range st.Details() {
				if ed, ok := d.(*holdfastv1.ErrorDetail); ok {
					detail = ed
				}
			}
			if st.Code() != tc.code || detail.GetCode() != tc.domain {
				t.Fatalf("grpc-go: %v (detail %v), want %s with %s", err, detail, tc.code, tc.domain)
			}
			bridgedErr := conn.Invoke(withToken(tc.token), holdfastv1connect.DecisionServiceBatchCheckProcedure, &holdfastv1.BatchCheckRequest{Checks: []*holdfastv1.CheckRequest{req}}, &batch)
			if status.Code(bridgedErr) != tc.code || strings.ReplaceAll(status.Convert(bridgedErr).Message(), "BatchCheck", "Check") != st.Message() {
				t.Fatalf("grpc-go bridged: %v, want %v", bridgedErr, err)
			}
			for name, c := range connectClients(tc.token) {
				_, cerr := c.Check(ctx, connect.NewRequest(req))
				code, _, msg := rpc.ErrorInfo(cerr)
				var ce *connect.Error
				if !errors.As(cerr, &ce) || ce.Code() != connect.Code(tc.code) || code != tc.domain || msg != detail.GetMessage() || ce.Message() != st.Message() {
					t.Fatalf("%s: %v (%s %q), want %s %s %q as grpc-go had", name, cerr, code, msg, tc.code, tc.domain, st.Message())
				}
			}
		})
	}
}
