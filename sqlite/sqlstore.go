package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/holdfast/holdfast/sqlstore"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// The SQLite side of package sqlstore's seam: reads go to the read pool's
// prepared statements; single writes and account transactions to the
// single writer, each one job of its group commit, in its own savepoint.
// The single writer is alone, so no row is locked for update, and nothing
// is retried.

var dialect = sqlstore.Dialect{Name: "sqlite", RowidLog: true, IsUnique: isUnique}

// isUnique reports a unique or primary-key violation.
func isUnique(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

// sqlConn is the database as sqlstore reaches it.
type sqlConn struct{ db *DB }

func (c sqlConn) Read() sqlstore.Querier { return readQuerier(c) }

func (c sqlConn) Write(ctx context.Context, fn func(sqlstore.Querier) error) error {
	return c.db.w.do(ctx, func(w *writer) error { return fn(writeQuerier{w}) })
}

// Tx runs fn as one job of the writer's batch: its savepoint is released
// when fn succeeds (keep or not: an update that kept nothing wrote
// nothing) and rolled back when it fails or panics.
func (c sqlConn) Tx(ctx context.Context, _ string, fn func(sqlstore.Querier) (bool, error)) error {
	return c.db.w.do(ctx, func(w *writer) error {
		_, err := fn(writeQuerier{w})
		return err
	})
}

// readQuerier runs statements on the read pool, prepared once.
type readQuerier struct{ db *DB }

func (q readQuerier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	return affected(q.db.read.ExecContext(ctx, query, args...))
}

func (q readQuerier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return q.db.queryRow(ctx, query, args...)
}

func (q readQuerier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := q.db.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

// writeQuerier runs statements on the writer's connection, from its
// goroutine, under a background context as the writer's own do: ctx is
// not passed on, since interrupting a statement would roll back the batch.
type writeQuerier struct{ w *writer }

func (q writeQuerier) Exec(_ context.Context, query string, args ...any) (int64, error) {
	return affected(q.w.exec(query, args...))
}

func (q writeQuerier) QueryRow(_ context.Context, query string, args ...any) sqlstore.Row {
	return q.w.queryRow(query, args...)
}

func (q writeQuerier) Query(_ context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := q.w.query(query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

// affected returns the rows a statement changed.
func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected() // SQLite always knows
	return n, nil
}

// sqlRows is *sql.Rows as sqlstore.Rows, whose Close reports nothing:
// Err reports what went wrong.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }
