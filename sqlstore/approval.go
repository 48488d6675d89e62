package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/column"
)

func scanApproval(r Row) (*holdfast.Approval, error) {
	v := new(holdfast.Approval)
	return v, r.Scan(column.ApprovalFields(v)...)
}

// Approval returns a four-eyes request by id. Errors: not_found.
func (s *Store) Approval(ctx context.Context, id string) (*holdfast.Approval, error) {
	a, err := scanApproval(s.conn.Read().QueryRow(ctx, `SELECT `+column.ApprovalCols+` FROM approvals WHERE id = ?`, id))
	if errors.Is(err, ErrNoRows) {
		return nil, holdfast.Errorf(holdfast.NotFound, "request", "request %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: approval %s: %w", s.d.Name, id, err)
	}
	return a, nil
}

// Approvals lists pending requests of every account, oldest first. A
// pending request past its expiry is listed: StateAt tells.
func (s *Store) Approvals(ctx context.Context) ([]*holdfast.Approval, error) {
	out, err := list(ctx, s.conn.Read(), column.ApprovalFields,
		`SELECT `+column.ApprovalCols+` FROM approvals WHERE state = ? ORDER BY created_at, id`, string(holdfast.ApprovalPending))
	if err != nil {
		return nil, fmt.Errorf("%s: approvals: %w", s.d.Name, err)
	}
	return out, nil
}

// Approvals returns the account's pending requests, oldest first, reading
// them once per update.
func (t *accountTx) Approvals() []*holdfast.Approval {
	if t.check() != nil {
		return nil
	}
	if !t.appsLoaded {
		apps, ok := load(t, "approvals", scanApproval, `SELECT `+column.ApprovalCols+` FROM approvals WHERE account = ? AND state = ? ORDER BY created_at, id`,
			t.id, string(holdfast.ApprovalPending))
		if !ok {
			return nil
		}
		t.apps, t.appsLoaded = apps, true
	}
	return slices.Clone(t.apps)
}

// SaveApproval inserts a or updates it by id; the cached list keeps only
// pending requests.
func (t *accountTx) SaveApproval(a *holdfast.Approval) error {
	if err := t.begin("approval", a.ID, &a.Account); err != nil {
		return err
	}
	err := t.upsertRow("approval", a.ID, `INSERT INTO approvals (`+column.ApprovalCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			restriction = excluded.restriction, kind = excluded.kind, asked_by = excluded.asked_by,
			asked_roles = excluded.asked_roles, reason = excluded.reason, created_at = excluded.created_at,
			expires_at = excluded.expires_at, state = excluded.state, decided_by = excluded.decided_by,
			decided_at = excluded.decided_at, op = excluded.op, ends_at = excluded.ends_at
		WHERE approvals.account = excluded.account`, column.ApprovalFields(a)...)
	if err != nil {
		return err
	}
	if t.appsLoaded {
		c := *a
		c.AskedRoles = slices.Clone(a.AskedRoles)
		t.apps = upsert(t.apps, &c, func(a *holdfast.Approval) string { return a.ID }, a.State == holdfast.ApprovalPending)
	}
	return nil
}
