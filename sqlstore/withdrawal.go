package sqlstore

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
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

// The daily limit's total is kept as a running total (decision 145): each
// withdrawal row holds, in total, the sum of CountedUSD over the
// account's withdrawals up to and including it in (decided_at, seq, id)
// order, so the total since any time is the newest row's total less the
// total of the last row decided before that time: two rows read by the
// withdrawals_decided key, however many withdrawals the window holds.
// Rows written before migration 022 have none until their account's next
// transaction that needs one fills them in (decision 146).
const (
	byDecidedDesc  = ` ORDER BY decided_at DESC, seq DESC, id DESC LIMIT 1`
	lastWithdrawal = `SELECT decided_at, seq, id, total FROM withdrawals WHERE account = ?` + byDecidedDesc
	totalBefore    = `SELECT total FROM withdrawals WHERE account = ? AND decided_at < ?` + byDecidedDesc
	withdrawalByID = `SELECT ` + withdrawalCols + ` FROM withdrawals WHERE account = ? AND id = ?`
)

// withdrawalKey is a withdrawal's place in its account's running total.
type withdrawalKey struct {
	at  int64 // decided_at, Unix nanoseconds
	seq int64
	id  string
}

func (k withdrawalKey) less(o withdrawalKey) bool {
	if k.at != o.at {
		return k.at < o.at
	}
	if k.seq != o.seq {
		return k.seq < o.seq
	}
	return k.id < o.id
}

// withdrawalTotals is what a transaction has read of its account's
// running total, kept in step with its saves.
type withdrawalTotals struct {
	loaded bool
	has    bool // the account has withdrawals
	last   withdrawalKey
	total  *big.Rat // the running total through last

	sinceOK bool
	since   time.Time
	before  *big.Rat // the running total before since

	byIDOK bool // PrefetchWithdrawal read byID, nil when none
	id     string
	byID   *holdfast.Withdrawal
}

// PrefetchWithdrawal reads the authorization id, the running totals for
// since and, unless cached, the restrictions, in one batch (one round trip
// on PostgreSQL), right after the account's lock.
func (t *accountTx) PrefetchWithdrawal(id string, since time.Time) error {
	if err := t.flush(); err != nil {
		return err
	}
	if err := t.check(); err != nil {
		return err
	}
	stmts := []Stmt{
		{withdrawalByID, []any{t.id, id}},
		{lastWithdrawal, []any{t.id}},
		{totalBefore, []any{t.id, column.NanosArg(since)}},
	}
	if !t.rs.loaded {
		stmts = append(stmts, Stmt{restrictionsQuery, []any{t.id}})
	}
	br := sendBatch(t.ctx, t.raw, stmts)
	defer br.Close()
	w, err := scanWithdrawal(br.QueryRow())
	if errors.Is(err, ErrNoRows) {
		w, err = nil, nil
	}
	if err != nil {
		return t.failf(err, "load withdrawal %s/%s", t.id, id)
	}
	last, lastTotal, has, err := scanLast(br.QueryRow())
	if err != nil {
		return t.failf(err, "load running total of %s", t.id)
	}
	before, beforeOK, err := scanTotal(br.QueryRow())
	if err != nil {
		return t.failf(err, "load running total of %s", t.id)
	}
	if !t.rs.loaded {
		rows, err := br.Query()
		if err == nil {
			t.rs.rows, err = inForce(rows, t.now)
		}
		if err != nil {
			return t.failf(err, "load restrictions of %s", t.id)
		}
		t.rs.loaded = true
	}
	if err := br.Close(); err != nil {
		return t.failf(err, "prefetch withdrawal %s/%s", t.id, id)
	}
	wt := &t.wt
	wt.byIDOK, wt.id, wt.byID = true, id, w
	if has && (lastTotal == nil || !beforeOK) {
		return t.backfillTotals() // rows from before migration 022
	}
	wt.loaded, wt.has, wt.last, wt.total = true, has, last, orZero(lastTotal)
	wt.sinceOK, wt.since, wt.before = true, since, before
	return nil
}

// scanLast reads lastWithdrawal's row: has is false when there is none,
// and total nil when the row has no running total yet.
func scanLast(r Row) (k withdrawalKey, total *big.Rat, has bool, err error) {
	var s sql.NullString
	err = r.Scan(&k.at, &k.seq, &k.id, &s)
	if errors.Is(err, ErrNoRows) {
		return k, nil, false, nil
	}
	if err != nil || !s.Valid {
		return k, nil, err == nil, err
	}
	total, err = parseTotal(s.String)
	return k, total, true, err
}

// scanTotal reads totalBefore's row: zero when there is none; ok is false
// when the row has no running total yet.
func scanTotal(r Row) (total *big.Rat, ok bool, err error) {
	var s sql.NullString
	err = r.Scan(&s)
	if errors.Is(err, ErrNoRows) {
		return new(big.Rat), true, nil
	}
	if err != nil || !s.Valid {
		return new(big.Rat), false, err
	}
	total, err = parseTotal(s.String)
	return total, true, err
}

func parseTotal(s string) (*big.Rat, error) {
	v, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("running total %q is not a number", s)
	}
	return v, nil
}

// formatTotal writes a total exactly: as a decimal, which sums of decimal
// amounts always are.
func formatTotal(v *big.Rat) string {
	if prec, exact := v.FloatPrec(); exact {
		return v.FloatString(prec)
	}
	return v.RatString()
}

func orZero(v *big.Rat) *big.Rat {
	if v == nil {
		return new(big.Rat)
	}
	return v
}

// totals loads the newest withdrawal's running total, filling in the
// account's totals first if they predate migration 022.
func (t *accountTx) totals() (*withdrawalTotals, error) {
	wt := &t.wt
	if wt.loaded {
		return wt, nil
	}
	last, total, has, err := scanLast(t.q.QueryRow(t.ctx, lastWithdrawal, t.id))
	if err != nil {
		return nil, t.failf(err, "load running total of %s", t.id)
	}
	if has && total == nil {
		if err := t.backfillTotals(); err != nil {
			return nil, err
		}
		return wt, nil
	}
	wt.loaded, wt.has, wt.last, wt.total = true, has, last, orZero(total)
	return wt, nil
}

// backfillTotals computes the running total of every withdrawal of the
// account, in order, from the rows themselves, and writes them.
func (t *accountTx) backfillTotals() error {
	type row struct {
		id string
		w  *holdfast.Withdrawal
	}
	var rows []row
	err := each(t.ctx, t.q, `SELECT id, `+withdrawalCols+` FROM withdrawals WHERE account = ? ORDER BY decided_at, seq, id`, []any{t.id}, func(r Row) error {
		var id string
		w, err := scanWithdrawal(prefixed{r, &id})
		rows = append(rows, row{id, w})
		return err
	})
	if err != nil {
		return t.failf(err, "load withdrawals of %s for their running total", t.id)
	}
	wt := &t.wt
	wt.loaded, wt.has, wt.total, wt.sinceOK = true, false, new(big.Rat), false
	for _, r := range rows {
		wt.total = new(big.Rat).Add(wt.total, r.w.CountedUSD())
		wt.has, wt.last = true, withdrawalKey{r.w.DecidedAt.UnixNano(), r.w.Seq, r.id}
		id := r.id
		t.later(func(err error) error { return t.failf(err, "save running total of withdrawal %s/%s", t.id, id) },
			`UPDATE withdrawals SET total = ? WHERE account = ? AND id = ?`, formatTotal(wt.total), t.id, id)
	}
	return nil
}

// WithdrawnSince is the newest running total less the one before since.
func (t *accountTx) WithdrawnSince(since time.Time) (*big.Rat, error) {
	if err := t.check(); err != nil {
		return new(big.Rat), err
	}
	wt, err := t.totals()
	if err != nil {
		return new(big.Rat), err
	}
	if !wt.sinceOK || !wt.since.Equal(since) {
		before, ok, err := scanTotal(t.q.QueryRow(t.ctx, totalBefore, t.id, column.NanosArg(since)))
		if err == nil && !ok {
			err = errors.New("a withdrawal has no running total")
		}
		if err != nil {
			return new(big.Rat), t.failf(err, "load running total of %s", t.id)
		}
		wt.sinceOK, wt.since, wt.before = true, since, before
	}
	return new(big.Rat).Sub(wt.total, wt.before), nil
}

// Withdrawal returns the account's recorded authorization with this id, or
// nil when there is none.
func (t *accountTx) Withdrawal(id string) (*holdfast.Withdrawal, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	if t.wt.byIDOK && t.wt.id == id {
		return t.wt.byID, nil
	}
	w, err := scanWithdrawal(t.q.QueryRow(t.ctx, withdrawalByID, t.id, id))
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

// SaveWithdrawal records an authorization with its running total.
// Recording an id twice is a conflict: an authorization is never
// rewritten, nor counted twice. The insert goes with the update's next
// statement.
func (t *accountTx) SaveWithdrawal(w *holdfast.Withdrawal) error {
	if err := t.begin("withdrawal", w.ID, &w.Account); err != nil {
		return err
	}
	request, err := json.Marshal(&w.WithdrawalRequest)
	if err != nil {
		return t.failf(err, "save withdrawal %s", w.ID)
	}
	if err := t.ensureAccount(); err != nil {
		return err
	}
	wt, err := t.totals()
	if err != nil {
		return err
	}
	key := withdrawalKey{w.DecidedAt.UnixNano(), w.Seq, w.ID}
	counted := w.CountedUSD()
	var total *big.Rat
	if !wt.has || wt.last.less(key) {
		total = new(big.Rat).Add(wt.total, counted)
		wt.has, wt.last = true, key
	} else if total, err = t.insertIntoTotals(key, counted); err != nil {
		return err
	}
	wt.total = new(big.Rat).Add(wt.total, counted)
	wt.sinceOK, wt.byIDOK = false, false
	id := w.ID
	t.later(func(err error) error {
		if t.s.d.IsUnique(err) {
			return holdfast.Errorf(holdfast.Conflict, "id", "withdrawal %s is already recorded", id)
		}
		return t.failf(err, "save withdrawal %s", id)
	}, `INSERT INTO withdrawals (account, id, `+withdrawalCols+`, total) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.id, w.ID, string(request), string(w.Outcome), column.List(&w.Causes), column.List(&w.HolderCauses),
		column.NanosArg(w.DecidedAt), w.Seq, w.Policy, formatTotal(total))
	return nil
}

// insertIntoTotals makes room in the running total for a withdrawal
// decided before the newest one (another node's clock was behind): the
// ones after it count it too. It returns the new withdrawal's total.
func (t *accountTx) insertIntoTotals(k withdrawalKey, counted *big.Rat) (*big.Rat, error) {
	const after = ` AND (decided_at > ? OR decided_at = ? AND (seq > ? OR seq = ? AND id > ?))`
	const before = ` AND (decided_at < ? OR decided_at = ? AND (seq < ? OR seq = ? AND id < ?))`
	args := []any{t.id, k.at, k.at, k.seq, k.seq, k.id}
	prev, ok, err := scanTotal(t.q.QueryRow(t.ctx, `SELECT total FROM withdrawals WHERE account = ?`+before+byDecidedDesc, args...))
	if err == nil && !ok {
		err = errors.New("a withdrawal has no running total")
	}
	if err != nil {
		return nil, t.failf(err, "load running total of %s", t.id)
	}
	type later struct {
		id    string
		total *big.Rat
	}
	var moved []later
	err = each(t.ctx, t.q, `SELECT id, total FROM withdrawals WHERE account = ?`+after, args, func(r Row) error {
		var (
			l later
			s sql.NullString
		)
		if err := r.Scan(&l.id, &s); err != nil {
			return err
		}
		if !s.Valid {
			return errors.New("a withdrawal has no running total")
		}
		v, err := parseTotal(s.String)
		l.total = v
		moved = append(moved, l)
		return err
	})
	if err != nil {
		return nil, t.failf(err, "load running totals of %s", t.id)
	}
	for _, l := range moved {
		id := l.id
		t.later(func(err error) error { return t.failf(err, "move running total of withdrawal %s/%s", t.id, id) },
			`UPDATE withdrawals SET total = ? WHERE account = ? AND id = ?`, formatTotal(l.total.Add(l.total, counted)), t.id, id)
	}
	return prev.Add(prev, counted), nil
}
