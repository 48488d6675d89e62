package postgres

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/holdfast/holdfast"
)

// Event reports whether the event id was already recorded for the
// account. Ids are unique across accounts: the same id on another account
// is not a replay, and SaveEvent refuses it as a conflict.
func (t *accountTx) Event(id string) (bool, error) {
	if err := t.check(); err != nil {
		return false, err
	}
	var seen bool
	if err := t.queryRow(`SELECT EXISTS (SELECT 1 FROM events WHERE id = $1 AND account = $2)`, id, t.id).Scan(&seen); err != nil {
		return false, t.fail(fmt.Errorf("postgres: look up event %s: %w", id, err))
	}
	return seen, nil
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
		return t.fail(fmt.Errorf("postgres: save event %s: %w", e.ID, err))
	}
	_, err = t.exec(`INSERT INTO events (id, account, type, at, payload) VALUES ($1, $2, $3, $4, $5)`,
		e.ID, t.id, string(e.Type), nanosArg(e.At), string(payload))
	if isUnique(err) {
		return t.fail(holdfast.Errorf(holdfast.Conflict, "id", "event %s is already recorded", e.ID))
	}
	if err != nil {
		return t.fail(fmt.Errorf("postgres: save event %s: %w", e.ID, err))
	}
	return nil
}

// Withdrawals returns the account's authorizations decided at or after
// since, oldest first.
func (t *accountTx) Withdrawals(since time.Time) ([]*holdfast.Withdrawal, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	out, err := query(t, scanWithdrawal, `SELECT request, outcome, causes, holder_causes, decided_at, seq FROM withdrawals
		WHERE account = $1 AND decided_at >= $2 ORDER BY decided_at, seq`, t.id, nanosArg(since))
	if err != nil {
		return nil, t.fail(fmt.Errorf("postgres: withdrawals of %s: %w", t.id, err))
	}
	return out, nil
}
