package sqlite

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/holdfast/holdfast"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Withdrawal returns the account's recorded authorization with this id, or
// nil when there is none.
func (t *accountTx) Withdrawal(id string) (*holdfast.Withdrawal, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	w, err := scanWithdrawal(t.w.queryRow(`SELECT request, outcome, causes, holder_causes, decided_at, seq FROM withdrawals WHERE account = ? AND id = ?`, t.id, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, t.fail(fmt.Errorf("sqlite: load withdrawal %s/%s: %w", t.id, id, err))
	}
	return w, nil
}

func scanWithdrawal(s scanner) (*holdfast.Withdrawal, error) {
	var (
		w       holdfast.Withdrawal
		request string
	)
	if err := s.Scan(&request, &w.Outcome, list(&w.Causes), list(&w.HolderCauses), nanos(&w.DecidedAt), &w.Seq); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(request), &w.WithdrawalRequest); err != nil {
		return nil, err
	}
	return &w, nil
}

// SaveWithdrawal records an authorization. Recording an id twice is a
// conflict: an authorization is never rewritten.
func (t *accountTx) SaveWithdrawal(w *holdfast.Withdrawal) error {
	if err := t.check(); err != nil {
		return err
	}
	if err := t.own("withdrawal", w.ID, &w.Account); err != nil {
		return err
	}
	if err := t.ensureAccount(); err != nil {
		return err
	}
	request, err := json.Marshal(&w.WithdrawalRequest)
	if err != nil {
		return t.fail(fmt.Errorf("sqlite: save withdrawal %s: %w", w.ID, err))
	}
	_, err = t.w.exec(`INSERT INTO withdrawals (account, id, request, outcome, causes, holder_causes, decided_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		t.id, w.ID, string(request), string(w.Outcome), list(&w.Causes), list(&w.HolderCauses), nanos(&w.DecidedAt), w.Seq)
	if isConstraint(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
		return t.fail(holdfast.Errorf(holdfast.Conflict, "id", "withdrawal %s is already recorded", w.ID))
	}
	if err != nil {
		return t.fail(fmt.Errorf("sqlite: save withdrawal %s: %w", w.ID, err))
	}
	return nil
}

// isConstraint reports whether err is the SQLite constraint failure code.
func isConstraint(err error, code int) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code() == code
}
