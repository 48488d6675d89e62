package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/column"
)

// The pages' sessions. A row is in force while ends_at, the earlier of its
// absolute end and its last use plus its idle bound, is after now: one
// indexed column answers both the lookup and the sweep.

const pageSessionCols = `hash, site, subject, created_at, last_seen_at, idle, expires_at`

func pageSessionFields(s *holdfast.PageSession) []any {
	return []any{&s.Hash, &s.Site, &s.Subject, column.Nanos{T: &s.CreatedAt}, column.Nanos{T: &s.LastSeenAt},
		(*int64)(&s.Idle), column.Nanos{T: &s.ExpiresAt}}
}

// StartPageSession stores s, after deleting the sessions that had ended by
// its start (the sweep: it costs one indexed delete per sign-in).
func (s *Store) StartPageSession(ctx context.Context, ps *holdfast.PageSession) error {
	if ps.Hash == "" || ps.Subject == "" || (ps.Site != holdfast.SiteHolder && ps.Site != holdfast.SiteStaff) {
		return holdfast.Errorf(holdfast.InvalidArgument, "session", "a page session needs a hash, a site and a subject")
	}
	if ps.LastSeenAt.IsZero() {
		ps.LastSeenAt = ps.CreatedAt
	}
	return s.conn.Write(ctx, func(q Querier) error {
		if _, err := q.Exec(ctx, `DELETE FROM page_sessions WHERE ends_at <= ?`, column.NanosArg(ps.CreatedAt)); err != nil {
			return fmt.Errorf("%s: sweep page sessions: %w", s.d.Name, err)
		}
		if _, err := q.Exec(ctx, `INSERT INTO page_sessions (`+pageSessionCols+`, ends_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			append(pageSessionFields(ps), column.NanosArg(ps.EndsAt()))...); err != nil {
			return fmt.Errorf("%s: start page session: %w", s.d.Name, err)
		}
		return nil
	})
}

// PageSession reads the session in force at now, and moves its last use
// when it has an idle bound (a holder's has none: reading it writes
// nothing).
func (s *Store) PageSession(ctx context.Context, hash string, now time.Time) (*holdfast.PageSession, error) {
	ps := &holdfast.PageSession{}
	err := s.conn.Read().QueryRow(ctx, `SELECT `+pageSessionCols+` FROM page_sessions WHERE hash = ? AND ends_at > ?`,
		hash, column.NanosArg(now)).Scan(pageSessionFields(ps)...)
	if errors.Is(err, ErrNoRows) {
		return nil, holdfast.Errorf(holdfast.Unauthenticated, "session", "no such session, or it has ended")
	}
	if err != nil {
		return nil, fmt.Errorf("%s: page session: %w", s.d.Name, err)
	}
	if ps.Idle <= 0 || !now.After(ps.LastSeenAt) {
		return ps, nil
	}
	ps.LastSeenAt = now
	err = s.conn.Write(ctx, func(q Querier) error {
		// Only a session still in force moves: one ended meanwhile (signed
		// out on another node) stays ended, and this request is refused.
		n, err := q.Exec(ctx, `UPDATE page_sessions SET last_seen_at = ?, ends_at = ? WHERE hash = ? AND ends_at > ? AND last_seen_at < ?`,
			column.NanosArg(now), column.NanosArg(ps.EndsAt()), hash, column.NanosArg(now), column.NanosArg(now))
		if err == nil && n == 0 {
			var one int
			err = q.QueryRow(ctx, `SELECT 1 FROM page_sessions WHERE hash = ? AND ends_at > ?`, hash, column.NanosArg(now)).Scan(&one)
		}
		return err
	})
	if errors.Is(err, ErrNoRows) {
		return nil, holdfast.Errorf(holdfast.Unauthenticated, "session", "no such session, or it has ended")
	}
	if err != nil {
		return nil, fmt.Errorf("%s: touch page session: %w", s.d.Name, err)
	}
	return ps, nil
}

// EndPageSession deletes one session.
func (s *Store) EndPageSession(ctx context.Context, hash string) error {
	return s.conn.Write(ctx, func(q Querier) error {
		if _, err := q.Exec(ctx, `DELETE FROM page_sessions WHERE hash = ?`, hash); err != nil {
			return fmt.Errorf("%s: end page session: %w", s.d.Name, err)
		}
		return nil
	})
}

// endSessions deletes every session of subject on site, on q (an account
// transaction's).
func (s *Store) endSessions(ctx context.Context, q Querier, site holdfast.PageSite, subject string) (int64, error) {
	n, err := q.Exec(ctx, `DELETE FROM page_sessions WHERE site = ? AND subject = ?`, site, subject)
	if err != nil {
		return 0, fmt.Errorf("%s: end the %s sessions of %s: %w", s.d.Name, site, subject, err)
	}
	return n, nil
}

// EndHolderSessions deletes the account's Security Center sessions in the
// transaction.
func (t *accountTx) EndHolderSessions() error {
	if err := t.check(); err != nil {
		return err
	}
	n, err := t.s.endSessions(t.ctx, t.q, holdfast.SiteHolder, t.id)
	if err != nil {
		return t.fail(err)
	}
	if n > 0 {
		t.wrote = true // the deletion keeps the transaction worth committing
	}
	return nil
}

// UseTOTPStep moves the member's last used time step forward to step, in
// one conditional update: of two sign-ins with one code, on any nodes, one
// moves it and the other finds it moved.
func (s *Store) UseTOTPStep(ctx context.Context, id string, step int64) error {
	return s.conn.Write(ctx, func(q Querier) error {
		n, err := q.Exec(ctx, `UPDATE staff SET totp_step = ? WHERE id = ? AND (totp_step IS NULL OR totp_step < ?)`, step, id, step)
		if err != nil {
			return fmt.Errorf("%s: use a code of %s: %w", s.d.Name, id, err)
		}
		if n > 0 {
			return nil
		}
		var one int
		err = q.QueryRow(ctx, `SELECT 1 FROM staff WHERE id = ?`, id).Scan(&one)
		if errors.Is(err, ErrNoRows) {
			return holdfast.Errorf(holdfast.NotFound, "staff", "staff member %s not found", id)
		}
		if err != nil {
			return fmt.Errorf("%s: use a code of %s: %w", s.d.Name, id, err)
		}
		return holdfast.Errorf(holdfast.Unauthenticated, "code", "this code, or a later one, was used already")
	})
}
