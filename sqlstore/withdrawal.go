package sqlstore

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/column"
)

const withdrawalCols = `request, outcome, causes, holder_causes, decided_at, seq, policy`

func scanWithdrawal(r Row) (*holdfast.Withdrawal, error) {
	var (
		w       holdfast.Withdrawal
		request string
	)
	if err := r.Scan(&request, &w.Outcome, column.List(&w.Causes), column.List(&w.HolderCauses), column.Nanos{T: &w.DecidedAt}, &w.Seq, &w.Policy); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(request), &w.WithdrawalRequest); err != nil {
		return nil, err
	}
	return &w, nil
}

// Withdrawal returns the account's recorded authorization with this id, or
// nil when there is none.
func (t *accountTx) Withdrawal(id string) (*holdfast.Withdrawal, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	w, err := scanWithdrawal(t.q.QueryRow(t.ctx, `SELECT `+withdrawalCols+` FROM withdrawals WHERE account = ? AND id = ?`, t.id, id))
	if errors.Is(err, ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, t.failf(err, "load withdrawal %s/%s", t.id, id)
	}
	return w, nil
}

// Withdrawals returns the account's authorizations decided at or after
// since, oldest first.
func (t *accountTx) Withdrawals(since time.Time) ([]*holdfast.Withdrawal, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	out, err := load(t, scanWithdrawal, `SELECT `+withdrawalCols+` FROM withdrawals
		WHERE account = ? AND decided_at >= ? ORDER BY decided_at, seq`, t.id, column.NanosArg(since))
	if err != nil {
		return nil, t.failf(err, "withdrawals of %s", t.id)
	}
	return out, nil
}

// SaveWithdrawal records an authorization. Recording an id twice is a
// conflict: an authorization is never rewritten.
func (t *accountTx) SaveWithdrawal(w *holdfast.Withdrawal) error {
	if err := t.begin("withdrawal", w.ID, &w.Account); err != nil {
		return err
	}
	request, err := json.Marshal(&w.WithdrawalRequest)
	if err != nil {
		return t.failf(err, "save withdrawal %s", w.ID)
	}
	return t.insertRow("withdrawal", w.ID, `INSERT INTO withdrawals (account, id, `+withdrawalCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.id, w.ID, string(request), string(w.Outcome), column.List(&w.Causes), column.List(&w.HolderCauses), column.Nanos{T: &w.DecidedAt}, w.Seq, w.Policy)
}
