package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/column"
)

// Account returns a stored account. Errors: not_found.
func (s *Store) Account(ctx context.Context, id string) (*holdfast.Account, error) {
	a := new(holdfast.Account)
	err := s.conn.Read().QueryRow(ctx, `SELECT `+column.AccountCols+` FROM accounts WHERE id = ?`, id).Scan(column.AccountFields(a)...)
	if errors.Is(err, ErrNoRows) {
		return nil, holdfast.Errorf(holdfast.NotFound, "account", "account %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: account %s: %w", s.d.Name, id, err)
	}
	return a, nil
}
