// Package sqlstore is the store logic written once for both SQL databases:
// the queries, row mapping and transaction bodies behind every method of
// holdfast.Store and holdfast.OutboxStore (accounts, the account
// transaction, restrictions, approvals, cases, events, withdrawals, audit
// appends and verification, the outbox, staff, tokens, sign-in links, policy
// versions and their activations).
// Packages sqlite and postgres open, configure and migrate their database
// and hand this package two small things:
//
//   - a Dialect: what differs in SQL text (the suffixes that lock rows
//     read in a write transaction, or skip rows another claimer locked),
//     whether a new account gets a placeholder row to lock, which errors
//     are unique violations and which are worth a retry, and the prefix
//     of error messages;
//   - a Conn: how statements reach the database. Reads outside any
//     transaction, single writes outside an account transaction, and one
//     transaction of an update (SQLite: a job of the single writer's group
//     commit, in its own savepoint; PostgreSQL: a pgx transaction, after
//     the process's other updates of the same account).
//
// Update's body is here: it reads the account row (locked FOR UPDATE on
// PostgreSQL), runs the domain's fn on an AccountTx that caches what fn
// reads, moves the audit head once, and retries what the dialect calls
// retryable. Nothing in it knows which database runs it.
//
// Queries here are written once with ? placeholders; a PostgreSQL Querier
// rewrites them with Rebind ($1, $2, ...), once per query text. Row
// mapping uses the adapters of internal/column, so both databases store
// the same values the same way. A Querier reports a missing row as
// ErrNoRows, whatever its driver's own sentinel. PostgreSQL stays on pgx
// natively, behind the Querier, because it is faster than database/sql.
//
// This package imports the domain and internal/column, never sqlite or
// postgres. A new table's logic goes here, once; the Dialect grows only by
// what truly differs between the databases, never by whole queries.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/holdfast/holdfast"
)

// ErrNoRows is what Row.Scan returns when the query found no row.
var ErrNoRows = sql.ErrNoRows

// Row is one row of a query, or the error that it found none (ErrNoRows).
type Row interface{ Scan(dest ...any) error }

// Rows iterates over a query's rows.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Querier runs statements written with ? placeholders.
type Querier interface {
	// Exec runs a statement and returns how many rows it changed.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	QueryRow(ctx context.Context, query string, args ...any) Row
	Query(ctx context.Context, query string, args ...any) (Rows, error)
}

// Conn is how a dialect runs statements.
type Conn interface {
	// Read is the Querier for reads outside any transaction.
	Read() Querier
	// Write runs fn's statements outside an account transaction: on
	// SQLite as one job of the single writer (in a savepoint), on
	// PostgreSQL each on the pool as it comes.
	Write(ctx context.Context, fn func(Querier) error) error
	// Tx runs fn once in one database transaction of an update of
	// account, on a Querier that sees the transaction's own writes. It
	// commits when fn returns keep and no error, and rolls back
	// otherwise; a panic in fn rolls back and comes back as an error.
	// SQLite runs fn as one job of the single writer's batch, in a
	// savepoint; PostgreSQL in a READ COMMITTED transaction, after the
	// process's other updates of account (they queue in memory, so a hot
	// account holds one pooled connection, not all of them). If fn
	// committed through a Committer, Tx has nothing left to commit.
	Tx(ctx context.Context, account string, fn func(Querier) (keep bool, err error)) error
}

// Dialect is what differs between the databases in SQL text, locking and
// errors.
type Dialect struct {
	// Name prefixes error messages: "sqlite", "postgres".
	Name string
	// ForUpdate ends a SELECT, in an account transaction, of rows the
	// transaction will change: " FOR UPDATE" on PostgreSQL, where other
	// nodes write at once; empty on SQLite, whose single writer is alone.
	ForUpdate string
	// SkipLocked ends the SELECT with which an outbox claim picks its
	// rows: " FOR UPDATE SKIP LOCKED" on PostgreSQL, so that claimers on
	// other connections and nodes pass over the rows one is taking; empty
	// on SQLite, whose single writer claims alone.
	SkipLocked string
	// LockNewAccounts gives an account without a row an uncommitted
	// placeholder row while its update runs, so that a concurrent update
	// of the same new account has a row to wait on (PostgreSQL). The
	// placeholder is never committed.
	LockNewAccounts bool
	// RowidLog says the audit table's rowid is commit-ordered (SQLite:
	// one writer at a time, and a new row takes the largest rowid + 1), so
	// the transparency log's integrator reads new entries straight from
	// the table, after the newest logged one, and no trigger queues them.
	// Without it (PostgreSQL, whose writers commit in any order), a
	// trigger queues each entry in tlog_queue.
	RowidLog bool
	// IsUnique reports a unique or primary-key violation.
	IsUnique func(error) bool
	// Retryable reports a failure that running the update again, in a
	// fresh transaction, may cure (PostgreSQL's serialization failures
	// and deadlocks); nil when there is none.
	Retryable func(error) bool
}

// retryable reports whether d says err may be cured by a retry.
func (d Dialect) retryable(err error) bool {
	return err != nil && d.Retryable != nil && d.Retryable(err)
}

// Store is the store logic over one database. Its methods are the ones
// holdfast.Store declares; sqlite.DB and postgres.DB delegate to them.
type Store struct {
	d    Dialect
	conn Conn
}

// New returns the store logic for a database reached through conn.
func New(d Dialect, conn Conn) *Store { return &Store{d: d, conn: conn} }

// each runs a query on q and calls fn for every row.
func each(ctx context.Context, q Querier, query string, args []any, fn func(Row) error) error {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// list runs a query on q and returns every row, mapped by fields onto a
// fresh T; an empty result is an empty, non-nil slice.
func list[T any](ctx context.Context, q Querier, fields func(*T) []any, query string, args ...any) ([]*T, error) {
	out := []*T{}
	err := each(ctx, q, query, args, func(r Row) error {
		v := new(T)
		out = append(out, v)
		return r.Scan(fields(v)...)
	})
	return out, err
}

// scanWith returns the scan function that maps a row by fields onto a
// fresh T.
func scanWith[T any](fields func(*T) []any) func(Row) (*T, error) {
	return func(r Row) (*T, error) {
		v := new(T)
		return v, r.Scan(fields(v)...)
	}
}

// byID reads the one row query selects by id. A missing row is not_found
// on field: "<noun> <id> not found".
func byID[T any](ctx context.Context, s *Store, field, noun string, scan func(Row) (*T, error), query, id string) (*T, error) {
	v, err := scan(s.conn.Read().QueryRow(ctx, query, id))
	if errors.Is(err, ErrNoRows) {
		return nil, holdfast.Errorf(holdfast.NotFound, field, "%s %s not found", noun, id)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %s %s: %w", s.d.Name, noun, id, err)
	}
	return v, nil
}
