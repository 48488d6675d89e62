// Package sqlstore is the store logic written once for both SQL databases:
// the queries, row mapping and transaction bodies behind holdfast.Store's
// methods. Packages sqlite and postgres open, configure and migrate their
// database and hand this package two small things:
//
//   - a Dialect: what differs in SQL text (the suffix that locks rows read
//     in a write transaction) and the prefix of its error messages;
//   - a Conn: how statements reach the database. Reads outside any
//     transaction, single writes outside an account transaction, and the
//     account transaction itself (SQLite: the single writer's group
//     commit, each job in a savepoint; PostgreSQL: a pgx transaction
//     holding the account row's lock, retried on serialization failures).
//
// Queries here are written once with ? placeholders; a PostgreSQL Querier
// rewrites them with Rebind ($1, $2, ...), once per query text. Row
// mapping uses the adapters of internal/column, so both databases store
// the same values the same way. A Querier reports a missing row as
// ErrNoRows, whatever its driver's own sentinel. PostgreSQL stays on pgx
// natively, behind the Querier, because it is faster than database/sql.
//
// This package imports the domain and internal/column, never sqlite or
// postgres. As more areas move here, the Dialect grows only by what those
// areas truly need (error classification such as unique violations, or
// SKIP LOCKED for outbox claims), never by whole queries.
package sqlstore

import (
	"context"
	"database/sql"
	"time"

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

// Tx is the account transaction as this package sees it: the domain's
// AccountTx, the Querier its statements run on (which sees its own
// uncommitted writes), and its sticky failure.
type Tx interface {
	holdfast.AccountTx
	Q() Querier
	// Fail records err as the transaction's outcome (the first one
	// recorded wins) and returns that outcome: nothing commits after it.
	Fail(err error) error
}

// Conn is how a dialect runs statements.
type Conn interface {
	// Read is the Querier for reads outside any transaction.
	Read() Querier
	// Write runs fn's statements outside an account transaction: on
	// SQLite as one job of the single writer (in a savepoint), on
	// PostgreSQL each on the pool as it comes.
	Write(ctx context.Context, fn func(Querier) error) error
	// Update runs fn in the account transaction of holdfast.Store.Update.
	Update(ctx context.Context, account string, now time.Time, fn func(Tx) error) error
}

// Dialect is what differs between the databases in SQL text and messages.
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
