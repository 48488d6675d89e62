package rpc

import (
	"context"
	"net/http"
	"slices"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"

	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/gen/holdfast/v1/holdfastv1connect"
)

// apiServices are the services a client can discover: every Holdfast
// service, the gRPC health service and server reflection itself.
var apiServices = []string{
	holdfastv1connect.DecisionServiceName,
	holdfastv1connect.RestrictionServiceName,
	holdfastv1connect.SelfServiceName,
	holdfastv1connect.EventServiceName,
	holdfastv1connect.CaseServiceName,
	holdfastv1connect.ComplianceServiceName,
	holdfastv1connect.PolicyServiceName,
	extAuthzService,
	grpchealth.HealthV1ServiceName,
	grpcreflect.ReflectV1ServiceName,
	grpcreflect.ReflectV1AlphaServiceName,
}

// Procedures served without a token (see decision 131): server reflection
// reveals only the schema, public in docs/api.md, and health only whether
// the node is ready, as /readyz does. They are named here one by one; any
// other procedure still needs a token with its scopes.
var (
	reflectV1Procedure      = "/" + grpcreflect.ReflectV1ServiceName + "/ServerReflectionInfo"
	reflectV1AlphaProcedure = "/" + grpcreflect.ReflectV1AlphaServiceName + "/ServerReflectionInfo"
	healthCheckProcedure    = "/" + grpchealth.HealthV1ServiceName + "/Check"
	healthWatchProcedure    = "/" + grpchealth.HealthV1ServiceName + "/Watch"
	publicProcedures        = map[string]bool{
		reflectV1Procedure:      true,
		reflectV1AlphaProcedure: true,
		healthCheckProcedure:    true,
		healthWatchProcedure:    true, // answers unimplemented: probes poll Check
	}
)

// handleDiscovery serves gRPC server reflection (v1 and v1alpha, for older
// grpcurl and Postman) and grpc.health.v1.Health on mux.
func handleDiscovery(mux *http.ServeMux, e *engine.Engine) {
	reflector := grpcreflect.NewStaticReflector(apiServices...)
	mux.Handle(grpcreflect.NewHandlerV1(reflector))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector))
	mux.Handle(grpchealth.NewHandler(readiness{e}))
}

// readiness answers health checks with the condition /readyz reports: a
// node behind the change feed (or holding a change it could not apply)
// is NOT_SERVING for every service, since it refuses money-out checks.
// Before the index is loaded the Gate answers every call unavailable.
type readiness struct{ e *engine.Engine }

func (r readiness) Check(_ context.Context, req *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	if req.Service != "" && !slices.Contains(apiServices, req.Service) {
		return nil, connect.NewError(connect.CodeNotFound, errUnknownService(req.Service))
	}
	if r.e.Stale() {
		return &grpchealth.CheckResponse{Status: grpchealth.StatusNotServing}, nil
	}
	return &grpchealth.CheckResponse{Status: grpchealth.StatusServing}, nil
}

type errUnknownService string

func (e errUnknownService) Error() string {
	return "unknown service " + string(e) + ": ask for \"\" (the whole server) or a service from `grpcurl -plaintext HOST:PORT list`"
}
