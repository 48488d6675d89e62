package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/column"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func scanRestriction(s scanner) (*holdfast.Restriction, error) {
	r := new(holdfast.Restriction)
	if err := s.Scan(column.RestrictionFields(r)...); err != nil {
		return nil, err
	}
	return r, nil
}

// notOver is the SQL for "not lifted and not ended at p" (a placeholder):
// in force or still to come.
func notOver(p string) string {
	return `lifted_at IS NULL AND (ends_at IS NULL OR ends_at > ` + p + `)`
}

// params numbers a query's arguments as they are added.
type params struct{ args []any }

// add appends v and returns its placeholder.
func (p *params) add(v any) string {
	p.args = append(p.args, v)
	return "$" + strconv.Itoa(len(p.args))
}

// Restriction returns one restriction. Errors: not_found.
func (db *DB) Restriction(ctx context.Context, id string) (*holdfast.Restriction, error) {
	r, err := scanRestriction(db.pool.QueryRow(ctx, `SELECT `+column.RestrictionCols+` FROM restrictions WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, holdfast.Errorf(holdfast.NotFound, "restriction", "restriction %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: restriction %s: %w", id, err)
	}
	return r, nil
}

// Restrictions lists restrictions matching f, newest first.
func (db *DB) Restrictions(ctx context.Context, f holdfast.RestrictionFilter) ([]*holdfast.Restriction, error) {
	var where []string
	var p params
	if f.Account != "" {
		where = append(where, `account = `+p.add(f.Account))
	}
	if f.Kind != "" {
		where = append(where, `kind = `+p.add(string(f.Kind)))
	}
	if !f.ActiveAt.IsZero() {
		where = append(where, notOver(p.add(nanosArg(f.ActiveAt))))
	}
	q := `SELECT ` + column.RestrictionCols + ` FROM restrictions`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY created_at DESC, id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ` + p.add(f.Limit)
	}
	out := []*holdfast.Restriction{}
	err := db.each(ctx, q, p.args, func(s scanner) error {
		r, err := scanRestriction(s)
		if err == nil {
			out = append(out, r)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: restrictions: %w", err)
	}
	return out, nil
}

// ActiveRestrictions streams every restriction in force or still to come at
// t, across all accounts, from one query.
func (db *DB) ActiveRestrictions(ctx context.Context, t time.Time, fn func(*holdfast.Restriction) error) error {
	return db.eachRestriction(ctx, "active restrictions", notOver("$1"), []any{nanosArg(t)}, fn)
}

// EndedRestrictions calls fn for every restriction that ended by time (not
// lifted) in (from, to], oldest end first.
func (db *DB) EndedRestrictions(ctx context.Context, from, to time.Time, fn func(*holdfast.Restriction) error) error {
	return db.eachRestriction(ctx, "ended restrictions", `lifted_at IS NULL AND ends_at > $1 AND ends_at <= $2 ORDER BY ends_at, id`,
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
		return fmt.Errorf("postgres: %s: %w", what, err)
	}
	return err
}

// each runs a read query on the pool and calls fn for every row. The
// connection stays taken while fn runs.
func (db *DB) each(ctx context.Context, q string, params []any, fn func(scanner) error) error {
	rows, err := db.pool.Query(ctx, q, params...)
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
		rs, err := query(t, scanRestriction, `SELECT `+column.RestrictionCols+` FROM restrictions WHERE account = $1 AND `+notOver("$2")+
			` ORDER BY created_at, id`, t.id, nanosArg(t.now))
		if err != nil {
			t.fail(fmt.Errorf("postgres: load restrictions of %s: %w", t.id, err))
			return nil
		}
		t.rs, t.rsLoaded = rs, true
	}
	return slices.Clone(t.rs)
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
	tag, err := t.exec(`INSERT INTO restrictions (`+column.RestrictionCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
		ON CONFLICT (id) DO UPDATE SET
			kind = excluded.kind, device = excluded.device, starts_at = excluded.starts_at,
			ends_at = excluded.ends_at, reason = excluded.reason, disclose = excluded.disclose,
			applied_by = excluded.applied_by, created_at = excluded.created_at, factors = excluded.factors,
			lifted_at = excluded.lifted_at, lifted_by = excluded.lifted_by, lift_reason = excluded.lift_reason,
			origin = excluded.origin, reference = excluded.reference
		WHERE restrictions.account = excluded.account`, column.RestrictionFields(r)...)
	if err == nil {
		err = oneRow(tag)
	}
	if err != nil {
		return t.fail(fmt.Errorf("postgres: save restriction %s: %w", r.ID, err))
	}
	if t.rsLoaded {
		t.rs = upsert(t.rs, r.Clone(), func(r *holdfast.Restriction) string { return r.ID }, !r.Over(t.now))
	}
	return nil
}

// oneRow checks that an upsert wrote its row.
func oneRow(tag pgconn.CommandTag) error {
	if tag.RowsAffected() != 1 {
		return errors.New("the id belongs to another account")
	}
	return nil
}
