package engine

import (
	"slices"
	"time"

	"github.com/holdfast/holdfast"
)

// This file holds the policy's "who may" rules. They live here, in the
// engine, so that no handler can forget one.

// mayApply reports whether actor may apply kind to account.
func (e *Engine) mayApply(actor holdfast.Actor, account string, kind holdfast.Kind) error {
	kp := e.policy().Kind(kind)
	switch actor.Type {
	case holdfast.ActorSystem, holdfast.ActorRule:
		return nil
	case holdfast.ActorUser:
		// Holders restrict themselves only through self-service kinds.
		if actor.ID == account && (kind == holdfast.KindSelfFreeze || kind == holdfast.KindPanicLock) {
			return nil
		}
	case holdfast.ActorStaff:
		if actor.HasAnyRole(kp.Apply) {
			return nil
		}
	case holdfast.ActorTrustedContact:
		// Whether the holder named this contact is checked in the
		// transaction (mayContact).
		if kind == holdfast.KindSelfFreeze || kind == holdfast.KindPanicLock {
			return nil
		}
	}
	return holdfast.Errorf(holdfast.PermissionDenied, "actor", "%s may not apply %s", actor, kind)
}

// mayExtend reports whether actor may move r's end later.
func (e *Engine) mayExtend(actor holdfast.Actor, r *holdfast.Restriction) error {
	kp := e.policy().Kind(r.Kind)
	switch actor.Type {
	case holdfast.ActorSystem, holdfast.ActorRule:
		return nil
	case holdfast.ActorUser:
		if kp.ExtendByHolder && actor.ID == r.Account {
			return nil
		}
	case holdfast.ActorStaff:
		// Any staff member may prolong a holder's own protection; other
		// kinds need the right to apply them.
		if kp.ExtendByHolder || actor.HasAnyRole(kp.Apply) {
			return nil
		}
	}
	return holdfast.Errorf(holdfast.PermissionDenied, "actor", "%s may not extend %s", actor, r.Kind)
}

// mayEndEarly applies docs/design.md's "Who may end a restriction early" to a
// direct lift or a shortening. A four-eyes kind is not refused here: the
// caller turns it into an approval request (fourEyes reports that).
func (e *Engine) mayEndEarly(actor holdfast.Actor, r *holdfast.Restriction, acct *holdfast.Account) (fourEyes bool, err error) {
	rule := e.policy().Kind(r.Kind).Lift
	switch rule.Mode {
	case holdfast.LiftImmutable:
		return false, holdfast.Errorf(holdfast.Immutable, "restriction", "a %s cannot be lifted or shortened by anyone; it ends at %s and can only be extended", r.Kind, r.EndsAt.Format(time.RFC3339))
	case holdfast.LiftByCase:
		return false, holdfast.Errorf(holdfast.PermissionDenied, "actor", "a %s ends early only when its holder's unlock_request case is approved", r.Kind)
	case holdfast.LiftByVerification:
		return false, holdfast.Errorf(holdfast.PermissionDenied, "actor", "a %s ends when the holder completes the required verification", r.Kind)
	case holdfast.LiftFourEyes:
		if !actor.HasAnyRole(rule.Ask) {
			return false, holdfast.Errorf(holdfast.PermissionDenied, "actor", "%s may not ask to lift %s (needs one of %v)", actor, r.Kind, rule.Ask)
		}
		return true, nil
	}
	// Direct: a qualifying role whose preconditions all hold.
	qualifying := false
	var unmet holdfast.Precondition
	for _, role := range rule.Roles {
		if !actor.HasRole(role) {
			continue
		}
		qualifying = true
		missing := slices.IndexFunc(rule.Requires[role], func(p holdfast.Precondition) bool { return !preconditionHolds(p, r, acct) })
		if missing < 0 {
			return false, nil
		}
		unmet = rule.Requires[role][missing]
	}
	if !qualifying {
		return false, holdfast.Errorf(holdfast.PermissionDenied, "actor", "%s may not lift %s (needs one of %v)", actor, r.Kind, rule.Roles)
	}
	return false, holdfast.Errorf(holdfast.FailedPrecondition, "restriction", "%s cannot be lifted yet: %s", r.Kind, preconditionText[unmet])
}

var preconditionText = map[holdfast.Precondition]string{
	holdfast.UnfreezeRequested:  "the holder must first request the unfreeze and then complete identity verification",
	holdfast.IdentityReverified: "the holder must first complete identity re-verification",
}

func preconditionHolds(p holdfast.Precondition, r *holdfast.Restriction, acct *holdfast.Account) bool {
	switch p {
	case holdfast.UnfreezeRequested:
		req := acct.UnfreezeRequestedAt
		return !req.IsZero() && !req.Before(r.StartsAt) && !acct.VerifiedAt.Before(req)
	case holdfast.IdentityReverified:
		return !acct.VerifiedAt.IsZero() && !acct.VerifiedAt.Before(r.StartsAt)
	}
	return false
}

// approvers are the roles that may approve a.
func (e *Engine) approvers(a *holdfast.Approval) []holdfast.Role {
	if a.Extends() {
		return e.policy().SelfService.PanicLockExtensionApprove
	}
	return e.policy().Kind(a.Kind).Lift.Approve
}

// mayApprove checks the second person of a four-eyes lift or extension.
func (e *Engine) mayApprove(actor holdfast.Actor, a *holdfast.Approval) error {
	if a.Extends() {
		approve := e.policy().SelfService.PanicLockExtensionApprove
		if actor.Type != holdfast.ActorStaff || !actor.HasAnyRole(approve) {
			return holdfast.Errorf(holdfast.PermissionDenied, "actor", "%s may not approve extending %s (needs one of %v)", actor, a.Kind, approve)
		}
		if actor.String() == a.AskedBy {
			return holdfast.Errorf(holdfast.PermissionDenied, "actor", "a four-eyes request needs a second person: %s asked for it and cannot approve it", actor)
		}
		return nil
	}
	rule := e.policy().Kind(a.Kind).Lift
	if actor.Type != holdfast.ActorStaff || !actor.HasAnyRole(rule.Approve) {
		return holdfast.Errorf(holdfast.PermissionDenied, "actor", "%s may not approve lifting %s (needs one of %v)", actor, a.Kind, rule.Approve)
	}
	if actor.String() == a.AskedBy {
		return holdfast.Errorf(holdfast.PermissionDenied, "actor", "a four-eyes request needs a second person: %s asked for it and cannot approve it", actor)
	}
	if rule.DistinctRoles && !distinctRoles(a.AskedRoles, actor.Roles, rule) {
		return holdfast.Errorf(holdfast.PermissionDenied, "actor", "lifting %s needs two different roles among %v; %s asked with %v", a.Kind, rule.Approve, a.AskedBy, a.AskedRoles)
	}
	return nil
}

// distinctRoles reports whether the asker and approver can stand for two
// different roles, one from Ask and one from Approve.
func distinctRoles(asked, approver []holdfast.Role, rule holdfast.LiftRule) bool {
	for _, ra := range asked {
		if !slices.Contains(rule.Ask, ra) {
			continue
		}
		for _, rb := range approver {
			if rb != ra && slices.Contains(rule.Approve, rb) {
				return true
			}
		}
	}
	return false
}

// mayRead reports whether actor may see restrictions of account at all.
func mayRead(actor holdfast.Actor, account string) error {
	if actor.Type == holdfast.ActorStaff || actor.Type == holdfast.ActorSystem || actor.IsHolder(account) {
		return nil
	}
	return holdfast.Errorf(holdfast.PermissionDenied, "actor", "%s may not read this account's restrictions", actor)
}

// visible reports whether actor may know r exists. A holder never learns of
// a non-disclosable restriction, not even through a not-found versus
// permission error.
func visible(actor holdfast.Actor, r *holdfast.Restriction) bool {
	switch actor.Type {
	case holdfast.ActorUser:
		return r.Disclose && actor.ID == r.Account
	case holdfast.ActorTrustedContact:
		return r.Disclose
	}
	return true
}

// redact returns r as actor may see it: for a kind with see_reason, its
// reason and its origin's evidence (an LE case reference, say) only for
// those roles.
func (e *Engine) redact(actor holdfast.Actor, r *holdfast.Restriction) *holdfast.Restriction {
	c := r.Clone()
	if !e.mayseeReason(actor, r.Kind) {
		c.Reason, c.LiftReason, c.Reference = "", "", ""
		if c.Origin != nil {
			c.Origin.Evidence = nil
		}
	}
	return c
}

// mayseeReason reports whether actor may read why a restriction of kind
// was applied.
func (e *Engine) mayseeReason(actor holdfast.Actor, kind holdfast.Kind) bool {
	see := e.policy().Kind(kind).SeeReason
	return len(see) == 0 || actor.Type == holdfast.ActorSystem || actor.HasAnyRole(see)
}

// mayContact reports whether a trusted-contact actor is one the account's
// holder named and who accepted; other actors pass.
func mayContact(actor holdfast.Actor, a *holdfast.Account) error {
	if actor.Type != holdfast.ActorTrustedContact || slices.Contains(a.TrustedContacts, actor.ID) {
		return nil
	}
	if _, ok := a.Security.InvitedContacts[actor.ID]; ok {
		return holdfast.Errorf(holdfast.PermissionDenied, "actor", "%s is invited as a trusted contact of this account but has not accepted yet", actor)
	}
	return holdfast.Errorf(holdfast.PermissionDenied, "actor", "%s is not a trusted contact of this account", actor)
}
