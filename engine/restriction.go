package engine

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/holdfast/holdfast"
)

// Apply creates a restriction.
func (e *Engine) Apply(ctx context.Context, req holdfast.ApplyRequest) (*holdfast.Restriction, error) {
	a, err := e.apply(ctx, req)
	if err != nil {
		return nil, err
	}
	return a.Restriction, nil
}

// apply is Apply, also naming the audit entry that recorded the change:
// the restriction's apply, or the extend of a second panic press.
func (e *Engine) apply(ctx context.Context, req holdfast.ApplyRequest) (*Applied, error) {
	if err := holdfast.ValidateID("account", req.Account); err != nil {
		return nil, err
	}
	if !req.Kind.Valid() {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "kind", "unknown kind %q", req.Kind)
	}
	if req.Device != "" {
		if err := holdfast.ValidateID("device", req.Device); err != nil {
			return nil, err
		}
	}
	for _, f := range req.Factors {
		if !f.Valid() {
			return nil, holdfast.Errorf(holdfast.InvalidArgument, "factors", "unknown factor %q (want email, sms or totp)", f)
		}
	}
	if len(req.Reason) > maxReason {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "reason", "reason is longer than %d characters", maxReason)
	}
	if err := e.mayApply(req.Actor, req.Account, req.Kind); err != nil {
		return nil, err
	}
	if req.Reference != "" {
		if err := holdfast.ValidateID("reference", req.Reference); err != nil {
			return nil, err
		}
	}
	d, err := e.duration(req.Kind, req.Duration)
	if err != nil {
		return nil, err
	}
	out := &Applied{}
	err = e.update(ctx, req.Account, func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		*out = Applied{} // a retried transaction starts again
		if err := mayContact(req.Actor, tx.Account()); err != nil {
			return false, err
		}
		if t := req.Actor.Type; t == holdfast.ActorUser || t == holdfast.ActorTrustedContact {
			// Holders and their contacts are rate-limited like every
			// self-service call.
			if err := e.takeLimit(tx, now, "apply_"+string(req.Kind)); err != nil {
				return false, err
			}
			if err := tx.SaveAccount(); err != nil {
				return false, err
			}
		}
		byContact := req.Actor.Type == holdfast.ActorTrustedContact
		if req.Kind == holdfast.KindPanicLock {
			// At most one panic lock per account: a second press
			// extends the one in force, or is refused.
			if cur := e.panicLockOf(tx, now, req.Actor); cur != nil {
				changed, err := e.pressAgain(tx, now, cur, now.Add(d.Std()), req, &out.Entry)
				out.Restriction = e.redact(req.Actor, cur)
				return changed, err
			}
		}
		r, err := e.newRestriction(tx, now, req, d, !byContact)
		if err != nil {
			return false, err
		}
		out.Restriction, out.Entry = r.Clone(), lastEntry(tx)
		if byContact {
			return true, e.tellContactActed(tx, now, r, req.Actor)
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// maxReason bounds free-text reasons kept in the audit log.
const maxReason = 2000

// panicLockOf returns the account's panic lock in force or to come that
// actor can see (the one ending last), or nil. A holder cannot see a
// duress lock, so their press never learns of it.
func (e *Engine) panicLockOf(tx holdfast.AccountTx, now time.Time, actor holdfast.Actor) *holdfast.Restriction {
	var found *holdfast.Restriction
	for _, r := range tx.Restrictions() {
		if r.Kind == holdfast.KindPanicLock && !r.Over(now) && visible(actor, r) && (found == nil || endsLater(r.EndsAt, found.EndsAt)) {
			found = r
		}
	}
	return found
}

// pressAgain applies a second panic press (or staff apply) to the lock in
// force: a later end extends it, an earlier one is refused, the same end
// changes nothing. It reports whether the lock changed.
// entry is set to the extension's audit entry.
func (e *Engine) pressAgain(tx holdfast.AccountTx, now time.Time, cur *holdfast.Restriction, end time.Time, req holdfast.ApplyRequest, entry *int64) (bool, error) {
	if end.Before(cur.EndsAt) {
		return false, holdfast.Errorf(holdfast.Immutable, "duration", "withdrawals are already stopped until %s; a panic lock can be made longer, never shorter: choose a time that ends later", cur.EndsAt.UTC().Format("2 Jan 2006 15:04 UTC"))
	}
	if !end.After(cur.EndsAt) {
		return false, nil
	}
	if req.Actor.Type == holdfast.ActorStaff {
		if err := staffReason(req.Reason); err != nil {
			return false, err
		}
	}
	if err := e.withinPanicTotal(cur, end, "duration"); err != nil {
		return false, err
	}
	if _, err := moveEndLater(tx, now, cur, end, req.Actor, req.Reason); err != nil {
		return false, err
	}
	*entry = lastEntry(tx)
	if req.Actor.Type == holdfast.ActorTrustedContact {
		return true, e.tellContactActed(tx, now, cur, req.Actor)
	}
	return true, nil
}

// tellContactActed tells the holder that their trusted contact applied or
// extended r: who acted, and what it means.
func (e *Engine) tellContactActed(tx holdfast.AccountTx, now time.Time, r *holdfast.Restriction, contact holdfast.Actor) error {
	data := e.restrictionData(r)
	data["contact"], data["action"] = contact.ID, string(r.Kind)
	return e.notifyHolder(tx, now, noticeContactAction, data)
}

// staffReason refuses a staff extension of a panic lock without a reason:
// it goes to the audit log.
func staffReason(reason string) error {
	if strings.TrimSpace(reason) == "" {
		return holdfast.Errorf(holdfast.InvalidArgument, "reason", "say why the panic lock is extended; the reason is kept in the audit log")
	}
	return nil
}

// withinPanicTotal refuses a panic lock end past the policy's bound on
// its whole length.
func (e *Engine) withinPanicTotal(r *holdfast.Restriction, end time.Time, field string) error {
	total := e.policy().SelfService.PanicLockMaxTotal
	if end.Sub(r.StartsAt) > total.Std() {
		return holdfast.Errorf(holdfast.InvalidArgument, field, "a panic lock lasts at most %s in all; this one started %s, so it can end no later than %s", total, r.StartsAt.Format(time.RFC3339), r.StartsAt.Add(total.Std()).Format(time.RFC3339))
	}
	return nil
}

// endsLater reports whether end a is later than end b (zero: never ends).
func endsLater(a, b time.Time) bool {
	return !b.IsZero() && (a.IsZero() || a.After(b))
}

// newRestriction saves a restriction and its audit entry inside tx, and
// tells the holder unless the caller sends a notice of its own.
func (e *Engine) newRestriction(tx holdfast.AccountTx, now time.Time, req holdfast.ApplyRequest, d holdfast.Duration, tell bool) (*holdfast.Restriction, error) {
	kp := e.policy().Kind(req.Kind)
	r := &holdfast.Restriction{
		ID:        newID("rst"),
		Account:   req.Account,
		Kind:      req.Kind,
		Device:    req.Device,
		StartsAt:  now,
		Reason:    req.Reason,
		Disclose:  kp.Disclose,
		AppliedBy: req.Actor.String(),
		CreatedAt: now,
		Factors:   req.Factors,
		Reference: req.Reference,
	}
	if req.Disclose != nil {
		r.Disclose = *req.Disclose
	}
	if req.Delay > 0 {
		r.StartsAt = now.Add(req.Delay.Std())
	}
	if d != holdfast.Permanent && d != 0 {
		r.EndsAt = r.StartsAt.Add(d.Std())
	}
	if err := holdfast.CheckTime("duration", r.EndsAt); err != nil {
		return nil, err
	}
	if req.Kind == holdfast.KindStepUpVerification && len(r.Factors) == 0 {
		r.Factors = e.requiredFactors(tx.Account())
	}
	if req.Origin != nil {
		o := *req.Origin
		r.Origin = &o
	}
	if err := tx.SaveRestriction(r); err != nil {
		return nil, err
	}
	if err := announce(tx, now, holdfast.CommandRestrictionApplied, r); err != nil {
		return nil, err
	}
	// A restriction that starts later (a sanctions notice period) is told
	// by its rule's own notice.
	// A hidden one is told as its cover kind: a real one of that kind
	// is told, so silence would give it away.
	if tell && !r.StartsAt.After(now) {
		if err := e.notifyHolder(tx, now, noticeApplied, e.restrictionData(r)); err != nil {
			return nil, err
		}
	}
	return r, audit(tx, now, req.Actor, holdfast.AuditApply, nil, r, req.Reason)
}

// announce writes a command about a restriction to the outbox, in the
// transaction of the change. A non-disclosable restriction (a
// law-enforcement hold, a duress lock) is not announced: a receiver that
// notifies holders could not tell it apart, and staff see it in the
// Console.
func announce(tx holdfast.AccountTx, now time.Time, t holdfast.CommandType, r *holdfast.Restriction) error {
	if !r.Disclose {
		return nil
	}
	return tx.Enqueue(&holdfast.Command{ID: newID("cmd"), Account: tx.Account().ID, Type: t, Restriction: r.ID, CreatedAt: now})
}

// requiredFactors are the account's bound factors, or the policy's default
// when it has none.
func (e *Engine) requiredFactors(a *holdfast.Account) []holdfast.Factor {
	if len(a.Factors) > 0 {
		return slices.Clone(a.Factors)
	}
	return slices.Clone(e.policy().StepUpFactors)
}

// duration resolves and checks a requested duration against the kind's
// policy. Zero means the kind's default, and no default means until lifted.
func (e *Engine) duration(kind holdfast.Kind, d holdfast.Duration) (holdfast.Duration, error) {
	kp := e.policy().Kind(kind)
	if d == 0 {
		d = kp.DefaultDuration
		if d == 0 {
			return 0, nil
		}
	}
	if d < 0 && d != holdfast.Permanent {
		return 0, holdfast.Errorf(holdfast.InvalidArgument, "duration", "duration must be positive")
	}
	if len(kp.Durations) > 0 && !slices.Contains(kp.Durations, d) {
		return 0, holdfast.Errorf(holdfast.InvalidArgument, "duration", "%s lasts one of %v, not %s", kind, kp.Durations, d)
	}
	if d == holdfast.Permanent {
		if kp.MaxDuration != 0 {
			return 0, holdfast.Errorf(holdfast.InvalidArgument, "duration", "%s cannot be permanent; it lasts at most %s", kind, kp.MaxDuration)
		}
		return d, nil
	}
	if kp.MinDuration != 0 && d < kp.MinDuration {
		return 0, holdfast.Errorf(holdfast.InvalidArgument, "duration", "%s lasts at least %s, not %s", kind, kp.MinDuration, d)
	}
	if kp.MaxDuration != 0 && d > kp.MaxDuration {
		return 0, holdfast.Errorf(holdfast.InvalidArgument, "duration", "%s lasts at most %s, not %s", kind, kp.MaxDuration, d)
	}
	return d, nil
}

// Lift ends a restriction early, or opens a four-eyes request for it.
func (e *Engine) Lift(ctx context.Context, req holdfast.LiftRequest) (*holdfast.LiftResult, error) {
	if len(req.Reason) > maxReason {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "reason", "reason is longer than %d characters", maxReason)
	}
	account, err := e.targetAccount(ctx, req.Target, req.Actor)
	if err != nil {
		return nil, err
	}
	var out holdfast.LiftResult
	err = e.update(ctx, account, func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		r, err := e.resolve(tx, req.Target, req.Actor)
		if err != nil {
			return false, err
		}
		fourEyes, err := e.mayEndEarly(req.Actor, r, tx.Account())
		if err != nil {
			return false, err
		}
		if fourEyes {
			a, err := e.askApproval(ctx, tx, now, r, req)
			out.Pending = a
			return false, err
		}
		lifted, err := e.lift(tx, now, r, req.Actor, req.Reason)
		if err == nil {
			out.Restriction = e.redact(req.Actor, lifted)
		}
		return true, err
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// lift ends r now and runs the kind's follow-up (a compromise_lock leaves
// the tag previously_compromised and a recovery_cooldown behind).
func (e *Engine) lift(tx holdfast.AccountTx, now time.Time, r *holdfast.Restriction, actor holdfast.Actor, reason string) (*holdfast.Restriction, error) {
	before := r.Clone()
	r.LiftedAt, r.LiftedBy, r.LiftReason = now, actor.String(), reason
	if err := tx.SaveRestriction(r); err != nil {
		return nil, err
	}
	if err := audit(tx, now, actor, holdfast.AuditLift, before, r, reason); err != nil {
		return nil, err
	}
	if err := announce(tx, now, holdfast.CommandRestrictionLifted, r); err != nil {
		return nil, err
	}
	// As for applying: a hidden one is told as its cover kind.
	k, _ := e.holderKind(r)
	if err := e.notifyHolder(tx, now, noticeLifted, map[string]string{"kind": string(k)}); err != nil {
		return nil, err
	}
	acct := tx.Account()
	if r.Kind == holdfast.KindSelfFreeze && !acct.UnfreezeRequestedAt.IsZero() {
		// The request is used up: a later freeze needs a new one.
		acct.UnfreezeRequestedAt = time.Time{}
		if err := tx.SaveAccount(); err != nil {
			return nil, err
		}
	}
	if on := e.policy().Kind(r.Kind).OnLift; on != nil {
		if on.Tag != "" && !acct.HasTag(on.Tag) {
			acct.AddTag(on.Tag)
			if err := saveAccount(tx, now, holdfast.System, holdfast.AuditAccountUpdated); err != nil {
				return nil, err
			}
		}
		if on.Apply != "" {
			follow := holdfast.ApplyRequest{Account: r.Account, Kind: on.Apply, Actor: holdfast.System, Reason: "follows the end of " + string(r.Kind) + " " + r.ID}
			if _, err := e.newRestriction(tx, now, follow, on.For, true); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

// askApproval opens (or returns the already open) four-eyes lift request.
func (e *Engine) askApproval(ctx context.Context, tx holdfast.AccountTx, now time.Time, r *holdfast.Restriction, req holdfast.LiftRequest) (*holdfast.Approval, error) {
	return e.ask(ctx, tx, now, r, holdfast.ApprovalLift, time.Time{}, req.Actor, req.Reason)
}

// ask opens a four-eyes request to lift r or move its end to end, or
// returns the same request when one is already pending. An open request
// whose asker has since been disabled or removed can never be approved: it
// ends (expired) and the new asker's request replaces it.
func (e *Engine) ask(ctx context.Context, tx holdfast.AccountTx, now time.Time, r *holdfast.Restriction, op holdfast.ApprovalOp, end time.Time, actor holdfast.Actor, reason string) (*holdfast.Approval, error) {
	var superseded json.RawMessage
	for _, a := range tx.Approvals() {
		if a.Restriction == r.ID && a.Extends() == (op == holdfast.ApprovalExtend) && a.EndsAt.Equal(end) && a.StateAt(now) == holdfast.ApprovalPending {
			err := e.askerActive(ctx, a)
			if holdfast.ErrorCode(err) != holdfast.FailedPrecondition {
				return a, err
			}
			a.State, a.DecidedBy, a.DecidedAt = holdfast.ApprovalExpired, actor.String(), now
			if err := tx.SaveApproval(a); err != nil {
				return nil, err
			}
			superseded = mustJSON(a)
		}
	}
	a := &holdfast.Approval{
		ID:          newID("apr"),
		Account:     r.Account,
		Restriction: r.ID,
		Kind:        r.Kind,
		Op:          op,
		EndsAt:      end,
		AskedBy:     actor.String(),
		AskedRoles:  slices.Clone(actor.Roles),
		Reason:      reason,
		CreatedAt:   now,
		ExpiresAt:   now.Add(e.policy().FourEyesExpiry.Std()),
		State:       holdfast.ApprovalPending,
	}
	if err := tx.SaveApproval(a); err != nil {
		return nil, err
	}
	action := holdfast.AuditLiftRequested
	if op == holdfast.ApprovalExtend {
		action = holdfast.AuditExtendRequested
	}
	entry := &holdfast.AuditEntry{Account: r.Account, At: now, Actor: actor.String(), Action: action, Restriction: r.ID, Before: superseded, After: mustJSON(a), Reason: reason}
	return a, tx.Append(entry)
}

// Approve completes a four-eyes request and lifts its restriction.
func (e *Engine) Approve(ctx context.Context, id string, actor holdfast.Actor) (*holdfast.Restriction, error) {
	if err := holdfast.ValidateID("request", id); err != nil {
		return nil, err
	}
	a, err := e.store.Approval(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := e.askerActive(ctx, a); err != nil {
		return nil, err
	}
	var out *holdfast.Restriction
	err = e.update(ctx, a.Account, func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		i := slices.IndexFunc(tx.Approvals(), func(p *holdfast.Approval) bool { return p.ID == id })
		if i < 0 {
			return false, holdfast.Errorf(holdfast.FailedPrecondition, "request", "request %s was already decided", id)
		}
		a := tx.Approvals()[i]
		if a.StateAt(now) == holdfast.ApprovalExpired {
			return false, holdfast.Errorf(holdfast.FailedPrecondition, "request", "request %s expired at %s; ask again", id, a.ExpiresAt.Format(time.RFC3339))
		}
		if err := e.mayApprove(actor, a); err != nil {
			return false, err
		}
		ri := slices.IndexFunc(tx.Restrictions(), func(r *holdfast.Restriction) bool { return r.ID == a.Restriction })
		if ri < 0 {
			return false, holdfast.Errorf(holdfast.FailedPrecondition, "request", "restriction %s has already ended", a.Restriction)
		}
		before := *a
		a.State, a.DecidedBy, a.DecidedAt = holdfast.ApprovalApproved, actor.String(), now
		if err := tx.SaveApproval(a); err != nil {
			return false, err
		}
		entry := &holdfast.AuditEntry{Account: a.Account, At: now, Actor: actor.String(), Action: holdfast.AuditApproved, Restriction: a.Restriction, Before: mustJSON(&before), After: mustJSON(a)}
		if err := tx.Append(entry); err != nil {
			return false, err
		}
		r := tx.Restrictions()[ri]
		if a.Extends() {
			// The end asked for, unless it has since moved later still.
			if _, err := moveEndLater(tx, now, r, a.EndsAt, actor, a.Reason); err != nil {
				return false, err
			}
		} else {
			var err error
			if r, err = e.lift(tx, now, r, actor, a.Reason); err != nil {
				return false, err
			}
		}
		out = e.redact(actor, r)
		return true, nil
	})
	return out, err
}

// askerActive refuses to complete a request whose asker has since been
// disabled or removed: the second pair of eyes would otherwise carry out
// the wish of someone no longer trusted to act. The request stays in the
// history and expires; an active member may ask again.
func (e *Engine) askerActive(ctx context.Context, a *holdfast.Approval) error {
	asker, err := holdfast.ParseActor(a.AskedBy)
	if err != nil || asker.Type != holdfast.ActorStaff {
		return nil
	}
	m, err := e.store.Staff(ctx, asker.ID)
	switch {
	case holdfast.ErrorCode(err) == holdfast.NotFound:
		// Staff the store does not keep (a scenario's cast) cannot be
		// disabled; members are removed by marking, never deleted.
		return nil
	case err != nil:
		return err
	case !m.Active():
		return holdfast.Errorf(holdfast.FailedPrecondition, "request", "request %s was asked by %s, who has since been disabled or removed; an active member must ask again", a.ID, a.AskedBy)
	}
	return nil
}

// Extend moves a restriction's end, or opens a four-eyes request when a
// staff member extends a panic lock past the policy's bound.
func (e *Engine) Extend(ctx context.Context, req holdfast.ExtendRequest) (*holdfast.ExtendResult, error) {
	switch {
	case req.By == 0 && req.Until.IsZero():
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "by", "give by (a duration to add) or until (a time)")
	case req.By != 0 && !req.Until.IsZero():
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "until", "give either by or until, not both")
	case req.By < 0:
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "by", "by must be a positive duration")
	case len(req.Reason) > maxReason:
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "reason", "reason is longer than %d characters", maxReason)
	}
	account, err := e.targetAccount(ctx, req.Target, req.Actor)
	if err != nil {
		return nil, err
	}
	var out holdfast.ExtendResult
	err = e.update(ctx, account, func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		r, err := e.resolve(tx, req.Target, req.Actor)
		if err != nil {
			return false, err
		}
		if r.EndsAt.IsZero() {
			return false, holdfast.Errorf(holdfast.FailedPrecondition, "restriction", "%s %s has no end to extend", r.Kind, r.ID)
		}
		end, field := req.Until, "until"
		if req.By != 0 {
			end, field = r.EndsAt.Add(req.By.Std()), "by"
		}
		if err := holdfast.CheckTime(field, end); err != nil {
			return false, err
		}
		if end.Before(r.EndsAt) {
			if err := e.mayShorten(req.Actor, r, tx.Account()); err != nil {
				return false, err
			}
		} else if err := e.mayExtend(req.Actor, r); err != nil {
			return false, err
		}
		if end.Equal(r.EndsAt) {
			out.Restriction = e.redact(req.Actor, r)
			return false, nil
		}
		if r.Kind == holdfast.KindPanicLock && end.After(r.EndsAt) {
			if fourEyes, err := e.panicExtension(r, end, req, field); err != nil {
				return false, err
			} else if fourEyes {
				out.Pending, err = e.ask(ctx, tx, now, r, holdfast.ApprovalExtend, end, req.Actor, req.Reason)
				return false, err
			}
		}
		before := r.Clone()
		r.EndsAt = end
		if err := tx.SaveRestriction(r); err != nil {
			return false, err
		}
		out.Restriction = e.redact(req.Actor, r)
		return true, audit(tx, now, req.Actor, holdfast.AuditExtend, before, r, req.Reason)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// panicExtension bounds extending a panic lock, the holder's protection
// that nobody can undo: staff give a reason, and past the policy's total
// need a second person (fourEyes); holders add at most panic_lock_max per
// step and never pass the total. Rules and the system are not bounded.
func (e *Engine) panicExtension(r *holdfast.Restriction, end time.Time, req holdfast.ExtendRequest, field string) (fourEyes bool, err error) {
	ss := e.policy().SelfService
	switch req.Actor.Type {
	case holdfast.ActorStaff:
		if err := staffReason(req.Reason); err != nil {
			return false, err
		}
		return e.withinPanicTotal(r, end, field) != nil, nil
	case holdfast.ActorUser, holdfast.ActorTrustedContact:
		if step := end.Sub(r.EndsAt); step > ss.PanicLockMax.Std() {
			return false, holdfast.Errorf(holdfast.InvalidArgument, field, "a panic lock can be extended by at most %s at a time", ss.PanicLockMax)
		}
		return false, e.withinPanicTotal(r, end, field)
	}
	return false, nil
}

// mayShorten: a shortening is an early end by other means, so it needs the
// right to lift directly (four-eyes kinds must go through a lift request).
func (e *Engine) mayShorten(actor holdfast.Actor, r *holdfast.Restriction, acct *holdfast.Account) error {
	fourEyes, err := e.mayEndEarly(actor, r, acct)
	if err == nil && fourEyes {
		return holdfast.Errorf(holdfast.PermissionDenied, "until", "%s needs a four-eyes lift; it cannot be shortened", r.Kind)
	}
	return err
}

// targetAccount finds the account a target is on without opening a
// transaction (the restriction is re-read inside it).
func (e *Engine) targetAccount(ctx context.Context, t holdfast.Target, actor holdfast.Actor) (string, error) {
	if t.Restriction == "" {
		if err := holdfast.ValidateID("account", t.Account); err != nil {
			return "", err
		}
		if !t.Kind.Valid() {
			return "", holdfast.Errorf(holdfast.InvalidArgument, "kind", "give a restriction id, or an account and a known kind (got %q)", t.Kind)
		}
		return t.Account, nil
	}
	if err := holdfast.ValidateID("restriction", t.Restriction); err != nil {
		return "", err
	}
	r, err := e.store.Restriction(ctx, t.Restriction)
	if holdfast.ErrorCode(err) == holdfast.NotFound {
		return "", notFound(t) // the same words as for a hidden one
	}
	if err != nil {
		return "", err
	}
	if !visible(actor, r) || (t.Account != "" && t.Account != r.Account) {
		return "", notFound(t)
	}
	return r.Account, nil
}

// resolve finds the target among the account's restrictions in force or to
// come: by id, or the newest of the kind.
func (e *Engine) resolve(tx holdfast.AccountTx, t holdfast.Target, actor holdfast.Actor) (*holdfast.Restriction, error) {
	var found *holdfast.Restriction
	for _, r := range tx.Restrictions() {
		if !visible(actor, r) {
			continue
		}
		if t.Restriction != "" && r.ID == t.Restriction {
			return r, nil
		}
		if t.Restriction == "" && r.Kind == t.Kind && (found == nil || r.StartsAt.After(found.StartsAt)) {
			found = r
		}
	}
	if found == nil {
		return nil, notFound(t)
	}
	return found, nil
}

func notFound(t holdfast.Target) error {
	if t.Restriction != "" {
		return holdfast.Errorf(holdfast.NotFound, "restriction", "no active restriction %s", t.Restriction)
	}
	return holdfast.Errorf(holdfast.NotFound, "kind", "account %s has no active %s", t.Account, t.Kind)
}

// AnnounceExpiries writes a restriction_expired command for every
// disclosable restriction that ended by time in (from, to]. Time is data,
// so nothing needs to run for a restriction to end; this only tells other
// services it has. A hidden one is told to its holder as its cover kind
// lifted, as a real one of that kind (which has no end) only ever ends.
// Command ids derive from the restriction, so running it again over the
// same window (after a restart, or on another node) announces nothing
// twice. It returns how many it wrote.
func (e *Engine) AnnounceExpiries(ctx context.Context, from, to time.Time) (int, error) {
	return e.enqueueForEnding(ctx, from, to, func(r *holdfast.Restriction) *holdfast.Command {
		if !r.Disclose {
			k, _ := e.holderKind(r)
			// The id reaches the holder (a mail's Message-ID): shaped like
			// any notice's, derived from the restriction but not showing it.
			id := "ntf_" + strings.TrimPrefix(e.alias("ended "+r.ID), "rst_")
			return &holdfast.Command{ID: id, Account: r.Account, Type: holdfast.CommandNotifyHolder, Notice: noticeLifted, Data: map[string]string{"kind": string(k)}, CreatedAt: r.EndsAt}
		}
		return &holdfast.Command{ID: "exp_" + r.ID, Account: r.Account, Type: holdfast.CommandRestrictionExpired, Restriction: r.ID, CreatedAt: r.EndsAt}
	})
}

// enqueueForEnding writes the command mk makes (if any) for every
// restriction ending by time in (from, to]. Command ids must derive from
// the restriction: a repeat is a conflict, and skipped. It returns how
// many it wrote.
func (e *Engine) enqueueForEnding(ctx context.Context, from, to time.Time, mk func(*holdfast.Restriction) *holdfast.Command) (int, error) {
	var ending []*holdfast.Command
	err := e.store.EndedRestrictions(ctx, from, to, func(r *holdfast.Restriction) error {
		if c := mk(r); c != nil {
			ending = append(ending, c)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range ending {
		err := e.store.Update(ctx, c.Account, e.clock.Now(), func(tx holdfast.AccountTx) error {
			return tx.Enqueue(c)
		})
		switch holdfast.ErrorCode(err) {
		case "":
			n++
		case holdfast.Conflict: // written before
		default:
			return n, err
		}
	}
	return n, nil
}
