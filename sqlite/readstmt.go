package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// readStmts caches the read pool's prepared statements by query text: the
// pure-Go SQLite spends as long preparing a small query as running it, and
// the reads on the change feed's path (Account, Restrictions) run once per
// change on every node. Queries built from filters come in a bounded set of
// shapes; past maxReadStmts the rest run unprepared.
type readStmts struct {
	pool *sql.DB
	mu   sync.RWMutex
	m    map[string]*sql.Stmt
}

const maxReadStmts = 256

// get returns q prepared, or nil to run it unprepared (a full cache, or a
// prepare that failed: running it reports the failure).
func (c *readStmts) get(ctx context.Context, q string) *sql.Stmt {
	c.mu.RLock()
	s, ok := c.m[q]
	c.mu.RUnlock()
	if ok {
		return s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.m[q]; ok {
		return s
	}
	if len(c.m) >= maxReadStmts {
		return nil
	}
	s, err := c.pool.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	c.m[q] = s
	return s
}

func (c *readStmts) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, s := range c.m {
		errs = append(errs, s.Close())
	}
	c.m = nil
	return errors.Join(errs...)
}

// query runs a read query, prepared once.
func (db *DB) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if s := db.reads.get(ctx, q); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return db.read.QueryContext(ctx, q, args...)
}

// queryRow runs a one-row read query, prepared once.
func (db *DB) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if s := db.reads.get(ctx, q); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return db.read.QueryRowContext(ctx, q, args...)
}
