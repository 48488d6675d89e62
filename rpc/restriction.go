package rpc

import (
	"context"

	"connectrpc.com/connect"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
)

// restrictions serves holdfast.v1.RestrictionService (scope staff). The
// actor is the token's staff member with the roles the store holds now.
type restrictions struct{ *server }

func (h *restrictions) Apply(ctx context.Context, req *connect.Request[holdfastv1.ApplyRequest]) (*connect.Response[holdfastv1.ApplyResponse], error) {
	actor, err := staffActor(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	d, err := duration("duration", m.Duration)
	if err != nil {
		return nil, err
	}
	// The engine records a reference whenever one is given; the API
	// refuses a kind that needs one (a law-enforcement case number)
	// without it. Whoever may not apply the kind at all hears that from
	// the engine (permission_denied) instead.
	if kp := h.engine.Policy().Kind(holdfast.Kind(m.Kind)); kp != nil && kp.RequireReference && m.Reference == "" && actor.HasAnyRole(kp.Apply) {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "reference", "a %s needs the authority's reference", m.Kind)
	}
	r, err := h.engine.Apply(ctx, holdfast.ApplyRequest{
		Account:   m.Account,
		Kind:      holdfast.Kind(m.Kind),
		Duration:  d,
		Device:    m.Device,
		Reason:    m.Reason,
		Disclose:  m.Disclose,
		Factors:   factors(m.Factors),
		Reference: m.Reference,
		Actor:     actor,
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.ApplyResponse{Restriction: pbRestriction(r)}), nil
}

func (h *restrictions) Lift(ctx context.Context, req *connect.Request[holdfastv1.LiftRequest]) (*connect.Response[holdfastv1.LiftResponse], error) {
	actor, err := staffActor(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	res, err := h.engine.Lift(ctx, holdfast.LiftRequest{
		Target: holdfast.Target{Account: m.Account, Kind: holdfast.Kind(m.Kind), Restriction: m.Restriction},
		Reason: m.Reason,
		Actor:  actor,
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.LiftResponse{Restriction: pbRestriction(res.Restriction), Pending: pbApproval(res.Pending)}), nil
}

func (h *restrictions) Extend(ctx context.Context, req *connect.Request[holdfastv1.ExtendRequest]) (*connect.Response[holdfastv1.ExtendResponse], error) {
	actor, err := staffActor(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	by, err := duration("by", m.By)
	if err != nil {
		return nil, err
	}
	er := holdfast.ExtendRequest{
		Target: holdfast.Target{Account: m.Account, Kind: holdfast.Kind(m.Kind), Restriction: m.Restriction},
		By:     by,
		Reason: m.Reason,
		Actor:  actor,
	}
	if m.Until != nil {
		if err := m.Until.CheckValid(); err != nil {
			return nil, holdfast.Errorf(holdfast.InvalidArgument, "until", "invalid until: %v", err)
		}
		er.Until = m.Until.AsTime()
	}
	res, err := h.engine.Extend(ctx, er)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.ExtendResponse{Restriction: pbRestriction(res.Restriction), Pending: pbApproval(res.Pending)}), nil
}

func (h *restrictions) Approve(ctx context.Context, req *connect.Request[holdfastv1.ApproveRequest]) (*connect.Response[holdfastv1.ApproveResponse], error) {
	actor, err := staffActor(ctx)
	if err != nil {
		return nil, err
	}
	r, err := h.engine.Approve(ctx, req.Msg.Request, actor)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.ApproveResponse{Restriction: pbRestriction(r)}), nil
}

func (h *restrictions) ListApprovals(ctx context.Context, _ *connect.Request[holdfastv1.ListApprovalsRequest]) (*connect.Response[holdfastv1.ListApprovalsResponse], error) {
	actor, err := staffActor(ctx)
	if err != nil {
		return nil, err
	}
	as, err := h.engine.Approvals(ctx, actor)
	if err != nil {
		return nil, err
	}
	out := &holdfastv1.ListApprovalsResponse{Approvals: make([]*holdfastv1.Approval, len(as))}
	for i, a := range as {
		out.Approvals[i] = pbApproval(a)
	}
	return connect.NewResponse(out), nil
}

func (h *restrictions) Get(ctx context.Context, req *connect.Request[holdfastv1.GetRequest]) (*connect.Response[holdfastv1.GetResponse], error) {
	actor, err := staffActor(ctx)
	if err != nil {
		return nil, err
	}
	r, err := h.engine.Get(ctx, req.Msg.Restriction, actor)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.GetResponse{Restriction: pbRestriction(r)}), nil
}

func (h *restrictions) List(ctx context.Context, req *connect.Request[holdfastv1.ListRequest]) (*connect.Response[holdfastv1.ListResponse], error) {
	actor, err := staffActor(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	f := holdfast.RestrictionFilter{Account: m.Account, Kind: holdfast.Kind(m.Kind), Limit: int(m.Limit)}
	if m.Active {
		f.ActiveAt = h.engine.Now()
	}
	rs, err := h.engine.List(ctx, f, actor)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.ListResponse{Restrictions: pbRestrictions(rs)}), nil
}

func (h *restrictions) History(ctx context.Context, req *connect.Request[holdfastv1.HistoryRequest]) (*connect.Response[holdfastv1.HistoryResponse], error) {
	actor, err := staffActor(ctx)
	if err != nil {
		return nil, err
	}
	entries, err := h.engine.History(ctx, req.Msg.Account, actor)
	if err != nil {
		return nil, err
	}
	out := &holdfastv1.HistoryResponse{Entries: make([]*holdfastv1.AuditEntry, len(entries))}
	for i := range entries {
		if out.Entries[i], err = pbEntry(&entries[i]); err != nil {
			return nil, err
		}
	}
	return connect.NewResponse(out), nil
}

func (h *restrictions) VerifyAudit(ctx context.Context, req *connect.Request[holdfastv1.VerifyAuditRequest]) (*connect.Response[holdfastv1.VerifyAuditResponse], error) {
	if _, err := staffActor(ctx); err != nil {
		return nil, err
	}
	if a := req.Msg.Account; a != "" {
		if err := holdfast.ValidateID("account", a); err != nil {
			return nil, err
		}
	}
	rep, err := h.engine.VerifyAudit(ctx, req.Msg.Account)
	if err != nil {
		return nil, err
	}
	out := &holdfastv1.VerifyAuditResponse{Ok: rep.OK(), Accounts: int64(rep.Accounts), Entries: rep.Entries, Breaks: make([]*holdfastv1.AuditBreak, len(rep.Breaks))}
	for i, b := range rep.Breaks {
		out.Breaks[i] = &holdfastv1.AuditBreak{Account: b.Account, Seq: b.Seq, Problem: b.Problem}
	}
	return connect.NewResponse(out), nil
}
