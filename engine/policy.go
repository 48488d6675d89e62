package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/policy"
)

// SwitchPolicy makes p the policy in force, without a restart. Events and
// withdrawals already being judged finish under the old policy, every
// later one is judged by p: each holds switching for its whole run, and
// the switch waits for them. The decision index is rebuilt afterwards,
// since p may give a kind other effects; until the rebuild ends, checks
// answer by the old effects.
func (e *Engine) SwitchPolicy(ctx context.Context, p *holdfast.Policy) error {
	e.switching.Lock()
	e.pol.Store(p)
	e.switching.Unlock()
	e.log.Info("policy switched", "version", p.Hash)
	return e.Rebuild(ctx)
}

// policyRoles may push, shadow, activate and approve policy versions.
var policyRoles = []holdfast.Role{holdfast.RoleCompliance, holdfast.RoleAdmin}

// maxPolicyBytes bounds a pushed policy (the default is ~30 KiB).
const maxPolicyBytes = 1 << 20

func mayGovernPolicy(actor holdfast.Actor) error {
	if actor.Type != holdfast.ActorStaff || !actor.HasAnyRole(policyRoles) {
		return holdfast.Errorf(holdfast.PermissionDenied, "actor", "%s may not change the policy (needs one of %v)", actor, policyRoles)
	}
	return nil
}

// PushPolicy validates yaml and stores it as a draft version. Errors:
// invalid_argument (the first problem, with its line and field; a version
// must give every kind its settings, so none can drop a kind that
// restrictions in force still have), permission_denied, conflict (the
// same bytes were pushed before).
func (e *Engine) PushPolicy(ctx context.Context, actor holdfast.Actor, yaml []byte, comment string) (*holdfast.PolicyVersion, error) {
	if err := mayGovernPolicy(actor); err != nil {
		return nil, err
	}
	if len(comment) > maxReason {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "comment", "comment is longer than %d characters", maxReason)
	}
	if len(yaml) > maxPolicyBytes {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "yaml", "a policy is at most %d bytes, not %d", maxPolicyBytes, len(yaml))
	}
	// An overlay is stored as the policy it means today (its Source), so
	// that a later release's default cannot change a stored version.
	p, err := policy.Parse(yaml)
	if err != nil {
		return nil, err
	}
	ps := e.store
	now := e.clock.Now()
	v := &holdfast.PolicyVersion{Hash: p.Hash, YAML: p.Source, Comment: comment, Author: actor.ID, CreatedAt: now, State: holdfast.PolicyDraft}
	entry := holdfast.PolicyEntry(holdfast.AuditEntry{At: now, Actor: actor.String(), Reason: comment}, holdfast.AuditPolicyPushed, v)
	if err := ps.PushPolicy(ctx, v, entry); err != nil {
		return nil, err
	}
	e.startBacktest(ctx, p) // in the background (backtest.go)
	return v, nil
}

// RequestPolicyActivation asks for version hash to become the active
// policy; a second staff member must approve it (DecidePolicyActivation).
// rollback marks a return to an earlier version. Errors:
// permission_denied, not_found, failed_precondition (already active, or
// another activation waiting), invalid_argument.
func (e *Engine) RequestPolicyActivation(ctx context.Context, actor holdfast.Actor, hash, reason string, rollback bool) (*holdfast.PolicyActivation, error) {
	if err := mayGovernPolicy(actor); err != nil {
		return nil, err
	}
	if strings.TrimSpace(reason) == "" {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "reason", "say why the policy should change")
	}
	if len(reason) > maxReason {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "reason", "reason is longer than %d characters", maxReason)
	}
	ps := e.store
	v, err := ps.PolicyVersion(ctx, hash)
	if err != nil {
		return nil, err
	}
	if rollback && v.ActivatedAt.IsZero() {
		return nil, holdfast.Errorf(holdfast.FailedPrecondition, "version", "version %s was never active: a rollback returns to an earlier active version; activate it instead", short(v.Hash))
	}
	now := e.clock.Now()
	a := &holdfast.PolicyActivation{ID: newID("pac"), Hash: v.Hash, Rollback: rollback, Reason: reason, RequestedBy: actor.ID, RequestedAt: now, State: holdfast.ActivationPending}
	entry := holdfast.PolicyEntry(holdfast.AuditEntry{At: now, Actor: actor.String(), Reason: reason}, holdfast.AuditPolicyActivationAsked, a)
	if err := ps.RequestPolicyActivation(ctx, a, entry); err != nil {
		return nil, err
	}
	return a, nil
}

// DecidePolicyActivation approves or rejects a pending activation. The
// approver must be another staff member than the one who asked. On
// approval this node switches at once; the others within their next poll
// of the store (WatchPolicy). Errors: permission_denied, not_found,
// conflict (decided already).
func (e *Engine) DecidePolicyActivation(ctx context.Context, actor holdfast.Actor, id string, approve bool, reason string) (*holdfast.PolicyActivation, error) {
	if err := mayGovernPolicy(actor); err != nil {
		return nil, err
	}
	ps := e.store
	a, err := ps.PolicyActivation(ctx, id)
	if err != nil {
		return nil, err
	}
	if a.RequestedBy == actor.ID {
		return nil, holdfast.Errorf(holdfast.PermissionDenied, "actor", "%s asked for this activation: another member of compliance or admin must decide it", actor.ID)
	}
	var next *holdfast.Policy
	if approve {
		v, err := ps.PolicyVersion(ctx, a.Hash)
		if err != nil {
			return nil, err
		}
		if next, err = policy.ParseVersion(v.YAML); err != nil {
			return nil, fmt.Errorf("stored policy %s no longer parses: %w", short(v.Hash), err)
		}
	}
	now := e.clock.Now()
	action := holdfast.AuditPolicyActivationRejected
	if approve {
		action = holdfast.AuditPolicyActivated
	}
	decided := *a
	decided.DecidedBy, decided.DecidedAt = actor.ID, now
	decided.State = holdfast.ActivationRejected
	if approve {
		decided.State = holdfast.ActivationApproved
	}
	entry := holdfast.PolicyEntry(holdfast.AuditEntry{At: now, Actor: actor.String(), Reason: reason}, action, &decided)
	if _, err := ps.DecidePolicyActivation(ctx, id, approve, actor.ID, entry); err != nil {
		return nil, err
	}
	if approve {
		if err := e.SwitchPolicy(ctx, next); err != nil {
			e.log.Error("policy activated; rebuilding the index failed, the feed will retry", "version", next.Hash, "err", err)
		}
		if err := e.loadShadow(ctx); err != nil { // the shadowed version may be the one activated
			e.log.Error("reading the shadowed policy version", "err", err)
		}
	}
	return &decided, nil
}

// SetPolicyShadow starts shadowing version hash (empty: stops).
func (e *Engine) SetPolicyShadow(ctx context.Context, actor holdfast.Actor, hash, reason string) error {
	if err := mayGovernPolicy(actor); err != nil {
		return err
	}
	ps := e.store
	action, after := holdfast.AuditPolicyShadowStopped, any(nil)
	if hash != "" {
		v, err := ps.PolicyVersion(ctx, hash)
		if err != nil {
			return err
		}
		hash, action, after = v.Hash, holdfast.AuditPolicyShadowed, map[string]string{"hash": v.Hash}
	}
	entry := holdfast.PolicyEntry(holdfast.AuditEntry{At: e.clock.Now(), Actor: actor.String(), Reason: reason}, action, after)
	if err := ps.SetPolicyShadow(ctx, hash, entry); err != nil {
		return err
	}
	return e.loadShadow(ctx)
}

// StartingPolicy is the policy a server starts with: the store's active
// version; or, on a store that has none, file (the --policy file or the
// embedded default), which InstallPolicy then stores as the first active
// version. A file named explicitly that is not the active version is
// refused: the store governs, and a node must never quietly run another
// policy than its peers.
func StartingPolicy(ctx context.Context, ps holdfast.PolicyStore, file *holdfast.Policy, explicit bool) (*holdfast.Policy, error) {
	active, err := ps.ActivePolicy(ctx)
	switch holdfast.ErrorCode(err) {
	case holdfast.NotFound:
		return file, nil
	case "":
	default:
		return nil, err
	}
	switch {
	case active.Hash == file.Hash:
		return file, nil
	case explicit:
		return nil, holdfast.Errorf(holdfast.FailedPrecondition, "policy",
			"the store's active policy is version %s (activated %s, asked by %s, approved by %s), not this file's %s: start without --policy to run the active version, or push this file and have it activated (holdfast policy push FILE; holdfast policy activate VERSION)",
			short(active.Hash), active.ActivatedAt.UTC().Format(time.RFC3339), orNone(active.RequestedBy), orNone(active.ApprovedBy), short(file.Hash))
	}
	p, err := policy.ParseVersion(active.YAML)
	if err != nil {
		return nil, fmt.Errorf("the store's active policy %s no longer parses: %w", short(active.Hash), err)
	}
	return p, nil
}

// InstallPolicy stores the policy this engine runs (its Source) as the
// active version of a store that has none (a first start). installed
// says whether it did.
func (e *Engine) InstallPolicy(ctx context.Context) (installed bool, err error) {
	if _, err := e.store.ActivePolicy(ctx); holdfast.ErrorCode(err) != holdfast.NotFound {
		return false, err
	}
	p := e.policy()
	yaml := p.Source
	if len(yaml) == 0 || holdfast.PolicyHash(yaml) != p.Hash {
		return false, fmt.Errorf("engine: the policy in force was not read from YAML (policy.Parse)")
	}
	now := e.clock.Now()
	v := &holdfast.PolicyVersion{Hash: p.Hash, YAML: yaml, Comment: "the policy the first server started with", Author: holdfast.System.String(), CreatedAt: now, State: holdfast.PolicyActive, ActivatedAt: now}
	entry := holdfast.PolicyEntry(holdfast.AuditEntry{At: now, Actor: holdfast.System.String(), Reason: "installed at first start"}, holdfast.AuditPolicyActivated, v)
	return true, e.store.InstallPolicy(ctx, v, entry)
}

// WatchPolicy polls the store every interval for the active version and
// switches to it when it changes: how a node learns of an activation
// approved on another node. It returns when ctx ends.
func (e *Engine) WatchPolicy(ctx context.Context, interval time.Duration) {
	ps := e.store
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// One query for both hashes; a version's YAML is read only when
		// it changed.
		activeHash, shadowHash, err := ps.PolicyHeads(ctx)
		if err != nil {
			e.log.Warn("reading the active and shadowed policy versions", "err", err)
			continue
		}
		loaded := ""
		if sp := e.shadow.p.Load(); sp != nil {
			loaded = sp.Hash
		}
		if shadowHash != loaded {
			if err := e.loadShadow(ctx); err != nil {
				e.log.Warn("reading the shadowed policy version", "err", err)
			}
		}
		if activeHash == "" || activeHash == e.policy().Hash {
			continue
		}
		active, err := ps.ActivePolicy(ctx)
		if err != nil {
			continue
		}
		p, err := policy.ParseVersion(active.YAML)
		if err != nil {
			e.log.Error("the active policy does not parse; keeping the one in force", "version", active.Hash, "err", err)
			continue
		}
		if err := e.SwitchPolicy(ctx, p); err != nil {
			e.log.Error("policy switched; rebuilding the index failed", "version", p.Hash, "err", err)
		}
	}
}

// short is a version's first 12 hex digits, as listings show it.
func short(hash string) string { return hash[:min(12, len(hash))] }

func orNone(s string) string {
	if s == "" {
		return "nobody"
	}
	return s
}

// PolicyVersions lists every stored version, newest first.
func (e *Engine) PolicyVersions(ctx context.Context) ([]*holdfast.PolicyVersion, error) {
	ps := e.store
	return ps.PolicyVersions(ctx)
}

// PolicyVersion returns a version by hash or unique prefix; "" is the
// active version.
func (e *Engine) PolicyVersion(ctx context.Context, ref string) (*holdfast.PolicyVersion, error) {
	ps := e.store
	if ref == "" {
		return ps.ActivePolicy(ctx)
	}
	return ps.PolicyVersion(ctx, ref)
}

// PolicyActivations lists activations, newest first.
func (e *Engine) PolicyActivations(ctx context.Context, pendingOnly bool) ([]*holdfast.PolicyActivation, error) {
	ps := e.store
	return ps.PolicyActivations(ctx, pendingOnly)
}

// DiffPolicies compares two stored versions ("" is the active one) by
// what they do (policy.Diff).
func (e *Engine) DiffPolicies(ctx context.Context, from, to string) (a, b *holdfast.PolicyVersion, changes []policy.Change, err error) {
	var pa, pb *holdfast.Policy
	for _, side := range []struct {
		ref string
		v   **holdfast.PolicyVersion
		p   **holdfast.Policy
	}{{from, &a, &pa}, {to, &b, &pb}} {
		if *side.v, err = e.PolicyVersion(ctx, side.ref); err != nil {
			return nil, nil, nil, err
		}
		if *side.p, err = policy.ParseVersion((*side.v).YAML); err != nil {
			return nil, nil, nil, fmt.Errorf("stored policy %s no longer parses: %w", short((*side.v).Hash), err)
		}
	}
	return a, b, policy.Diff(pa, pb), nil
}
