// Package servicetest finds the outside services some tests need (the
// machine's PostgreSQL and NATS unless the environment names others), with
// one rule for when one is missing: skip loudly, or fail when
// HOLDFAST_REQUIRE_SERVICES=1 (as CI sets).
package servicetest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
)

// Missing skips the test because what it needs is missing, or fails it
// when HOLDFAST_REQUIRE_SERVICES=1.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("HOLDFAST_REQUIRE_SERVICES") == "1" {
		t.Fatal(msg)
	}
	t.Skip("!!! " + msg + ": SKIPPING; set HOLDFAST_REQUIRE_SERVICES=1 to fail instead")
}

// NATS returns the URL of a NATS server with JetStream
// (HOLDFAST_TEST_NATS, default the machine's), or skips.
func NATS(t testing.TB) string {
	t.Helper()
	u := os.Getenv("HOLDFAST_TEST_NATS")
	if u == "" {
		u = "nats://127.0.0.1:4222"
	}
	nc, err := nats.Connect(u, nats.Timeout(2*time.Second))
	if err != nil {
		Missing(t, "NATS not reachable at %s: %v", u, err)
	}
	nc.Close()
	return u
}

var (
	pgOnce sync.Once
	pgErr  error
)

// Postgres returns the DSN of a PostgreSQL server the test may create
// schemas and databases on (HOLDFAST_TEST_POSTGRES, default the
// machine's), or skips. The server is tried once per test binary.
func Postgres(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("HOLDFAST_TEST_POSTGRES")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	pgOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(ctx)
		}
		pgErr = err
	})
	if pgErr != nil {
		Missing(t, "PostgreSQL not reachable at %s: %v", redact(dsn), pgErr)
	}
	return dsn
}

// redact hides a password in a URL DSN.
func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return dsn
}
