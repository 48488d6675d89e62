package sqlite

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/holdfast/holdfast"
	sqlite3 "modernc.org/sqlite/lib"
)

// Event reports whether the event id was already recorded for the
// account. Ids are unique across accounts: the same id on another account
// is not a replay, and SaveEvent refuses it as a conflict.
func (t *accountTx) Event(id string) (bool, error) {
	if err := t.check(); err != nil {
		return false, err
	}
	var n int
	if err := t.w.queryRow(`SELECT count(*) FROM events WHERE id = ? AND account = ?`, id, t.id).Scan(&n); err != nil {
		return false, t.fail(fmt.Errorf("sqlite: look up event %s: %w", id, err))
	}
	return n > 0, nil
}

// SaveEvent records an event, stamped with the update's now when it has no
// time. Recording an id twice, on any account, is a conflict.
func (t *accountTx) SaveEvent(e *holdfast.Event) error {
	if err := t.check(); err != nil {
		return err
	}
	if err := t.own("event", e.ID, &e.Account); err != nil {
		return err
	}
	if e.At.IsZero() {
		e.At = t.now
	}
	if err := t.ensureAccount(); err != nil {
		return err
	}
	payload, err := json.Marshal(e)
	if err != nil {
		return t.fail(fmt.Errorf("sqlite: save event %s: %w", e.ID, err))
	}
	_, err = t.w.exec(`INSERT INTO events (id, account, type, at, payload) VALUES (?, ?, ?, ?, ?)`,
		e.ID, t.id, string(e.Type), nanosArg(e.At), string(payload))
	if isConstraint(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE) {
		return t.fail(holdfast.Errorf(holdfast.Conflict, "id", "event %s is already recorded", e.ID))
	}
	if err != nil {
		return t.fail(fmt.Errorf("sqlite: save event %s: %w", e.ID, err))
	}
	return nil
}

// Withdrawals returns the account's authorizations decided at or after
// since, oldest first.
func (t *accountTx) Withdrawals(since time.Time) ([]*holdfast.Withdrawal, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	rows, err := t.w.query(`SELECT request, outcome, causes, holder_causes, decided_at, seq FROM withdrawals
		WHERE account = ? AND decided_at >= ? ORDER BY decided_at, seq`, t.id, nanosArg(since))
	if err != nil {
		return nil, t.fail(fmt.Errorf("sqlite: withdrawals of %s: %w", t.id, err))
	}
	defer rows.Close()
	var out []*holdfast.Withdrawal
	for rows.Next() {
		w, err := scanWithdrawal(rows)
		if err != nil {
			return nil, t.fail(fmt.Errorf("sqlite: withdrawals of %s: %w", t.id, err))
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, t.fail(fmt.Errorf("sqlite: withdrawals of %s: %w", t.id, err))
	}
	return out, nil
}
