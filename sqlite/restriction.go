package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/column"
)

func scanRestriction(s scanner) (*holdfast.Restriction, error) {
	r := new(holdfast.Restriction)
	if err := s.Scan(column.RestrictionFields(r)...); err != nil {
		return nil, err
	}
	return r, nil
}

// notOver is the SQL for "not lifted and not ended at the first argument":
// in force or still to come.
const notOver = `lifted_at IS NULL AND (ends_at IS NULL OR ends_at > ?)`

// Restriction returns one restriction. Errors: not_found.
func (db *DB) Restriction(ctx context.Context, id string) (*holdfast.Restriction, error) {
	r, err := scanRestriction(db.queryRow(ctx, `SELECT `+column.RestrictionCols+` FROM restrictions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, holdfast.Errorf(holdfast.NotFound, "restriction", "restriction %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: restriction %s: %w", id, err)
	}
	return r, nil
}

// Restrictions lists restrictions matching f, newest first.
func (db *DB) Restrictions(ctx context.Context, f holdfast.RestrictionFilter) ([]*holdfast.Restriction, error) {
	var where []string
	var params []any
	if f.Account != "" {
		where, params = append(where, `account = ?`), append(params, f.Account)
	}
	if f.Kind != "" {
		where, params = append(where, `kind = ?`), append(params, string(f.Kind))
	}
	if !f.ActiveAt.IsZero() {
		where, params = append(where, notOver), append(params, nanosArg(f.ActiveAt))
	}
	q := `SELECT ` + column.RestrictionCols + ` FROM restrictions`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY created_at DESC, id DESC`
	if f.Limit > 0 {
		q, params = q+` LIMIT ?`, append(params, f.Limit)
	}
	out := []*holdfast.Restriction{}
	err := db.each(ctx, q, params, func(s scanner) error {
		r, err := scanRestriction(s)
		if err == nil {
			out = append(out, r)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: restrictions: %w", err)
	}
	return out, nil
}

// ActiveRestrictions streams every restriction in force or still to come at
// t, across all accounts, from one query.
func (db *DB) ActiveRestrictions(ctx context.Context, t time.Time, fn func(*holdfast.Restriction) error) error {
	return db.eachRestriction(ctx, "active restrictions", notOver, []any{nanosArg(t)}, fn)
}

// EndedRestrictions calls fn for every restriction that ended by time (not
// lifted) in (from, to], oldest end first.
func (db *DB) EndedRestrictions(ctx context.Context, from, to time.Time, fn func(*holdfast.Restriction) error) error {
	return db.eachRestriction(ctx, "ended restrictions", `lifted_at IS NULL AND ends_at > ? AND ends_at <= ? ORDER BY ends_at, id`,
		[]any{nanosArg(from), nanosArg(to)}, fn)
}

// eachRestriction streams the restrictions a WHERE clause selects to fn;
// an error from fn comes back unchanged.
func (db *DB) eachRestriction(ctx context.Context, what, where string, params []any, fn func(*holdfast.Restriction) error) error {
	var fnErr error
	err := db.each(ctx, `SELECT `+column.RestrictionCols+` FROM restrictions WHERE `+where, params, func(s scanner) error {
		r, err := scanRestriction(s)
		if err != nil {
			return err
		}
		fnErr = fn(r)
		return fnErr
	})
	if err != nil && fnErr == nil {
		return fmt.Errorf("sqlite: %s: %w", what, err)
	}
	return err
}

// each runs a read query and calls fn for every row.
func (db *DB) each(ctx context.Context, q string, params []any, fn func(scanner) error) error {
	rows, err := db.query(ctx, q, params...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Restrictions returns the account's restrictions in force or to come at
// the update's now, oldest first, reading them once per update.
func (t *accountTx) Restrictions() []*holdfast.Restriction {
	if t.check() != nil {
		return nil
	}
	if !t.rsLoaded {
		rs, err := t.loadRestrictions()
		if err != nil {
			t.fail(fmt.Errorf("sqlite: load restrictions of %s: %w", t.id, err))
			return nil
		}
		t.rs, t.rsLoaded = rs, true
	}
	return slices.Clone(t.rs)
}

func (t *accountTx) loadRestrictions() ([]*holdfast.Restriction, error) {
	rows, err := t.w.query(`SELECT `+column.RestrictionCols+` FROM restrictions WHERE account = ? AND `+notOver+
		` ORDER BY created_at, id`, t.id, nanosArg(t.now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var rs []*holdfast.Restriction
	for rows.Next() {
		r, err := scanRestriction(rows)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, rows.Err()
}

// SaveRestriction inserts r or updates it by id. The cached list follows:
// r joins it, or leaves it once lifted or over.
func (t *accountTx) SaveRestriction(r *holdfast.Restriction) error {
	if err := t.check(); err != nil {
		return err
	}
	if err := t.own("restriction", r.ID, &r.Account); err != nil {
		return err
	}
	if err := t.ensureAccount(); err != nil {
		return err
	}
	// The WHERE keeps an id of another account's restriction from being
	// taken over: the row is then left alone and nothing changes.
	res, err := t.w.exec(`INSERT INTO restrictions (`+column.RestrictionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			kind = excluded.kind, device = excluded.device, starts_at = excluded.starts_at,
			ends_at = excluded.ends_at, reason = excluded.reason, disclose = excluded.disclose,
			applied_by = excluded.applied_by, created_at = excluded.created_at, factors = excluded.factors,
			lifted_at = excluded.lifted_at, lifted_by = excluded.lifted_by, lift_reason = excluded.lift_reason,
			origin = excluded.origin, reference = excluded.reference
		WHERE restrictions.account = excluded.account`, column.RestrictionFields(r)...)
	if err == nil {
		err = oneRow(res)
	}
	if err != nil {
		return t.fail(fmt.Errorf("sqlite: save restriction %s: %w", r.ID, err))
	}
	if t.rsLoaded {
		t.rs = upsert(t.rs, r.Clone(), func(r *holdfast.Restriction) string { return r.ID }, !r.Over(t.now))
	}
	return nil
}

// oneRow checks that an upsert wrote its row.
func oneRow(res sql.Result) error {
	n, err := res.RowsAffected()
	if err == nil && n != 1 {
		err = errors.New("the id belongs to another account")
	}
	return err
}
