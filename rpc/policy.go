package rpc

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
)

// policies serves holdfast.v1.PolicyService (scope staff; the engine
// requires compliance or admin for every change).
type policies struct{ *server }

func pbPolicyVersion(v *holdfast.PolicyVersion) *holdfastv1.PolicyVersion {
	return &holdfastv1.PolicyVersion{
		Hash: v.Hash, Comment: v.Comment, Author: v.Author, CreatedAt: pbTime(v.CreatedAt), State: string(v.State),
		ActivatedAt: pbTime(v.ActivatedAt), RequestedBy: v.RequestedBy, ApprovedBy: v.ApprovedBy,
	}
}

func pbPolicyActivation(a *holdfast.PolicyActivation) *holdfastv1.PolicyActivation {
	return &holdfastv1.PolicyActivation{
		Id: a.ID, Hash: a.Hash, Rollback: a.Rollback, Reason: a.Reason, RequestedBy: a.RequestedBy, RequestedAt: pbTime(a.RequestedAt),
		State: string(a.State), DecidedBy: a.DecidedBy, DecidedAt: pbTime(a.DecidedAt),
	}
}

func (h *policies) PushPolicy(ctx context.Context, req *connect.Request[holdfastv1.PushPolicyRequest]) (*connect.Response[holdfastv1.PushPolicyResponse], error) {
	actor, err := staffActor(ctx)
	if err != nil {
		return nil, err
	}
	v, err := h.engine.PushPolicy(ctx, actor, []byte(req.Msg.Yaml), req.Msg.Comment)
	if err != nil {
		var he *holdfast.Error
		if errors.As(err, &he) && he.Code == holdfast.InvalidArgument && he.Field != "comment" {
			// The policy's own paths ("rules[2].when") live under yaml.
			c := *he
			c.Field = "yaml." + c.Field
			if he.Field == "" || he.Field == "yaml" {
				c.Field = "yaml"
			}
			return nil, &c
		}
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.PushPolicyResponse{Version: pbPolicyVersion(v)}), nil
}

func (h *policies) ListPolicyVersions(ctx context.Context, _ *connect.Request[holdfastv1.ListPolicyVersionsRequest]) (*connect.Response[holdfastv1.ListPolicyVersionsResponse], error) {
	if _, err := staffActor(ctx); err != nil {
		return nil, err
	}
	vs, err := h.engine.PolicyVersions(ctx)
	if err != nil {
		return nil, err
	}
	out := &holdfastv1.ListPolicyVersionsResponse{Versions: make([]*holdfastv1.PolicyVersion, len(vs))}
	for i, v := range vs {
		out.Versions[i] = pbPolicyVersion(v)
	}
	return connect.NewResponse(out), nil
}

func (h *policies) GetPolicyVersion(ctx context.Context, req *connect.Request[holdfastv1.GetPolicyVersionRequest]) (*connect.Response[holdfastv1.GetPolicyVersionResponse], error) {
	if _, err := staffActor(ctx); err != nil {
		return nil, err
	}
	v, err := h.engine.PolicyVersion(ctx, req.Msg.Version)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.GetPolicyVersionResponse{Version: pbPolicyVersion(v), Yaml: string(v.YAML)}), nil
}

func (h *policies) DiffPolicy(ctx context.Context, req *connect.Request[holdfastv1.DiffPolicyRequest]) (*connect.Response[holdfastv1.DiffPolicyResponse], error) {
	if _, err := staffActor(ctx); err != nil {
		return nil, err
	}
	a, b, changes, err := h.engine.DiffPolicies(ctx, req.Msg.From, req.Msg.To)
	if err != nil {
		return nil, err
	}
	out := &holdfastv1.DiffPolicyResponse{From: a.Hash, To: b.Hash, Changes: make([]*holdfastv1.PolicyChange, len(changes))}
	for i, c := range changes {
		out.Changes[i] = &holdfastv1.PolicyChange{Op: c.Op, Path: c.Path, Old: c.Old, New: c.New, Text: c.Text}
	}
	return connect.NewResponse(out), nil
}

func (h *policies) ActivatePolicy(ctx context.Context, req *connect.Request[holdfastv1.ActivatePolicyRequest]) (*connect.Response[holdfastv1.ActivatePolicyResponse], error) {
	actor, err := staffActor(ctx)
	if err != nil {
		return nil, err
	}
	if req.Msg.Version == "" {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "version", "version is required")
	}
	a, err := h.engine.RequestPolicyActivation(ctx, actor, req.Msg.Version, req.Msg.Reason, req.Msg.Rollback)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.ActivatePolicyResponse{Activation: pbPolicyActivation(a)}), nil
}

func (h *policies) DecidePolicyActivation(ctx context.Context, req *connect.Request[holdfastv1.DecidePolicyActivationRequest]) (*connect.Response[holdfastv1.DecidePolicyActivationResponse], error) {
	actor, err := staffActor(ctx)
	if err != nil {
		return nil, err
	}
	if req.Msg.Id == "" {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "id", "id is required")
	}
	a, err := h.engine.DecidePolicyActivation(ctx, actor, req.Msg.Id, req.Msg.Approve, req.Msg.Reason)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.DecidePolicyActivationResponse{Activation: pbPolicyActivation(a)}), nil
}

func (h *policies) ListPolicyActivations(ctx context.Context, req *connect.Request[holdfastv1.ListPolicyActivationsRequest]) (*connect.Response[holdfastv1.ListPolicyActivationsResponse], error) {
	if _, err := staffActor(ctx); err != nil {
		return nil, err
	}
	as, err := h.engine.PolicyActivations(ctx, req.Msg.PendingOnly)
	if err != nil {
		return nil, err
	}
	out := &holdfastv1.ListPolicyActivationsResponse{Activations: make([]*holdfastv1.PolicyActivation, len(as))}
	for i, a := range as {
		out.Activations[i] = pbPolicyActivation(a)
	}
	return connect.NewResponse(out), nil
}

func (h *policies) ShadowPolicy(ctx context.Context, req *connect.Request[holdfastv1.ShadowPolicyRequest]) (*connect.Response[holdfastv1.ShadowPolicyResponse], error) {
	actor, err := staffActor(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.engine.SetPolicyShadow(ctx, actor, req.Msg.Version, req.Msg.Reason); err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.ShadowPolicyResponse{}), nil
}

func (h *policies) ShadowReport(ctx context.Context, req *connect.Request[holdfastv1.ShadowReportRequest]) (*connect.Response[holdfastv1.ShadowReportResponse], error) {
	if _, err := staffActor(ctx); err != nil {
		return nil, err
	}
	m := req.Msg
	examples := int(m.Examples)
	switch {
	case examples == 0:
		examples = 20
	case examples < 0 || examples > 500:
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "examples", "examples is 1 to 500, not %d", m.Examples)
	}
	ref := m.Version
	if ref == "" {
		p := h.engine.ShadowPolicy()
		if p == nil {
			return nil, holdfast.Errorf(holdfast.InvalidArgument, "version", "no version is shadowed: name one")
		}
		ref = p.Hash
	}
	var since time.Time
	if m.Since != nil {
		since = m.Since.AsTime()
	}
	v, counts, recent, err := h.engine.ShadowReport(ctx, ref, since, examples)
	if err != nil {
		return nil, err
	}
	out := &holdfastv1.ShadowReportResponse{Version: pbPolicyVersion(v), Counts: make([]*holdfastv1.ShadowRuleCount, len(counts)), Outcomes: make([]*holdfastv1.ShadowOutcome, len(recent))}
	for i, c := range counts {
		out.Counts[i] = &holdfastv1.ShadowRuleCount{Rule: c.Rule, Outcome: c.Outcome, Events: c.Events}
	}
	for i, o := range recent {
		out.Outcomes[i] = &holdfastv1.ShadowOutcome{Rule: o.Rule, Outcome: o.Outcome, Event: o.Event, EventType: string(o.EventType), Account: o.Account, At: pbTime(o.At), Then: o.Then}
	}
	return connect.NewResponse(out), nil
}
