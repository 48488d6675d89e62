package scenario

import (
	"context"
	"slices"

	"github.com/holdfast/holdfast"
)

// ops lists every op of the format. Those that later issues build return
// failed_precondition until then.
var ops = map[string]bool{
	"freeze": true, "panic_lock": true, "secure_account": false, "request_unfreeze": true,
	"extend": true, "apply": true, "lift": true, "approve": true, "verify": true,
	"open_case": false, "decide_case": false,
	"add_whitelist_address": false, "enable_whitelist": false, "disable_whitelist": false,
	"set_anti_phishing_code": false, "add_trusted_contact": false,
	"lock_settings": false, "request_settings_unlock": false, "cancel_settings_unlock": false,
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
		req := holdfast.ExtendRequest{Target: target, Actor: actor}
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
		return restrictionID(r.eng.Extend(ctx, req))
	case "verify":
		_, err := r.eng.Verify(ctx, holdfast.VerifyRequest{Account: d.Account, Device: d.Device, Factors: d.Factors, Actor: actor})
		return "", err
	}
	return "", notImplemented(d.Op)
}

// event feeds an event to the engine. Rule-driven intake arrives with the
// rules issue; until then only verification_completed (which the engine
// already understands) runs.
func (r *runner) event(ctx context.Context, ev *Event) error {
	if !slices.Contains(eventTypes, ev.Type) {
		return holdfast.Errorf(holdfast.InvalidArgument, "type", "unknown event type %q", ev.Type)
	}
	if ev.Type == "verification_completed" {
		_, err := r.eng.Verify(ctx, holdfast.VerifyRequest{Account: ev.Account, Device: ev.Device, Factors: ev.Factors, Actor: holdfast.System})
		return err
	}
	return notImplemented("event " + ev.Type)
}

// eventTypes is DESIGN.md's event vocabulary.
var eventTypes = []string{
	"login", "password_changed", "password_reset", "two_factor_changed", "email_changed",
	"phone_changed", "withdrawal_address_added", "deposit", "withdrawal_requested",
	"api_activity", "c2c_dispute_opened", "association_detected", "sanctions_match",
	"aml_alert", "compromise_detected", "scam_interaction", "kyc_status",
	"violation_confirmed", "law_enforcement_request", "duress_signal",
	"api_key_created", "api_key_revoked", "verification_completed",
}

func parseDuration(field, s string) (holdfast.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := holdfast.ParseDuration(s)
	if err != nil {
		return 0, holdfast.Errorf(holdfast.InvalidArgument, field, "invalid %s %q (write e.g. 72h, 7d or permanent)", field, s)
	}
	return d, nil
}

func restrictionID(r *holdfast.Restriction, err error) (string, error) {
	if err != nil {
		return "", err
	}
	return r.ID, nil
}
