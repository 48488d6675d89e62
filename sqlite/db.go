// Package sqlite is Holdfast's embedded store: one SQLite file in WAL mode
// with durable commits, written by a single goroutine that group-commits
// queued updates, and read through a separate pool of read-only
// connections. The store logic shared with PostgreSQL is package
// sqlstore's: this package gives it the SQLite dialect and runs its
// statements on the writer and the read pool (sqlstore.go).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/sqlstore"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

var (
	_ holdfast.Store       = (*DB)(nil)
	_ holdfast.OutboxStore = (*DB)(nil)
)

// FileName is the database file Open keeps in its directory.
const FileName = "holdfast.db"

// busyTimeout is how long a connection waits for a lock another process
// holds (a backup tool, the CLI) before failing.
const busyTimeout = 5 * time.Second

//go:embed migrations/*.sql
var migrations embed.FS

// DB is the SQLite store. It is safe for concurrent use.
type DB struct {
	path  string
	read  *sql.DB // pool of query_only connections
	reads *readStmts
	w     *writer
	id    string
	// The store logic, shared with package postgres: its methods are
	// *DB's (holdfast.Store and holdfast.OutboxStore).
	*sqlstore.Store
	closeOnce sync.Once
	closeErr  error
}

// Open creates dir if needed, opens dir/holdfast.db, applies pending
// migrations and starts the writer.
func Open(ctx context.Context, dir string) (*DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("sqlite: path %q may not contain '?'", path)
	}
	// synchronous=FULL: a commit that authorized a withdrawal survives power
	// loss. _txlock=immediate takes the write lock at BEGIN, so a batch never
	// fails half-way on a lock held by another process. temp_store=MEMORY
	// keeps the savepoints' sub-journal (each job of a group commit runs in
	// one) in memory: the pages a batch's jobs share (the newest page of a
	// table each appends to) are journalled once per job, and on disk each
	// cost a write system call.
	pragmas := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)",
		busyTimeout.Milliseconds())
	wdb, err := sql.Open("sqlite", path+"?"+pragmas+"&_pragma=temp_store(MEMORY)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	conn, err := wdb.Conn(ctx)
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := migrate(ctx, conn); err != nil {
		conn.Close()
		wdb.Close()
		return nil, err
	}
	var id string
	if err := conn.QueryRowContext(ctx, `SELECT id FROM store_identity`).Scan(&id); err != nil {
		conn.Close()
		wdb.Close()
		return nil, fmt.Errorf("sqlite: store id: %w", err)
	}
	rdb, err := sql.Open("sqlite", path+"?"+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		conn.Close()
		wdb.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	rdb.SetMaxOpenConns(n)
	rdb.SetMaxIdleConns(n)
	db := &DB{path: path, id: id, read: rdb, reads: &readStmts{pool: rdb, m: map[string]*sql.Stmt{}}, w: startWriter(wdb, conn)}
	db.Store = sqlstore.New(dialect, sqlConn{db})
	return db, nil
}

// StoreID returns the database's random id, made when it was created.
func (db *DB) StoreID() string { return db.id }

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Close stops the writer after the batch it is committing, fails updates
// still queued, and closes every connection. It is safe to call twice.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.closeErr = errors.Join(db.w.stop(), db.reads.close(), db.read.Close())
	})
	return db.closeErr
}

// migrate applies every migration the database lacks, all in one
// transaction: a failed start-up leaves the schema as it was.
func migrate(ctx context.Context, conn *sql.Conn) (err error) {
	ms, err := sqlstore.Migrations(dialect, migrations, "migrations")
	if err != nil {
		return err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	err = sqlstore.Apply(dialect, ms, have, func(query string, args ...any) error {
		_, err := tx.ExecContext(ctx, query, args...)
		return err
	})
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	return nil
}
