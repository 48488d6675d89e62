package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"

	"github.com/holdfast/holdfast"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// maxBatch bounds how many queued writes share one transaction (and one
// fsync). Larger batches add latency for the first writer in them without
// much more throughput.
const maxBatch = 128

// errClosed is returned by writes after Close.
var errClosed = errors.New("sqlite: store is closed")

// Job states: a queued job is claimed by exactly one of the writer (which
// then runs it and always replies) and its waiter (which gives up).
const (
	jobQueued int32 = iota
	jobRunning
	jobAbandoned
)

// job is one queued write. run executes inside its own savepoint.
type job struct {
	ctx   context.Context
	run   func(w *writer) error
	state atomic.Int32
	done  chan error
}

// writer owns the only write connection. One goroutine takes queued jobs,
// runs up to maxBatch of them in one transaction, each in a savepoint, and
// commits once: group commit makes durable (synchronous=FULL) writes cheap,
// and a single writer makes every update to an account serial.
type writer struct {
	db      *sql.DB
	conn    *sql.Conn
	stmts   map[string]*sql.Stmt // prepared once on conn; writer goroutine only
	queue   chan *job
	closing chan struct{}
	stopped chan struct{}
}

func startWriter(db *sql.DB, conn *sql.Conn) *writer {
	w := &writer{
		db:      db,
		conn:    conn,
		stmts:   make(map[string]*sql.Stmt),
		queue:   make(chan *job, 4*maxBatch),
		closing: make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go w.loop()
	return w
}

// do queues run and waits for its outcome. ctx is honoured while the job
// waits in the queue; once the writer has started it, its outcome stands.
func (w *writer) do(ctx context.Context, run func(w *writer) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	j := &job{ctx: ctx, run: run, done: make(chan error, 1)}
	select {
	case w.queue <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-w.closing:
		return errClosed
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		if j.state.CompareAndSwap(jobQueued, jobAbandoned) {
			return ctx.Err()
		}
	case <-w.stopped:
		if j.state.CompareAndSwap(jobQueued, jobAbandoned) {
			return errClosed
		}
	}
	return <-j.done
}

func (w *writer) loop() {
	defer close(w.stopped)
	buf := make([]*job, 0, maxBatch)
	for {
		var batch []*job
		select {
		case <-w.closing:
			return
		case j := <-w.queue:
			batch = append(buf[:0], j)
		}
		// Everything that queued while the last commit was syncing joins
		// this batch: the busier the store, the more one fsync covers.
	fill:
		for len(batch) < maxBatch {
			select {
			case j := <-w.queue:
				batch = append(batch, j)
			default:
				break fill
			}
		}
		for len(batch) > 0 {
			batch = w.commit(batch)
		}
		clear(buf[:cap(buf)]) // let finished jobs' closures be collected
	}
}

// commit runs jobs in one transaction and commits it. A job whose run fails
// is rolled back to its savepoint alone. If the transaction itself breaks,
// the jobs that ran in it fail and the ones not yet run are returned for a
// fresh transaction.
func (w *writer) commit(jobs []*job) (rest []*job) {
	if _, err := w.exec("BEGIN IMMEDIATE"); err != nil {
		err = fmt.Errorf("sqlite: begin: %w", err)
		for _, j := range jobs {
			if j.state.CompareAndSwap(jobQueued, jobRunning) {
				j.done <- err
			}
		}
		return nil
	}
	type result struct {
		j   *job
		err error
	}
	ran := make([]result, 0, len(jobs))
	for i, j := range jobs {
		if !j.state.CompareAndSwap(jobQueued, jobRunning) {
			continue
		}
		if err := j.ctx.Err(); err != nil {
			j.done <- err
			continue
		}
		err, broken := w.runJob(j)
		ran = append(ran, result{j, err})
		if broken != nil {
			w.exec("ROLLBACK")
			for _, r := range ran {
				r.j.done <- errors.Join(r.err, fmt.Errorf("sqlite: transaction aborted: %w", broken))
			}
			return jobs[i+1:]
		}
	}
	if _, err := w.exec("COMMIT"); err != nil {
		w.exec("ROLLBACK")
		err = storageError(fmt.Errorf("sqlite: commit: %w", err))
		for i := range ran {
			if ran[i].err == nil {
				ran[i].err = err
			}
		}
	}
	for _, r := range ran {
		r.j.done <- r.err
	}
	return nil
}

// runJob runs j in a savepoint. err is j's outcome; broken is set when the
// savepoint could not be released or rolled back, which means SQLite has
// already rolled back the whole transaction.
func (w *writer) runJob(j *job) (err, broken error) {
	if _, err := w.exec("SAVEPOINT job"); err != nil {
		return err, err
	}
	if err = safeRun(j, w); err == nil {
		if _, e := w.exec("RELEASE job"); e != nil {
			return e, e
		}
		return nil, nil
	}
	if _, e := w.exec("ROLLBACK TO job"); e != nil {
		return err, e
	}
	if _, e := w.exec("RELEASE job"); e != nil {
		return err, e
	}
	return err, nil
}

// safeRun turns a panic in j into j's error: the writer serves every
// caller and must survive one bad update.
func safeRun(j *job, w *writer) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("sqlite: update panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return j.run(w)
}

// stmt returns the prepared statement for query. Statements are bound to
// the write connection for its lifetime.
func (w *writer) stmt(query string) (*sql.Stmt, error) {
	if s, ok := w.stmts[query]; ok {
		return s, nil
	}
	s, err := w.conn.PrepareContext(context.Background(), query)
	if err != nil {
		return nil, err
	}
	w.stmts[query] = s
	return s, nil
}

// exec runs a write statement. Statements run under a background context:
// interrupting one would roll back the whole batch, not just its caller.
func (w *writer) exec(query string, args ...any) (sql.Result, error) {
	s, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	return s.Exec(args...)
}

// queryRow runs a single-row query on the write connection, which sees the
// batch's uncommitted writes.
func (w *writer) queryRow(query string, args ...any) *sql.Row {
	s, err := w.stmt(query)
	if err != nil {
		// Let Scan report the error: prepare failures are rare and the
		// caller handles Scan errors anyway.
		return w.conn.QueryRowContext(context.Background(), query, args...)
	}
	return s.QueryRow(args...)
}

// query runs a multi-row query on the write connection.
func (w *writer) query(query string, args ...any) (*sql.Rows, error) {
	s, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	return s.Query(args...)
}

// stop waits for the batch in progress, then closes the connections.
func (w *writer) stop() error {
	close(w.closing)
	<-w.stopped
	for _, s := range w.stmts {
		s.Close()
	}
	return errors.Join(w.conn.Close(), w.db.Close())
}

// storageError tells a caller plainly that the disk refused the write
// (full, or failing), as resource_exhausted: nothing was written, and
// retrying after the operator has freed space succeeds. Other errors pass
// unchanged.
func storageError(err error) error {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return err
	}
	switch e.Code() & 0xff { // the primary result code
	case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR:
		return errors.Join(holdfast.Errorf(holdfast.ResourceExhausted, "storage", "the store cannot write (disk full or failing); nothing was written, retry later"), err)
	}
	return err
}
