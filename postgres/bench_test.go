package postgres_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/internal/benchtest"
	"github.com/holdfast/holdfast/policy"
)

// BenchmarkAuthorizeWithdrawal measures durable, linearizable withdrawal
// authorizations through the engine on PostgreSQL: exactly 32 wallet
// callers at once (benchtest.Callers, whatever GOMAXPROCS is) over 5,000
// accounts, while checkpoints of the transparency log are published every
// second. Reports ops/s and the p50/p99 of one authorization.
func BenchmarkAuthorizeWithdrawal(b *testing.B) {
	benchtest.Writes(b, benchtest.Withdrawal(newLoggedEngine(b)))
}

// BenchmarkApply measures staff applies, as BenchmarkAuthorizeWithdrawal
// does authorizations.
func BenchmarkApply(b *testing.B) {
	benchtest.Writes(b, benchtest.Apply(newLoggedEngine(b)))
}

// newLoggedEngine is an engine on a fresh schema, with 32 pooled
// connections, that publishes the transparency log's checkpoints as a
// server does.
func newLoggedEngine(b *testing.B) *engine.Engine {
	dsn := newSchema(b, schemaName(b.Name()))
	db := open(b, withParam(dsn, "pool_max_conns", "32"))
	b.Cleanup(func() { db.Close() })
	return benchtest.LoggedEngine(b, db)
}

// BenchmarkCatchUp measures how long a node joining a cluster takes to be
// ready: building its decision index from PostgreSQL holding N active
// restrictions (HOLDFAST_BENCH_RESTRICTIONS, default 100,000; the issue's
// figure is for 1,000,000). The rows are loaded with COPY first.
func BenchmarkCatchUp(b *testing.B) {
	n := 100_000
	if s := os.Getenv("HOLDFAST_BENCH_RESTRICTIONS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	dsn, conn := copySchema(b)
	now := time.Now()
	kinds := []holdfast.Kind{holdfast.KindReduceOnly, holdfast.KindCoolingOff, holdfast.KindWithdrawalFreeze, holdfast.KindSelfFreeze}
	accounts := make([][]any, 0, n)
	rows := make([][]any, 0, n)
	for i := range n {
		acct := fmt.Sprintf("acct-%07d", i)
		accounts = append(accounts, []any{acct, now.UnixNano()})
		rows = append(rows, []any{fmt.Sprintf("rst-%07d", i), acct, string(kinds[i%len(kinds)]), now.Add(-time.Hour).UnixNano(), now.Add(30 * 24 * time.Hour).UnixNano(), true, "rule:bench", now.UnixNano()})
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"accounts"}, []string{"id", "created_at"}, pgx.CopyFromRows(accounts)); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"restrictions"}, []string{"id", "account", "kind", "starts_at", "ends_at", "disclose", "applied_by", "created_at"}, pgx.CopyFromRows(rows)); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		db := open(b, dsn)
		eng, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default()})
		if err != nil {
			b.Fatal(err)
		}
		if _, r := eng.IndexStats(); r != n {
			b.Fatalf("index holds %d restrictions, want %d", r, n)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s-to-ready")
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(n), "heap-B/restriction")
		runtime.KeepAlive(eng)
		db.Close()
	}
}

// BenchmarkAntiEntropyPass measures one full anti-entropy pass on
// PostgreSQL: 100,000 accounts (loaded with COPY), 10,000 of them
// restricted, compared with an index that matches, in slices of 500.
func BenchmarkAntiEntropyPass(b *testing.B) {
	const total, restricted, slice = 100_000, 10_000, 500
	ctx := context.Background()
	dsn, conn := copySchema(b)
	now := time.Now()
	accounts := make([][]any, 0, total)
	rows := make([][]any, 0, restricted)
	for i := range total {
		acct := fmt.Sprintf("acct-%07d", i)
		accounts = append(accounts, []any{acct, now.UnixNano()})
		if i%(total/restricted) == 0 {
			rows = append(rows, []any{fmt.Sprintf("rst-%07d", i), acct, string(holdfast.KindReduceOnly), now.Add(-time.Hour).UnixNano(), now.Add(30 * 24 * time.Hour).UnixNano(), true, "rule:bench", now.UnixNano()})
		}
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"accounts"}, []string{"id", "created_at"}, pgx.CopyFromRows(accounts)); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"restrictions"}, []string{"id", "account", "kind", "starts_at", "ends_at", "disclose", "applied_by", "created_at"}, pgx.CopyFromRows(rows)); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	db := open(b, dsn)
	defer db.Close()
	eng, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default()})
	if err != nil {
		b.Fatal(err)
	}
	benchtest.AntiEntropyPass(b, eng, total, slice)
}

// copySchema makes a migrated schema of the benchmark's own and returns
// its DSN and a connection to COPY rows into it.
func copySchema(b *testing.B) (string, *pgx.Conn) {
	dsn := newSchema(b, schemaName(b.Name()))
	open(b, dsn).Close()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close(context.Background()) })
	return dsn, conn
}
