package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// maxAttempts bounds how often Update runs fn when its transaction keeps
// failing on a serialization failure or a deadlock.
const maxAttempts = 5

// rollbackTimeout bounds a rollback, which runs even after ctx is done.
const rollbackTimeout = 5 * time.Second

// Update runs fn on account in one READ COMMITTED transaction that holds the
// account row's lock from its first statement to its commit, so every
// update of one account, on any node, runs alone, and nothing commits
// between fn's reads and its writes. If fn, or any method of tx it called,
// fails, everything is rolled back and Update returns that error (domain
// errors unchanged). A serialization failure or deadlock (SQLSTATE 40001,
// 40P01) runs fn again in a fresh transaction, a few times. A panic in fn
// rolls back and comes back as an error, as in package sqlite. Updates of
// one account from one process queue in memory first, so that only one of
// them at a time holds a connection.
func (db *DB) Update(ctx context.Context, account string, now time.Time, fn func(tx holdfast.AccountTx) error) error {
	if err := holdfast.ValidateID("account", account); err != nil {
		return err
	}
	unlock, err := db.locks.lock(ctx, account)
	if err != nil {
		return err
	}
	defer unlock()
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		retry, err := db.attempt(ctx, account, now, fn)
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
func (db *DB) attempt(ctx context.Context, account string, now time.Time, fn func(tx holdfast.AccountTx) error) (retry bool, err error) {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return retryable(err), fmt.Errorf("postgres: begin: %w", err)
	}
	t := &accountTx{ctx: ctx, tx: tx, id: account, now: now}
	defer func() {
		t.done = true
		if p := recover(); p != nil {
			retry, err = false, fmt.Errorf("postgres: update panicked: %v\n%s", p, debug.Stack())
		}
		// After a commit this does nothing.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		tx.Rollback(rctx)
		cancel()
	}()
	if err := t.lockAccount(); err != nil {
		return retryable(err), err
	}
	if err := fn(t); err != nil {
		return retryable(err) || retryable(t.err), err
	}
	if t.err != nil {
		return retryable(t.err), t.err
	}
	if err := t.finish(); err != nil {
		return retryable(err), err
	}
	if !t.stored && !t.wrote {
		return false, nil // nothing to keep: the deferred rollback drops the placeholder row
	}
	if err := tx.Commit(ctx); err != nil {
		return retryable(err), fmt.Errorf("postgres: commit: %w", err)
	}
	return false, nil
}

// retryable reports a serialization failure or a deadlock.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// isUnique reports a unique or primary-key violation.
func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

var errTxDone = errors.New("postgres: account transaction used after its Update returned")

// accountTx is holdfast.AccountTx on one pgx transaction. It caches what fn
// reads and keeps the caches in step with fn's writes. Any error it returns
// is sticky: fn cannot commit after a failed read or write, even if it
// ignores the error, so no decision is recorded on a partial view. (A
// failed statement also aborts the PostgreSQL transaction.)
type accountTx struct {
	ctx  context.Context
	tx   pgx.Tx
	id   string
	now  time.Time
	done bool
	err  error

	acct     *holdfast.Account
	stored   bool  // the account row holds a saved account, not the placeholder
	wrote    bool  // a row other than the account's was written
	headSeq  int64 // the audit chain's head, as Append moves it
	headHash string
	savedSeq int64 // the head the account row holds

	rs          []*holdfast.Restriction // in force or to come at now
	rsLoaded    bool
	apps        []*holdfast.Approval // pending
	appsLoaded  bool
	cases       []*holdfast.Case
	casesLoaded bool
}

// exec runs a write statement in the transaction.
func (t *accountTx) exec(query string, args ...any) (pgconn.CommandTag, error) {
	return t.tx.Exec(t.ctx, query, args...)
}

// queryRow runs a single-row query in the transaction, which sees its own
// uncommitted writes.
func (t *accountTx) queryRow(query string, args ...any) pgx.Row {
	return t.tx.QueryRow(t.ctx, query, args...)
}

// query runs a query in the transaction and scans every row with scan.
func query[T any](t *accountTx, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := t.tx.Query(t.ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// fail records err as the transaction's outcome and returns it.
func (t *accountTx) fail(err error) error {
	if t.err == nil {
		t.err = err
	}
	return t.err
}

// check returns the sticky error, if any, before an operation.
func (t *accountTx) check() error {
	if t.done {
		return errTxDone
	}
	return t.err
}

// own checks that a record saved in tx has an id and belongs to tx's
// account, filling in an empty account.
func (t *accountTx) own(what, id string, account *string) error {
	if id == "" {
		return t.fail(holdfast.Errorf(holdfast.InvalidArgument, "id", "%s id is required", what))
	}
	if *account == "" {
		*account = t.id
	}
	if *account != t.id {
		return t.fail(fmt.Errorf("postgres: %s %s belongs to account %s, not %s", what, id, *account, t.id))
	}
	return nil
}

// ensureAccount stores the account before the first record that
// references it.
func (t *accountTx) ensureAccount() error {
	if t.stored {
		return nil
	}
	return t.SaveAccount()
}

// finish ends a successful fn: it moves the audit head, and drops the
// placeholder row of an account that was never saved.
func (t *accountTx) finish() error {
	if !t.stored {
		if t.wrote {
			if _, err := t.exec(`DELETE FROM accounts WHERE id = $1`, t.id); err != nil {
				return t.fail(fmt.Errorf("postgres: drop placeholder of %s: %w", t.id, err))
			}
		}
		return nil
	}
	return t.saveHead()
}

// upsert replaces the element of list with the same key or appends v, or
// removes it when keep is false.
func upsert[T any](list []*T, v *T, key func(*T) string, keep bool) []*T {
	for i, x := range list {
		if key(x) == key(v) {
			if keep {
				list[i] = v
				return list
			}
			return append(list[:i], list[i+1:]...)
		}
	}
	if keep {
		list = append(list, v)
	}
	return list
}
