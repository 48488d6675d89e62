package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/column"
)

// Events streams recorded events matching f in the order they were
// recorded, from one read query. An error from fn stops the stream and is
// returned unchanged. The filter picks which conditions the query has, not
// their values: its texts are a bounded set (32), as Rebind and SQLite's
// prepared reads need.
func (s *Store) Events(ctx context.Context, f holdfast.EventFilter, fn func(*holdfast.Event) error) error {
	var where []string
	var args []any
	if f.Account != "" {
		where, args = append(where, `account = ?`), append(args, f.Account)
	}
	if f.Type != "" {
		where, args = append(where, `type = ?`), append(args, string(f.Type))
	}
	if !f.After.IsZero() {
		where, args = append(where, `at > ?`), append(args, column.NanosArg(f.After))
	}
	q := `SELECT payload FROM events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY seq`
	if f.Newest {
		q += ` DESC`
	}
	if f.Limit > 0 {
		q, args = q+` LIMIT ?`, append(args, f.Limit)
	}
	var fnErr error
	err := each(ctx, s.conn.Read(), q, args, func(r Row) error {
		var payload string
		if err := r.Scan(&payload); err != nil {
			return err
		}
		var e holdfast.Event
		if err := json.Unmarshal([]byte(payload), &e); err != nil {
			return err
		}
		fnErr = fn(&e)
		return fnErr
	})
	if err != nil && fnErr == nil {
		return fmt.Errorf("%s: events: %w", s.d.Name, err)
	}
	return err
}
