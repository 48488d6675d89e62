package engine

import (
	"context"
	"maps"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/holdfast/holdfast"
)

var _ holdfast.CaseService = (*Engine)(nil)

// Audit actions of the case workflow.
const (
	auditCaseOpened  = holdfast.AuditCaseOpened
	auditCaseEntry   = holdfast.AuditCaseEntry
	auditCaseState   = holdfast.AuditCaseState
	auditCaseAssign  = holdfast.AuditCaseAssign
	auditCaseDecided = holdfast.AuditCaseDecided
)

// maxCaseText bounds a statement, a note or a reason.
const maxCaseText = 10000

// OpenCase opens an appeal linked to the restrictions it can end. A holder
// links only what they can see, and cannot open a second undecided case of
// the same type for the same restriction (conflict): repeated tickets only
// slow reviews down.
func (e *Engine) OpenCase(ctx context.Context, req holdfast.OpenCaseRequest) (*holdfast.Case, error) {
	if err := holdfast.ValidateID("account", req.Account); err != nil {
		return nil, err
	}
	tp := e.policy().Cases.Types[req.Type]
	if !req.Type.Valid() || tp == nil {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "type", "unknown case type %q (want one of %v)", req.Type, holdfast.CaseTypes)
	}
	if req.Kind != "" && !slices.Contains(tp.Ends, req.Kind) {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "kind", "a %s case can end %v, not %s", req.Type, tp.Ends, req.Kind)
	}
	if len(req.Statement) > maxCaseText {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "statement", "statement is longer than %d characters", maxCaseText)
	}
	holder := req.Actor.IsHolder(req.Account)
	if !holder && !(req.Actor.Type == holdfast.ActorStaff && req.Actor.HasAnyRole(e.caseRoles(req.Type))) {
		return nil, holdfast.Errorf(holdfast.PermissionDenied, "actor", "%s may not open a %s case for this account", req.Actor, req.Type)
	}
	var out *holdfast.Case
	err := e.update(ctx, req.Account, func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		var linked []string
		for _, r := range tx.Restrictions() {
			if r.Over(now) || !slices.Contains(tp.Ends, r.Kind) || !visible(req.Actor, r) {
				continue
			}
			if (req.Restriction != "" && r.ID != req.Restriction) || (req.Kind != "" && r.Kind != req.Kind) {
				continue
			}
			linked = append(linked, r.ID)
		}
		if len(linked) == 0 {
			if req.Restriction != "" {
				return false, e.unlinkable(tx, req, tp)
			}
			return false, holdfast.Errorf(holdfast.FailedPrecondition, "type", "the account has no active restriction a %s case can end (%v)", req.Type, tp.Ends)
		}
		for _, c := range tx.Cases() {
			if c.Type == req.Type && !c.State.Final() && slices.ContainsFunc(c.Restrictions, func(id string) bool { return slices.Contains(linked, id) }) {
				return false, holdfast.Errorf(holdfast.Conflict, "type", "case %s of this type is already open for this restriction; add to it instead", c.ID)
			}
		}
		if holder && req.Type == holdfast.CaseUnlockRequest {
			// Asking to end a self-freeze early is the holder's unfreeze
			// request; support may lift once they have verified.
			for _, r := range tx.Restrictions() {
				if slices.Contains(linked, r.ID) && r.Kind == holdfast.KindSelfFreeze {
					tx.Account().UnfreezeRequestedAt = now
				}
			}
		}
		c, err := e.newCase(tx, now, req.Type, linked, req.Statement, req.Actor)
		if err != nil {
			return false, err
		}
		out = c
		return false, saveAccount(tx, now, req.Actor, holdfast.AuditAccountUpdated)
	})
	if err != nil {
		return nil, err
	}
	return e.caseView(ctx, out, req.Actor), nil
}

// newCase opens a case of type t on tx's account, linking the
// restrictions linked, with the opener's statement (if any), due by the
// type's service level.
func (e *Engine) newCase(tx holdfast.AccountTx, now time.Time, t holdfast.CaseType, linked []string, statement string, actor holdfast.Actor) (*holdfast.Case, error) {
	c := &holdfast.Case{
		ID: newID("case"), Account: tx.Account().ID, Type: t, State: holdfast.CaseOpen,
		Restrictions: linked, OpenedBy: actor.String(), CreatedAt: now, UpdatedAt: now,
		DueAt: now.Add(e.policy().Cases.Types[t].Due.Std()), Entries: []holdfast.CaseEntry{},
	}
	if strings.TrimSpace(statement) != "" {
		c.Entries = append(c.Entries, holdfast.CaseEntry{At: now, Actor: actor.String(), Type: holdfast.EntryStatement, Text: statement})
	}
	return c, e.saveCase(tx, now, actor, auditCaseOpened, c)
}

// unlinkable explains why the named restriction cannot be linked: unknown
// or hidden (not_found, the same for both, so a holder learns nothing of a
// hidden one) or of a kind the type cannot end.
func (e *Engine) unlinkable(tx holdfast.AccountTx, req holdfast.OpenCaseRequest, tp *holdfast.CaseTypePolicy) error {
	for _, r := range tx.Restrictions() {
		id, kind := r.ID, r.Kind
		if req.Actor.IsHolder(r.Account) && !r.Disclose {
			// The holder knows a hidden one by its alias, as the cover
			// kind, which no case can end (the policy checks that).
			id, kind = e.alias(r.ID), e.policy().Undisclosed.As
		} else if !visible(req.Actor, r) {
			continue
		}
		if id == req.Restriction && !slices.Contains(tp.Ends, kind) {
			return holdfast.Errorf(holdfast.InvalidArgument, "restriction", "a %s case can end %v, not %s", req.Type, tp.Ends, kind)
		}
	}
	return holdfast.Errorf(holdfast.NotFound, "restriction", "no active restriction %s", req.Restriction)
}

// caseRoles are the staff roles that may decide (and see) cases of a type:
// those that may decide a case for any kind it can end.
func (e *Engine) caseRoles(t holdfast.CaseType) []holdfast.Role {
	var roles []holdfast.Role
	if tp := e.policy().Cases.Types[t]; tp != nil {
		for _, k := range tp.Ends {
			for _, r := range e.policy().Kind(k).DecideCases {
				if !slices.Contains(roles, r) {
					roles = append(roles, r)
				}
			}
		}
	}
	return roles
}

// mayAccessCase reports whether actor may see and work on c: its holder,
// admins, and staff who may decide its type (an assignee is one of them).
func (e *Engine) mayAccessCase(actor holdfast.Actor, c *holdfast.Case) error {
	switch {
	case actor.IsHolder(c.Account), actor.Type == holdfast.ActorSystem:
		return nil
	case actor.Type == holdfast.ActorStaff && (actor.HasRole(holdfast.RoleAdmin) || actor.HasAnyRole(e.caseRoles(c.Type))):
		return nil
	case actor.Type == holdfast.ActorUser:
		// Another holder learns nothing, not even that the case exists.
		return holdfast.Errorf(holdfast.NotFound, "case", "case %s not found", c.ID)
	}
	return holdfast.Errorf(holdfast.PermissionDenied, "actor", "%s may not see %s cases", actor, c.Type)
}

// saveCase saves c and records it in the audit chain.
func (e *Engine) saveCase(tx holdfast.AccountTx, now time.Time, actor holdfast.Actor, action string, c *holdfast.Case) error {
	c.UpdatedAt = now
	if err := tx.SaveCase(c); err != nil {
		return err
	}
	return tx.Append(&holdfast.AuditEntry{Account: c.Account, At: now, Actor: actor.String(), Action: action, After: mustJSON(c)})
}

// onCase runs fn on case id inside its account's transaction, after the
// access check; fn reports whether restrictions changed.
func (e *Engine) onCase(ctx context.Context, id string, actor holdfast.Actor, fn func(tx holdfast.AccountTx, now time.Time, c *holdfast.Case) (bool, error)) (*holdfast.Case, error) {
	if err := holdfast.ValidateID("case", id); err != nil {
		return nil, err
	}
	stored, err := e.store.Case(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := e.mayAccessCase(actor, stored); err != nil {
		return nil, err
	}
	var out *holdfast.Case
	err = e.update(ctx, stored.Account, func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		i := slices.IndexFunc(tx.Cases(), func(c *holdfast.Case) bool { return c.ID == id })
		if i < 0 {
			return false, holdfast.Errorf(holdfast.NotFound, "case", "case %s not found", id)
		}
		c := tx.Cases()[i]
		changed, err := fn(tx, now, c)
		out = c
		return changed, err
	})
	if err != nil {
		return nil, err
	}
	return e.caseView(ctx, out, actor), nil
}

func undecided(c *holdfast.Case) error {
	if c.State.Final() {
		return holdfast.Errorf(holdfast.FailedPrecondition, "case", "case %s is %s", c.ID, c.State)
	}
	return nil
}

// AddCaseEntry adds a statement, a filled explanation template or a file
// (holder or staff), or a note only staff see. The holder's answer to a
// case awaiting them puts it back under review.
func (e *Engine) AddCaseEntry(ctx context.Context, req holdfast.CaseEntryRequest) (*holdfast.Case, error) {
	if len(req.Text) > maxCaseText {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "text", "text is longer than %d characters", maxCaseText)
	}
	staff := req.Actor.Type == holdfast.ActorStaff
	switch req.Type {
	case holdfast.EntryStatement:
		if strings.TrimSpace(req.Text) == "" {
			return nil, holdfast.Errorf(holdfast.InvalidArgument, "text", "a statement needs text")
		}
	case holdfast.EntryNote:
		if !staff {
			return nil, holdfast.Errorf(holdfast.PermissionDenied, "type", "only staff add notes")
		}
		if strings.TrimSpace(req.Text) == "" {
			return nil, holdfast.Errorf(holdfast.InvalidArgument, "text", "a note needs text")
		}
	case holdfast.EntryEvidence:
		if req.Evidence == nil || req.Evidence.SHA256 == "" {
			return nil, holdfast.Errorf(holdfast.InvalidArgument, "evidence", "an evidence entry needs a stored file")
		}
	case holdfast.EntryTemplate:
	default:
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "type", "an entry is a statement, template, evidence or note, not %q", req.Type)
	}
	return e.onCase(ctx, req.Case, req.Actor, func(tx holdfast.AccountTx, now time.Time, c *holdfast.Case) (bool, error) {
		if err := undecided(c); err != nil {
			return false, err
		}
		en := holdfast.CaseEntry{At: now, Actor: req.Actor.String(), Type: req.Type, Text: req.Text, Evidence: req.Evidence}
		if req.Type == holdfast.EntryTemplate {
			text, err := e.fillTemplate(c.Type, req.Template, req.Fields)
			if err != nil {
				return false, err
			}
			en.Template, en.Text, en.Fields = req.Template, text, maps.Clone(req.Fields)
		}
		c.Entries = append(c.Entries, en)
		if !staff && c.State == holdfast.CaseAwaitingHolder {
			c.State = holdfast.CaseUnderReview
			c.Entries = append(c.Entries, holdfast.CaseEntry{At: now, Actor: req.Actor.String(), Type: holdfast.EntryState, State: c.State})
		}
		return false, e.saveCase(tx, now, req.Actor, auditCaseEntry, c)
	})
}

// fillTemplate renders one of the policy's explanation templates with
// exactly its fields.
func (e *Engine) fillTemplate(t holdfast.CaseType, name string, fields map[string]string) (string, error) {
	tpl := e.policy().Cases.Templates[name]
	if tpl == nil || !slices.Contains(tpl.Types, t) {
		return "", holdfast.Errorf(holdfast.InvalidArgument, "template", "no template %q for %s cases", name, t)
	}
	for _, f := range tpl.Fields {
		if strings.TrimSpace(fields[f]) == "" {
			return "", holdfast.Errorf(holdfast.InvalidArgument, "fields", "template %s needs %s (it takes %v)", name, f, tpl.Fields)
		}
		if len(fields[f]) > 500 {
			return "", holdfast.Errorf(holdfast.InvalidArgument, "fields", "%s is longer than 500 characters", f)
		}
	}
	for f := range fields {
		if !slices.Contains(tpl.Fields, f) {
			return "", holdfast.Errorf(holdfast.InvalidArgument, "fields", "template %s takes %v, not %s", name, tpl.Fields, f)
		}
	}
	parsed, err := template.New(name).Option("missingkey=error").Parse(tpl.Text)
	if err != nil {
		return "", err // validated at policy load
	}
	var b strings.Builder
	if err := parsed.Execute(&b, fields); err != nil {
		return "", holdfast.Errorf(holdfast.InvalidArgument, "fields", "template %s: %v", name, err)
	}
	return b.String(), nil
}

// SetCaseState moves a case: staff between open, under_review and
// awaiting_holder; the holder to withdrawn.
func (e *Engine) SetCaseState(ctx context.Context, id string, state holdfast.CaseState, reason string, actor holdfast.Actor) (*holdfast.Case, error) {
	if len(reason) > maxCaseText {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "reason", "reason is longer than %d characters", maxCaseText)
	}
	switch state {
	case holdfast.CaseUnderReview, holdfast.CaseAwaitingHolder:
		if actor.Type != holdfast.ActorStaff {
			return nil, holdfast.Errorf(holdfast.PermissionDenied, "state", "only staff move a case to %s", state)
		}
	case holdfast.CaseWithdrawn:
		if actor.Type != holdfast.ActorUser {
			return nil, holdfast.Errorf(holdfast.PermissionDenied, "state", "only the holder withdraws a case")
		}
	case holdfast.CaseApproved, holdfast.CaseRejected:
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "state", "approve or reject a case with DecideCase")
	default:
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "state", "a case moves to under_review, awaiting_holder or withdrawn, not %q", state)
	}
	return e.onCase(ctx, id, actor, func(tx holdfast.AccountTx, now time.Time, c *holdfast.Case) (bool, error) {
		if err := undecided(c); err != nil {
			return false, err
		}
		if c.State == state {
			return false, nil
		}
		c.State = state
		c.Entries = append(c.Entries, holdfast.CaseEntry{At: now, Actor: actor.String(), Type: holdfast.EntryState, State: state, Text: reason})
		return false, e.saveCase(tx, now, actor, auditCaseState, c)
	})
}

// AssignCase gives a case to a staff member.
func (e *Engine) AssignCase(ctx context.Context, id, staff string, actor holdfast.Actor) (*holdfast.Case, error) {
	if actor.Type != holdfast.ActorStaff {
		return nil, holdfast.Errorf(holdfast.PermissionDenied, "actor", "only staff assign cases")
	}
	if err := holdfast.ValidateID("assignee", staff); err != nil {
		return nil, err
	}
	member, err := e.store.Staff(ctx, staff)
	if err != nil {
		return nil, holdfast.Errorf(holdfast.NotFound, "assignee", "no staff member %s", staff)
	}
	if !member.Active() {
		return nil, holdfast.Errorf(holdfast.FailedPrecondition, "assignee", "staff member %s is disabled or removed", staff)
	}
	return e.onCase(ctx, id, actor, func(tx holdfast.AccountTx, now time.Time, c *holdfast.Case) (bool, error) {
		if err := undecided(c); err != nil {
			return false, err
		}
		// Only someone who may decide the case may be given it: an
		// assignee sees its evidence.
		if roles := e.caseRoles(c.Type); !slices.ContainsFunc(member.Roles, func(r holdfast.Role) bool { return slices.Contains(roles, r) }) {
			return false, holdfast.Errorf(holdfast.FailedPrecondition, "assignee", "%s has none of the roles that decide %s cases (%v)", staff, c.Type, roles)
		}
		c.Assignee = staff
		c.Entries = append(c.Entries, holdfast.CaseEntry{At: now, Actor: actor.String(), Type: holdfast.EntryAssign, Text: staff})
		return false, e.saveCase(tx, now, actor, auditCaseAssign, c)
	})
}

// DecideCase approves or rejects a case. Approving ends its linked
// restrictions under the same rules as a direct lift by the decider (a
// four-eyes kind gets a pending request instead; a kind that ends only by
// case ends), all or nothing; approving a source_of_funds case may keep
// an amount held. Rejecting keeps the restrictions and tells the holder
// what to do next.
func (e *Engine) DecideCase(ctx context.Context, req holdfast.DecideCaseRequest) (*holdfast.Case, error) {
	if req.Decision != holdfast.DecisionApprove && req.Decision != holdfast.DecisionReject {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "decision", "decision is approve or reject, not %q", req.Decision)
	}
	if len(req.Reason) > maxCaseText {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "reason", "reason is longer than %d characters", maxCaseText)
	}
	if req.KeepHeld != nil {
		if req.Decision != holdfast.DecisionApprove {
			return nil, holdfast.Errorf(holdfast.InvalidArgument, "keep_held", "an amount is kept held only by an approval")
		}
		if err := holdfast.ValidateID("keep_held.asset", req.KeepHeld.Asset); err != nil {
			return nil, err
		}
		if _, err := holdfast.ParseAmount("keep_held.amount", req.KeepHeld.Amount, false); err != nil {
			return nil, err
		}
	}
	if req.Actor.Type != holdfast.ActorStaff {
		return nil, holdfast.Errorf(holdfast.PermissionDenied, "actor", "only staff decide cases")
	}
	return e.onCase(ctx, req.Case, req.Actor, func(tx holdfast.AccountTx, now time.Time, c *holdfast.Case) (bool, error) {
		if err := undecided(c); err != nil {
			return false, err
		}
		if req.KeepHeld != nil && c.Type != holdfast.CaseSourceOfFunds {
			return false, holdfast.Errorf(holdfast.InvalidArgument, "keep_held", "only a source_of_funds case keeps an amount held")
		}
		linked := slices.DeleteFunc(tx.Restrictions(), func(r *holdfast.Restriction) bool {
			return !slices.Contains(c.Restrictions, r.ID) || r.Over(now)
		})
		// The type's deciders, and for every restriction still linked,
		// that kind's: a case whose restrictions have ended meanwhile is
		// still decided by someone who could have decided it.
		if !req.Actor.HasAnyRole(e.caseRoles(c.Type)) {
			return false, holdfast.Errorf(holdfast.PermissionDenied, "actor", "%s may not decide %s cases (needs one of %v)", req.Actor, c.Type, e.caseRoles(c.Type))
		}
		for _, r := range linked {
			if !req.Actor.HasAnyRole(e.policy().Kind(r.Kind).DecideCases) {
				return false, holdfast.Errorf(holdfast.PermissionDenied, "actor", "%s may not decide a case about %s (needs one of %v)", req.Actor, r.Kind, e.policy().Kind(r.Kind).DecideCases)
			}
		}
		if req.Actor.String() == c.OpenedBy {
			return false, holdfast.Errorf(holdfast.PermissionDenied, "actor", "%s opened case %s and cannot decide it", req.Actor, c.ID)
		}
		c.DecidedAt, c.DecidedBy = now, req.Actor.String()
		c.Entries = append(c.Entries, holdfast.CaseEntry{At: now, Actor: req.Actor.String(), Type: holdfast.EntryDecision, Text: req.Reason, State: holdfast.CaseState(req.Decision)})
		if req.Decision == holdfast.DecisionReject {
			c.State = holdfast.CaseRejected
			c.NextSteps = req.NextSteps
			if len(c.NextSteps) == 0 {
				c.NextSteps = e.policy().Cases.Types[c.Type].NextSteps
			}
			if err := e.saveCase(tx, now, req.Actor, auditCaseDecided, c); err != nil {
				return false, err
			}
			return false, e.notifyHolder(tx, now, "case_decided", map[string]string{"case": c.ID, "type": string(c.Type), "decision": "rejected"})
		}
		c.State = holdfast.CaseApproved
		changed := false
		reason := "case " + c.ID + " approved"
		if req.Reason != "" {
			reason += ": " + req.Reason
		}
		for _, r := range linked {
			mode := e.policy().Kind(r.Kind).Lift.Mode
			fourEyes := false
			if mode != holdfast.LiftByCase {
				var err error
				if fourEyes, err = e.mayEndEarly(req.Actor, r, tx.Account()); err != nil {
					return false, err
				}
			}
			if fourEyes {
				a, err := e.askApproval(ctx, tx, now, r, holdfast.LiftRequest{Reason: reason, Actor: req.Actor})
				if err != nil {
					return false, err
				}
				c.Pending = append(c.Pending, a.ID)
				continue
			}
			if _, err := e.lift(tx, now, r, req.Actor, reason); err != nil {
				return false, err
			}
			changed = true
		}
		if h := req.KeepHeld; h != nil {
			c.Hold = &holdfast.AmountHold{Asset: h.Asset, Amount: h.Amount, Case: c.ID, CreatedAt: now}
			a := tx.Account()
			a.Holds = append(a.Holds, *c.Hold)
			if err := saveAccount(tx, now, req.Actor, holdfast.AuditAccountUpdated); err != nil {
				return false, err
			}
		}
		if err := e.saveCase(tx, now, req.Actor, auditCaseDecided, c); err != nil {
			return false, err
		}
		return changed, e.notifyHolder(tx, now, "case_decided", map[string]string{"case": c.ID, "type": string(c.Type), "decision": "approved"})
	})
}

// Case returns a case as actor may see it.
func (e *Engine) Case(ctx context.Context, id string, actor holdfast.Actor) (*holdfast.Case, error) {
	if err := holdfast.ValidateID("case", id); err != nil {
		return nil, err
	}
	c, err := e.store.Case(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := e.mayAccessCase(actor, c); err != nil {
		return nil, err
	}
	return e.caseView(ctx, c, actor), nil
}

// Cases lists the cases f selects that actor may see, overdue ones first,
// then by due time. A holder sees only their own.
func (e *Engine) Cases(ctx context.Context, f holdfast.CaseFilter, actor holdfast.Actor) ([]*holdfast.Case, error) {
	switch actor.Type {
	case holdfast.ActorUser:
		f.Account = actor.ID
	case holdfast.ActorStaff, holdfast.ActorSystem:
	default:
		return nil, holdfast.Errorf(holdfast.PermissionDenied, "actor", "%s may not list cases", actor)
	}
	if f.State != "" && !f.State.Valid() {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "state", "unknown case state %q", f.State)
	}
	if f.Type != "" && !f.Type.Valid() {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "type", "unknown case type %q", f.Type)
	}
	limit := f.Limit
	f.Limit = 0 // applied after access and ordering
	cs, err := e.store.Cases(ctx, f)
	if err != nil {
		return nil, err
	}
	now := e.clock.Now()
	out := make([]*holdfast.Case, 0, len(cs))
	for _, c := range cs {
		if e.mayAccessCase(actor, c) == nil {
			out = append(out, e.caseView(ctx, c, actor))
		}
	}
	slices.SortStableFunc(out, func(a, b *holdfast.Case) int {
		if oa, ob := a.Overdue(now), b.Overdue(now); oa != ob {
			if oa {
				return -1
			}
			return 1
		}
		return 0
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// caseView is c as actor may see it: a holder never sees staff notes, nor
// linked restrictions they may not know of.
func (e *Engine) caseView(ctx context.Context, c *holdfast.Case, actor holdfast.Actor) *holdfast.Case {
	v := c.Clone()
	if actor.Type != holdfast.ActorUser {
		return v
	}
	v.Entries = slices.DeleteFunc(v.Entries, func(en holdfast.CaseEntry) bool { return en.Type == holdfast.EntryNote })
	v.Restrictions = slices.DeleteFunc(v.Restrictions, func(id string) bool {
		r, err := e.store.Restriction(ctx, id)
		return err != nil || !visible(actor, r)
	})
	v.Pending = nil
	return v
}
