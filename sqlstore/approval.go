package sqlstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/column"
)

var scanApproval = scanWith(column.ApprovalFields)

// Approval returns a four-eyes request by id. Errors: not_found.
func (s *Store) Approval(ctx context.Context, id string) (*holdfast.Approval, error) {
	return byID(ctx, s, "request", "request", scanApproval, `SELECT `+column.ApprovalCols+` FROM approvals WHERE id = ?`, id)
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
	apps, _ := t.apps.get(t, "approvals", scanApproval, `SELECT `+column.ApprovalCols+` FROM approvals WHERE account = ? AND state = ? ORDER BY created_at, id`,
		t.id, string(holdfast.ApprovalPending))
	return slices.Clone(apps)
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
	c := *a
	c.AskedRoles = slices.Clone(a.AskedRoles)
	t.apps.upsert(&c, func(a *holdfast.Approval) string { return a.ID }, a.State == holdfast.ApprovalPending)
	return nil
}
