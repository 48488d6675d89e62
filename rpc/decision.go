package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"connectrpc.com/connect"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
)

// decisions serves holdfast.v1.DecisionService (scope check).
type decisions struct{ *server }

// maxBatch bounds a BatchCheck.
const maxBatch = 1000

func checkRequest(m *holdfastv1.CheckRequest) holdfast.CheckRequest {
	return holdfast.CheckRequest{
		Account: m.Account,
		Action:  holdfast.Action(m.Action),
		Device:  m.Device,
		Session: m.Session,
		APIKey:  m.ApiKey,
		IP:      m.Ip,
		View:    holdfast.View(m.View),
	}
}

// check answers one check and counts it in the decision metrics, with its
// latency unless it is part of a BatchCheck (timed false).
func (h *decisions) check(ctx context.Context, cr holdfast.CheckRequest, timed bool) (*holdfastv1.CheckResponse, error) {
	start := time.Now()
	d, err := h.engine.Check(ctx, cr)
	if err != nil {
		return nil, err
	}
	var took time.Duration
	if timed {
		took = time.Since(start)
	}
	h.metrics.decided(cr.Action, &d, took)
	return pbDecision(&d), nil
}

func (h *decisions) Check(ctx context.Context, req *connect.Request[holdfastv1.CheckRequest]) (*connect.Response[holdfastv1.CheckResponse], error) {
	res, err := h.check(ctx, checkRequest(req.Msg), true)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(res), nil
}

func (h *decisions) BatchCheck(ctx context.Context, req *connect.Request[holdfastv1.BatchCheckRequest]) (*connect.Response[holdfastv1.BatchCheckResponse], error) {
	checks := req.Msg.Checks
	if len(checks) > maxBatch {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "checks", "a batch holds at most %d checks, not %d", maxBatch, len(checks))
	}
	// Validate every check first: one bad check fails the batch, naming it.
	crs := make([]holdfast.CheckRequest, len(checks))
	for i, m := range checks {
		crs[i] = checkRequest(m)
		if err := crs[i].Validate(); err != nil {
			return nil, checkError(i, err)
		}
	}
	out := &holdfastv1.BatchCheckResponse{Decisions: make([]*holdfastv1.CheckResponse, len(crs))}
	for i := range crs {
		res, err := h.check(ctx, crs[i], false)
		if err != nil {
			return nil, err
		}
		out.Decisions[i] = res
	}
	return connect.NewResponse(out), nil
}

// CheckStream answers each batch as it arrives. A check that cannot be
// answered gets its error in its place; anything else (a store failure,
// an empty or oversized batch) ends the stream. A stream is one call to
// the rpc metrics; every check counts in the decision metrics.
func (h *decisions) CheckStream(ctx context.Context, st *connect.BidiStream[holdfastv1.CheckStreamRequest, holdfastv1.CheckStreamResponse]) error {
	return h.checkStream(ctx, st.Receive, st.Send)
}

// checkStream is CheckStream over either transport: receive returns the
// next batch (io.EOF when the client is done), send answers it.
func (h *decisions) checkStream(ctx context.Context, receive func() (*holdfastv1.CheckStreamRequest, error), send func(*holdfastv1.CheckStreamResponse) error) error {
	for {
		m, err := receive()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err // the client went away or sent what cannot be read
		}
		if err := reauthorize(ctx); err != nil {
			return err // revoked, expired or disabled since the stream opened
		}
		if n := len(m.Checks); n == 0 || n > maxBatch {
			return holdfast.Errorf(holdfast.InvalidArgument, "checks", "a batch holds 1 to %d checks, not %d", maxBatch, n)
		}
		out := &holdfastv1.CheckStreamResponse{Decisions: make([]*holdfastv1.CheckResponse, len(m.Checks))}
		for i, c := range m.Checks {
			res, err := h.check(ctx, checkRequest(c), true)
			if holdfast.ErrorCode(err) == holdfast.InvalidArgument {
				res = &holdfastv1.CheckResponse{Error: pbErrorDetail(checkError(i, err))}
			} else if err != nil {
				return err
			}
			out.Decisions[i] = res
		}
		if err := send(out); err != nil {
			return err
		}
	}
}

// checkError names the check of a batch an error is about ("checks[3].action").
func checkError(i int, err error) *holdfast.Error {
	return &holdfast.Error{
		Code:    holdfast.InvalidArgument,
		Field:   fmt.Sprintf("checks[%d].%s", i, holdfast.ErrorField(err)),
		Message: fmt.Sprintf("check %d: %s", i, errorMessage(err)),
	}
}

func (h *decisions) AuthorizeWithdrawal(ctx context.Context, req *connect.Request[holdfastv1.AuthorizeWithdrawalRequest]) (*connect.Response[holdfastv1.AuthorizeWithdrawalResponse], error) {
	m := req.Msg
	view := holdfast.View(m.View)
	if view != "" && view != holdfast.ViewStaff && view != holdfast.ViewHolder {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "view", "unknown view %q (want staff or holder)", m.View)
	}
	w, err := h.engine.AuthorizeWithdrawal(ctx, holdfast.WithdrawalRequest{
		Account:          m.Account,
		ID:               m.Id,
		Asset:            m.Asset,
		Amount:           m.Amount,
		USDValue:         m.UsdValue,
		Address:          m.Address,
		AvailableBalance: m.AvailableBalance,
	})
	if err != nil {
		return nil, err
	}
	h.metrics.withdrawals.WithLabelValues(string(w.Outcome)).Inc()
	return connect.NewResponse(pbWithdrawal(w.InView(view))), nil
}

// errorMessage is a domain error's message without its code.
func errorMessage(err error) string {
	var he *holdfast.Error
	if errors.As(err, &he) {
		return he.Message
	}
	return err.Error()
}
