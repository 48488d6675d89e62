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

// Event reports whether the event id was already recorded for the
// account. Ids are unique across accounts: the same id on another account
// is not a replay, and SaveEvent refuses it as a conflict.
func (t *accountTx) Event(id string) (bool, error) {
	if err := t.check(); err != nil {
		return false, err
	}
	var n int
	if err := t.q.QueryRow(t.ctx, `SELECT count(*) FROM events WHERE id = ? AND account = ?`, id, t.id).Scan(&n); err != nil {
		return false, t.failf(err, "look up event %s", id)
	}
	return n > 0, nil
}

// SaveEvent records an event, stamped with the update's now when it has no
// time. Recording an id twice, on any account, is a conflict.
func (t *accountTx) SaveEvent(e *holdfast.Event) error {
	if err := t.begin("event", e.ID, &e.Account); err != nil {
		return err
	}
	if e.At.IsZero() {
		e.At = t.now
	}
	payload, err := json.Marshal(e)
	if err != nil {
		return t.failf(err, "save event %s", e.ID)
	}
	return t.insertRow("event", e.ID, `INSERT INTO events (id, account, type, at, payload) VALUES (?, ?, ?, ?, ?)`,
		e.ID, t.id, string(e.Type), column.NanosArg(e.At), string(payload))
}
