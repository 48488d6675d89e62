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
// lock, which fn takes first, serialises updates across nodes. The BEGIN
// goes with fn's first statement and the COMMIT with its last writes
// (pgxTx), so that an authorization costs three round trips.
func (c sqlConn) Tx(ctx context.Context, account string, fn func(sqlstore.Querier) (bool, error)) (err error) {
	unlock, err := c.db.locks.lock(ctx, account)
	if err != nil {
		return err
	}
	defer unlock()
	conn, err := c.db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	// A connection left inside a transaction (a failed rollback) is
	// closed by the pool rather than reused.
	defer conn.Release()
	tx := &pgxTx{conn: conn.Conn()}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("postgres: update panicked: %v\n%s", p, debug.Stack())
		}
		if tx.begun && !tx.committed {
			// This runs even after ctx is done.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
			tx.conn.Exec(rctx, "rollback")
			cancel()
		}
	}()
	keep, err := fn(tx)
	if err != nil || !keep || tx.committed || !tx.begun {
		return err
	}
	tag, err := tx.conn.Exec(ctx, "commit")
	return tx.commitErr(tag, err)
}

const beginQuery = "begin isolation level read committed"

// pgxTx is an account transaction on one connection, begun with its
// first statement (in the same pipeline) and committed with its last
// writes (CommitBatch), where pgx.Tx would spend a round trip on each.
type pgxTx struct {
	conn      *pgx.Conn
	begun     bool // BEGIN was sent
	committed bool
}

// commitErr is a COMMIT's outcome: PostgreSQL answers the COMMIT of a
// failed transaction with ROLLBACK, not an error.
func (t *pgxTx) commitErr(tag pgconn.CommandTag, err error) error {
	if err == nil && tag.String() != "COMMIT" {
		err = errors.New("the transaction was rolled back")
	}
	if err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	t.committed = true
	return nil
}

func (t *pgxTx) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	if !t.begun {
		br := t.SendBatch(ctx, []sqlstore.Stmt{{Query: query, Args: args}})
		n, err := br.Exec()
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return n, err
	}
	tag, err := t.conn.Exec(ctx, sqlstore.Rebind(query), args...)
	return tag.RowsAffected(), err
}

func (t *pgxTx) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	if !t.begun {
		br := t.SendBatch(ctx, []sqlstore.Stmt{{Query: query, Args: args}})
		return closingRow{br.QueryRow(), br}
	}
	return pgxRow{t.conn.QueryRow(ctx, sqlstore.Rebind(query), args...)}
}

func (t *pgxTx) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	if !t.begun {
		t.begun = true
		if _, err := t.conn.Exec(ctx, beginQuery); err != nil {
			return nil, err
		}
	}
	return t.conn.Query(ctx, sqlstore.Rebind(query), args...)
}

// SendBatch sends the statements in one pipeline, after BEGIN if the
// transaction has not begun.
func (t *pgxTx) SendBatch(ctx context.Context, stmts []sqlstore.Stmt) sqlstore.BatchResults {
	b := &pgx.Batch{}
	begin := !t.begun
	if begin {
		b.Queue(beginQuery)
		t.begun = true
	}
	for _, s := range stmts {
		b.Queue(sqlstore.Rebind(s.Query), s.Args...)
	}
	out := &pgxBatch{br: t.conn.SendBatch(ctx, b)}
	if begin {
		if _, err := out.br.Exec(); err != nil {
			out.err = err
		}
	}
	return out
}

// CommitBatch sends the statements and the COMMIT in one pipeline; Close
// reads the COMMIT's outcome.
func (t *pgxTx) CommitBatch(ctx context.Context, stmts []sqlstore.Stmt) sqlstore.BatchResults {
	b := &pgx.Batch{}
	for _, s := range stmts {
		b.Queue(sqlstore.Rebind(s.Query), s.Args...)
	}
	b.Queue("commit")
	return &pgxBatch{br: t.conn.SendBatch(ctx, b), commit: t}
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
	return &pgxBatch{br: q.r.SendBatch(ctx, b)}
}

// pgxBatch reads a pipeline's results. err is the failure of a BEGIN
// sent ahead of them, which every result then reports; commit is the
// transaction whose COMMIT ends the pipeline, read by Close.
type pgxBatch struct {
	br     pgx.BatchResults
	err    error
	commit *pgxTx
	closed bool
}

func (b *pgxBatch) Exec() (int64, error) {
	tag, err := b.br.Exec()
	if b.err != nil {
		err = b.err
	}
	return tag.RowsAffected(), err
}

func (b *pgxBatch) QueryRow() sqlstore.Row {
	if b.err != nil {
		b.br.QueryRow().Scan()
		return errRow{b.err}
	}
	return pgxRow{b.br.QueryRow()}
}

func (b *pgxBatch) Query() (sqlstore.Rows, error) {
	rows, err := b.br.Query()
	if b.err != nil {
		rows.Close()
		return nil, b.err
	}
	return rows, err
}

func (b *pgxBatch) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	var err error
	if b.commit != nil {
		var tag pgconn.CommandTag
		tag, err = b.br.Exec()
		err = b.commit.commitErr(tag, err)
	}
	if cerr := b.br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil {
		err = b.err
	}
	return err
}

// closingRow is the one row of a pipeline of one query (after BEGIN):
// reading it ends the pipeline.
type closingRow struct {
	sqlstore.Row
	br sqlstore.BatchResults
}

func (r closingRow) Scan(dest ...any) error {
	err := r.Row.Scan(dest...)
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// pgxRow reports a missing row as sqlstore.ErrNoRows.
type pgxRow struct{ pgx.Row }

func (r pgxRow) Scan(dest ...any) error {
	err := r.Row.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return sqlstore.ErrNoRows
	}
	return err
}
