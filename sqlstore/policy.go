package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/column"
)

// Policy versions and their activations. Every write is one update of the
// PolicyAccount chain (s.update), so on PostgreSQL it holds that chain's
// row lock and policy changes on every node queue one behind the other;
// the partial unique indexes of migration 018 (one active, one shadow,
// one pending activation) hold even so.

const (
	policyCols     = `hash, yaml, comment, author, created_at, state, activated_at, requested_by, approved_by`
	activationCols = `id, hash, rollback, reason, requested_by, requested_at, state, decided_by, decided_at`
	// minPolicyPrefix is the fewest hex digits that name a version.
	minPolicyPrefix = 8
)

func policyFields(v *holdfast.PolicyVersion) []any {
	return []any{&v.Hash, &v.YAML, &v.Comment, &v.Author, column.Nanos{T: &v.CreatedAt}, &v.State,
		column.Nanos{T: &v.ActivatedAt}, &v.RequestedBy, &v.ApprovedBy}
}

func activationFields(a *holdfast.PolicyActivation) []any {
	return []any{&a.ID, &a.Hash, &a.Rollback, &a.Reason, &a.RequestedBy, column.Nanos{T: &a.RequestedAt},
		&a.State, &a.DecidedBy, column.Nanos{T: &a.DecidedAt}}
}

// policyPrefix checks a hash or hash prefix: lower-case hex (upper case is
// folded), at least minPolicyPrefix digits, at most a whole SHA-256.
func policyPrefix(hash string) (string, error) {
	p := strings.ToLower(strings.TrimSpace(hash))
	if len(p) < minPolicyPrefix {
		return "", holdfast.Errorf(holdfast.InvalidArgument, "hash", "a policy version is named by its hash or at least %d of its first hex digits, not %q", minPolicyPrefix, hash)
	}
	if len(p) > 64 {
		return "", holdfast.Errorf(holdfast.InvalidArgument, "hash", "a policy hash has 64 hex digits, %q has %d", hash, len(p))
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", holdfast.Errorf(holdfast.InvalidArgument, "hash", "a policy hash is hex digits, %q is not", hash)
		}
	}
	return p, nil
}

// findPolicy reads the version hash names, a whole hash or a unique
// prefix, on q (locked with the dialect's ForUpdate when lock is set).
func (s *Store) findPolicy(ctx context.Context, q Querier, hash string, lock bool) (*holdfast.PolicyVersion, error) {
	p, err := policyPrefix(hash)
	if err != nil {
		return nil, err
	}
	suffix := ""
	if lock {
		suffix = s.d.ForUpdate
	}
	// Hex digits sort below 'g' bytewise (SQLite's BINARY, PostgreSQL's
	// COLLATE "C"), so the range is exactly the hashes with prefix p.
	vs, err := list(ctx, q, policyFields, `SELECT `+policyCols+` FROM policy_versions WHERE hash >= ? AND hash < ? ORDER BY hash LIMIT 2`+suffix, p, p+"g")
	if err != nil {
		return nil, fmt.Errorf("%s: policy version %s: %w", s.d.Name, hash, err)
	}
	switch len(vs) {
	case 0:
		return nil, holdfast.Errorf(holdfast.NotFound, "hash", "policy version %s not found", hash)
	case 1:
		return vs[0], nil
	}
	return nil, holdfast.Errorf(holdfast.InvalidArgument, "hash", "%s names several policy versions (%s, %s, ...): give more of the hash", hash, vs[0].Hash[:12], vs[1].Hash[:12])
}

// policyIn reads the version in state (active or shadow), or nil.
func (s *Store) policyIn(ctx context.Context, q Querier, state holdfast.PolicyState, lock bool) (*holdfast.PolicyVersion, error) {
	suffix := ""
	if lock {
		suffix = s.d.ForUpdate
	}
	v := new(holdfast.PolicyVersion)
	err := q.QueryRow(ctx, `SELECT `+policyCols+` FROM policy_versions WHERE state = ?`+suffix, state).Scan(policyFields(v)...)
	if errors.Is(err, ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: the %s policy version: %w", s.d.Name, state, err)
	}
	return v, nil
}

// policyJSON is the JSON of a version or activation, for an entry's
// before-image.
func policyJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// checkPolicy validates a version to push: YAML present, the hash its
// SHA-256 (filled in when empty).
func checkPolicy(v *holdfast.PolicyVersion) error {
	if len(v.YAML) == 0 {
		return holdfast.Errorf(holdfast.InvalidArgument, "yaml", "the policy is empty")
	}
	want := holdfast.PolicyHash(v.YAML)
	if v.Hash == "" {
		v.Hash = want
	}
	if v.Hash != want {
		return holdfast.Errorf(holdfast.InvalidArgument, "hash", "hash %s is not the SHA-256 of the policy (%s)", v.Hash, want)
	}
	return nil
}

// insertPolicy inserts v as a new draft (its state and activation fields
// reset, CreatedAt defaulting to e.At) and appends its policy_pushed
// entry. Errors: conflict when the hash is stored, naming its state.
func (s *Store) insertPolicy(t *accountTx, v *holdfast.PolicyVersion, e *holdfast.AuditEntry) error {
	var state string
	err := t.q.QueryRow(t.ctx, `SELECT state FROM policy_versions WHERE hash = ?`, v.Hash).Scan(&state)
	switch {
	case err == nil:
		return holdfast.Errorf(holdfast.Conflict, "hash", "policy version %s is stored already (%s)", v.Hash, state)
	case !errors.Is(err, ErrNoRows):
		return t.failf(err, "policy version %s", v.Hash)
	}
	v.State, v.ActivatedAt, v.RequestedBy, v.ApprovedBy = holdfast.PolicyDraft, time.Time{}, "", ""
	if v.CreatedAt.IsZero() {
		v.CreatedAt = e.At
	}
	if _, err := t.q.Exec(t.ctx, `INSERT INTO policy_versions (`+policyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, policyFields(v)...); err != nil {
		if t.s.d.IsUnique(err) {
			return holdfast.Errorf(holdfast.Conflict, "hash", "policy version %s is stored already", v.Hash)
		}
		return t.failf(err, "push policy version %s", v.Hash)
	}
	return t.Append(holdfast.PolicyEntry(*e, holdfast.AuditPolicyPushed, v))
}

// PushPolicy stores v as a new draft and audits it in one update of the
// policy chain. Errors: invalid_argument (no YAML, or a hash that is not
// its SHA-256), conflict.
func (s *Store) PushPolicy(ctx context.Context, v *holdfast.PolicyVersion, e *holdfast.AuditEntry) error {
	if err := checkPolicy(v); err != nil {
		return err
	}
	return s.update(ctx, holdfast.PolicyAccount, e.At, func(t *accountTx) error {
		return s.insertPolicy(t, v, e)
	})
}

// PolicyVersion returns a version by its hash or a unique prefix of at
// least 8 hex digits. Errors: not_found, invalid_argument.
func (s *Store) PolicyVersion(ctx context.Context, hash string) (*holdfast.PolicyVersion, error) {
	return s.findPolicy(ctx, s.conn.Read(), hash, false)
}

// PolicyVersions lists every version, newest first.
func (s *Store) PolicyVersions(ctx context.Context) ([]*holdfast.PolicyVersion, error) {
	out, err := list(ctx, s.conn.Read(), policyFields, `SELECT `+policyCols+` FROM policy_versions ORDER BY created_at DESC, hash DESC`)
	if err != nil {
		return nil, fmt.Errorf("%s: list policy versions: %w", s.d.Name, err)
	}
	return out, nil
}

// ActivePolicy returns the active version. Errors: not_found.
func (s *Store) ActivePolicy(ctx context.Context) (*holdfast.PolicyVersion, error) {
	v, err := s.policyIn(ctx, s.conn.Read(), holdfast.PolicyActive, false)
	if err == nil && v == nil {
		err = holdfast.Errorf(holdfast.NotFound, "hash", "no policy version is active")
	}
	return v, err
}

// PolicyHeads returns the active and the shadowed versions' hashes.
func (s *Store) PolicyHeads(ctx context.Context) (active, shadow string, err error) {
	err = each(ctx, s.conn.Read(), `SELECT hash, state FROM policy_versions WHERE state IN (?, ?)`,
		[]any{holdfast.PolicyActive, holdfast.PolicyShadow}, func(r Row) error {
			var hash, state string
			if err := r.Scan(&hash, &state); err != nil {
				return err
			}
			if state == string(holdfast.PolicyActive) {
				active = hash
			} else {
				shadow = hash
			}
			return nil
		})
	if err != nil {
		return "", "", fmt.Errorf("%s: the active and shadowed policy versions: %w", s.d.Name, err)
	}
	return active, shadow, nil
}

// ShadowPolicy returns the shadowed version, or nil.
func (s *Store) ShadowPolicy(ctx context.Context) (*holdfast.PolicyVersion, error) {
	return s.policyIn(ctx, s.conn.Read(), holdfast.PolicyShadow, false)
}

// SetPolicyShadow makes hash the shadowed version (the previous one goes
// back to draft; the entry's before-image is it), or stops shadowing when
// hash is empty (the entry's after-image is the version, a draft again).
// Shadowing the version already shadowed, or stopping when none is, is no
// change and appends no entry. Errors: not_found, invalid_argument (the
// prefix), failed_precondition (the active version).
func (s *Store) SetPolicyShadow(ctx context.Context, hash string, e *holdfast.AuditEntry) error {
	return s.update(ctx, holdfast.PolicyAccount, e.At, func(t *accountTx) error {
		old, err := s.policyIn(ctx, t.q, holdfast.PolicyShadow, true)
		if err != nil {
			return t.fail(err)
		}
		if hash == "" {
			if old == nil {
				return nil
			}
			if err := s.setPolicyState(t, old.Hash, holdfast.PolicyDraft); err != nil {
				return err
			}
			old.State = holdfast.PolicyDraft
			return t.Append(holdfast.PolicyEntry(*e, holdfast.AuditPolicyShadowStopped, old))
		}
		v, err := s.findPolicy(ctx, t.q, hash, true)
		if err != nil {
			return err
		}
		switch v.State {
		case holdfast.PolicyActive:
			return holdfast.Errorf(holdfast.FailedPrecondition, "hash", "policy version %s is the active one: there is nothing to compare it with", v.Hash)
		case holdfast.PolicyShadow:
			return nil
		}
		ent := holdfast.PolicyEntry(*e, holdfast.AuditPolicyShadowed, nil)
		if old != nil {
			if err := s.setPolicyState(t, old.Hash, holdfast.PolicyDraft); err != nil {
				return err
			}
			ent.Before = policyJSON(old)
		}
		if err := s.setPolicyState(t, v.Hash, holdfast.PolicyShadow); err != nil {
			return err
		}
		v.State = holdfast.PolicyShadow
		ent.After = policyJSON(v)
		return t.Append(ent)
	})
}

// setPolicyState moves one version to state.
func (s *Store) setPolicyState(t *accountTx, hash string, state holdfast.PolicyState) error {
	if _, err := t.q.Exec(t.ctx, `UPDATE policy_versions SET state = ? WHERE hash = ?`, state, hash); err != nil {
		return t.failf(err, "policy version %s to %s", hash, state)
	}
	return nil
}

// pendingActivation reads the pending activation, or nil.
func (s *Store) pendingActivation(ctx context.Context, q Querier) (*holdfast.PolicyActivation, error) {
	a := new(holdfast.PolicyActivation)
	err := q.QueryRow(ctx, `SELECT `+activationCols+` FROM policy_activations WHERE state = ?`+s.d.ForUpdate, holdfast.ActivationPending).Scan(activationFields(a)...)
	if errors.Is(err, ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: the pending policy activation: %w", s.d.Name, err)
	}
	return a, nil
}

// RequestPolicyActivation stores a as the pending activation of the
// version a.Hash names (a hash or unique prefix, stored whole), requested
// at e.At when a.RequestedAt is zero. Activating a retired version is a
// rollback: Rollback is set then, whatever the caller said. Errors:
// invalid_argument (no id, the prefix), not_found, failed_precondition,
// conflict (an activation with a's id exists).
func (s *Store) RequestPolicyActivation(ctx context.Context, a *holdfast.PolicyActivation, e *holdfast.AuditEntry) error {
	if err := holdfast.ValidateID("id", a.ID); err != nil {
		return err
	}
	return s.update(ctx, holdfast.PolicyAccount, e.At, func(t *accountTx) error {
		v, err := s.findPolicy(ctx, t.q, a.Hash, true)
		if err != nil {
			return err
		}
		if v.State == holdfast.PolicyActive {
			return holdfast.Errorf(holdfast.FailedPrecondition, "hash", "policy version %s is active already", v.Hash)
		}
		p, err := s.pendingActivation(ctx, t.q)
		if err != nil {
			return t.fail(err)
		}
		if p != nil {
			return holdfast.Errorf(holdfast.FailedPrecondition, "hash", "activation %s of policy version %s is pending: approve or reject it first", p.ID, p.Hash)
		}
		a.Hash, a.State, a.DecidedBy, a.DecidedAt = v.Hash, holdfast.ActivationPending, "", time.Time{}
		a.Rollback = a.Rollback || v.State == holdfast.PolicyRetired
		if a.RequestedAt.IsZero() {
			a.RequestedAt = e.At
		}
		if _, err := t.q.Exec(ctx, `INSERT INTO policy_activations (`+activationCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, activationFields(a)...); err != nil {
			if s.d.IsUnique(err) {
				return holdfast.Errorf(holdfast.Conflict, "id", "policy activation %s exists already", a.ID)
			}
			return t.failf(err, "request policy activation %s", a.ID)
		}
		return t.Append(holdfast.PolicyEntry(*e, holdfast.AuditPolicyActivationAsked, a))
	})
}

// PolicyActivation returns an activation by id. Errors: not_found.
func (s *Store) PolicyActivation(ctx context.Context, id string) (*holdfast.PolicyActivation, error) {
	return byID(ctx, s, "id", "policy activation", scanWith(activationFields), `SELECT `+activationCols+` FROM policy_activations WHERE id = ?`, id)
}

// PolicyActivations lists activations, newest first; pending only when
// pendingOnly.
func (s *Store) PolicyActivations(ctx context.Context, pendingOnly bool) ([]*holdfast.PolicyActivation, error) {
	where, args := "", []any{}
	if pendingOnly {
		where, args = ` WHERE state = ?`, append(args, holdfast.ActivationPending)
	}
	out, err := list(ctx, s.conn.Read(), activationFields, `SELECT `+activationCols+` FROM policy_activations`+where+` ORDER BY requested_at DESC, id DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: list policy activations: %w", s.d.Name, err)
	}
	return out, nil
}

// DecidePolicyActivation approves or rejects the pending activation id as
// by at e.At; the entry's before-image is the pending activation, its
// after-image the decided one. Approving retires the active version and
// makes the activation's the active one (no longer shadowed, if it was),
// with the activation's requester and by as its RequestedBy and
// ApprovedBy. It returns the activation's version as it stands after the
// decision (a rejected one unchanged). Errors: not_found, conflict.
func (s *Store) DecidePolicyActivation(ctx context.Context, id string, approve bool, by string, e *holdfast.AuditEntry) (*holdfast.PolicyVersion, error) {
	var out *holdfast.PolicyVersion
	err := s.update(ctx, holdfast.PolicyAccount, e.At, func(t *accountTx) error {
		out = nil
		a := new(holdfast.PolicyActivation)
		err := t.q.QueryRow(ctx, `SELECT `+activationCols+` FROM policy_activations WHERE id = ?`+s.d.ForUpdate, id).Scan(activationFields(a)...)
		if errors.Is(err, ErrNoRows) {
			return holdfast.Errorf(holdfast.NotFound, "id", "policy activation %s not found", id)
		}
		if err != nil {
			return t.failf(err, "policy activation %s", id)
		}
		if a.State != holdfast.ActivationPending {
			return holdfast.Errorf(holdfast.Conflict, "id", "policy activation %s was %s already, by %s", id, a.State, a.DecidedBy)
		}
		before := policyJSON(a)
		v, err := s.findPolicy(ctx, t.q, a.Hash, true)
		if err != nil {
			return t.fail(err)
		}
		a.State, a.DecidedBy, a.DecidedAt = holdfast.ActivationRejected, by, e.At
		action := holdfast.AuditPolicyActivationRejected
		if approve {
			a.State, action = holdfast.ActivationApproved, holdfast.AuditPolicyActivated
			if err := s.activate(t, v, a.RequestedBy, by, e); err != nil {
				return err
			}
		}
		if _, err := t.q.Exec(ctx, `UPDATE policy_activations SET state = ?, decided_by = ?, decided_at = ? WHERE id = ?`,
			a.State, a.DecidedBy, column.NanosArg(a.DecidedAt), a.ID); err != nil {
			return t.failf(err, "decide policy activation %s", id)
		}
		ent := holdfast.PolicyEntry(*e, action, a)
		ent.Before = before
		out = v
		return t.Append(ent)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// activate retires the active version other than v and makes v the
// active one, at e.At, with requester and approver, updating v.
func (s *Store) activate(t *accountTx, v *holdfast.PolicyVersion, requester, approver string, e *holdfast.AuditEntry) error {
	if _, err := t.q.Exec(t.ctx, `UPDATE policy_versions SET state = ? WHERE state = ? AND hash <> ?`,
		holdfast.PolicyRetired, holdfast.PolicyActive, v.Hash); err != nil {
		return t.failf(err, "retire the active policy version")
	}
	v.State, v.ActivatedAt, v.RequestedBy, v.ApprovedBy = holdfast.PolicyActive, e.At, requester, approver
	if _, err := t.q.Exec(t.ctx, `UPDATE policy_versions SET state = ?, activated_at = ?, requested_by = ?, approved_by = ? WHERE hash = ?`,
		v.State, column.NanosArg(v.ActivatedAt), v.RequestedBy, v.ApprovedBy, v.Hash); err != nil {
		return t.failf(err, "activate policy version %s", v.Hash)
	}
	return nil
}

// InstallPolicy makes v the active version of a store that has none: it
// pushes v when its hash is not stored (a policy_pushed entry), then
// activates it (a policy_activated entry whose after-image is the
// version, requested by e's actor and approved by no one). Errors:
// invalid_argument, failed_precondition (a version is active).
func (s *Store) InstallPolicy(ctx context.Context, v *holdfast.PolicyVersion, e *holdfast.AuditEntry) error {
	if err := checkPolicy(v); err != nil {
		return err
	}
	return s.update(ctx, holdfast.PolicyAccount, e.At, func(t *accountTx) error {
		cur, err := s.policyIn(ctx, t.q, holdfast.PolicyActive, true)
		if err != nil {
			return t.fail(err)
		}
		if cur != nil {
			return holdfast.Errorf(holdfast.FailedPrecondition, "hash", "policy version %s is active: a new one is activated by request and approval", cur.Hash)
		}
		stored, err := s.findPolicy(ctx, t.q, v.Hash, true)
		switch {
		case holdfast.ErrorCode(err) == holdfast.NotFound:
			if err := s.insertPolicy(t, v, e); err != nil {
				return err
			}
		case err != nil:
			return t.fail(err)
		default:
			*v = *stored
		}
		if err := s.activate(t, v, e.Actor, "", e); err != nil {
			return err
		}
		return t.Append(holdfast.PolicyEntry(*e, holdfast.AuditPolicyActivated, v))
	})
}

// verifyPolicyState replays the policy chain and compares what it implies
// with the policy_versions and policy_activations rows, as VerifyState
// does an account's, and returns what differs and the entries replayed. A
// version's YAML is checked against its hash, which the entries carry in
// its stead. The chain's head is read before and after; a commit in
// between reads everything again (three times at most).
func (s *Store) verifyPolicyState(ctx context.Context) ([]holdfast.StateBreak, int64, error) {
	for attempt := 0; ; attempt++ {
		var found []holdfast.StateBreak
		add := func(record, field, problem string) {
			found = append(found, holdfast.StateBreak{Account: holdfast.PolicyAccount, Record: record, Field: field, Problem: problem})
		}
		head, err := s.policyHead(ctx)
		if err != nil {
			return nil, 0, err
		}
		n, err := s.comparePolicyState(ctx, head, add)
		if err != nil {
			return nil, 0, err
		}
		again, err := s.policyHead(ctx)
		if err != nil {
			return nil, 0, err
		}
		if again == head || attempt == 3 {
			return found, n, nil
		}
	}
}

// policyHead is the policy chain's head sequence, 0 before its first
// entry.
func (s *Store) policyHead(ctx context.Context) (int64, error) {
	var seq int64
	err := s.conn.Read().QueryRow(ctx, `SELECT audit_seq FROM accounts WHERE id = ?`, holdfast.PolicyAccount).Scan(&seq)
	if err != nil && !errors.Is(err, ErrNoRows) {
		return 0, fmt.Errorf("%s: verify state: the policy chain's head: %w", s.d.Name, err)
	}
	return seq, nil
}

// comparePolicyState replays the policy chain up to head and compares the
// policy tables with it.
func (s *Store) comparePolicyState(ctx context.Context, head int64, add func(record, field, problem string)) (int64, error) {
	versions := map[string]*holdfast.PolicyVersion{}
	acts := map[string]*holdfast.PolicyActivation{}
	var n int64
	activate := func(v *holdfast.PolicyVersion) {
		for _, o := range versions {
			if o.State == holdfast.PolicyActive && o.Hash != v.Hash {
				o.State = holdfast.PolicyRetired
			}
		}
		versions[v.Hash] = v
	}
	q := s.conn.Read()
	err := each(ctx, q, `SELECT seq, action, before, after FROM audit WHERE account = ? AND seq <= ? ORDER BY seq`, []any{holdfast.PolicyAccount, head}, func(r Row) error {
		var e holdfast.AuditEntry
		if err := r.Scan(&e.Seq, &e.Action, column.RawJSON{B: &e.Before}, column.RawJSON{B: &e.After}); err != nil {
			return err
		}
		n++
		bad := func(err error) {
			add(fmt.Sprintf("entry %d", e.Seq), "", fmt.Sprintf("its %s record cannot be read: %v", e.Action, err))
		}
		switch e.Action {
		case holdfast.AuditPolicyPushed, holdfast.AuditPolicyShadowed, holdfast.AuditPolicyShadowStopped:
			if len(e.Before) > 0 { // the shadow it replaced, a draft again
				old, err := decodeJSON[holdfast.PolicyVersion](e.Before)
				if err != nil {
					bad(err)
					return nil
				}
				old.State = holdfast.PolicyDraft
				versions[old.Hash] = old
			}
			v, err := decodeJSON[holdfast.PolicyVersion](e.After)
			if err != nil {
				bad(err)
				return nil
			}
			versions[v.Hash] = v
		case holdfast.AuditPolicyActivationAsked, holdfast.AuditPolicyActivationRejected:
			a, err := decodeJSON[holdfast.PolicyActivation](e.After)
			if err != nil {
				bad(err)
				return nil
			}
			acts[a.ID] = a
		case holdfast.AuditPolicyActivated:
			a, err := decodeJSON[holdfast.PolicyActivation](e.After)
			if err != nil {
				bad(err)
				return nil
			}
			if a.ID == "" { // an install: the version itself
				v, err := decodeJSON[holdfast.PolicyVersion](e.After)
				if err != nil {
					bad(err)
					return nil
				}
				activate(v)
				return nil
			}
			acts[a.ID] = a
			v := versions[a.Hash]
			if v == nil {
				bad(fmt.Errorf("it activates %s, which no entry pushed", a.Hash))
				return nil
			}
			c := *v
			c.State, c.ActivatedAt, c.RequestedBy, c.ApprovedBy = holdfast.PolicyActive, a.DecidedAt, a.RequestedBy, a.DecidedBy
			activate(&c)
		default:
			bad(fmt.Errorf("unknown action"))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("%s: verify state: the policy chain: %w", s.d.Name, err)
	}
	vs, err := list(ctx, q, policyFields, `SELECT `+policyCols+` FROM policy_versions ORDER BY hash`)
	if err != nil {
		return 0, fmt.Errorf("%s: verify state: policy versions: %w", s.d.Name, err)
	}
	for _, v := range vs {
		if holdfast.PolicyHash(v.YAML) != v.Hash {
			add("policy version "+v.Hash, "yaml", "the policy's YAML is not the one its hash names: it was changed behind the log's back")
		}
	}
	holdfast.CompareSet(versions, vs, func(v *holdfast.PolicyVersion) string { return v.Hash }, "policy version", add)
	as, err := list(ctx, q, activationFields, `SELECT `+activationCols+` FROM policy_activations ORDER BY id`)
	if err != nil {
		return 0, fmt.Errorf("%s: verify state: policy activations: %w", s.d.Name, err)
	}
	holdfast.CompareSet(acts, as, func(a *holdfast.PolicyActivation) string { return a.ID }, "policy activation", add)
	return n, nil
}

func decodeJSON[T any](b json.RawMessage) (*T, error) {
	if len(b) == 0 {
		return nil, errors.New("empty")
	}
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return nil, err
	}
	return v, nil
}
