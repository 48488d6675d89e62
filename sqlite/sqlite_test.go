package sqlite_test

import (
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
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

// A panicking fn fails only its own update; the writer carries on.
func TestUpdatePanics(t *testing.T) {
	db := open(t, t.TempDir())
	defer db.Close()
	now := time.Now()
	err := db.Update(t.Context(), "a1", now, func(tx holdfast.AccountTx) error {
		if err := tx.SaveAccount(); err != nil {
			return err
		}
		panic("bug")
	})
	if err == nil || holdfast.ErrorCode(err) != holdfast.Internal {
		t.Fatalf("Update with panicking fn = %v, want an internal error", err)
	}
	if _, err := db.Account(t.Context(), "a1"); holdfast.ErrorCode(err) != holdfast.NotFound {
		t.Errorf("account written by a panicking update: %v", err)
	}
	if err := db.Update(t.Context(), "a1", now, func(tx holdfast.AccountTx) error { return tx.SaveAccount() }); err != nil {
		t.Errorf("Update after a panic: %v", err)
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

// copyDir copies the store's files (database and any WAL) to a fresh dir.
func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	for _, suffix := range []string{"", "-wal"} {
		src, err := os.Open(filepath.Join(from, sqlite.FileName+suffix))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		dst, err := os.Create(filepath.Join(to, sqlite.FileName+suffix))
		if err == nil {
			_, err = io.Copy(dst, src)
		}
		src.Close()
		if err == nil {
			err = dst.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// TestTamper edits the file behind the store's back: VerifyAudit must name
// exactly the tampered account and the first broken seq.
func TestTamper(t *testing.T) {
	const accounts, entries = 3, 5
	base := t.TempDir()
	db := open(t, base)
	t0 := time.Date(2031, 1, 2, 3, 4, 5, 6, time.UTC)
	for a := range accounts {
		for i := range entries {
			account := fmt.Sprintf("acct-%d", a)
			err := db.Update(t.Context(), account, t0, func(tx holdfast.AccountTx) error {
				return tx.Append(&holdfast.AuditEntry{Account: account, At: t0.Add(time.Duration(i) * time.Second),
					Actor: "system", Action: holdfast.AuditApply, Reason: fmt.Sprintf("reason %d", i+1)})
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	const victim = "acct-1"
	for _, tc := range []struct {
		name    string
		tamper  func(t *testing.T, raw *sql.DB)
		wantSeq int64
	}{
		{"edit a middle entry", func(t *testing.T, raw *sql.DB) {
			exec(t, raw, `UPDATE audit SET reason = 'nothing happened' WHERE account = ? AND seq = 3`, victim)
		}, 3},
		{"delete a middle entry", func(t *testing.T, raw *sql.DB) {
			exec(t, raw, `DELETE FROM audit WHERE account = ? AND seq = 3`, victim)
		}, 3},
		{"delete the last entry", func(t *testing.T, raw *sql.DB) {
			exec(t, raw, `DELETE FROM audit WHERE account = ? AND seq = 5`, victim)
		}, 5},
		{"swap two entries", func(t *testing.T, raw *sql.DB) {
			exec(t, raw, `UPDATE audit SET seq = -2 WHERE account = ? AND seq = 2`, victim)
			exec(t, raw, `UPDATE audit SET seq = 2 WHERE account = ? AND seq = 3`, victim)
			exec(t, raw, `UPDATE audit SET seq = 3 WHERE account = ? AND seq = -2`, victim)
		}, 2},
		{"edit an entry and rehash it", func(t *testing.T, raw *sql.DB) {
			es := history(t, raw, victim)
			e := es[2]
			e.Reason = "nothing happened"
			exec(t, raw, `UPDATE audit SET reason = ?, hash = ? WHERE account = ? AND seq = 3`, e.Reason, e.ComputeHash(), victim)
		}, 4},
		{"delete the account row", func(t *testing.T, raw *sql.DB) {
			exec(t, raw, `DELETE FROM accounts WHERE id = ?`, victim) // foreign keys are off by default
		}, entries + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, base)
			raw := rawDB(t, filepath.Join(dir, sqlite.FileName))
			tc.tamper(t, raw)
			raw.Close()

			db := open(t, dir)
			defer db.Close()
			for _, scope := range []string{"", victim} {
				rep, err := db.VerifyAudit(t.Context(), scope)
				if err != nil {
					t.Fatal(err)
				}
				if len(rep.Breaks) != 1 || rep.Breaks[0].Account != victim || rep.Breaks[0].Seq != tc.wantSeq {
					t.Errorf("VerifyAudit(%q) breaks = %+v, want one in %s at seq %d", scope, rep.Breaks, victim, tc.wantSeq)
				}
			}
			for _, other := range []string{"acct-0", "acct-2"} {
				if rep, err := db.VerifyAudit(t.Context(), other); err != nil || !rep.OK() {
					t.Errorf("VerifyAudit(%s) = %+v, %v; want OK", other, rep, err)
				}
			}
		})
	}
}

// history reads an account's entries straight from the file.
func history(t *testing.T, raw *sql.DB, account string) []holdfast.AuditEntry {
	t.Helper()
	rows, err := raw.Query(`SELECT seq, at, actor, action, restriction, coalesce(before, ''), coalesce(after, ''), reason, prev_hash, hash
		FROM audit WHERE account = ? ORDER BY seq`, account)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var es []holdfast.AuditEntry
	for rows.Next() {
		e := holdfast.AuditEntry{Account: account}
		var at int64
		var before, after string
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Restriction, &before, &after, &e.Reason, &e.PrevHash, &e.Hash); err != nil {
			t.Fatal(err)
		}
		e.At = time.Unix(0, at).UTC()
		if before != "" {
			e.Before = []byte(before)
		}
		if after != "" {
			e.After = []byte(after)
		}
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return es
}

// BenchmarkUpdateParallel measures durable updates of the shape of a
// withdrawal authorization: one restriction write and one audit entry per
// update, from many goroutines over many accounts.
func BenchmarkUpdateParallel(b *testing.B) {
	db := open(b, b.TempDir())
	defer db.Close()
	now := time.Date(2031, 1, 2, 3, 4, 5, 6, time.UTC)
	var next atomic.Int64
	b.SetParallelism(64)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			account := fmt.Sprintf("acct-%d", i%1000)
			err := db.Update(b.Context(), account, now, func(tx holdfast.AccountTx) error {
				r := &holdfast.Restriction{ID: fmt.Sprintf("r-%d", i), Account: account, Kind: holdfast.KindCoolingOff,
					StartsAt: now, EndsAt: now.Add(24 * time.Hour), CreatedAt: now, Disclose: true, AppliedBy: "system"}
				if err := tx.SaveRestriction(r); err != nil {
					return err
				}
				return tx.Append(&holdfast.AuditEntry{Account: account, At: now, Actor: "system", Action: holdfast.AuditApply, Restriction: r.ID})
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}
