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
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "duration", "choose a duration: one of %v", e.policy().SelfService.FreezeDurations)
	}
	if !slices.Contains(e.policy().SelfService.FreezeDurations, d) {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "duration", "a freeze lasts one of %v, not %s", e.policy().SelfService.FreezeDurations, d)
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
	ss := e.policy().SelfService
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
// a receipt of the request proves: after the unlock_request case it opens
// (none when one is open already) and the account record (which holds
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
		var freezes []*holdfast.Restriction
		for _, r := range tx.Restrictions() {
			if r.Kind == holdfast.KindSelfFreeze && r.ActiveAt(now) {
				freezes = append(freezes, r)
			}
		}
		if len(freezes) == 0 {
			return false, holdfast.Errorf(holdfast.FailedPrecondition, "account", "the account has no active self_freeze")
		}
		if err := e.takeLimit(tx, now, holdfast.AuditUnfreezeRequest); err != nil {
			return false, err
		}
		if err := e.unlockCase(tx, now, actor, freezes); err != nil {
			return false, err
		}
		tx.Account().UnfreezeRequestedAt = now
		if err := saveAccount(tx, now, actor, holdfast.AuditUnfreezeRequest); err != nil {
			return false, err
		}
		freeze := freezes[0]
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

// unlockCase opens the unlock_request case in which support decides an
// early unfreeze, linking the freezes, unless one is open for any of them
// already (the holder opened it from the appeals page, or asked before).
// A policy whose unlock_request cannot end a self_freeze gets none.
func (e *Engine) unlockCase(tx holdfast.AccountTx, now time.Time, actor holdfast.Actor, freezes []*holdfast.Restriction) error {
	tp := e.policy().Cases.Types[holdfast.CaseUnlockRequest]
	if tp == nil || !slices.Contains(tp.Ends, holdfast.KindSelfFreeze) {
		return nil
	}
	ids := make([]string, len(freezes))
	for i, r := range freezes {
		ids[i] = r.ID
	}
	for _, c := range tx.Cases() {
		if c.Type == holdfast.CaseUnlockRequest && !c.State.Final() && slices.ContainsFunc(c.Restrictions, func(id string) bool { return slices.Contains(ids, id) }) {
			return nil
		}
	}
	_, err := e.newCase(tx, now, holdfast.CaseUnlockRequest, ids, "", actor)
	return err
}

// Progress returns what the holder waits for beyond their restrictions'
// own ends: the early unfreeze they asked for (while a freeze it asks to
// end is in force), with its case and whether they have verified since,
// and the amounts approved appeals keep held.
func (e *Engine) Progress(ctx context.Context, account string, actor holdfast.Actor) (*holdfast.Progress, error) {
	a, now, err := e.readSecurity(ctx, account, actor)
	if err != nil {
		return nil, err
	}
	out := &holdfast.Progress{Holds: slices.Clone(a.Holds)}
	if out.Holds == nil {
		out.Holds = []holdfast.AmountHold{}
	}
	asked := a.UnfreezeRequestedAt
	if asked.IsZero() {
		return out, nil
	}
	freezes, err := e.store.Restrictions(ctx, holdfast.RestrictionFilter{Account: account, Kind: holdfast.KindSelfFreeze, ActiveAt: now})
	if err != nil {
		return nil, err
	}
	u := &holdfast.UnfreezeProgress{RequestedAt: asked}
	for _, r := range freezes {
		// A request made before a freeze started is not about it (the
		// lift's precondition says the same).
		if !asked.Before(r.StartsAt) {
			u.Restrictions = append(u.Restrictions, r.ID)
		}
	}
	if len(u.Restrictions) == 0 {
		return out, nil
	}
	if !a.VerifiedAt.IsZero() && !a.VerifiedAt.Before(asked) {
		u.VerifiedAt = a.VerifiedAt
	}
	cases, err := e.store.Cases(ctx, holdfast.CaseFilter{Account: account, Type: holdfast.CaseUnlockRequest, Open: true})
	if err != nil {
		return nil, err
	}
	for _, c := range cases {
		if slices.ContainsFunc(c.Restrictions, func(id string) bool { return slices.Contains(u.Restrictions, id) }) {
			u.Case, u.DueAt = c.ID, c.DueAt
			break
		}
	}
	out.Unfreeze = u
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
		st.Causes = append(st.Causes, holdfast.StatusCause{Cause: c, Blocks: blocks, Device: ru.device})
	}
	for _, a := range holdfast.Actions {
		req := holdfast.CheckRequest{Account: account, Action: a, View: view}
		st.Effects[a] = e.decide(rules, &req, now, nil).Effect
	}
	return st, nil
}
