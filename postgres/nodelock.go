package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/holdfast/holdfast"
)

// A node answers checks from its own index. Without a change feed it never
// hears of another node's writes, so it must be the only node on its
// schema: it holds the node lock exclusively. Nodes with a feed hold it
// shared, so any number of them may run together but a node without one
// cannot join them (nor they it). The lock is a session advisory lock on a
// connection of its own (outside the pool), held for the node's life.

// nodeLockApp names the lock's connection in pg_stat_activity.
const nodeLockApp = "holdfast node lock"

// nodeLockKey is the node lock of one schema of one database.
func nodeLockKey(database, schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("holdfast/node\x00" + database + "\x00" + schema))
	return int64(h.Sum64())
}

// NodeLock is this node's hold on the node lock.
type NodeLock struct {
	cfg    *pgx.ConnConfig
	shared bool

	mu   sync.Mutex
	conn *pgx.Conn // nil while not held
}

// LockNode takes the node lock: shared for a node with a change feed,
// exclusive for one without. It fails with failed_precondition (field
// "bus") when the other kind of node holds it.
func (db *DB) LockNode(ctx context.Context, shared bool) (*NodeLock, error) {
	cfg := db.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = nodeLockApp
	l := &NodeLock{cfg: cfg, shared: shared}
	if err := l.take(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// take connects and tries the lock once.
func (l *NodeLock) take(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return fmt.Errorf("postgres: node lock: connect: %w", err)
	}
	var database, schema string
	if err := conn.QueryRow(ctx, `SELECT current_database(), coalesce(current_schema(), '')`).Scan(&database, &schema); err != nil {
		conn.Close(ctx)
		return fmt.Errorf("postgres: node lock: %w", err)
	}
	key := nodeLockKey(database, schema)
	fn := "pg_try_advisory_lock"
	if l.shared {
		fn = "pg_try_advisory_lock_shared"
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT `+fn+`($1)`, key).Scan(&ok); err != nil {
		conn.Close(ctx)
		return fmt.Errorf("postgres: node lock: %w", err)
	}
	if !ok {
		conn.Close(ctx)
		where := fmt.Sprintf("schema %s of database %s", schema, database)
		if l.shared {
			return holdfast.Errorf(holdfast.FailedPrecondition, "bus", "a Holdfast node without --bus serves %s, and such a node must be the only one: stop it (or restart it with --bus) before starting nodes with --bus", where)
		}
		return holdfast.Errorf(holdfast.FailedPrecondition, "bus", "another Holdfast node serves %s: a node without --bus must be the only one (it never hears of other nodes' writes); stop the others, or run every node with --bus", where)
	}
	l.mu.Lock()
	l.conn = conn
	l.mu.Unlock()
	return nil
}

// alive checks the lock's connection; while it lives, the lock is held.
func (l *NodeLock) alive(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return fmt.Errorf("postgres: node lock: closed")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := l.conn.Exec(ctx, `SELECT 1`)
	return err
}

// drop closes the lock's connection, which lets the lock go.
func (l *NodeLock) drop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		l.conn.Close(ctx)
		cancel()
		l.conn = nil
	}
}

// Watch checks the lock every interval until ctx ends. When its connection
// is lost (so is the lock: another node may take it), it calls lost, then
// tries to take the lock again every interval; once it holds it, it calls
// regained, and on regained's error lets the lock go and tries again.
func (l *NodeLock) Watch(ctx context.Context, every time.Duration, lost func(error), regained func(context.Context) error) {
	t := time.NewTicker(every)
	defer t.Stop()
	held := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if held {
			if err := l.alive(ctx); err != nil && ctx.Err() == nil {
				held = false
				l.drop()
				lost(err)
			}
			continue
		}
		if err := l.take(ctx); err != nil {
			continue
		}
		if err := regained(ctx); err != nil {
			l.drop()
			continue
		}
		held = true
	}
}

// Close lets the lock go.
func (l *NodeLock) Close() { l.drop() }
