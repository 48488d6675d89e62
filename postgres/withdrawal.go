package postgres

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/holdfast/holdfast"
	"github.com/jackc/pgx/v5"
)

// Withdrawal returns the account's recorded authorization with this id, or
// nil when there is none.
func (t *accountTx) Withdrawal(id string) (*holdfast.Withdrawal, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	w, err := scanWithdrawal(t.queryRow(`SELECT request, outcome, causes, holder_causes, decided_at, seq FROM withdrawals WHERE account = $1 AND id = $2`, t.id, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, t.fail(fmt.Errorf("postgres: load withdrawal %s/%s: %w", t.id, id, err))
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
		return t.fail(fmt.Errorf("postgres: save withdrawal %s: %w", w.ID, err))
	}
	_, err = t.exec(`INSERT INTO withdrawals (account, id, request, outcome, causes, holder_causes, decided_at, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		t.id, w.ID, string(request), string(w.Outcome), list(&w.Causes), list(&w.HolderCauses), nanos(&w.DecidedAt), w.Seq)
	if isUnique(err) {
		return t.fail(holdfast.Errorf(holdfast.Conflict, "id", "withdrawal %s is already recorded", w.ID))
	}
	if err != nil {
		return t.fail(fmt.Errorf("postgres: save withdrawal %s: %w", w.ID, err))
	}
	return nil
}
