package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/column"
)

var scanRestriction = scanWith(column.RestrictionFields)

// Restriction returns one restriction. Errors: not_found.
func (s *Store) Restriction(ctx context.Context, id string) (*holdfast.Restriction, error) {
	return byID(ctx, s, "restriction", "restriction", scanRestriction, `SELECT `+column.RestrictionCols+` FROM restrictions WHERE id = ?`, id)
}

// Restrictions lists restrictions matching f, newest first. With
// ActiveAt, each is as the audit log explains it (eachInForce).
func (s *Store) Restrictions(ctx context.Context, f holdfast.RestrictionFilter) ([]*holdfast.Restriction, error) {
	where, args := []string{`1 = 1`}, []any(nil)
	if f.Account != "" {
		where, args = append(where, `account = ?`), append(args, f.Account)
	}
	if f.Kind != "" {
		where, args = append(where, `kind = ?`), append(args, string(f.Kind))
	}
	q := strings.Join(where, ` AND `) + ` ORDER BY created_at DESC, id DESC`
	out := []*holdfast.Restriction{}
	var err error
	if f.ActiveAt.IsZero() {
		if f.Limit > 0 {
			q, args = q+` LIMIT ?`, append(args, f.Limit)
		}
		out, err = list(ctx, s.conn.Read(), column.RestrictionFields, `SELECT `+column.RestrictionCols+` FROM restrictions WHERE `+q, args...)
	} else {
		// The limit counts what is in force, so it applies after the log.
		err = eachInForce(ctx, s.conn.Read(), q, args, f.ActiveAt, func(r *holdfast.Restriction) error {
			if f.Limit > 0 && len(out) == f.Limit {
				return errEnough
			}
			out = append(out, r)
			return nil
		})
		if errors.Is(err, errEnough) {
			err = nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: restrictions: %w", s.d.Name, err)
	}
	return out, nil
}

// errEnough stops a stream that has read all it needs.
var errEnough = errors.New("enough")

// ActiveRestrictions streams every restriction in force or still to come at
// t, across all accounts, from one query.
// Each is as the audit log explains it (eachInForce), so every row is
// read: one edited to look over must still count.
func (s *Store) ActiveRestrictions(ctx context.Context, t time.Time, fn func(*holdfast.Restriction) error) error {
	var fnErr error
	err := eachInForce(ctx, s.conn.Read(), `1 = 1`, nil, t, func(r *holdfast.Restriction) error {
		fnErr = fn(r)
		return fnErr
	})
	if err != nil && fnErr == nil {
		return fmt.Errorf("%s: active restrictions: %w", s.d.Name, err)
	}
	return err
}

// EndedRestrictions calls fn for every restriction that ended by time (not
// lifted) in (from, to], oldest end first.
func (s *Store) EndedRestrictions(ctx context.Context, from, to time.Time, fn func(*holdfast.Restriction) error) error {
	return s.eachRestriction(ctx, "ended restrictions", `lifted_at IS NULL AND ends_at > ? AND ends_at <= ? ORDER BY ends_at, id`,
		[]any{column.NanosArg(from), column.NanosArg(to)}, fn)
}

// eachRestriction streams the restrictions a WHERE clause selects to fn;
// an error from fn comes back unchanged.
func (s *Store) eachRestriction(ctx context.Context, what, where string, args []any, fn func(*holdfast.Restriction) error) error {
	var fnErr error
	err := each(ctx, s.conn.Read(), `SELECT `+column.RestrictionCols+` FROM restrictions WHERE `+where, args, func(r Row) error {
		v, err := scanRestriction(r)
		if err != nil {
			return err
		}
		fnErr = fn(v)
		return fnErr
	})
	if err != nil && fnErr == nil {
		return fmt.Errorf("%s: %s: %w", s.d.Name, what, err)
	}
	return err
}

// Restrictions returns the account's restrictions in force or to come at
// the update's now, oldest first, each as the audit log explains it
// (eachInForce), reading them once per update.
func (t *accountTx) Restrictions() []*holdfast.Restriction {
	if t.check() != nil {
		return nil
	}
	if !t.rs.loaded {
		rows, err := t.q.Query(t.ctx, restrictionsQuery, t.id)
		var rs []*holdfast.Restriction
		if err == nil {
			rs, err = inForce(rows, t.now)
		}
		if err != nil {
			t.failf(err, "load restrictions of %s", t.id)
			return nil
		}
		t.rs.rows, t.rs.loaded = rs, true
	}
	return slices.Clone(t.rs.rows)
}

// restrictionsQuery reads an account's restrictions for inForce.
var restrictionsQuery = `SELECT ` + explainedCols + ` FROM restrictions r WHERE account = ? ORDER BY created_at, id`

// inForce reads restrictionsQuery's rows, as eachInForce does, and closes
// them.
func inForce(rows Rows, at time.Time) ([]*holdfast.Restriction, error) {
	defer rows.Close()
	var rs []*holdfast.Restriction
	for rows.Next() {
		v, err := scanExplained(rows)
		if err != nil {
			return nil, err
		}
		if !v.Over(at) {
			rs = append(rs, v)
		}
	}
	return rs, rows.Err()
}

// SaveRestriction inserts r or updates it by id. The cached list follows:
// r joins it, or leaves it once lifted or over.
func (t *accountTx) SaveRestriction(r *holdfast.Restriction) error {
	if err := t.begin("restriction", r.ID, &r.Account); err != nil {
		return err
	}
	err := t.upsertRow("restriction", r.ID, `INSERT INTO restrictions (`+column.RestrictionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			kind = excluded.kind, device = excluded.device, starts_at = excluded.starts_at,
			ends_at = excluded.ends_at, reason = excluded.reason, disclose = excluded.disclose,
			applied_by = excluded.applied_by, created_at = excluded.created_at, factors = excluded.factors,
			lifted_at = excluded.lifted_at, lifted_by = excluded.lifted_by, lift_reason = excluded.lift_reason,
			origin = excluded.origin, reference = excluded.reference
		WHERE restrictions.account = excluded.account`, column.RestrictionFields(r)...)
	if err != nil {
		return err
	}
	t.rs.upsert(r.Clone(), func(r *holdfast.Restriction) string { return r.ID }, !r.Over(t.now))
	return nil
}

// AccountDigests pages through accounts by id with their restrictions in
// force or to come at at, from one query: the page of accounts (a range of
// the primary key) left-joined to its restrictions (through their
// per-account index), so an account without any still has its row.
func (s *Store) AccountDigests(ctx context.Context, after string, limit int, at time.Time) ([]holdfast.AccountDigest, error) {
	if limit <= 0 {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "limit", "limit must be > 0, got %d", limit)
	}
	out := make([]holdfast.AccountDigest, 0, limit)
	var account, id string
	var start, end time.Time
	err := each(ctx, s.conn.Read(), `SELECT a.id, COALESCE(r.id, ''), r.starts_at, r.ends_at
		FROM (SELECT id FROM accounts WHERE id > ? ORDER BY id LIMIT ?) a
		LEFT JOIN restrictions r ON r.account = a.id AND r.lifted_at IS NULL AND (r.ends_at IS NULL OR r.ends_at > ?)
		ORDER BY a.id, r.id`, []any{after, limit, column.NanosArg(at)}, func(r Row) error {
		if err := r.Scan(&account, &id, column.Nanos{T: &start}, column.Nanos{T: &end}); err != nil {
			return err
		}
		if n := len(out); n == 0 || out[n-1].Account != account {
			out = append(out, holdfast.AccountDigest{Account: account})
		}
		if id != "" {
			d := &out[len(out)-1]
			d.Restrictions = append(d.Restrictions, holdfast.RestrictionStamp{ID: id, StartsAt: start, EndsAt: end})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: account digests: %w", s.d.Name, err)
	}
	return out, nil
}
