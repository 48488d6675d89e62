package engine

import (
	"context"
	"slices"
	"time"

	"github.com/holdfast/holdfast"
)

// auditSeizure records a seizure by an authority.
const auditSeizure = "seizure"

// RecordSeizure writes a seizure into the account's audit chain: who seized
// what, under which reference. Only the roles that may apply a
// law_enforcement_hold record one, on an account under such a hold; the
// entry is then as hidden as the hold's reason.
func (e *Engine) RecordSeizure(ctx context.Context, req holdfast.SeizureRequest) error {
	for _, f := range []struct{ name, v string }{{"account", req.Account}, {"asset", req.Asset}, {"reference", req.Reference}} {
		if err := holdfast.ValidateID(f.name, f.v); err != nil {
			return err
		}
	}
	if _, err := holdfast.ParseAmount("amount", req.Amount, false); err != nil {
		return err
	}
	le := e.policy().Kind(holdfast.KindLawEnforcementHold)
	if req.Actor.Type != holdfast.ActorStaff || !req.Actor.HasAnyRole(le.Apply) {
		return holdfast.Errorf(holdfast.PermissionDenied, "actor", "%s may not record a seizure (needs one of %v)", req.Actor, le.Apply)
	}
	return e.update(ctx, req.Account, func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		if !slices.ContainsFunc(tx.Restrictions(), func(r *holdfast.Restriction) bool {
			return r.Kind == holdfast.KindLawEnforcementHold && r.ActiveAt(now)
		}) {
			return false, holdfast.Errorf(holdfast.FailedPrecondition, "account", "the account is under no law_enforcement_hold")
		}
		record := map[string]string{"kind": string(holdfast.KindLawEnforcementHold), "asset": req.Asset, "amount": req.Amount, "reference": req.Reference}
		return false, tx.Append(&holdfast.AuditEntry{Account: req.Account, At: now, Actor: req.Actor.String(), Action: auditSeizure, After: mustJSON(record), Reason: "seizure " + req.Reference})
	})
}

// InNotice lists the sanctions_withdraw_only restrictions still in their
// notice period: the accounts told they will become withdraw-only, with
// the date. Staff only.
func (e *Engine) InNotice(ctx context.Context, actor holdfast.Actor) ([]*holdfast.Restriction, error) {
	if actor.Type != holdfast.ActorStaff && actor.Type != holdfast.ActorSystem {
		return nil, holdfast.Errorf(holdfast.PermissionDenied, "actor", "only staff list accounts in notice")
	}
	now := e.clock.Now()
	rs, err := e.store.Restrictions(ctx, holdfast.RestrictionFilter{Kind: holdfast.KindSanctionsWithdrawOnly, ActiveAt: now})
	if err != nil {
		return nil, err
	}
	out := []*holdfast.Restriction{}
	for _, r := range rs {
		if r.StartsAt.After(now) {
			out = append(out, e.redact(actor, r))
		}
	}
	slices.SortFunc(out, func(a, b *holdfast.Restriction) int { return a.StartsAt.Compare(b.StartsAt) })
	return out, nil
}

// AccountReport gathers what staff may know of an account.
func (e *Engine) AccountReport(ctx context.Context, account string, actor holdfast.Actor) (*holdfast.AccountReport, error) {
	if err := holdfast.ValidateID("account", account); err != nil {
		return nil, err
	}
	if actor.Type != holdfast.ActorStaff && actor.Type != holdfast.ActorSystem {
		return nil, holdfast.Errorf(holdfast.PermissionDenied, "actor", "only staff read an account's report")
	}
	a, err := e.store.Account(ctx, account)
	if err != nil {
		return nil, err
	}
	rep := &holdfast.AccountReport{Account: accountRecord(a), Approvals: []*holdfast.Approval{}}
	rep.Account.Security = holdfast.Security{} // credentials are not a report's business
	if rep.Restrictions, err = e.store.Restrictions(ctx, holdfast.RestrictionFilter{Account: account}); err != nil {
		return nil, err
	}
	for i, r := range rep.Restrictions {
		rep.Restrictions[i] = e.redact(actor, r)
	}
	if rep.Cases, err = e.Cases(ctx, holdfast.CaseFilter{Account: account}, actor); err != nil {
		return nil, err
	}
	all, err := e.store.Approvals(ctx)
	if err != nil {
		return nil, err
	}
	for _, ap := range all {
		if ap.Account != account {
			continue
		}
		if !e.mayseeReason(actor, ap.Kind) {
			c := *ap
			c.Reason = ""
			ap = &c
		}
		rep.Approvals = append(rep.Approvals, ap)
	}
	if rep.Audit, err = e.store.VerifyAudit(ctx, account); err != nil {
		return nil, err
	}
	if rep.History, err = e.History(ctx, account, actor); err != nil {
		return nil, err
	}
	return rep, nil
}
