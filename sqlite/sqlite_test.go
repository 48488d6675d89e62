package sqlite_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/sqlite"
	"github.com/holdfast/holdfast/storetest"
)

func open(t testing.TB, dir string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), dir)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return db
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dir string) holdfast.Store { return open(t, dir) })
}

// Reopening applies no migration twice; a database from a newer binary is
// refused rather than misread.
func TestMigrations(t *testing.T) {
	dir := t.TempDir()
	open(t, dir).Close()
	open(t, dir).Close()
	raw := rawDB(t, filepath.Join(dir, sqlite.FileName))
	var n, top int
	if err := raw.QueryRow(`SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &top); err != nil {
		t.Fatal(err)
	}
	// Numbers may have gaps (they are handed out to changes in flight), so
	// the rows are counted against the files.
	files, _ := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if n != len(files) || top == 0 {
		t.Errorf("schema_migrations has %d rows up to version %d for %d files: a migration ran twice or was skipped", n, top, len(files))
	}
	exec(t, raw, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`)
	raw.Close()
	if db, err := sqlite.Open(t.Context(), dir); err == nil {
		db.Close()
		t.Error("Open accepted a database with a newer schema")
	}
}

// Close while updates are in flight: each update either committed (and is
// there after reopening) or failed; none hangs.
func TestCloseWhileUpdating(t *testing.T) {
	dir := t.TempDir()
	db := open(t, dir)
	now := time.Now()
	const n = 500
	errs := make(chan error, n)
	for i := range n {
		go func() {
			err := db.Update(t.Context(), fmt.Sprintf("a%d", i%7), now, func(tx holdfast.AccountTx) error {
				return tx.Append(&holdfast.AuditEntry{At: now, Actor: "system", Action: holdfast.AuditApply, Reason: fmt.Sprint(i)})
			})
			errs <- err
		}()
	}
	time.Sleep(time.Millisecond)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	committed := 0
	for range n {
		if err := <-errs; err == nil {
			committed++
		}
	}
	db = open(t, dir)
	defer db.Close()
	rep, err := db.VerifyAudit(t.Context(), "")
	if err != nil || !rep.OK() || rep.Entries != int64(committed) {
		t.Errorf("after close and reopen: %+v, %v; want OK with the %d committed entries", rep, err, committed)
	}
	t.Logf("%d of %d updates committed before Close", committed, n)
}

// rawDB opens a database file directly, bypassing the store, as an
// attacker with file access would.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// TestTamper edits the file behind the store's back (the contract's
// tamper suite): VerifyAudit must name exactly the tampered account and
// the first broken seq.
func TestTamper(t *testing.T) {
	storetest.Tamper(t, func(t *testing.T, dir string) holdfast.Store { return open(t, dir) },
		func(t *testing.T, dir string, stmts ...string) {
			raw := rawDB(t, filepath.Join(dir, sqlite.FileName)) // foreign keys are off by default
			for _, q := range stmts {
				exec(t, raw, q)
			}
		})
}

// TestTamperState edits the state tables of the file behind the store's
// back (the contract's state tamper suite): VerifyState names the row and
// its first differing field, and loads keep what the log says.
func TestTamperState(t *testing.T) {
	storetest.TamperState(t, func(t *testing.T, dir string) holdfast.Store { return open(t, dir) },
		func(t *testing.T, dir string, stmts ...string) {
			raw := rawDB(t, filepath.Join(dir, sqlite.FileName))
			for _, q := range stmts {
				exec(t, raw, q)
			}
		})
}

// BenchmarkUpdateParallel measures durable updates of the shape of a
// withdrawal authorization: one restriction write and one audit entry per
// update, from many goroutines over many accounts.
func BenchmarkUpdateParallel(b *testing.B) {
	db := open(b, b.TempDir())
	defer db.Close()
	storetest.BenchUpdates(b, db, 64, func(tx holdfast.AccountTx, account string, i int64, now time.Time) error {
		r := &holdfast.Restriction{ID: fmt.Sprintf("r-%d", i), Account: account, Kind: holdfast.KindCoolingOff,
			StartsAt: now, EndsAt: now.Add(24 * time.Hour), CreatedAt: now, Disclose: true, AppliedBy: "system"}
		if err := tx.SaveRestriction(r); err != nil {
			return err
		}
		return tx.Append(&holdfast.AuditEntry{Account: account, At: now, Actor: "system", Action: holdfast.AuditApply, Restriction: r.ID})
	})
}

// TestPageSessionsSwept: a sign-in deletes the sessions that had ended by
// then (expired, idle), so the table holds little more than the sessions
// in use; sessions still in force stay.
func TestPageSessionsSwept(t *testing.T) {
	dir := t.TempDir()
	db := open(t, dir)
	defer db.Close()
	t0 := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	start := func(hash string, at time.Time, idle, life time.Duration) {
		t.Helper()
		if err := db.StartPageSession(t.Context(), &holdfast.PageSession{Hash: hash, Site: holdfast.SiteStaff, Subject: "s1", CreatedAt: at, Idle: idle, ExpiresAt: at.Add(life)}); err != nil {
			t.Fatal(err)
		}
	}
	start("expired", t0, 0, time.Minute)
	start("idle", t0, time.Minute, time.Hour)
	start("live", t0, 0, time.Hour)
	start("new", t0.Add(2*time.Minute), 0, time.Hour)
	rows, err := rawDB(t, filepath.Join(dir, sqlite.FileName)).Query(`SELECT hash FROM page_sessions ORDER BY hash`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var left []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			t.Fatal(err)
		}
		left = append(left, h)
	}
	if fmt.Sprint(left) != "[live new]" {
		t.Errorf("sessions after a sign-in: %v, want [live new]", left)
	}
}
