package rpc

import (
	"context"
	"errors"
	"fmt"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"net/http"
	"runtime"
	"time"

	"connectrpc.com/connect"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/gen/holdfast/v1/holdfastv1connect"
)

// GRPCServer is the API for gRPC clients on grpc-go's own HTTP/2
// transport (see SplitGRPC), several times cheaper per call than gRPC
// through net/http and connect. The hot procedures (DecisionService.Check
// and CheckStream, Envoy's ext_authz Check) are native here; every other
// procedure, reflection and health included, is handed in-process to the
// HTTP API behind front (bridge.go), so that it behaves exactly as it
// does there. Native calls pass front's checks (starting, fenced), the
// same authentication, scopes and rate limits (authenticator.enter), body
// limit, metrics and error presentation as the HTTP path. front nil: the
// API itself, always open.
func (a *API) GRPCServer(front *Gate) *grpc.Server {
	var next http.Handler = a
	if front != nil {
		next = front
	}
	n := &nativeGRPC{api: a, front: front}
	opts := []grpc.ServerOption{
		grpc.ForceServerCodecV2(rawCodec{}),
		// Frames are bounded here by the largest any procedure accepts
		// (evidence uploads); native calls then by the server's body
		// limit (bounded), bridged ones by connect's per procedure.
		grpc.MaxRecvMsgSize(int(a.maxFrame)),
		grpc.UnknownServiceHandler(bridge{next}.serve),
		// Calls run on long-lived workers whose stacks have already grown:
		// a fresh goroutine per call spent a sixth of the server's CPU
		// growing and copying its stack.
		grpc.NumStreamWorkers(uint32(4 * runtime.GOMAXPROCS(0))),
		// As the HTTP server: an idle connection is closed after 2 min.
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 2 * time.Minute}),
		// The Go client (H2CClient) pings an idle connection every 10 s
		// to notice a dead server; grpc-go's default (one ping per 5 min,
		// none without a call) would close its CheckStream.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	}
	if a.s.tracing {
		opts = append(opts, grpc.StatsHandler(otelgrpc.NewServerHandler()))
	}
	srv := grpc.NewServer(opts...)
	srv.RegisterService(&decisionServiceDesc, n)
	authv3.RegisterAuthorizationServer(srv, n)
	return srv
}

// nativeGRPC serves the hot procedures on grpc-go.
type nativeGRPC struct {
	authv3.UnimplementedAuthorizationServer
	api   *API
	front *Gate
}

// decisionServiceDesc registers only DecisionService's hot procedures;
// grpc-go hands the others (BatchCheck, AuthorizeWithdrawal) to the
// bridge as unknown methods.
var decisionServiceDesc = grpc.ServiceDesc{
	ServiceName: holdfastv1connect.DecisionServiceName,
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Check",
		Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			m := new(holdfastv1.CheckRequest)
			if err := dec(m); err != nil {
				return nil, err
			}
			return srv.(*nativeGRPC).check(ctx, m)
		},
	}},
	Streams: []grpc.StreamDesc{{
		StreamName:    "CheckStream",
		ServerStreams: true,
		ClientStreams: true,
		Handler: func(srv any, st grpc.ServerStream) error {
			return srv.(*nativeGRPC).checkStream(st)
		},
	}},
	Metadata: "holdfast/v1/decision.proto",
}

func (n *nativeGRPC) check(ctx context.Context, req *holdfastv1.CheckRequest) (*holdfastv1.CheckResponse, error) {
	return unary(n, ctx, holdfastv1connect.DecisionServiceCheckProcedure, req, func(ctx context.Context, m *holdfastv1.CheckRequest) (*holdfastv1.CheckResponse, error) {
		return n.api.decide.check(ctx, checkRequest(m), true)
	})
}

// Check is Envoy's ext_authz Check.
func (n *nativeGRPC) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return unary(n, ctx, extAuthzProcedure, req, n.api.gw.extAuthz)
}

func (n *nativeGRPC) checkStream(st grpc.ServerStream) error {
	const procedure = holdfastv1connect.DecisionServiceCheckStreamProcedure
	ctx, err := n.enter(st.Context(), procedure)
	if err != nil {
		return err
	}
	receive := func() (*holdfastv1.CheckStreamRequest, error) {
		m := new(holdfastv1.CheckStreamRequest)
		if err := st.RecvMsg(m); err != nil {
			return nil, err
		}
		return m, n.bounded(m)
	}
	send := func(m *holdfastv1.CheckStreamResponse) error { return st.SendMsg(m) }
	return n.run(ctx, procedure, func() error {
		err := n.api.decide.checkStream(ctx, receive, send)
		if s, ok := status.FromError(err); ok && err != nil {
			// The transport's own (the client went away): counted as
			// connect counts it, not presented as an internal error.
			err = connect.NewError(connect.Code(s.Code()), errors.New(s.Message()))
		}
		return err
	})
}

// run times f as observe does for connect: metrics, the debug log, the
// error presented; a panic is an internal error, as connect's recover
// makes it, and the server stays up.
func (n *nativeGRPC) run(ctx context.Context, procedure string, f func() error) (err error) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			err = n.api.s.recovered(ctx, connect.Spec{Procedure: procedure}, nil, p)
		}
		err = grpcError(n.api.s.observed(ctx, procedure, connect.ProtocolGRPC, start, err))
	}()
	return f()
}

// unary runs a native unary call: the gate, the token, the body limit,
// the handler, then metrics and presentation as observe does for connect.
func unary[Req proto.Message, Res any](n *nativeGRPC, ctx context.Context, procedure string, m Req, h func(context.Context, Req) (Res, error)) (Res, error) {
	var none Res
	ctx, err := n.enter(ctx, procedure)
	if err != nil {
		return none, err
	}
	if err := n.bounded(m); err != nil {
		return none, grpcError(n.api.s.refused(ctx, procedure, err))
	}
	var res Res
	if err := n.run(ctx, procedure, func() (err error) { res, err = h(ctx, m); return err }); err != nil {
		return none, err
	}
	return res, nil
}

// enter is what the HTTP path does before a handler: the gate, then the
// authenticator (one implementation for both transports).
func (n *nativeGRPC) enter(ctx context.Context, procedure string) (context.Context, error) {
	if n.front != nil {
		if reason := n.front.refusal(procedure); reason != "" {
			return nil, status.Error(codes.Unavailable, reason)
		}
	}
	var header string
	if v := metadata.ValueFromIncomingContext(ctx, "authorization"); len(v) > 0 {
		header = v[0]
	}
	admitted, err := n.api.auth.enter(ctx, procedure, procedureScopes[procedure], header)
	if err != nil {
		return nil, grpcError(n.api.s.refused(ctx, procedure, err))
	}
	return admitted, nil
}

// bounded refuses a message larger than the server's body limit, as
// connect does for the same call over HTTP.
func (n *nativeGRPC) bounded(m proto.Message) error {
	if size := proto.Size(m); size > n.api.maxBody {
		return connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("message size %d is larger than configured max %d", size, n.api.maxBody))
	}
	return nil
}

// grpcError is the gRPC status of a presented error, with the same code,
// message and details (the ErrorDetail) connect's gRPC protocol sends.
func grpcError(err error) error {
	var ce *connect.Error
	if err == nil || !errors.As(err, &ce) {
		return err
	}
	st := &spb.Status{Code: int32(ce.Code()), Message: ce.Message()}
	for _, d := range ce.Details() {
		st.Details = append(st.Details, &anypb.Any{TypeUrl: "type.googleapis.com/" + d.Type(), Value: d.Bytes()})
	}
	return status.FromProto(st).Err()
}
