package sqlstore

import (
	"context"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/column"
)

// Account returns a stored account. Errors: not_found.
func (s *Store) Account(ctx context.Context, id string) (*holdfast.Account, error) {
	return byID(ctx, s, "account", "account", scanWith(column.AccountFields), `SELECT `+column.AccountCols+` FROM accounts WHERE id = ?`, id)
}
