package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/postgres"
)

// roundTrips counts what a pool sends PostgreSQL: each query and each
// batch (a pipeline of queries) is one round trip.
type roundTrips struct {
	mu      sync.Mutex
	trips   int
	queries []string
}

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	if inBatch, _ := ctx.Value(batchKey{}).(bool); !inBatch {
		r.trips++
	}
	r.queries = append(r.queries, strings.Join(strings.Fields(d.SQL), " "))
	return ctx
}

func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

type batchKey struct{}

func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.mu.Lock()
	r.trips++
	r.mu.Unlock()
	return context.WithValue(ctx, batchKey{}, true)
}

func (r *roundTrips) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queries = append(r.queries, "(batched) "+strings.Join(strings.Fields(d.SQL), " "))
}

func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (r *roundTrips) reset() (int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, q := r.trips, r.queries
	r.trips, r.queries = 0, nil
	return n, q
}

// TestAuthorizeWithdrawalRoundTrips counts the round trips one
// authorization of an existing account with earlier withdrawals costs,
// begin and commit included, so that a change that adds one is seen.
func TestAuthorizeWithdrawalRoundTrips(t *testing.T) {
	const want = 3
	dsn := newSchema(t, schemaName(t.Name()))
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	trace := &roundTrips{}
	cfg.ConnConfig.Tracer = trace
	db, err := postgres.OpenConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	eng, err := engine.New(t.Context(), engine.Config{Store: db, Policy: policy.Default()})
	if err != nil {
		t.Fatal(err)
	}
	authorize := func(i int) *holdfast.Withdrawal {
		w, err := eng.AuthorizeWithdrawal(t.Context(), holdfast.WithdrawalRequest{
			Account: "acct-1", ID: fmt.Sprintf("w-%d", i), Asset: "USDT", Amount: "250", Address: "addr",
		})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	for i := range 3 {
		authorize(i)
	}
	trace.reset()
	if w := authorize(3); w.Outcome != holdfast.Approve {
		t.Fatalf("outcome %s, want approve (%+v)", w.Outcome, w.Causes)
	}
	n, queries := trace.reset()
	for _, q := range queries {
		t.Log(q)
	}
	t.Logf("%d round trips, %d statements", n, len(queries))
	if n > want {
		t.Errorf("an authorization took %d round trips, want at most %d", n, want)
	}
}
