package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/column"
	"github.com/jackc/pgx/v5"
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
	a, err := scanApproval(db.pool.QueryRow(ctx, `SELECT `+column.ApprovalCols+` FROM approvals WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, holdfast.Errorf(holdfast.NotFound, "request", "request %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: approval %s: %w", id, err)
	}
	return a, nil
}

// Approvals lists pending requests of every account, oldest first. A
// pending request past its expiry is listed: StateAt tells.
func (db *DB) Approvals(ctx context.Context) ([]*holdfast.Approval, error) {
	out := []*holdfast.Approval{}
	err := db.each(ctx, `SELECT `+column.ApprovalCols+` FROM approvals WHERE state = $1 ORDER BY created_at, id`,
		[]any{string(holdfast.ApprovalPending)}, func(s scanner) error {
			a, err := scanApproval(s)
			if err == nil {
				out = append(out, a)
			}
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("postgres: approvals: %w", err)
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
		apps, err := query(t, scanApproval, `SELECT `+column.ApprovalCols+` FROM approvals WHERE account = $1 AND state = $2 ORDER BY created_at, id`,
			t.id, string(holdfast.ApprovalPending))
		if err != nil {
			t.fail(fmt.Errorf("postgres: load approvals of %s: %w", t.id, err))
			return nil
		}
		t.apps, t.appsLoaded = apps, true
	}
	return slices.Clone(t.apps)
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
	tag, err := t.exec(`INSERT INTO approvals (`+column.ApprovalCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (id) DO UPDATE SET
			restriction = excluded.restriction, kind = excluded.kind, asked_by = excluded.asked_by,
			asked_roles = excluded.asked_roles, reason = excluded.reason, created_at = excluded.created_at,
			expires_at = excluded.expires_at, state = excluded.state, decided_by = excluded.decided_by,
			decided_at = excluded.decided_at, op = excluded.op, ends_at = excluded.ends_at
		WHERE approvals.account = excluded.account`, column.ApprovalFields(a)...)
	if err == nil {
		err = oneRow(tag)
	}
	if err != nil {
		return t.fail(fmt.Errorf("postgres: save approval %s: %w", a.ID, err))
	}
	if t.appsLoaded {
		c := *a
		c.AskedRoles = slices.Clone(a.AskedRoles)
		t.apps = upsert(t.apps, &c, func(a *holdfast.Approval) string { return a.ID }, a.State == holdfast.ApprovalPending)
	}
	return nil
}
