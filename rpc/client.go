package rpc

import (
	"context"
	"net/http"
	"time"

	"connectrpc.com/connect"

	"github.com/holdfast/holdfast/gen/holdfast/v1/holdfastv1connect"
)

// Clients are the API's clients sharing one server and token, for the
// CLI and for tests.
type Clients struct {
	Decision    holdfastv1connect.DecisionServiceClient
	Restriction holdfastv1connect.RestrictionServiceClient
	Self        holdfastv1connect.SelfServiceClient
	Event       holdfastv1connect.EventServiceClient
	Case        holdfastv1connect.CaseServiceClient
	Compliance  holdfastv1connect.ComplianceServiceClient
	Policy      holdfastv1connect.PolicyServiceClient
}

// NewClients builds clients for baseURL that send token as a bearer token
// (none when empty). httpClient nil means http.DefaultClient; add
// connect.WithGRPC() to opts for gRPC (over an HTTP/2 client).
func NewClients(httpClient connect.HTTPClient, baseURL, token string, opts ...connect.ClientOption) *Clients {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	if token != "" {
		opts = append(opts, connect.WithInterceptors(bearer(token)))
	}
	return &Clients{
		Decision:    holdfastv1connect.NewDecisionServiceClient(httpClient, baseURL, opts...),
		Restriction: holdfastv1connect.NewRestrictionServiceClient(httpClient, baseURL, opts...),
		Self:        holdfastv1connect.NewSelfServiceClient(httpClient, baseURL, opts...),
		Event:       holdfastv1connect.NewEventServiceClient(httpClient, baseURL, opts...),
		Case:        holdfastv1connect.NewCaseServiceClient(httpClient, baseURL, opts...),
		Compliance:  holdfastv1connect.NewComplianceServiceClient(httpClient, baseURL, opts...),
		Policy:      holdfastv1connect.NewPolicyServiceClient(httpClient, baseURL, opts...),
	}
}

// H2CClient is an HTTP client that speaks cleartext HTTP/2 only, as gRPC
// over plain http:// needs. A connection silent for 10 s is pinged and
// closed if the ping goes unanswered for 5 s, so that a stream on a
// connection that died without a word fails instead of hanging.
func H2CClient() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &p, HTTP2: &http.HTTP2Config{SendPingTimeout: 10 * time.Second, PingTimeout: 5 * time.Second}}}
}

type bearer string

func (b bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+string(b))
		return next(ctx, req)
	}
}

func (b bearer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", "Bearer "+string(b))
		return conn
	}
}

func (b bearer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
