package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/holdfast/holdfast"
)

// PutStaff inserts or replaces a staff member.
func (db *DB) PutStaff(ctx context.Context, s *holdfast.StaffMember) error {
	if err := holdfast.ValidateID("staff", s.ID); err != nil {
		return err
	}
	return db.w.do(ctx, func(w *writer) error {
		_, err := w.exec(`INSERT INTO staff (id, roles, created_at, password_hash, totp_secret) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET roles = excluded.roles, created_at = excluded.created_at,
				password_hash = excluded.password_hash, totp_secret = excluded.totp_secret`,
			s.ID, list(&s.Roles), nanos(&s.CreatedAt), s.PasswordHash, s.TOTPSecret)
		if err != nil {
			return fmt.Errorf("sqlite: put staff %s: %w", s.ID, err)
		}
		return nil
	})
}

// Staff returns a staff member. Errors: not_found.
func (db *DB) Staff(ctx context.Context, id string) (*holdfast.StaffMember, error) {
	s := &holdfast.StaffMember{ID: id}
	err := db.queryRow(ctx, `SELECT roles, created_at, password_hash, totp_secret FROM staff WHERE id = ?`, id).
		Scan(list(&s.Roles), nanos(&s.CreatedAt), &s.PasswordHash, &s.TOTPSecret)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, holdfast.Errorf(holdfast.NotFound, "staff", "staff member %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: staff %s: %w", id, err)
	}
	return s, nil
}

// PutToken inserts or replaces a token by its hash.
func (db *DB) PutToken(ctx context.Context, t *holdfast.Token) error {
	if t.Hash == "" {
		return holdfast.Errorf(holdfast.InvalidArgument, "hash", "token hash is required")
	}
	return db.w.do(ctx, func(w *writer) error {
		_, err := w.exec(`INSERT INTO tokens (hash, id, scopes, staff, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (hash) DO UPDATE SET id = excluded.id, scopes = excluded.scopes,
				staff = excluded.staff, created_at = excluded.created_at`,
			t.Hash, t.ID, list(&t.Scopes), t.Staff, nanos(&t.CreatedAt))
		if err != nil {
			return fmt.Errorf("sqlite: put token %s: %w", t.ID, err)
		}
		return nil
	})
}

// TokenByHash returns the token with this SHA-256 hash. Errors:
// unauthenticated, so that a caller cannot tell an unknown token from any
// other refusal.
func (db *DB) TokenByHash(ctx context.Context, hash string) (*holdfast.Token, error) {
	t := &holdfast.Token{Hash: hash}
	err := db.queryRow(ctx, `SELECT id, scopes, staff, created_at FROM tokens WHERE hash = ?`, hash).
		Scan(&t.ID, list(&t.Scopes), &t.Staff, nanos(&t.CreatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, holdfast.Errorf(holdfast.Unauthenticated, "token", "unknown or revoked token")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: token: %w", err)
	}
	return t, nil
}

// RevokeToken deletes the token with this id. Errors: not_found.
func (db *DB) RevokeToken(ctx context.Context, id string) error {
	return db.w.do(ctx, func(w *writer) error {
		res, err := w.exec(`DELETE FROM tokens WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("sqlite: revoke token %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return holdfast.Errorf(holdfast.NotFound, "id", "no token %s", id)
		}
		return nil
	})
}
