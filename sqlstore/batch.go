package sqlstore

import "context"

// Stmt is one statement of a batch, written with ? placeholders.
type Stmt struct {
	Query string
	Args  []any
}

// Batcher is a Querier that can send several statements at once and read
// their results after: PostgreSQL's pipeline, one round trip for all.
type Batcher interface {
	SendBatch(ctx context.Context, stmts []Stmt) BatchResults
}

// BatchResults are a batch's results, read in the statements' order
// (each with the method that fits its statement), then closed. On a
// failed statement the later ones do not run.
type BatchResults interface {
	Exec() (int64, error)
	QueryRow() Row
	Query() (Rows, error)
	Close() error
}

// Committer is a transaction's Querier that can send its last writes and
// its commit at once. Reading the writes' results and then Close
// commits; Close returns the commit's failure, and on any failure the
// transaction is left to roll back.
type Committer interface {
	CommitBatch(ctx context.Context, stmts []Stmt) BatchResults
}

// sendBatch sends stmts at once where q can, and otherwise runs each when
// its result is read (SQLite, in process, has no round trip to save).
func sendBatch(ctx context.Context, q Querier, stmts []Stmt) BatchResults {
	if b, ok := q.(Batcher); ok {
		return b.SendBatch(ctx, stmts)
	}
	return &oneByOne{ctx: ctx, q: q, stmts: stmts}
}

type oneByOne struct {
	ctx   context.Context
	q     Querier
	stmts []Stmt
}

func (b *oneByOne) next() Stmt {
	s := b.stmts[0]
	b.stmts = b.stmts[1:]
	return s
}

func (b *oneByOne) Exec() (int64, error) {
	s := b.next()
	return b.q.Exec(b.ctx, s.Query, s.Args...)
}

func (b *oneByOne) QueryRow() Row {
	s := b.next()
	return b.q.QueryRow(b.ctx, s.Query, s.Args...)
}

func (b *oneByOne) Query() (Rows, error) {
	s := b.next()
	return b.q.Query(b.ctx, s.Query, s.Args...)
}

func (b *oneByOne) Close() error { return nil }

// errRow is a Row whose statement never ran.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
