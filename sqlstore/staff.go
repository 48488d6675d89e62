package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/column"
)

const (
	staffCols = `id, roles, created_at, password_hash, totp_secret, disabled_at, removed_at`
	tokenCols = `hash, id, scopes, staff, created_at, expires_at, revoked_at, last_used_at`
)

func staffFields(s *holdfast.StaffMember) []any {
	return []any{&s.ID, column.List(&s.Roles), column.Nanos{T: &s.CreatedAt}, &s.PasswordHash, &s.TOTPSecret,
		column.Nanos{T: &s.DisabledAt}, column.Nanos{T: &s.RemovedAt}}
}

func tokenFields(t *holdfast.Token) []any {
	return []any{&t.Hash, &t.ID, column.List(&t.Scopes), &t.Staff, column.Nanos{T: &t.CreatedAt},
		column.Nanos{T: &t.ExpiresAt}, column.Nanos{T: &t.RevokedAt}, column.Nanos{T: &t.LastUsedAt}}
}

const putStaff = `INSERT INTO staff (` + staffCols + `) VALUES (?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO UPDATE SET roles = excluded.roles, created_at = excluded.created_at,
		password_hash = excluded.password_hash, totp_secret = excluded.totp_secret,
		disabled_at = excluded.disabled_at, removed_at = excluded.removed_at`

// PutStaff inserts or replaces a staff member.
func (s *Store) PutStaff(ctx context.Context, m *holdfast.StaffMember) error {
	if err := holdfast.ValidateID("staff", m.ID); err != nil {
		return err
	}
	return s.conn.Write(ctx, func(q Querier) error {
		if _, err := q.Exec(ctx, putStaff, staffFields(m)...); err != nil {
			return fmt.Errorf("%s: put staff %s: %w", s.d.Name, m.ID, err)
		}
		return nil
	})
}

// ChangeStaff stores m and appends e to the staff chain in one account
// transaction (on PostgreSQL it holds the chain's row lock, so staff
// changes on every node queue); removing a member revokes their tokens in
// it too, each audited, and disabling or removing one ends their Console
// sessions.
func (s *Store) ChangeStaff(ctx context.Context, m *holdfast.StaffMember, e *holdfast.AuditEntry) error {
	if err := holdfast.ValidateID("staff", m.ID); err != nil {
		return err
	}
	return s.update(ctx, holdfast.StaffAccount, e.At, func(t *accountTx) error {
		q := t.q
		if _, err := q.Exec(ctx, putStaff, staffFields(m)...); err != nil {
			return t.fail(fmt.Errorf("%s: put staff %s: %w", s.d.Name, m.ID, err))
		}
		if err := t.Append(e); err != nil || m.Active() {
			return err
		}
		if _, err := s.endSessions(ctx, q, holdfast.SiteStaff, m.ID); err != nil {
			return t.fail(err)
		}
		if m.RemovedAt.IsZero() {
			return nil
		}
		live, err := list(ctx, q, tokenFields, `SELECT `+tokenCols+` FROM tokens WHERE staff = ? AND revoked_at IS NULL ORDER BY created_at, id`+s.d.ForUpdate, m.ID)
		if err != nil {
			return t.fail(fmt.Errorf("%s: the tokens of %s: %w", s.d.Name, m.ID, err))
		}
		if _, err := q.Exec(ctx, `UPDATE tokens SET revoked_at = ? WHERE staff = ? AND revoked_at IS NULL`, column.NanosArg(m.RemovedAt), m.ID); err != nil {
			return t.fail(fmt.Errorf("%s: revoke the tokens of %s: %w", s.d.Name, m.ID, err))
		}
		for _, old := range live {
			revoked := *old
			revoked.RevokedAt = m.RemovedAt
			if err := t.Append(holdfast.RemovalTokenEntry(*e, m.ID, old, &revoked)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Staff returns a staff member. Errors: not_found.
func (s *Store) Staff(ctx context.Context, id string) (*holdfast.StaffMember, error) {
	return byID(ctx, s, "staff", "staff member", scanWith(staffFields), `SELECT `+staffCols+` FROM staff WHERE id = ?`, id)
}

// ListStaff lists every staff member by id.
func (s *Store) ListStaff(ctx context.Context) ([]*holdfast.StaffMember, error) {
	out, err := list(ctx, s.conn.Read(), staffFields, `SELECT `+staffCols+` FROM staff ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("%s: list staff: %w", s.d.Name, err)
	}
	return out, nil
}

// PutToken inserts or replaces a token by its hash.
func (s *Store) PutToken(ctx context.Context, t *holdfast.Token) error {
	if t.Hash == "" {
		return holdfast.Errorf(holdfast.InvalidArgument, "hash", "token hash is required")
	}
	return s.conn.Write(ctx, func(q Querier) error {
		_, err := q.Exec(ctx, `INSERT INTO tokens (`+tokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (hash) DO UPDATE SET id = excluded.id, scopes = excluded.scopes,
				staff = excluded.staff, created_at = excluded.created_at, expires_at = excluded.expires_at,
				revoked_at = excluded.revoked_at, last_used_at = excluded.last_used_at`,
			tokenFields(t)...)
		if err != nil {
			return fmt.Errorf("%s: put token %s: %w", s.d.Name, t.ID, err)
		}
		return nil
	})
}

// TokenByHash returns the token with this SHA-256 hash, revoked or not.
// Errors: unauthenticated, so that a caller cannot tell an unknown token
// from any other refusal.
func (s *Store) TokenByHash(ctx context.Context, hash string) (*holdfast.Token, error) {
	t := &holdfast.Token{}
	err := s.conn.Read().QueryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE hash = ?`, hash).Scan(tokenFields(t)...)
	if errors.Is(err, ErrNoRows) {
		return nil, holdfast.Errorf(holdfast.Unauthenticated, "token", "unknown or revoked token")
	}
	if err != nil {
		return nil, fmt.Errorf("%s: token: %w", s.d.Name, err)
	}
	return t, nil
}

// Tokens lists every token, oldest first.
func (s *Store) Tokens(ctx context.Context) ([]*holdfast.Token, error) {
	out, err := list(ctx, s.conn.Read(), tokenFields, `SELECT `+tokenCols+` FROM tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("%s: list tokens: %w", s.d.Name, err)
	}
	return out, nil
}

// TouchToken moves the token's last use forward to at.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	return s.conn.Write(ctx, func(q Querier) error {
		if _, err := q.Exec(ctx, `UPDATE tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
			column.NanosArg(at), id, column.NanosArg(at)); err != nil {
			return fmt.Errorf("%s: touch token %s: %w", s.d.Name, id, err)
		}
		return nil
	})
}

// CreateToken inserts a new token and audits it in one account
// transaction.
func (s *Store) CreateToken(ctx context.Context, tok *holdfast.Token, e *holdfast.AuditEntry) error {
	if tok.Hash == "" {
		return holdfast.Errorf(holdfast.InvalidArgument, "hash", "token hash is required")
	}
	return s.update(ctx, holdfast.StaffAccount, e.At, func(t *accountTx) error {
		if _, err := t.q.Exec(ctx, `INSERT INTO tokens (`+tokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, tokenFields(tok)...); err != nil {
			return t.fail(fmt.Errorf("%s: create token %s: %w", s.d.Name, tok.ID, err))
		}
		return t.Append(holdfast.TokenEntry(*e, holdfast.AuditTokenCreated, nil, tok))
	})
}

// RevokeToken marks the token with this id revoked and audits it in one
// account transaction, that of the staff chain: of two revokes at once,
// on any nodes, the second finds it revoked. Errors: not_found,
// failed_precondition.
func (s *Store) RevokeToken(ctx context.Context, id string, e *holdfast.AuditEntry) error {
	return s.update(ctx, holdfast.StaffAccount, e.At, func(t *accountTx) error {
		q := t.q
		old := &holdfast.Token{}
		err := q.QueryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE id = ?`+s.d.ForUpdate, id).Scan(tokenFields(old)...)
		if errors.Is(err, ErrNoRows) {
			return holdfast.Errorf(holdfast.NotFound, "id", "no token %s", id)
		}
		if err != nil {
			return t.fail(fmt.Errorf("%s: revoke token %s: %w", s.d.Name, id, err))
		}
		if !old.RevokedAt.IsZero() {
			return holdfast.Errorf(holdfast.FailedPrecondition, "id", "token %s was revoked already, at %s", id, old.RevokedAt.Format(time.RFC3339))
		}
		if _, err := q.Exec(ctx, `UPDATE tokens SET revoked_at = ? WHERE id = ?`, column.NanosArg(e.At), id); err != nil {
			return t.fail(fmt.Errorf("%s: revoke token %s: %w", s.d.Name, id, err))
		}
		revoked := *old
		revoked.RevokedAt = e.At
		return t.Append(holdfast.TokenEntry(*e, holdfast.AuditTokenRevoked, old, &revoked))
	})
}

// UseLink records a sign-in link as used. The primary key makes the use
// atomic, across nodes too: of two uses at once, one inserts and the
// other finds the row.
func (s *Store) UseLink(ctx context.Context, hash string, expires, now time.Time) error {
	return s.conn.Write(ctx, func(q Querier) error {
		if _, err := q.Exec(ctx, `DELETE FROM used_links WHERE expires_at <= ?`, column.NanosArg(now)); err != nil {
			return fmt.Errorf("%s: forget used links: %w", s.d.Name, err)
		}
		n, err := q.Exec(ctx, `INSERT INTO used_links (hash, expires_at) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING`, hash, column.NanosArg(expires))
		if err != nil {
			return fmt.Errorf("%s: use link: %w", s.d.Name, err)
		}
		if n == 0 {
			return holdfast.Errorf(holdfast.Unauthenticated, "token", "this sign-in link was used already")
		}
		return nil
	})
}
