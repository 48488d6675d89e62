// Package client is the Go client of the Holdfast API for the services
// that ask it questions: a Client wraps the generated ConnectRPC clients
// with per-call deadlines and retries of idempotent calls, and a Replica
// answers trade-side checks from an in-process cache that the change feed
// keeps coherent.
package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"connectrpc.com/connect"

	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/gen/holdfast/v1/holdfastv1connect"
	"github.com/holdfast/holdfast/rpc"
)

// Config configures a Client.
type Config struct {
	// URL is the server's base URL ("http://127.0.0.1:7433"). Required.
	URL string
	// Token is the bearer token (hf_...); empty sends none.
	Token string
	// HTTPClient carries the calls (nil: http.DefaultClient). For gRPC
	// over plain http:// pass rpc.H2CClient() and connect.WithGRPC() in
	// Options.
	HTTPClient *http.Client
	// Timeout is the deadline of each attempt of a call (default 2 s); the
	// caller's context bounds the call as a whole.
	Timeout time.Duration
	// Retries is how many times an idempotent call is retried after an
	// unavailable, deadline_exceeded or resource_exhausted answer (default
	// 3; negative: never).
	Retries int
	// Backoff is the wait before the first retry (default 50 ms), doubled
	// for each further one and jittered.
	Backoff time.Duration
	// Options are passed to every generated client (connect.WithGRPC(),
	// interceptors, ...). Interceptors run inside the retry loop: they see
	// every attempt.
	Options []connect.ClientOption
}

// maxBackoff caps the doubling.
const maxBackoff = 5 * time.Second

// Client is a Holdfast API client. It is safe for concurrent use.
type Client struct {
	cfg     Config
	clients *rpc.Clients
}

// New builds a client for cfg.URL.
func New(cfg Config) (*Client, error) {
	if cfg.URL == "" {
		return nil, errors.New("client: no URL")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: URL %q is not an http:// or https:// URL", cfg.URL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	switch {
	case cfg.Retries == 0:
		cfg.Retries = 3
	case cfg.Retries < 0:
		cfg.Retries = 0
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 50 * time.Millisecond
	}
	var hc connect.HTTPClient = http.DefaultClient
	if cfg.HTTPClient != nil {
		hc = cfg.HTTPClient
	}
	opts := make([]connect.ClientOption, 0, len(cfg.Options)+1)
	opts = append(opts, connect.WithInterceptors(&retrier{cfg: cfg}))
	opts = append(opts, cfg.Options...)
	return &Client{cfg: cfg, clients: rpc.NewClients(hc, cfg.URL, cfg.Token, opts...)}, nil
}

// Check asks whether an account may do an action now, answered from the
// server's decision index. Retried.
func (c *Client) Check(ctx context.Context, req *holdfastv1.CheckRequest) (*holdfastv1.CheckResponse, error) {
	res, err := c.clients.Decision.Check(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

// BatchCheck answers up to 1000 checks in order. Retried.
func (c *Client) BatchCheck(ctx context.Context, req *holdfastv1.BatchCheckRequest) (*holdfastv1.BatchCheckResponse, error) {
	res, err := c.clients.Decision.BatchCheck(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

// AuthorizeWithdrawal decides a withdrawal linearizably against the store:
// the path for money leaving an account. Retried, since the server answers
// a repeated withdrawal id with its first answer.
func (c *Client) AuthorizeWithdrawal(ctx context.Context, req *holdfastv1.AuthorizeWithdrawalRequest) (*holdfastv1.AuthorizeWithdrawalResponse, error) {
	res, err := c.clients.Decision.AuthorizeWithdrawal(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

// Ingest runs one event through the server's rules. Retried only when the
// event has an id (the server's idempotency key); without one a retry
// could record the event twice.
func (c *Client) Ingest(ctx context.Context, ev *holdfastv1.Event) (*holdfastv1.IngestResult, error) {
	res, err := c.clients.Event.Ingest(ctx, connect.NewRequest(&holdfastv1.IngestRequest{Event: ev}))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetResult(), nil
}

// The generated clients, for everything else. They carry the same
// deadlines, and retries for the calls that are safe to repeat (reads,
// BatchCheck, IngestBatch when every event has an id).

// Decision returns the DecisionService client.
func (c *Client) Decision() holdfastv1connect.DecisionServiceClient { return c.clients.Decision }

// Restriction returns the RestrictionService client.
func (c *Client) Restriction() holdfastv1connect.RestrictionServiceClient {
	return c.clients.Restriction
}

// Self returns the SelfService client.
func (c *Client) Self() holdfastv1connect.SelfServiceClient { return c.clients.Self }

// Event returns the EventService client.
func (c *Client) Event() holdfastv1connect.EventServiceClient { return c.clients.Event }

// Case returns the CaseService client.
func (c *Client) Case() holdfastv1connect.CaseServiceClient { return c.clients.Case }

// Compliance returns the ComplianceService client.
func (c *Client) Compliance() holdfastv1connect.ComplianceServiceClient { return c.clients.Compliance }

// Code is the domain code of an error a call returned (docs/design.md's
// invalid_argument, permission_denied, immutable, conflict, ...), read from
// the server's ErrorDetail. An error that did not come from a Holdfast
// handler (the server is down, a proxy answered, the deadline passed)
// gives the Connect code's name ("unavailable", "deadline_exceeded"); nil
// gives "".
func Code(err error) string {
	if err == nil {
		return ""
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			return connect.CodeDeadlineExceeded.String()
		case errors.Is(err, context.Canceled):
			return connect.CodeCanceled.String()
		}
		return connect.CodeUnknown.String()
	}
	if d := Detail(err); d != nil && d.GetCode() != "" {
		return d.GetCode()
	}
	return ce.Code().String()
}

// Detail is the server's ErrorDetail in err (code, field, message and the
// causes that blocked the operation), or nil.
func Detail(err error) *holdfastv1.ErrorDetail {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return nil
	}
	for _, d := range ce.Details() {
		v, derr := d.Value()
		if derr != nil {
			continue
		}
		if ed, ok := v.(*holdfastv1.ErrorDetail); ok {
			return ed
		}
	}
	return nil
}

// retrier gives every unary call its deadline and repeats idempotent ones
// that failed for a reason a repeat can cure.
type retrier struct{ cfg Config }

func (r *retrier) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		retries := 0
		if idempotent(req) {
			retries = r.cfg.Retries
		}
		wait := r.cfg.Backoff
		for attempt := 0; ; attempt++ {
			actx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
			res, err := next(actx, req)
			cancel()
			if err == nil || attempt >= retries || ctx.Err() != nil || !transient(err) {
				return res, err
			}
			// Full wait halved, plus up to as much again at random.
			d := wait/2 + rand.N(wait/2+1)
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return res, err
			case <-t.C:
			}
			wait = min(2*wait, maxBackoff)
		}
	}
}

func (r *retrier) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (r *retrier) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// transient reports whether err is worth a retry: the server was
// unreachable or overloaded, or the attempt ran out of time. Domain
// errors (invalid_argument, permission_denied, failed_precondition,
// conflict, immutable, not_found, unauthenticated) never are.
func transient(err error) bool {
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded, connect.CodeResourceExhausted:
		return true
	}
	return false
}

// readOnly are the procedures that change nothing (or, for
// AuthorizeWithdrawal, answer a repeat with the first answer).
var readOnly = map[string]bool{
	holdfastv1connect.DecisionServiceCheckProcedure:               true,
	holdfastv1connect.DecisionServiceBatchCheckProcedure:          true,
	holdfastv1connect.DecisionServiceAuthorizeWithdrawalProcedure: true,
	holdfastv1connect.RestrictionServiceGetProcedure:              true,
	holdfastv1connect.RestrictionServiceListProcedure:             true,
	holdfastv1connect.RestrictionServiceListApprovalsProcedure:    true,
	holdfastv1connect.RestrictionServiceHistoryProcedure:          true,
	holdfastv1connect.RestrictionServiceVerifyAuditProcedure:      true,
	holdfastv1connect.RestrictionServiceListCommandsProcedure:     true,
	holdfastv1connect.SelfServiceStatusProcedure:                  true,
	holdfastv1connect.SelfServiceGetSecurityProcedure:             true,
	holdfastv1connect.SelfServiceLoginHistoryProcedure:            true,
	holdfastv1connect.SelfServiceSecurityCheckupProcedure:         true,
	holdfastv1connect.CaseServiceGetCaseProcedure:                 true,
	holdfastv1connect.CaseServiceListCasesProcedure:               true,
	holdfastv1connect.CaseServiceGetEvidenceProcedure:             true,
	holdfastv1connect.ComplianceServiceListInNoticeProcedure:      true,
	holdfastv1connect.ComplianceServiceAccountReportProcedure:     true,
}

// idempotent reports whether req may be sent again after a failure whose
// outcome is unknown.
func idempotent(req connect.AnyRequest) bool {
	p := req.Spec().Procedure
	if readOnly[p] {
		return true
	}
	switch p {
	case holdfastv1connect.EventServiceIngestProcedure:
		m, ok := req.Any().(*holdfastv1.IngestRequest)
		return ok && m.GetEvent().GetId() != ""
	case holdfastv1connect.EventServiceIngestBatchProcedure:
		m, ok := req.Any().(*holdfastv1.IngestBatchRequest)
		if !ok || len(m.GetEvents()) == 0 {
			return false
		}
		for _, ev := range m.GetEvents() {
			if ev.GetId() == "" {
				return false
			}
		}
		return true
	}
	return false
}
