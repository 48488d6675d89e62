package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/column"
)

// maxAttempts bounds how often Update runs fn when its transaction keeps
// failing on an error the dialect calls retryable.
const maxAttempts = 5

// Update runs fn on account in one transaction (Conn.Tx) that first reads
// the account's row, locked on a database other nodes write to at once, so
// that every update of one account runs alone and nothing commits between
// fn's reads and its writes. If fn, or any method of tx it called, fails,
// everything is rolled back and Update returns that error (domain errors
// unchanged). A failure the dialect calls retryable runs fn again in a
// fresh transaction, a few times. On SQLite fn runs on the writer
// goroutine: it must not call the store's write methods, which would wait
// for that goroutine forever.
func (s *Store) Update(ctx context.Context, account string, now time.Time, fn func(tx holdfast.AccountTx) error) error {
	if err := holdfast.ValidateID("account", account); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		retry, err := s.attempt(ctx, account, now, fn)
		if !retry || attempt == maxAttempts {
			return err
		}
		// Back off a little, with jitter, so that the transactions that
		// collided do not collide again.
		d := time.Duration(attempt) * time.Duration(1+rand.IntN(5)) * time.Millisecond
		select {
		case <-ctx.Done():
			return err
		case <-time.After(d):
		}
	}
}

// attempt runs fn once in its own transaction. retry reports a failure
// that running fn again may cure.
func (s *Store) attempt(ctx context.Context, account string, now time.Time, fn func(tx holdfast.AccountTx) error) (retry bool, err error) {
	var txErr error // the transaction's own failure, if fn's error hid it
	err = s.conn.Tx(ctx, account, func(q Querier) (bool, error) {
		t := &accountTx{s: s, ctx: ctx, raw: q, id: account, now: now}
		t.q = txQuerier{t}
		defer func() { t.done, txErr = true, t.err }()
		if err := t.lockAccount(); err != nil {
			return false, err
		}
		err := fn(t)
		if t.err != nil {
			// A failed read wins over what fn concluded from it: a
			// lift that read no restrictions must not answer "none".
			return false, t.err
		}
		if err != nil {
			return false, err
		}
		if err := t.finish(); err != nil {
			return false, err
		}
		// An update that stored nothing has nothing to commit, and on
		// PostgreSQL its rollback drops the placeholder row.
		keep := t.stored || t.wrote
		if keep {
			err = t.commitWrites()
		} else {
			err = t.flush()
		}
		return keep && err == nil, err
	})
	return s.d.retryable(err) || s.d.retryable(txErr), err
}

// accountTx is holdfast.AccountTx on one database transaction. It caches
// what fn reads and keeps the caches in step with fn's writes. Any error
// it returns is sticky: fn cannot commit after a failed read or write,
// even if it ignores the error, so no decision is recorded on a partial
// view, and the failure, not fn's answer, is what the caller gets. (On
// PostgreSQL a failed statement also aborts the transaction.)
type accountTx struct {
	s    *Store
	ctx  context.Context
	q    Querier // raw, after the pending writes
	raw  Querier // the transaction's
	id   string
	now  time.Time
	done bool
	err  error

	acct        *holdfast.Account
	stored      bool  // the account row holds a saved account
	placeholder bool  // the account row is the uncommitted placeholder
	wrote       bool  // a row other than the account's was written
	headSeq     int64 // the audit chain's head, as Append moves it
	headHash    string
	savedSeq    int64 // the head the account row holds

	// pending are writes whose outcome nothing reads before the next
	// statement, sent together with it or at the end (one round trip).
	pending []laterWrite

	rs    cache[holdfast.Restriction] // in force or to come at now
	apps  cache[holdfast.Approval]    // pending
	cases cache[holdfast.Case]
	wt    withdrawalTotals
}

// fail records err as the transaction's outcome and returns it.
func (t *accountTx) fail(err error) error {
	if t.err == nil {
		t.err = err
	}
	return t.err
}

// failf records a storage failure of what as the transaction's outcome.
func (t *accountTx) failf(err error, what string, args ...any) error {
	return t.fail(fmt.Errorf("%s: %s: %w", t.s.d.Name, fmt.Sprintf(what, args...), err))
}

// check returns the sticky error, if any, before an operation.
func (t *accountTx) check() error {
	if t.done {
		return fmt.Errorf("%s: account transaction used after its Update returned", t.s.d.Name)
	}
	return t.err
}

// begin starts every save of a record that belongs to tx's account: it
// checks that tx is still usable and that the record has an id and is
// tx's account's, filling in an empty account.
func (t *accountTx) begin(what, id string, account *string) error {
	if err := t.check(); err != nil {
		return err
	}
	if id == "" {
		return t.fail(holdfast.Errorf(holdfast.InvalidArgument, "id", "%s id is required", what))
	}
	if *account == "" {
		*account = t.id
	}
	if *account != t.id {
		return t.fail(fmt.Errorf("%s: %s %s belongs to account %s, not %s", t.s.d.Name, what, id, *account, t.id))
	}
	return nil
}

// ensureAccount stores the account row before the first record that
// references it.
func (t *accountTx) ensureAccount() error {
	if t.stored {
		return nil
	}
	return t.SaveAccount()
}

// lockAccount reads the account row, locked with the dialect's ForUpdate,
// or starts a new, unsaved account. With LockNewAccounts a missing account
// gets a placeholder row first, so that it has a row to lock (a concurrent
// update of the same new account waits on the insert); the placeholder is
// never committed (finish deletes it, or the transaction rolls back).
func (t *accountTx) lockAccount() error {
	for range 3 {
		a := new(holdfast.Account)
		err := t.q.QueryRow(t.ctx, `SELECT `+column.AccountCols+` FROM accounts WHERE id = ?`+t.s.d.ForUpdate, t.id).Scan(column.AccountFields(a)...)
		if err == nil {
			t.acct, t.stored = a, true
			t.headSeq, t.headHash, t.savedSeq = a.AuditSeq, a.AuditHash, a.AuditSeq
			return nil
		}
		if !errors.Is(err, ErrNoRows) {
			return t.failf(err, "load account %s", t.id)
		}
		if t.s.d.LockNewAccounts {
			// The insert waits for a concurrent transaction that inserted
			// the same id; if that one committed the account, it inserts
			// nothing and the loop locks the committed row.
			n, err := t.q.Exec(t.ctx, `INSERT INTO accounts (id, created_at) VALUES (?, 0) ON CONFLICT (id) DO NOTHING`, t.id)
			if err != nil {
				return t.failf(err, "lock new account %s", t.id)
			}
			if n == 0 {
				continue
			}
			t.placeholder = true
		}
		t.acct = &holdfast.Account{
			ID: t.id, CreatedAt: t.now, LastActiveAt: t.now,
			Tags: []holdfast.Tag{}, Factors: []holdfast.Factor{},
			KnownDevices: []string{}, KnownCountries: []string{}, TrustedContacts: []string{},
		}
		return nil
	}
	return t.fail(fmt.Errorf("%s: lock account %s: its row keeps appearing and vanishing", t.s.d.Name, t.id))
}

// finish ends a successful fn: it moves the audit head, and drops the
// placeholder row of an account that was never saved when other rows are
// to be committed.
func (t *accountTx) finish() error {
	if !t.stored {
		if t.placeholder && t.wrote {
			if _, err := t.q.Exec(t.ctx, `DELETE FROM accounts WHERE id = ?`, t.id); err != nil {
				return t.failf(err, "drop placeholder of %s", t.id)
			}
		}
		return nil
	}
	t.saveHead()
	return nil
}

// commitWrites sends the pending writes and, where the dialect can, the
// commit with them (one round trip).
func (t *accountTx) commitWrites() error {
	c, ok := t.raw.(Committer)
	if !ok || t.err != nil {
		return t.flush()
	}
	pending := t.pending
	t.pending = nil
	stmts := make([]Stmt, len(pending))
	for i, w := range pending {
		stmts[i] = w.Stmt
	}
	br := c.CommitBatch(t.ctx, stmts)
	defer br.Close()
	for _, w := range pending {
		if _, err := br.Exec(); err != nil {
			return t.fail(w.fail(err))
		}
	}
	if err := br.Close(); err != nil {
		return t.fail(err)
	}
	return nil
}

// laterWrite is a write sent with the next statement: fail maps its
// failure to the transaction's (a unique key to a conflict, say).
type laterWrite struct {
	Stmt
	fail func(error) error
}

// later queues a write whose result fn does not wait for.
func (t *accountTx) later(fail func(error) error, query string, args ...any) {
	t.pending = append(t.pending, laterWrite{Stmt{query, args}, fail})
}

// flush sends the pending writes in one batch.
func (t *accountTx) flush() error {
	if t.err != nil || len(t.pending) == 0 {
		return t.err
	}
	pending := t.pending
	t.pending = nil
	stmts := make([]Stmt, len(pending))
	for i, w := range pending {
		stmts[i] = w.Stmt
	}
	br := sendBatch(t.ctx, t.raw, stmts)
	defer br.Close()
	for _, w := range pending {
		if _, err := br.Exec(); err != nil {
			return t.fail(w.fail(err))
		}
	}
	if err := br.Close(); err != nil {
		return t.failf(err, "write batch of %s", t.id)
	}
	return nil
}

// txQuerier is the transaction's Querier behind the pending writes: every
// statement runs after them, so reads see them and writes keep order.
type txQuerier struct{ t *accountTx }

func (q txQuerier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	if err := q.t.flush(); err != nil {
		return 0, err
	}
	return q.t.raw.Exec(ctx, query, args...)
}

func (q txQuerier) QueryRow(ctx context.Context, query string, args ...any) Row {
	if err := q.t.flush(); err != nil {
		return errRow{err}
	}
	return q.t.raw.QueryRow(ctx, query, args...)
}

func (q txQuerier) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	if err := q.t.flush(); err != nil {
		return nil, err
	}
	return q.t.raw.Query(ctx, query, args...)
}

func (t *accountTx) Account() *holdfast.Account { return t.acct }

// SaveAccount inserts or updates the account row. The audit head it writes
// is the one Append keeps, whatever fn did to the Account's copy of it.
func (t *accountTx) SaveAccount() error {
	if err := t.check(); err != nil {
		return err
	}
	if t.acct.ID != t.id {
		return t.fail(fmt.Errorf("%s: account id changed from %s to %s inside its update", t.s.d.Name, t.id, t.acct.ID))
	}
	t.acct.AuditSeq, t.acct.AuditHash = t.headSeq, t.headHash
	_, err := t.q.Exec(t.ctx, `INSERT INTO accounts (`+column.AccountCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			created_at = excluded.created_at, last_active_at = excluded.last_active_at,
			tags = excluded.tags, factors = excluded.factors, known_devices = excluded.known_devices,
			known_countries = excluded.known_countries, trusted_contacts = excluded.trusted_contacts,
			unfreeze_requested_at = excluded.unfreeze_requested_at, verified_at = excluded.verified_at,
			audit_seq = excluded.audit_seq, audit_hash = excluded.audit_hash, activity = excluded.activity,
			security = excluded.security, holds = excluded.holds`,
		column.AccountFields(t.acct)...)
	if err != nil {
		return t.failf(err, "save account %s", t.id)
	}
	t.stored, t.placeholder, t.savedSeq = true, false, t.headSeq
	return nil
}

// upsertRow runs an INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE the
// row's account is the record's, and checks that it wrote its row: the
// WHERE keeps an id of another account's record from being taken over.
func (t *accountTx) upsertRow(what, id, query string, args ...any) error {
	if err := t.ensureAccount(); err != nil {
		return err
	}
	n, err := t.q.Exec(t.ctx, query, args...)
	if err == nil && n != 1 {
		err = errors.New("the id belongs to another account")
	}
	if err != nil {
		return t.failf(err, "save %s %s", what, id)
	}
	return nil
}

// insertRow runs the INSERT of a record that is recorded once: a second
// one with the same id, on any account, is a conflict.
func (t *accountTx) insertRow(what, id, query string, args ...any) error {
	if err := t.ensureAccount(); err != nil {
		return err
	}
	_, err := t.q.Exec(t.ctx, query, args...)
	if err != nil && t.s.d.IsUnique(err) {
		return t.fail(holdfast.Errorf(holdfast.Conflict, "id", "%s %s is already recorded", what, id))
	}
	if err != nil {
		return t.failf(err, "save %s %s", what, id)
	}
	return nil
}

// load reads rows in the transaction into a fresh slice.
func load[T any](t *accountTx, scan func(Row) (*T, error), query string, args ...any) ([]*T, error) {
	var out []*T
	err := each(t.ctx, t.q, query, args, func(r Row) error {
		v, err := scan(r)
		out = append(out, v)
		return err
	})
	return out, err
}

// cache holds rows of tx's account that fn read, kept in step with fn's
// writes, so that each list is read from the database once per update.
type cache[T any] struct {
	rows   []*T
	loaded bool
}

// get returns the cached rows, reading them with query the first time.
// ok is false after a failure (recorded in t), or when t is unusable.
func (c *cache[T]) get(t *accountTx, what string, scan func(Row) (*T, error), query string, args ...any) (rows []*T, ok bool) {
	if t.check() != nil {
		return nil, false
	}
	if !c.loaded {
		out, err := load(t, scan, query, args...)
		if err != nil {
			t.failf(err, "load %s of %s", what, t.id)
			return nil, false
		}
		c.rows, c.loaded = out, true
	}
	return c.rows, true
}

// upsert replaces the cached row with v's key by v, or adds v, or removes
// the row when keep is false; before the first get it does nothing. It
// reports whether the cache is loaded.
func (c *cache[T]) upsert(v *T, key func(*T) string, keep bool) bool {
	if !c.loaded {
		return false
	}
	for i, x := range c.rows {
		if key(x) == key(v) {
			if keep {
				c.rows[i] = v
			} else {
				c.rows = append(c.rows[:i], c.rows[i+1:]...)
			}
			return true
		}
	}
	if keep {
		c.rows = append(c.rows, v)
	}
	return true
}

// update is Update for this package's own transaction bodies, which use
// accountTx's Querier beside the domain's methods.
func (s *Store) update(ctx context.Context, account string, now time.Time, fn func(*accountTx) error) error {
	return s.Update(ctx, account, now, func(tx holdfast.AccountTx) error { return fn(tx.(*accountTx)) })
}
