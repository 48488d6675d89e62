package scenario

import (
	"context"
	"os"

	"github.com/holdfast/holdfast"
)

// ops lists every op the runner knows: the format's, and a few more of the
// self-service API.
var ops = map[string]bool{
	"freeze": true, "panic_lock": true, "secure_account": true, "request_unfreeze": true,
	"extend": true, "apply": true, "lift": true, "approve": true, "verify": true,
	"open_case": true, "decide_case": true,
	"add_whitelist_address": true, "enable_whitelist": true, "disable_whitelist": true,
	"set_anti_phishing_code": true, "add_trusted_contact": true,
	"lock_settings": true, "request_settings_unlock": true, "cancel_settings_unlock": true,
	// Beyond the format's list: the rest of the self-service API.
	"remove_whitelist_address": true, "remove_trusted_contact": true, "revoke_session": true,
	"accept_trusted_contact": true, "decline_trusted_contact": true,
	"revoke_api_key": true, "set_api_key_ip_whitelist": true,
	// Policy releases (docs/scenarios.md): push a file, shadow, activate
	// or roll back a version, approve or reject an activation.
	"policy_push": true, "policy_shadow": true, "policy_activate": true, "policy_rollback": true,
	"policy_approve": true, "policy_reject": true,
}

func knownOp(op string) bool {
	_, ok := ops[op]
	return ok
}

func notImplemented(what string) error {
	return holdfast.Errorf(holdfast.FailedPrecondition, "", "not implemented: %s", what)
}

// do runs a command and returns the id it produced, for `as`.
func (r *runner) do(ctx context.Context, d *Do) (string, error) {
	actor, err := r.actor(d.Actor)
	if err != nil {
		return "", err
	}
	if !ops[d.Op] {
		return "", notImplemented(d.Op)
	}
	dur, err := parseDuration("duration", d.Duration)
	if err != nil {
		return "", err
	}
	target := holdfast.Target{Account: d.Account, Kind: d.Kind, Restriction: r.id(d.Restriction)}
	switch d.Op {
	case "freeze":
		return restrictionID(r.eng.Freeze(ctx, d.Account, dur, actor))
	case "panic_lock":
		return restrictionID(r.eng.PanicLock(ctx, d.Account, dur, actor))
	case "request_unfreeze":
		return "", r.eng.RequestUnfreeze(ctx, d.Account, actor)
	case "apply":
		return restrictionID(r.eng.Apply(ctx, holdfast.ApplyRequest{
			Account: d.Account, Kind: d.Kind, Duration: dur, Device: d.Device,
			Reason: d.Reason, Disclose: d.Disclose, Factors: d.Factors, Actor: actor,
		}))
	case "lift":
		res, err := r.eng.Lift(ctx, holdfast.LiftRequest{Target: target, Reason: d.Reason, Actor: actor})
		switch {
		case err != nil:
			return "", err
		case res.Pending != nil:
			return res.Pending.ID, nil
		}
		return res.Restriction.ID, nil
	case "approve":
		return restrictionID(r.eng.Approve(ctx, r.id(d.Request), actor))
	case "extend":
		req := holdfast.ExtendRequest{Target: target, Reason: d.Reason, Actor: actor}
		if req.By, err = parseDuration("by", d.By); err != nil {
			return "", err
		}
		if d.Until != "" {
			off, err := offset(d.Until)
			if err != nil {
				return "", holdfast.Errorf(holdfast.InvalidArgument, "until", "%v", err)
			}
			req.Until = r.f.start.Add(off)
		}
		res, err := r.eng.Extend(ctx, req)
		switch {
		case err != nil:
			return "", err
		case res.Pending != nil:
			return res.Pending.ID, nil // past the bound: the request to approve
		}
		return res.Restriction.ID, nil
	case "verify":
		_, err := r.eng.Verify(ctx, holdfast.VerifyRequest{Account: d.Account, Device: d.Device, Factors: d.Factors, Actor: actor})
		return "", err
	case "open_case":
		c, err := r.eng.OpenCase(ctx, holdfast.OpenCaseRequest{
			Account: d.Account, Type: holdfast.CaseType(d.Type), Restriction: r.id(d.Restriction), Kind: d.Kind, Actor: actor,
		})
		if err != nil {
			return "", err
		}
		return c.ID, nil
	case "decide_case":
		req := holdfast.DecideCaseRequest{Case: r.id(d.Case), Decision: holdfast.CaseDecision(d.Decision), Reason: d.Reason, Actor: actor}
		if d.KeepHeld != nil {
			req.KeepHeld = &holdfast.AmountHold{Asset: d.KeepHeld.Asset, Amount: d.KeepHeld.Amount}
		}
		c, err := r.eng.DecideCase(ctx, req)
		if err != nil {
			return "", err
		}
		if len(c.Pending) > 0 {
			return c.Pending[0], nil // a four-eyes kind: the request to approve
		}
		return c.ID, nil
	case "secure_account":
		res, err := r.eng.SecureAccount(ctx, d.Account, actor)
		if err != nil {
			return "", err
		}
		return res.Freeze.ID, nil
	case "revoke_session":
		return "", r.eng.RevokeSession(ctx, d.Account, d.Session, actor)
	case "add_whitelist_address":
		_, err := r.eng.AddWhitelistAddress(ctx, d.Account, holdfast.NewWhitelistAddress{Address: d.Address, Network: d.Network, Label: d.Label}, actor)
		return "", err
	case "revoke_api_key":
		_, err := r.eng.RevokeAPIKey(ctx, d.Account, d.APIKey, actor)
		return "", err
	case "set_api_key_ip_whitelist":
		_, err := r.eng.SetAPIKeyIPWhitelist(ctx, d.Account, d.APIKey, d.IPWhitelist, actor)
		return "", err
	case "remove_whitelist_address":
		return "", r.eng.RemoveWhitelistAddress(ctx, d.Account, d.Address, actor)
	case "enable_whitelist", "disable_whitelist":
		return "", r.eng.SetWhitelist(ctx, d.Account, d.Op == "enable_whitelist", actor)
	case "set_anti_phishing_code":
		return "", r.eng.SetAntiPhishingCode(ctx, d.Account, d.Code, actor)
	case "add_trusted_contact":
		return "", r.eng.AddTrustedContact(ctx, d.Account, d.Contact, actor)
	case "remove_trusted_contact":
		return "", r.eng.RemoveTrustedContact(ctx, d.Account, d.Contact, actor)
	case "accept_trusted_contact":
		return "", r.eng.AcceptContactInvitation(ctx, d.Account, d.Inviter, actor)
	case "decline_trusted_contact":
		return "", r.eng.DeclineContactInvitation(ctx, d.Account, d.Inviter, actor)
	case "lock_settings":
		delay, err := parseDuration("unlock_delay", d.UnlockDelay)
		if err != nil {
			return "", err
		}
		return restrictionID(r.eng.LockSettings(ctx, d.Account, delay, actor))
	case "request_settings_unlock":
		return restrictionID(r.eng.RequestSettingsUnlock(ctx, d.Account, actor))
	case "cancel_settings_unlock":
		return restrictionID(r.eng.CancelSettingsUnlock(ctx, d.Account, actor))
	case "policy_push":
		b, err := os.ReadFile(r.f.relative(d.Policy))
		if err != nil {
			return "", holdfast.Errorf(holdfast.InvalidArgument, "policy", "cannot read the policy file: %v", err)
		}
		v, err := r.eng.PushPolicy(ctx, actor, b, d.Reason)
		if err != nil {
			return "", err
		}
		return v.Hash, nil
	case "policy_shadow":
		return "", r.eng.SetPolicyShadow(ctx, actor, r.id(d.Version), d.Reason)
	case "policy_activate", "policy_rollback":
		a, err := r.eng.RequestPolicyActivation(ctx, actor, r.id(d.Version), d.Reason, d.Op == "policy_rollback")
		if err != nil {
			return "", err
		}
		return a.ID, nil
	case "policy_approve", "policy_reject":
		_, err := r.eng.DecidePolicyActivation(ctx, actor, r.id(d.Request), d.Op == "policy_approve", d.Reason)
		return "", err
	}
	return "", notImplemented(d.Op)
}

// event feeds an event through the engine's intake, exactly as the event
// API would.
func (r *runner) event(ctx context.Context, ev *Event) error {
	notice, err := parseDuration("notice_period", ev.NoticePeriod)
	if err != nil {
		return err
	}
	_, err = r.eng.Ingest(ctx, holdfast.Event{
		ID: ev.ID, Type: holdfast.EventType(ev.Type), Account: ev.Account, Device: ev.Device,
		Country: ev.Country, IP: ev.IP, Session: ev.Session, Address: ev.Address, Asset: ev.Asset,
		Amount: ev.Amount, USDValue: ev.USDValue, SourceAddress: ev.SourceAddress, SourceRisk: ev.SourceRisk,
		OrdersPerMinute: ev.OrdersPerMinute, FailureRate: ev.FailureRate, OtherAccounts: ev.OtherAccounts,
		NoticePeriod: notice, Severity: ev.Severity, Status: ev.Status, CaseRef: ev.CaseRef,
		Disclose: ev.Disclose, APIKey: ev.APIKey, Permissions: ev.Permissions, IPWhitelist: ev.IPWhitelist,
		Factors: ev.Factors, Email: ev.Email, Phone: ev.Phone,
	})
	return err
}

func parseDuration(field, s string) (holdfast.Duration, error) {
	if s == "" {
		return 0, nil
	}
	return holdfast.ParseDurationField(field, s)
}

func restrictionID(r *holdfast.Restriction, err error) (string, error) {
	if err != nil {
		return "", err
	}
	return r.ID, nil
}
