package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/jackc/pgx/v5"
)

const (
	staffCols = `id, roles, created_at, password_hash, totp_secret, disabled_at, removed_at`
	tokenCols = `hash, id, scopes, staff, created_at, expires_at, revoked_at, last_used_at`
)

func staffFields(s *holdfast.StaffMember) []any {
	return []any{&s.ID, list(&s.Roles), nanos(&s.CreatedAt), &s.PasswordHash, &s.TOTPSecret, nanos(&s.DisabledAt), nanos(&s.RemovedAt)}
}

func tokenFields(t *holdfast.Token) []any {
	return []any{&t.Hash, &t.ID, list(&t.Scopes), &t.Staff, nanos(&t.CreatedAt), nanos(&t.ExpiresAt), nanos(&t.RevokedAt), nanos(&t.LastUsedAt)}
}

const putStaff = `INSERT INTO staff (` + staffCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7)
	ON CONFLICT (id) DO UPDATE SET roles = excluded.roles, created_at = excluded.created_at,
		password_hash = excluded.password_hash, totp_secret = excluded.totp_secret,
		disabled_at = excluded.disabled_at, removed_at = excluded.removed_at`

// PutStaff inserts or replaces a staff member.
func (db *DB) PutStaff(ctx context.Context, s *holdfast.StaffMember) error {
	if err := holdfast.ValidateID("staff", s.ID); err != nil {
		return err
	}
	if _, err := db.pool.Exec(ctx, putStaff, staffFields(s)...); err != nil {
		return fmt.Errorf("postgres: put staff %s: %w", s.ID, err)
	}
	return nil
}

// ChangeStaff stores s and appends e to the staff chain in one transaction
// (holding the chain's row lock, so staff changes on every node queue);
// removing a member revokes their tokens in it too, each audited.
func (db *DB) ChangeStaff(ctx context.Context, s *holdfast.StaffMember, e *holdfast.AuditEntry) error {
	if err := holdfast.ValidateID("staff", s.ID); err != nil {
		return err
	}
	return db.Update(ctx, holdfast.StaffAccount, e.At, func(tx holdfast.AccountTx) error {
		t := tx.(*accountTx)
		if _, err := t.exec(putStaff, staffFields(s)...); err != nil {
			return t.fail(fmt.Errorf("postgres: put staff %s: %w", s.ID, err))
		}
		if err := t.Append(e); err != nil || s.RemovedAt.IsZero() {
			return err
		}
		live, err := query(t, func(sc scanner) (*holdfast.Token, error) {
			tok := &holdfast.Token{}
			return tok, sc.Scan(tokenFields(tok)...)
		}, `SELECT `+tokenCols+` FROM tokens WHERE staff = $1 AND revoked_at IS NULL ORDER BY created_at, id FOR UPDATE`, s.ID)
		if err != nil {
			return t.fail(fmt.Errorf("postgres: the tokens of %s: %w", s.ID, err))
		}
		if _, err := t.exec(`UPDATE tokens SET revoked_at = $1 WHERE staff = $2 AND revoked_at IS NULL`, nanosArg(s.RemovedAt), s.ID); err != nil {
			return t.fail(fmt.Errorf("postgres: revoke the tokens of %s: %w", s.ID, err))
		}
		for _, old := range live {
			revoked := *old
			revoked.RevokedAt = s.RemovedAt
			if err := t.Append(holdfast.RemovalTokenEntry(*e, s.ID, old, &revoked)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Staff returns a staff member. Errors: not_found.
func (db *DB) Staff(ctx context.Context, id string) (*holdfast.StaffMember, error) {
	s := &holdfast.StaffMember{}
	err := db.pool.QueryRow(ctx, `SELECT `+staffCols+` FROM staff WHERE id = $1`, id).Scan(staffFields(s)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, holdfast.Errorf(holdfast.NotFound, "staff", "staff member %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: staff %s: %w", id, err)
	}
	return s, nil
}

// ListStaff lists every staff member by id.
func (db *DB) ListStaff(ctx context.Context) ([]*holdfast.StaffMember, error) {
	out := []*holdfast.StaffMember{}
	err := db.each(ctx, `SELECT `+staffCols+` FROM staff ORDER BY id`, nil, func(sc scanner) error {
		s := &holdfast.StaffMember{}
		out = append(out, s)
		return sc.Scan(staffFields(s)...)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list staff: %w", err)
	}
	return out, nil
}

// PutToken inserts or replaces a token by its hash.
func (db *DB) PutToken(ctx context.Context, t *holdfast.Token) error {
	if t.Hash == "" {
		return holdfast.Errorf(holdfast.InvalidArgument, "hash", "token hash is required")
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO tokens (`+tokenCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (hash) DO UPDATE SET id = excluded.id, scopes = excluded.scopes,
			staff = excluded.staff, created_at = excluded.created_at, expires_at = excluded.expires_at,
			revoked_at = excluded.revoked_at, last_used_at = excluded.last_used_at`,
		tokenFields(t)...)
	if err != nil {
		return fmt.Errorf("postgres: put token %s: %w", t.ID, err)
	}
	return nil
}

// TokenByHash returns the token with this SHA-256 hash, revoked or not.
// Errors: unauthenticated, so that a caller cannot tell an unknown token
// from any other refusal.
func (db *DB) TokenByHash(ctx context.Context, hash string) (*holdfast.Token, error) {
	t := &holdfast.Token{}
	err := db.pool.QueryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE hash = $1`, hash).Scan(tokenFields(t)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, holdfast.Errorf(holdfast.Unauthenticated, "token", "unknown or revoked token")
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: token: %w", err)
	}
	return t, nil
}

// Tokens lists every token, oldest first.
func (db *DB) Tokens(ctx context.Context) ([]*holdfast.Token, error) {
	out := []*holdfast.Token{}
	err := db.each(ctx, `SELECT `+tokenCols+` FROM tokens ORDER BY created_at, id`, nil, func(sc scanner) error {
		t := &holdfast.Token{}
		out = append(out, t)
		return sc.Scan(tokenFields(t)...)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list tokens: %w", err)
	}
	return out, nil
}

// TouchToken moves the token's last use forward to at.
func (db *DB) TouchToken(ctx context.Context, id string, at time.Time) error {
	if _, err := db.pool.Exec(ctx, `UPDATE tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)`, nanosArg(at), id); err != nil {
		return fmt.Errorf("postgres: touch token %s: %w", id, err)
	}
	return nil
}

// CreateToken inserts a new token and audits it in one transaction.
func (db *DB) CreateToken(ctx context.Context, tok *holdfast.Token, e *holdfast.AuditEntry) error {
	if tok.Hash == "" {
		return holdfast.Errorf(holdfast.InvalidArgument, "hash", "token hash is required")
	}
	return db.Update(ctx, holdfast.StaffAccount, e.At, func(tx holdfast.AccountTx) error {
		t := tx.(*accountTx)
		if _, err := t.exec(`INSERT INTO tokens (`+tokenCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, tokenFields(tok)...); err != nil {
			return t.fail(fmt.Errorf("postgres: create token %s: %w", tok.ID, err))
		}
		return t.Append(holdfast.TokenEntry(*e, holdfast.AuditTokenCreated, nil, tok))
	})
}

// RevokeToken marks the token with this id revoked and audits it in one
// transaction, which holds the staff chain's lock: of two revokes at once
// on any nodes, the second finds it revoked. Errors: not_found,
// failed_precondition.
func (db *DB) RevokeToken(ctx context.Context, id string, e *holdfast.AuditEntry) error {
	return db.Update(ctx, holdfast.StaffAccount, e.At, func(tx holdfast.AccountTx) error {
		t := tx.(*accountTx)
		old := &holdfast.Token{}
		err := t.queryRow(`SELECT `+tokenCols+` FROM tokens WHERE id = $1 FOR UPDATE`, id).Scan(tokenFields(old)...)
		if errors.Is(err, pgx.ErrNoRows) {
			return holdfast.Errorf(holdfast.NotFound, "id", "no token %s", id)
		}
		if err != nil {
			return t.fail(fmt.Errorf("postgres: revoke token %s: %w", id, err))
		}
		if !old.RevokedAt.IsZero() {
			return holdfast.Errorf(holdfast.FailedPrecondition, "id", "token %s was revoked already, at %s", id, old.RevokedAt.Format(time.RFC3339))
		}
		if _, err := t.exec(`UPDATE tokens SET revoked_at = $1 WHERE id = $2`, nanosArg(e.At), id); err != nil {
			return t.fail(fmt.Errorf("postgres: revoke token %s: %w", id, err))
		}
		revoked := *old
		revoked.RevokedAt = e.At
		return t.Append(holdfast.TokenEntry(*e, holdfast.AuditTokenRevoked, old, &revoked))
	})
}

// UseLink records a sign-in link as used. The primary key makes the use
// atomic across nodes: of two uses at once, one inserts and the other
// finds the row.
func (db *DB) UseLink(ctx context.Context, hash string, expires, now time.Time) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM used_links WHERE expires_at <= $1`, nanosArg(now)); err != nil {
		return fmt.Errorf("postgres: forget used links: %w", err)
	}
	tag, err := db.pool.Exec(ctx, `INSERT INTO used_links (hash, expires_at) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING`, hash, nanosArg(expires))
	if err != nil {
		return fmt.Errorf("postgres: use link: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return holdfast.Errorf(holdfast.Unauthenticated, "token", "this sign-in link was used already")
	}
	return nil
}
