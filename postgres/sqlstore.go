package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/holdfast/holdfast/sqlstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The PostgreSQL side of package sqlstore's seam, on pgx natively: reads
// and single writes go to the pool, account transactions to one pgx
// transaction each. Rows an account transaction will change are read FOR
// UPDATE, and a new account gets a placeholder row to lock, since other
// nodes write at once; serialization failures and deadlocks are retried.

var dialect = sqlstore.Dialect{
	Name:            "postgres",
	ForUpdate:       " FOR UPDATE",
	SkipLocked:      " FOR UPDATE SKIP LOCKED",
	LockNewAccounts: true,
	IsUnique:        isUnique,
	Retryable:       retryable,
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

// rollbackTimeout bounds a rollback, which runs even after ctx is done.
const rollbackTimeout = 5 * time.Second

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

// Tx runs fn in one READ COMMITTED transaction, once the process's other
// updates of account are done: they queue in memory first, so that a hot
// account holds one pooled connection, not all of them. The account row's
// lock, which fn takes first, serialises updates across nodes.
func (c sqlConn) Tx(ctx context.Context, account string, fn func(sqlstore.Querier) (bool, error)) (err error) {
	unlock, err := c.db.locks.lock(ctx, account)
	if err != nil {
		return err
	}
	defer unlock()
	tx, err := c.db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("postgres: update panicked: %v\n%s", p, debug.Stack())
		}
		// After a commit this does nothing.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		tx.Rollback(rctx)
		cancel()
	}()
	keep, err := fn(pgxQuerier{tx})
	if err != nil || !keep {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return nil
}

// pgxRunner is what a pgxpool.Pool and a pgx.Tx both offer.
type pgxRunner interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
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

// SendBatch sends the statements in one pipeline: one round trip.
func (q pgxQuerier) SendBatch(ctx context.Context, stmts []sqlstore.Stmt) sqlstore.BatchResults {
	b := &pgx.Batch{}
	for _, s := range stmts {
		b.Queue(sqlstore.Rebind(s.Query), s.Args...)
	}
	return pgxBatch{q.r.SendBatch(ctx, b)}
}

type pgxBatch struct{ br pgx.BatchResults }

func (b pgxBatch) Exec() (int64, error) {
	tag, err := b.br.Exec()
	return tag.RowsAffected(), err
}

func (b pgxBatch) QueryRow() sqlstore.Row { return pgxRow{b.br.QueryRow()} }

func (b pgxBatch) Query() (sqlstore.Rows, error) { return b.br.Query() }

func (b pgxBatch) Close() error { return b.br.Close() }

// pgxRow reports a missing row as sqlstore.ErrNoRows.
type pgxRow struct{ pgx.Row }

func (r pgxRow) Scan(dest ...any) error {
	err := r.Row.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return sqlstore.ErrNoRows
	}
	return err
}
