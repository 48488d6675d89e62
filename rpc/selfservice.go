package rpc

import (
	"context"

	"connectrpc.com/connect"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
)

// selfService serves holdfast.v1.SelfService. With a self_service token
// the exchange's app backend acts for the holder (actor user:<account>),
// or, for Freeze and PanicLock naming a trusted_contact, for that contact;
// with a staff token, the staff member acts. Verify is the identity
// service's report (events: actor system) or staff's. The holder's
// security operations are in security.go.
type selfService struct{ *server }

// contactActor is holderActor, unless the request names a trusted contact:
// then the exchange's backend (a self_service token) acts for that
// contact, trusted_contact:<id>. Whether the holder named the contact is
// the engine's to check.
func contactActor(ctx context.Context, account, contact string) (holdfast.Actor, error) {
	if contact == "" {
		return holderActor(ctx, account, false)
	}
	if err := holdfast.ValidateID("trusted_contact", contact); err != nil {
		return holdfast.Actor{}, err
	}
	if p := PrincipalFrom(ctx); p == nil || !p.Has(holdfast.ScopeSelfService) {
		return holdfast.Actor{}, holdfast.Errorf(holdfast.PermissionDenied, "trusted_contact", "only a self_service token may act for a trusted contact")
	}
	return holdfast.Actor{Type: holdfast.ActorTrustedContact, ID: contact}, nil
}

func (h *selfService) Freeze(ctx context.Context, req *connect.Request[holdfastv1.FreezeRequest]) (*connect.Response[holdfastv1.FreezeResponse], error) {
	m := req.Msg
	actor, err := contactActor(ctx, m.Account, m.TrustedContact)
	if err != nil {
		return nil, err
	}
	d, err := duration("duration", m.Duration)
	if err != nil {
		return nil, err
	}
	a, err := h.engine.FreezeApplied(ctx, m.Account, d, actor)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.FreezeResponse{Restriction: pbRestriction(a.Restriction), Receipt: h.receipt(ctx, m.Account, a.Entry, actor)}), nil
}

func (h *selfService) PanicLock(ctx context.Context, req *connect.Request[holdfastv1.PanicLockRequest]) (*connect.Response[holdfastv1.PanicLockResponse], error) {
	m := req.Msg
	actor, err := contactActor(ctx, m.Account, m.TrustedContact)
	if err != nil {
		return nil, err
	}
	d, err := duration("duration", m.Duration)
	if err != nil {
		return nil, err
	}
	a, err := h.engine.PanicLockApplied(ctx, m.Account, d, actor)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.PanicLockResponse{Restriction: pbRestriction(a.Restriction), Receipt: h.receipt(ctx, m.Account, a.Entry, actor)}), nil
}

func (h *selfService) RequestUnfreeze(ctx context.Context, req *connect.Request[holdfastv1.RequestUnfreezeRequest]) (*connect.Response[holdfastv1.RequestUnfreezeResponse], error) {
	actor, err := holderActor(ctx, req.Msg.Account, false)
	if err != nil {
		return nil, err
	}
	a, err := h.engine.RequestUnfreezeApplied(ctx, req.Msg.Account, actor)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.RequestUnfreezeResponse{Receipt: h.receipt(ctx, req.Msg.Account, a.Entry, actor)}), nil
}

func (h *selfService) Status(ctx context.Context, req *connect.Request[holdfastv1.StatusRequest]) (*connect.Response[holdfastv1.StatusResponse], error) {
	m := req.Msg
	view := holdfast.View(m.View)
	switch view {
	case "":
		view = holdfast.ViewHolder
	case holdfast.ViewHolder, holdfast.ViewStaff:
	default:
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "view", "unknown view %q (want staff or holder)", m.View)
	}
	actor, err := holderActor(ctx, m.Account, view == holdfast.ViewStaff)
	if err != nil {
		return nil, err
	}
	st, err := h.engine.Status(ctx, m.Account, view, actor)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(pbStatus(st)), nil
}

func (h *selfService) Verify(ctx context.Context, req *connect.Request[holdfastv1.VerifyRequest]) (*connect.Response[holdfastv1.VerifyResponse], error) {
	actor, err := eventsActor(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	ended, err := h.engine.Verify(ctx, holdfast.VerifyRequest{Account: m.Account, Device: m.Device, Factors: factors(m.Factors), Actor: actor})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.VerifyResponse{Ended: pbRestrictions(ended)}), nil
}

// receipt is the receipt of a holder's change, entry seq of account. It
// is best effort: the change is committed whatever happens here, so a
// receipt that cannot be made (no signing key, the store busy) is logged
// and left out. Staff acting for a holder get none.
func (h *selfService) receipt(ctx context.Context, account string, seq int64, actor holdfast.Actor) *holdfastv1.Receipt {
	if seq == 0 || (!actor.IsHolder(account) && actor.Type != holdfast.ActorTrustedContact) {
		return nil
	}
	rc, err := h.engine.Receipt(ctx, account, seq, actor)
	if err == nil {
		var out *holdfastv1.Receipt
		if out, err = pbReceipt(rc, h.engine.LogVerifierKey()); err == nil {
			return out
		}
	}
	h.log.WarnContext(ctx, "freeze receipt not issued; the change itself is committed", "account", account, "entry", seq, "err", err)
	return nil
}
