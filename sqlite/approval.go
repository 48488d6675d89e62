package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/column"
)

func scanApproval(s scanner) (*holdfast.Approval, error) {
	a := new(holdfast.Approval)
	if err := s.Scan(column.ApprovalFields(a)...); err != nil {
		return nil, err
	}
	return a, nil
}

// Approval returns a four-eyes request by id. Errors: not_found.
func (db *DB) Approval(ctx context.Context, id string) (*holdfast.Approval, error) {
	a, err := scanApproval(db.queryRow(ctx, `SELECT `+column.ApprovalCols+` FROM approvals WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, holdfast.Errorf(holdfast.NotFound, "request", "request %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: approval %s: %w", id, err)
	}
	return a, nil
}

// Approvals lists pending requests of every account, oldest first. A
// pending request past its expiry is listed: StateAt tells.
func (db *DB) Approvals(ctx context.Context) ([]*holdfast.Approval, error) {
	out := []*holdfast.Approval{}
	err := db.each(ctx, `SELECT `+column.ApprovalCols+` FROM approvals WHERE state = ? ORDER BY created_at, id`,
		[]any{string(holdfast.ApprovalPending)}, func(s scanner) error {
			a, err := scanApproval(s)
			if err == nil {
				out = append(out, a)
			}
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("sqlite: approvals: %w", err)
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
		apps, err := t.loadApprovals()
		if err != nil {
			t.fail(fmt.Errorf("sqlite: load approvals of %s: %w", t.id, err))
			return nil
		}
		t.apps, t.appsLoaded = apps, true
	}
	return slices.Clone(t.apps)
}

func (t *accountTx) loadApprovals() ([]*holdfast.Approval, error) {
	rows, err := t.w.query(`SELECT `+column.ApprovalCols+` FROM approvals WHERE account = ? AND state = ? ORDER BY created_at, id`,
		t.id, string(holdfast.ApprovalPending))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var apps []*holdfast.Approval
	for rows.Next() {
		a, err := scanApproval(rows)
		if err != nil {
			return nil, err
		}
		apps = append(apps, a)
	}
	return apps, rows.Err()
}

// SaveApproval inserts a or updates it by id; the cached list keeps only
// pending requests.
func (t *accountTx) SaveApproval(a *holdfast.Approval) error {
	if err := t.check(); err != nil {
		return err
	}
	if err := t.own("approval", a.ID, &a.Account); err != nil {
		return err
	}
	if err := t.ensureAccount(); err != nil {
		return err
	}
	res, err := t.w.exec(`INSERT INTO approvals (`+column.ApprovalCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			restriction = excluded.restriction, kind = excluded.kind, asked_by = excluded.asked_by,
			asked_roles = excluded.asked_roles, reason = excluded.reason, created_at = excluded.created_at,
			expires_at = excluded.expires_at, state = excluded.state, decided_by = excluded.decided_by,
			decided_at = excluded.decided_at, op = excluded.op, ends_at = excluded.ends_at
		WHERE approvals.account = excluded.account`, column.ApprovalFields(a)...)
	if err == nil {
		err = oneRow(res)
	}
	if err != nil {
		return t.fail(fmt.Errorf("sqlite: save approval %s: %w", a.ID, err))
	}
	if t.appsLoaded {
		c := *a
		c.AskedRoles = slices.Clone(a.AskedRoles)
		t.apps = upsert(t.apps, &c, func(a *holdfast.Approval) string { return a.ID }, a.State == holdfast.ApprovalPending)
	}
	return nil
}
