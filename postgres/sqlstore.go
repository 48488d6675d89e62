package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/sqlstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The PostgreSQL side of package sqlstore's seam, on pgx natively: reads
// and single writes go to the pool, account transactions to Update (one
// transaction holding the account row's lock). Rows an account transaction
// will change are read FOR UPDATE, since other nodes write at once.

var dialect = sqlstore.Dialect{Name: "postgres", ForUpdate: " FOR UPDATE", SkipLocked: " FOR UPDATE SKIP LOCKED"}

// sqlConn is the database as sqlstore reaches it. pool is the pool's
// Querier, made once: boxing it anew would allocate on every read.
type sqlConn struct {
	db   *DB
	pool sqlstore.Querier
}

func newSQLConn(db *DB) sqlConn { return sqlConn{db, pgxQuerier{db.pool}} }

func (c sqlConn) Read() sqlstore.Querier { return c.pool }

// Write runs fn's statements on the pool, each committing as it comes.
func (c sqlConn) Write(_ context.Context, fn func(sqlstore.Querier) error) error {
	return fn(c.pool)
}

func (c sqlConn) Update(ctx context.Context, account string, now time.Time, fn func(sqlstore.Tx) error) error {
	return c.db.Update(ctx, account, now, func(tx holdfast.AccountTx) error { return fn(tx.(*accountTx)) })
}

// Q returns the transaction's Querier, which sees its uncommitted writes.
func (t *accountTx) Q() sqlstore.Querier { return pgxQuerier{t.tx} }

// Fail records err as the transaction's outcome and returns it.
func (t *accountTx) Fail(err error) error { return t.fail(err) }

// pgxRunner is what a pgxpool.Pool and a pgx.Tx both offer.
type pgxRunner interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// pgxQuerier runs sqlstore's ? queries on pgx, rebound to $n.
type pgxQuerier struct{ r pgxRunner }

func (q pgxQuerier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := q.r.Exec(ctx, sqlstore.Rebind(query), args...)
	return tag.RowsAffected(), err
}

func (q pgxQuerier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return pgxRow{q.r.QueryRow(ctx, sqlstore.Rebind(query), args...)}
}

func (q pgxQuerier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	return q.r.Query(ctx, sqlstore.Rebind(query), args...)
}

// pgxRow reports a missing row as sqlstore.ErrNoRows.
type pgxRow struct{ pgx.Row }

func (r pgxRow) Scan(dest ...any) error {
	err := r.Row.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return sqlstore.ErrNoRows
	}
	return err
}
