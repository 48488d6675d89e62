package engine

import (
	"context"
	"encoding/json"

	"github.com/holdfast/holdfast"
)

// Get returns one restriction as actor may see it.
func (e *Engine) Get(ctx context.Context, id string, actor holdfast.Actor) (*holdfast.Restriction, error) {
	if err := holdfast.ValidateID("restriction", id); err != nil {
		return nil, err
	}
	// A hidden restriction reads exactly like one that never existed.
	notFound := holdfast.Errorf(holdfast.NotFound, "restriction", "no restriction %s", id)
	r, err := e.store.Restriction(ctx, id)
	if holdfast.ErrorCode(err) == holdfast.NotFound {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	if !visible(actor, r) || mayRead(actor, r.Account) != nil {
		return nil, notFound
	}
	return e.redact(actor, r), nil
}

// List returns restrictions matching f, newest first.
func (e *Engine) List(ctx context.Context, f holdfast.RestrictionFilter, actor holdfast.Actor) ([]*holdfast.Restriction, error) {
	if f.Account != "" {
		if err := holdfast.ValidateID("account", f.Account); err != nil {
			return nil, err
		}
	}
	if f.Kind != "" && !f.Kind.Valid() {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "kind", "unknown kind %q", f.Kind)
	}
	if f.Limit < 0 || f.Limit > maxList {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "limit", "limit must be between 0 and %d", maxList)
	}
	if f.Limit == 0 {
		f.Limit = defaultList
	}
	if actor.Type != holdfast.ActorStaff && actor.Type != holdfast.ActorSystem {
		if f.Account == "" {
			return nil, holdfast.Errorf(holdfast.PermissionDenied, "account", "only staff may list restrictions across accounts")
		}
		if err := mayRead(actor, f.Account); err != nil {
			return nil, err
		}
	}
	rs, err := e.store.Restrictions(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]*holdfast.Restriction, 0, len(rs))
	for _, r := range rs {
		if visible(actor, r) {
			out = append(out, e.redact(actor, r))
		}
	}
	return out, nil
}

const (
	defaultList = 100
	maxList     = 1000
)

// History returns the account's audit entries. Staff only: the log names
// every restriction, disclosable or not. Reasons of kinds with see_reason
// are blanked for other roles (the server still verifies the full chain).
func (e *Engine) History(ctx context.Context, account string, actor holdfast.Actor) ([]holdfast.AuditEntry, error) {
	if err := holdfast.ValidateID("account", account); err != nil {
		return nil, err
	}
	if actor.Type != holdfast.ActorStaff && actor.Type != holdfast.ActorSystem {
		return nil, holdfast.Errorf(holdfast.PermissionDenied, "actor", "only staff may read the audit log")
	}
	entries, err := e.store.History(ctx, account)
	if err != nil {
		return nil, err
	}
	for i := range entries {
		if kind := entryKind(&entries[i]); kind.Valid() && !e.mayseeReason(actor, kind) {
			entries[i].Reason, entries[i].Before, entries[i].After = "", nil, nil
		}
	}
	return entries, nil
}

// entryKind reads the restriction kind an audit entry is about: the kind
// of the restriction in it, or the kind an event of its type applies by
// default (a law_enforcement_request carries the case the hold is for).
func entryKind(en *holdfast.AuditEntry) holdfast.Kind {
	var v struct {
		Kind holdfast.Kind      `json:"kind"`
		Type holdfast.EventType `json:"type"`
	}
	for _, raw := range []json.RawMessage{en.After, en.Before} {
		if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
			continue
		}
		if v.Kind != "" {
			return v.Kind
		}
		if k, ok := eventKinds[v.Type]; ok && en.Action == holdfast.AuditEvent {
			return k
		}
	}
	return ""
}

// eventKinds maps event types whose content is as confidential as the
// restriction they lead to.
var eventKinds = map[holdfast.EventType]holdfast.Kind{
	holdfast.EventLawEnforcementRequest: holdfast.KindLawEnforcementHold,
}

// VerifyAudit checks one account's audit chain, or all of them.
func (e *Engine) VerifyAudit(ctx context.Context, account string) (*holdfast.AuditReport, error) {
	return e.store.VerifyAudit(ctx, account)
}

// Approvals lists the pending four-eyes requests a staff member may act on.
func (e *Engine) Approvals(ctx context.Context, actor holdfast.Actor) ([]*holdfast.Approval, error) {
	if actor.Type != holdfast.ActorStaff {
		return nil, holdfast.Errorf(holdfast.PermissionDenied, "actor", "only staff may list approval requests")
	}
	all, err := e.store.Approvals(ctx)
	if err != nil {
		return nil, err
	}
	now := e.clock.Now()
	var out []*holdfast.Approval
	for _, a := range all {
		if a.StateAt(now) == holdfast.ApprovalPending && (actor.HasAnyRole(e.approvers(a)) || actor.String() == a.AskedBy) {
			out = append(out, a)
		}
	}
	return out, nil
}
