package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holdfast/holdfast"
)

// Update runs fn on account inside the writer's current batch, in its own
// savepoint. Nothing else commits between fn's reads and its writes. If fn,
// or any method of tx it called, fails, everything fn wrote is rolled back
// and Update returns that error (domain errors unchanged). fn runs on the
// writer goroutine: it must not call the store's write methods (Update,
// PutStaff, PutToken), which would wait for that goroutine forever.
func (db *DB) Update(ctx context.Context, account string, now time.Time, fn func(tx holdfast.AccountTx) error) error {
	if err := holdfast.ValidateID("account", account); err != nil {
		return err
	}
	return db.w.do(ctx, func(w *writer) error {
		t := &accountTx{w: w, id: account, now: now}
		defer func() { t.done = true }()
		if err := t.loadAccount(); err != nil {
			return err
		}
		if err := fn(t); err != nil {
			return err
		}
		if t.err != nil {
			return t.err
		}
		return t.saveHead()
	})
}

var errTxDone = errors.New("sqlite: account transaction used after its Update returned")

// accountTx is holdfast.AccountTx on the write connection. It caches what
// fn reads and keeps the caches in step with fn's writes. Any error it
// returns is sticky: fn cannot commit after a failed read or write, even if
// it ignores the error, so no decision is recorded on a partial view.
type accountTx struct {
	w    *writer
	id   string
	now  time.Time
	done bool
	err  error

	acct     *holdfast.Account
	stored   bool  // the account row exists
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
		return t.fail(fmt.Errorf("sqlite: %s %s belongs to account %s, not %s", what, id, *account, t.id))
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
