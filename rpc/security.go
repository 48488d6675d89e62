package rpc

import (
	"context"

	"connectrpc.com/connect"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
)

// The holder's security operations on holdfast.v1.SelfService. The actor
// is derived as for the other self-service calls (holderActor); the engine
// lets only the holder change anything and staff read, gates weakening
// changes by the account's restrictions and rate-limits every operation.

// maxLogins bounds LoginHistory's limit.
const maxLogins = 1000

func (h *selfService) SecureAccount(ctx context.Context, req *connect.Request[holdfastv1.SecureAccountRequest]) (*connect.Response[holdfastv1.SecureAccountResponse], error) {
	actor, err := holderActor(ctx, req.Msg.Account, false)
	if err != nil {
		return nil, err
	}
	res, err := h.engine.SecureAccount(ctx, req.Msg.Account, actor)
	if err != nil {
		return nil, err
	}
	out := pbSecure(res)
	out.Receipt = h.receipt(ctx, req.Msg.Account, res.Entry, actor)
	return connect.NewResponse(out), nil
}

func (h *selfService) RevokeSession(ctx context.Context, req *connect.Request[holdfastv1.RevokeSessionRequest]) (*connect.Response[holdfastv1.RevokeSessionResponse], error) {
	m := req.Msg
	actor, err := holderActor(ctx, m.Account, false)
	if err != nil {
		return nil, err
	}
	if err := h.engine.RevokeSession(ctx, m.Account, m.Session, actor); err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.RevokeSessionResponse{}), nil
}

func (h *selfService) AddWhitelistAddress(ctx context.Context, req *connect.Request[holdfastv1.AddWhitelistAddressRequest]) (*connect.Response[holdfastv1.AddWhitelistAddressResponse], error) {
	m := req.Msg
	actor, err := holderActor(ctx, m.Account, false)
	if err != nil {
		return nil, err
	}
	w, err := h.engine.AddWhitelistAddress(ctx, m.Account, holdfast.NewWhitelistAddress{Address: m.Address, Network: m.Network, Label: m.Label}, actor)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.AddWhitelistAddressResponse{Address: w.Address, AddedAt: pbTime(w.AddedAt), UsableAt: pbTime(w.UsableAt), Usable: w.Usable, Network: w.Network, Label: opt(w.Label)}), nil
}

func (h *selfService) RemoveWhitelistAddress(ctx context.Context, req *connect.Request[holdfastv1.RemoveWhitelistAddressRequest]) (*connect.Response[holdfastv1.RemoveWhitelistAddressResponse], error) {
	m := req.Msg
	actor, err := holderActor(ctx, m.Account, false)
	if err != nil {
		return nil, err
	}
	if err := h.engine.RemoveWhitelistAddress(ctx, m.Account, m.Address, actor); err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.RemoveWhitelistAddressResponse{}), nil
}

func (h *selfService) SetWhitelist(ctx context.Context, req *connect.Request[holdfastv1.SetWhitelistRequest]) (*connect.Response[holdfastv1.SetWhitelistResponse], error) {
	m := req.Msg
	actor, err := holderActor(ctx, m.Account, false)
	if err != nil {
		return nil, err
	}
	// A forgotten field must not turn the whitelist off.
	if m.Enabled == nil {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "enabled", "enabled is required: true turns the whitelist on, false off")
	}
	if err := h.engine.SetWhitelist(ctx, m.Account, m.GetEnabled(), actor); err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.SetWhitelistResponse{}), nil
}

func (h *selfService) SetAntiPhishingCode(ctx context.Context, req *connect.Request[holdfastv1.SetAntiPhishingCodeRequest]) (*connect.Response[holdfastv1.SetAntiPhishingCodeResponse], error) {
	m := req.Msg
	actor, err := holderActor(ctx, m.Account, false)
	if err != nil {
		return nil, err
	}
	if err := h.engine.SetAntiPhishingCode(ctx, m.Account, m.Code, actor); err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.SetAntiPhishingCodeResponse{}), nil
}

func (h *selfService) LockSettings(ctx context.Context, req *connect.Request[holdfastv1.LockSettingsRequest]) (*connect.Response[holdfastv1.LockSettingsResponse], error) {
	m := req.Msg
	actor, err := holderActor(ctx, m.Account, false)
	if err != nil {
		return nil, err
	}
	d, err := duration("unlock_delay", m.UnlockDelay)
	if err != nil {
		return nil, err
	}
	r, err := h.engine.LockSettings(ctx, m.Account, d, actor)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.LockSettingsResponse{Restriction: pbRestriction(r)}), nil
}

func (h *selfService) RequestSettingsUnlock(ctx context.Context, req *connect.Request[holdfastv1.RequestSettingsUnlockRequest]) (*connect.Response[holdfastv1.RequestSettingsUnlockResponse], error) {
	actor, err := holderActor(ctx, req.Msg.Account, false)
	if err != nil {
		return nil, err
	}
	r, err := h.engine.RequestSettingsUnlock(ctx, req.Msg.Account, actor)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.RequestSettingsUnlockResponse{Restriction: pbRestriction(r)}), nil
}

func (h *selfService) CancelSettingsUnlock(ctx context.Context, req *connect.Request[holdfastv1.CancelSettingsUnlockRequest]) (*connect.Response[holdfastv1.CancelSettingsUnlockResponse], error) {
	actor, err := holderActor(ctx, req.Msg.Account, false)
	if err != nil {
		return nil, err
	}
	r, err := h.engine.CancelSettingsUnlock(ctx, req.Msg.Account, actor)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.CancelSettingsUnlockResponse{Restriction: pbRestriction(r)}), nil
}

func (h *selfService) AddTrustedContact(ctx context.Context, req *connect.Request[holdfastv1.AddTrustedContactRequest]) (*connect.Response[holdfastv1.AddTrustedContactResponse], error) {
	m := req.Msg
	actor, err := holderActor(ctx, m.Account, false)
	if err != nil {
		return nil, err
	}
	if err := h.engine.AddTrustedContact(ctx, m.Account, m.Contact, actor); err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.AddTrustedContactResponse{}), nil
}

func (h *selfService) AcceptContactInvitation(ctx context.Context, req *connect.Request[holdfastv1.AcceptContactInvitationRequest]) (*connect.Response[holdfastv1.AcceptContactInvitationResponse], error) {
	m := req.Msg
	actor, err := holderActor(ctx, m.Account, false)
	if err != nil {
		return nil, err
	}
	if err := h.engine.AcceptContactInvitation(ctx, m.Account, m.Inviter, actor); err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.AcceptContactInvitationResponse{}), nil
}

func (h *selfService) DeclineContactInvitation(ctx context.Context, req *connect.Request[holdfastv1.DeclineContactInvitationRequest]) (*connect.Response[holdfastv1.DeclineContactInvitationResponse], error) {
	m := req.Msg
	actor, err := holderActor(ctx, m.Account, false)
	if err != nil {
		return nil, err
	}
	if err := h.engine.DeclineContactInvitation(ctx, m.Account, m.Inviter, actor); err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.DeclineContactInvitationResponse{}), nil
}

func (h *selfService) RemoveTrustedContact(ctx context.Context, req *connect.Request[holdfastv1.RemoveTrustedContactRequest]) (*connect.Response[holdfastv1.RemoveTrustedContactResponse], error) {
	m := req.Msg
	actor, err := holderActor(ctx, m.Account, false)
	if err != nil {
		return nil, err
	}
	if err := h.engine.RemoveTrustedContact(ctx, m.Account, m.Contact, actor); err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.RemoveTrustedContactResponse{}), nil
}

func (h *selfService) GetSecurity(ctx context.Context, req *connect.Request[holdfastv1.GetSecurityRequest]) (*connect.Response[holdfastv1.GetSecurityResponse], error) {
	actor, err := holderActor(ctx, req.Msg.Account, false)
	if err != nil {
		return nil, err
	}
	o, err := h.engine.Security(ctx, req.Msg.Account, actor)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(pbSecurity(o)), nil
}

func (h *selfService) LoginHistory(ctx context.Context, req *connect.Request[holdfastv1.LoginHistoryRequest]) (*connect.Response[holdfastv1.LoginHistoryResponse], error) {
	m := req.Msg
	actor, err := holderActor(ctx, m.Account, false)
	if err != nil {
		return nil, err
	}
	if m.Limit < 0 || m.Limit > maxLogins {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "limit", "limit must be from 0 (the default, 50) to %d, not %d", maxLogins, m.Limit)
	}
	evs, err := h.engine.LoginHistory(ctx, m.Account, int(m.Limit), actor)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(pbLogins(evs)), nil
}

func (h *selfService) SecurityCheckup(ctx context.Context, req *connect.Request[holdfastv1.SecurityCheckupRequest]) (*connect.Response[holdfastv1.SecurityCheckupResponse], error) {
	actor, err := holderActor(ctx, req.Msg.Account, false)
	if err != nil {
		return nil, err
	}
	c, err := h.engine.SecurityCheckup(ctx, req.Msg.Account, actor)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(pbCheckup(c)), nil
}

func (h *selfService) RevokeApiKey(ctx context.Context, req *connect.Request[holdfastv1.RevokeApiKeyRequest]) (*connect.Response[holdfastv1.RevokeApiKeyResponse], error) {
	m := req.Msg
	actor, err := holderActor(ctx, m.Account, false)
	if err != nil {
		return nil, err
	}
	k, err := h.engine.RevokeAPIKey(ctx, m.Account, m.ApiKey, actor)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.RevokeApiKeyResponse{Key: pbAPIKey(k)}), nil
}

func (h *selfService) SetApiKeyIpWhitelist(ctx context.Context, req *connect.Request[holdfastv1.SetApiKeyIpWhitelistRequest]) (*connect.Response[holdfastv1.SetApiKeyIpWhitelistResponse], error) {
	m := req.Msg
	actor, err := holderActor(ctx, m.Account, false)
	if err != nil {
		return nil, err
	}
	k, err := h.engine.SetAPIKeyIPWhitelist(ctx, m.Account, m.ApiKey, m.IpWhitelist, actor)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.SetApiKeyIpWhitelistResponse{Key: pbAPIKey(k)}), nil
}

func (h *selfService) SecurityHistory(ctx context.Context, req *connect.Request[holdfastv1.SecurityHistoryRequest]) (*connect.Response[holdfastv1.SecurityHistoryResponse], error) {
	m := req.Msg
	actor, err := holderActor(ctx, m.Account, false)
	if err != nil {
		return nil, err
	}
	p, err := h.engine.SecurityHistory(ctx, m.Account, m.Before, int(m.Limit), actor)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(pbHistory(p)), nil
}
