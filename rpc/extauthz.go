package rpc

import (
	"context"
	"net/netip"
	"strings"

	"connectrpc.com/connect"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/gateway"
)

// extAuthzService is Envoy's external authorization service, served over
// gRPC on the API's port so that Envoy and Istio ask Holdfast on every
// request (scope check).
const (
	extAuthzService   = "envoy.service.auth.v3.Authorization"
	extAuthzProcedure = "/" + extAuthzService + "/Check"
)

// extAuthzCheck answers one ext_authz CheckRequest with the same mapping
// as forward-auth: allow is OK with x-holdfast-effect (and the action)
// for the upstream; deny and review are PERMISSION_DENIED with a 403 and
// the holder-view decision as JSON; no account is UNAUTHENTICATED with a
// 401; a refused URI is INVALID_ARGUMENT with a 400, an unmapped write
// PERMISSION_DENIED with a 403. An engine failure is the call's own error,
// which Envoy with failure_mode_allow: false (the default) turns into a
// 403.
func (g *gatewayServer) extAuthzCheck(ctx context.Context, req *connect.Request[authv3.CheckRequest]) (*connect.Response[authv3.CheckResponse], error) {
	res, err := g.extAuthz(ctx, req.Msg)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(res), nil
}

// extAuthz is extAuthzCheck over either transport.
func (g *gatewayServer) extAuthz(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	attrs := req.GetAttributes()
	h := attrs.GetRequest().GetHttp()
	r := gateway.Request{Method: h.GetMethod(), URI: h.GetPath(), Headers: extAuthzHeaders(h)}
	if a, err := netip.ParseAddr(attrs.GetSource().GetAddress().GetSocketAddress().GetAddress()); err == nil {
		r.Peer = a
	}
	ans, err := g.authorize(ctx, r, "ext_authz")
	if err != nil {
		return nil, err
	}
	var out *authv3.CheckResponse
	switch ans.Outcome {
	case gateway.Allowed:
		hs := []*corev3.HeaderValueOption{header("x-holdfast-effect", "allow")}
		if ans.Mapped {
			hs = append(hs, header("x-holdfast-action", string(ans.Action)))
		}
		out = &authv3.CheckResponse{
			Status:       &rpcstatus.Status{Code: int32(codes.OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{Headers: hs}},
		}
	case gateway.Denied:
		body, _ := MarshalJSON(pbDecision(&ans.Decision))
		hs := []*corev3.HeaderValueOption{header("x-holdfast-effect", ans.Decision.Effect.String())}
		if ra := retryAfter(&ans.Decision); ra != "" {
			hs = append(hs, header("retry-after", ra))
		}
		out = denied(codes.PermissionDenied, typev3.StatusCode_Forbidden, hs, body)
	default:
		code, status := codes.PermissionDenied, typev3.StatusCode_Forbidden
		switch {
		case ans.Outcome == gateway.Unauthenticated:
			code, status = codes.Unauthenticated, typev3.StatusCode_Unauthorized
		case holdfast.ErrorCode(ans.Err) == holdfast.InvalidArgument:
			code, status = codes.InvalidArgument, typev3.StatusCode_BadRequest
		}
		body, _ := MarshalJSON(pbErrorDetail(asDomainError(ans.Err)))
		out = denied(code, status, []*corev3.HeaderValueOption{header("x-holdfast-effect", "deny")}, body)
	}
	return out, nil
}

func denied(code codes.Code, status typev3.StatusCode, hs []*corev3.HeaderValueOption, body []byte) *authv3.CheckResponse {
	hs = append(hs, header("content-type", "application/json"))
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(code)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: status},
			Headers: hs,
			Body:    string(body) + "\n",
		}},
	}
}

func header(k, v string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: v}}
}

// extAuthzHeaders are the request's headers: the lower-cased map Envoy
// sends by default, or the header map it sends with encode_raw_headers.
func extAuthzHeaders(h *authv3.AttributeContext_HttpRequest) gateway.LowerHeaders {
	if hs := h.GetHeaders(); len(hs) > 0 {
		return hs
	}
	m := gateway.LowerHeaders{}
	for _, hv := range h.GetHeaderMap().GetHeaders() {
		k := strings.ToLower(hv.GetKey())
		v := hv.GetValue()
		if v == "" {
			v = string(hv.GetRawValue())
		}
		if prev, ok := m[k]; ok {
			v = prev + "," + v
		}
		m[k] = v
	}
	return m
}
