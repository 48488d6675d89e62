package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/column"
)

// The signed-out emergency freeze's codes and rate limits. Every change is
// one statement whose WHERE clause or conflict target decides it, so two
// nodes counting an attempt or a request at once both count.

// PutEmergencyCode stores a new code (its hash only) and forgets expired
// ones.
func (s *Store) PutEmergencyCode(ctx context.Context, c *holdfast.EmergencyCode, now time.Time) error {
	if err := holdfast.ValidateID("id", c.ID); err != nil {
		return err
	}
	return s.conn.Write(ctx, func(q Querier) error {
		if _, err := q.Exec(ctx, `DELETE FROM emergency_codes WHERE expires_at <= ?`, column.NanosArg(now)); err != nil {
			return fmt.Errorf("%s: forget expired emergency codes: %w", s.d.Name, err)
		}
		_, err := q.Exec(ctx, `INSERT INTO emergency_codes (id, account, code_hash, created_at, expires_at, attempts) VALUES (?, ?, ?, ?, ?, 0)`,
			c.ID, c.Account, c.Hash, column.NanosArg(c.CreatedAt), column.NanosArg(c.ExpiresAt))
		if err != nil {
			return fmt.Errorf("%s: put emergency code: %w", s.d.Name, err)
		}
		return nil
	})
}

// AttemptEmergencyCode counts an attempt in the statement that checks the
// code is live and has attempts left, so no two attempts take the last
// one.
func (s *Store) AttemptEmergencyCode(ctx context.Context, id string, now time.Time, max int) (*holdfast.EmergencyCode, error) {
	c := &holdfast.EmergencyCode{ID: id}
	gone := holdfast.Errorf(holdfast.NotFound, "code", "the code has expired or was used")
	err := s.conn.Write(ctx, func(q Querier) error {
		err := q.QueryRow(ctx, `UPDATE emergency_codes SET attempts = attempts + 1
			WHERE id = ? AND used_at IS NULL AND expires_at > ? AND attempts < ?
			RETURNING account, code_hash, created_at, expires_at, attempts`, id, column.NanosArg(now), max).
			Scan(&c.Account, &c.Hash, column.Nanos{T: &c.CreatedAt}, column.Nanos{T: &c.ExpiresAt}, &c.Attempts)
		if !errors.Is(err, ErrNoRows) {
			return err
		}
		// Not counted: say why.
		var attempts int
		err = q.QueryRow(ctx, `SELECT attempts FROM emergency_codes WHERE id = ? AND used_at IS NULL AND expires_at > ?`, id, column.NanosArg(now)).Scan(&attempts)
		switch {
		case errors.Is(err, ErrNoRows):
			return gone
		case err != nil:
			return err
		}
		return holdfast.Errorf(holdfast.ResourceExhausted, "code", "too many wrong codes: at most %d attempts", max)
	})
	if err != nil {
		if he := (*holdfast.Error)(nil); errors.As(err, &he) {
			return nil, err
		}
		return nil, fmt.Errorf("%s: attempt emergency code: %w", s.d.Name, err)
	}
	return c, nil
}

// UseEmergencyCode marks a code used, once.
func (s *Store) UseEmergencyCode(ctx context.Context, id string, now time.Time) error {
	return s.conn.Write(ctx, func(q Querier) error {
		n, err := q.Exec(ctx, `UPDATE emergency_codes SET used_at = ? WHERE id = ? AND used_at IS NULL`, column.NanosArg(now), id)
		if err != nil {
			return fmt.Errorf("%s: use emergency code: %w", s.d.Name, err)
		}
		if n == 0 {
			return holdfast.Errorf(holdfast.FailedPrecondition, "code", "the code was used already")
		}
		return nil
	})
}

// TakeLimit counts a request in one upsert: a key's row starts its window;
// a row whose window has passed starts a new one.
func (s *Store) TakeLimit(ctx context.Context, key string, now time.Time, window time.Duration, max int) (bool, error) {
	var hits int
	err := s.conn.Write(ctx, func(q Querier) error {
		if _, err := q.Exec(ctx, `DELETE FROM rate_limits WHERE expires_at <= ?`, column.NanosArg(now)); err != nil {
			return err
		}
		at, end := column.NanosArg(now), column.NanosArg(now.Add(window))
		return q.QueryRow(ctx, `INSERT INTO rate_limits (id, window_start, expires_at, hits) VALUES (?, ?, ?, 1)
			ON CONFLICT (id) DO UPDATE SET
				window_start = CASE WHEN rate_limits.expires_at <= ? THEN excluded.window_start ELSE rate_limits.window_start END,
				expires_at = CASE WHEN rate_limits.expires_at <= ? THEN excluded.expires_at ELSE rate_limits.expires_at END,
				hits = CASE WHEN rate_limits.expires_at <= ? THEN 1 ELSE rate_limits.hits + 1 END
			RETURNING hits`, key, at, end, at, at, at).Scan(&hits)
	})
	if err != nil {
		return false, fmt.Errorf("%s: take rate limit: %w", s.d.Name, err)
	}
	return hits <= max, nil
}
