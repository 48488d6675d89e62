package engine

import (
	"context"
	"slices"
	"time"

	"github.com/holdfast/holdfast"
)

// Freeze applies a self_freeze for one of the policy's self-service
// durations.
func (e *Engine) Freeze(ctx context.Context, account string, d holdfast.Duration, actor holdfast.Actor) (*holdfast.Restriction, error) {
	return restrictionOf(e.FreezeApplied(ctx, account, d, actor))
}

// FreezeApplied is Freeze, also naming the audit entry of the change (for
// its receipt).
func (e *Engine) FreezeApplied(ctx context.Context, account string, d holdfast.Duration, actor holdfast.Actor) (*Applied, error) {
	if d == 0 {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "duration", "choose a duration: one of %v", e.policy.SelfService.FreezeDurations)
	}
	if !slices.Contains(e.policy.SelfService.FreezeDurations, d) {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "duration", "a freeze lasts one of %v, not %s", e.policy.SelfService.FreezeDurations, d)
	}
	return e.apply(ctx, holdfast.ApplyRequest{Account: account, Kind: holdfast.KindSelfFreeze, Duration: d, Actor: actor, Reason: "holder froze the account"})
}

// PanicLock applies a panic_lock; zero d means the policy's default.
func (e *Engine) PanicLock(ctx context.Context, account string, d holdfast.Duration, actor holdfast.Actor) (*holdfast.Restriction, error) {
	return restrictionOf(e.PanicLockApplied(ctx, account, d, actor))
}

// PanicLockApplied is PanicLock, also naming the audit entry of the
// change: the lock's apply, or the extend of a press on a lock in force.
func (e *Engine) PanicLockApplied(ctx context.Context, account string, d holdfast.Duration, actor holdfast.Actor) (*Applied, error) {
	ss := e.policy.SelfService
	if d == 0 {
		d = ss.PanicLockDefault
	}
	if d < ss.PanicLockMin || d > ss.PanicLockMax {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "duration", "a panic lock lasts from %s to %s, not %s", ss.PanicLockMin, ss.PanicLockMax, d)
	}
	return e.apply(ctx, holdfast.ApplyRequest{Account: account, Kind: holdfast.KindPanicLock, Duration: d, Actor: actor, Reason: "holder pressed the panic button"})
}

// RequestUnfreeze records the holder's request to end a self-freeze early.
func (e *Engine) RequestUnfreeze(ctx context.Context, account string, actor holdfast.Actor) error {
	_, err := e.RequestUnfreezeApplied(ctx, account, actor)
	return err
}

// RequestUnfreezeApplied is RequestUnfreeze, also naming the audit entry
// a receipt of the request proves: after the account record (which holds
// staff-only fields), an unfreeze_requested entry of the self_freeze as
// it stands, which the holder may read whole.
func (e *Engine) RequestUnfreezeApplied(ctx context.Context, account string, actor holdfast.Actor) (*Applied, error) {
	if err := holdfast.ValidateID("account", account); err != nil {
		return nil, err
	}
	if !actor.IsHolder(account) {
		return nil, holdfast.Errorf(holdfast.PermissionDenied, "actor", "only the holder may ask to end their own freeze")
	}
	var out *Applied
	err := e.update(ctx, account, func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		i := slices.IndexFunc(tx.Restrictions(), func(r *holdfast.Restriction) bool {
			return r.Kind == holdfast.KindSelfFreeze && r.ActiveAt(now)
		})
		if i < 0 {
			return false, holdfast.Errorf(holdfast.FailedPrecondition, "account", "the account has no active self_freeze")
		}
		if err := e.takeLimit(tx, now, holdfast.AuditUnfreezeRequest); err != nil {
			return false, err
		}
		tx.Account().UnfreezeRequestedAt = now
		if err := saveAccount(tx, now, actor, holdfast.AuditUnfreezeRequest); err != nil {
			return false, err
		}
		freeze := tx.Restrictions()[i]
		if err := tx.Append(&holdfast.AuditEntry{Account: account, At: now, Actor: actor.String(), Action: holdfast.AuditUnfreezeRequested,
			Restriction: freeze.ID, After: mustJSON(freeze), Reason: "holder asked to end the freeze early"}); err != nil {
			return false, err
		}
		out = &Applied{Restriction: freeze, Entry: lastEntry(tx)}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Verify records factors the identity service saw completed. Step-ups whose
// factors are all among them end (only those on the given device, when one
// is named); completing every bound factor also counts as an identity
// verification.
func (e *Engine) Verify(ctx context.Context, req holdfast.VerifyRequest) ([]*holdfast.Restriction, error) {
	if err := holdfast.ValidateID("account", req.Account); err != nil {
		return nil, err
	}
	if req.Device != "" {
		if err := holdfast.ValidateID("device", req.Device); err != nil {
			return nil, err
		}
	}
	if len(req.Factors) == 0 {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "factors", "name the completed factors (email, sms, totp)")
	}
	for _, f := range req.Factors {
		if !f.Valid() {
			return nil, holdfast.Errorf(holdfast.InvalidArgument, "factors", "unknown factor %q (want email, sms or totp)", f)
		}
	}
	var ended []*holdfast.Restriction
	err := e.update(ctx, req.Account, func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		var err error
		ended, err = e.verifyTx(tx, now, req)
		return len(ended) > 0, err
	})
	return ended, err
}

// verifyTx records completed factors inside tx and ends the step-ups they
// satisfy.
func (e *Engine) verifyTx(tx holdfast.AccountTx, now time.Time, req holdfast.VerifyRequest) ([]*holdfast.Restriction, error) {
	acct := tx.Account()
	if subset(e.requiredFactors(acct), req.Factors) {
		acct.VerifiedAt = now
	}
	if err := saveAccount(tx, now, req.Actor, holdfast.AuditVerified); err != nil {
		return nil, err
	}
	var ended []*holdfast.Restriction
	for _, r := range slices.Clone(tx.Restrictions()) {
		if r.Kind != holdfast.KindStepUpVerification || !subset(r.Factors, req.Factors) {
			continue
		}
		if req.Device != "" && r.Device != "" && r.Device != req.Device {
			continue
		}
		lifted, err := e.lift(tx, now, r, req.Actor, "required factors completed")
		if err != nil {
			return nil, err
		}
		ended = append(ended, lifted.Clone())
	}
	return ended, nil
}

func subset(need, have []holdfast.Factor) bool {
	for _, f := range need {
		if !slices.Contains(have, f) {
			return false
		}
	}
	return true
}

// Status lists the account's restrictions in force now, each with what it
// blocks, in the requested view.
func (e *Engine) Status(ctx context.Context, account string, view holdfast.View, actor holdfast.Actor) (*holdfast.Status, error) {
	if err := holdfast.ValidateID("account", account); err != nil {
		return nil, err
	}
	if err := mayRead(actor, account); err != nil {
		return nil, err
	}
	if actor.Type != holdfast.ActorStaff && actor.Type != holdfast.ActorSystem {
		view = holdfast.ViewHolder // a holder never gets the staff view
	}
	now := e.clock.Now()
	st := &holdfast.Status{Account: account, Causes: []holdfast.StatusCause{}, Effects: map[holdfast.Action]holdfast.Effect{}}
	var rules []rule
	if ent := e.index.get(account); ent != nil {
		rules = ent.rules
	}
	for i := range rules {
		ru := &rules[i]
		if !ru.activeAt(now.UnixNano()) {
			continue
		}
		blocks := map[holdfast.Action]holdfast.Effect{}
		for ai, a := range holdfast.Actions {
			if covers(ru, ai, "") {
				blocks[a] = ru.fx[ai]
			}
		}
		if view == holdfast.ViewHolder && !ru.disclose {
			c := e.coverCause(ru, holdfast.Allow)
			for _, fx := range blocks {
				c.Effect = max(c.Effect, fx)
			}
			st.Causes = append(st.Causes, holdfast.StatusCause{Cause: c, Blocks: blocks})
			continue
		}
		c := cause(ru, holdfast.Allow)
		if view == holdfast.ViewHolder {
			c.Origin = nil
		}
		for _, fx := range blocks {
			c.Effect = max(c.Effect, fx)
		}
		st.Causes = append(st.Causes, holdfast.StatusCause{Cause: c, Blocks: blocks})
	}
	for _, a := range holdfast.Actions {
		req := holdfast.CheckRequest{Account: account, Action: a, View: view}
		st.Effects[a] = e.decide(rules, &req, now, nil).Effect
	}
	return st, nil
}
