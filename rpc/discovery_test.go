package rpc_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/holdfast/holdfast/engine"
)

// grpcConn dials the env's server with grpc-go over cleartext HTTP/2, as
// grpcurl -plaintext, ghz and a Kubernetes gRPC probe do. No token.
func grpcConn(t *testing.T, e *env) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(strings.TrimPrefix(e.srv.URL, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestReflection: a gRPC client without the .proto files and without a
// token lists every service and fetches a Holdfast service's schema.
func TestReflection(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := reflectpb.NewServerReflectionClient(grpcConn(t, e)).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ask := func(req *reflectpb.ServerReflectionRequest) *reflectpb.ServerReflectionResponse {
		t.Helper()
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
		res, err := stream.Recv()
		if err != nil {
			t.Fatalf("reflection: %v", err)
		}
		if er := res.GetErrorResponse(); er != nil {
			t.Fatalf("reflection error: %s", er.GetErrorMessage())
		}
		return res
	}

	res := ask(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_ListServices{}})
	var names []string
	for _, s := range res.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{
		"holdfast.v1.DecisionService", "holdfast.v1.RestrictionService", "holdfast.v1.SelfService",
		"holdfast.v1.EventService", "holdfast.v1.CaseService", "holdfast.v1.ComplianceService",
		"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("list lacks %s (got %v)", want, names)
		}
	}

	// Describing a service: the file that declares it, with its methods.
	res = ask(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "holdfast.v1.DecisionService"}})
	var methods []string
	for _, b := range res.GetFileDescriptorResponse().GetFileDescriptorProto() {
		var fd descriptorpb.FileDescriptorProto
		if err := proto.Unmarshal(b, &fd); err != nil {
			t.Fatal(err)
		}
		for _, s := range fd.GetService() {
			if fd.GetPackage()+"."+s.GetName() == "holdfast.v1.DecisionService" {
				for _, m := range s.GetMethod() {
					methods = append(methods, m.GetName())
				}
			}
		}
	}
	if !slices.Contains(methods, "Check") || !slices.Contains(methods, "AuthorizeWithdrawal") {
		t.Errorf("DecisionService methods = %v", methods)
	}
	// The health service's schema is served too (it is not in the
	// process's registry: grpcreflect embeds it).
	ask(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "grpc.health.v1.Health"}})
}

// TestHealth: grpc.health.v1.Health answers SERVING for the server and
// each service while the node is ready, NOT_SERVING while it is behind the
// change feed (the condition /readyz reports), and NOT_FOUND for a
// service it does not serve. No token is needed, and being open does not
// open anything else.
func TestHealth(t *testing.T) {
	e := newEnvWith(t, engine.Config{Feed: &engine.FeedConfig{MaxLag: time.Hour}})
	conn := grpcConn(t, e)
	health := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	check := func(service string) healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		res, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("Check(%q): %v", service, err)
		}
		return res.GetStatus()
	}
	services := []string{"", "holdfast.v1.DecisionService", "holdfast.v1.ComplianceService", "grpc.health.v1.Health"}

	// No message from the change feed yet: not ready.
	if status, _ := e.get("/readyz"); status != 503 {
		t.Fatalf("/readyz = %d before the feed", status)
	}
	for _, s := range services {
		if got := check(s); got != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Errorf("before the feed: Check(%q) = %s, want NOT_SERVING", s, got)
		}
	}

	e.engine.FeedAt(time.Now())
	if status, _ := e.get("/readyz"); status != 200 {
		t.Fatalf("/readyz = %d after the feed", status)
	}
	for _, s := range services {
		if got := check(s); got != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("ready: Check(%q) = %s, want SERVING", s, got)
		}
	}

	_, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: "holdfast.v1.NoSuchService"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("Check(unknown service) = %v, want NotFound", err)
	}

	// The same connection, without a token, is refused by the API.
	err = conn.Invoke(ctx, "/holdfast.v1.DecisionService/Check", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("DecisionService/Check without a token = %v, want Unauthenticated", err)
	}
}
