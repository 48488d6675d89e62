package sqlite_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/sqlite"
	"github.com/holdfast/holdfast/storetest"
	"github.com/holdfast/holdfast/tlog"
)

// A database written by an older binary opens, gains the new columns and
// tables, and reads its old rows back: no activity, no origin.
func TestMigrateFromOlderSchemas(t *testing.T) {
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) < 4 {
		t.Fatalf("migrations: %v, %v", files, err)
	}
	t0 := time.Date(2031, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, have := range []int{2, 3} {
		t.Run(filepath.Base(files[have-1]), func(t *testing.T) {
			dir := t.TempDir()
			raw := rawDB(t, filepath.Join(dir, sqlite.FileName))
			exec(t, raw, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`)
			for i, f := range files[:have] {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				exec(t, raw, string(b))
				exec(t, raw, `INSERT INTO schema_migrations VALUES (?, ?, 0)`, i+1, filepath.Base(f))
			}
			exec(t, raw, `INSERT INTO accounts (id, created_at, tags) VALUES ('a1', ?, '["dormant"]')`, t0.UnixNano())
			exec(t, raw, `INSERT INTO restrictions (id, account, kind, starts_at, disclose, created_at) VALUES ('r1', 'a1', 'cooling_off', ?, 1, ?)`, t0.UnixNano(), t0.UnixNano())
			if have >= 3 {
				exec(t, raw, `INSERT INTO outbox (id, account, type, created_at, next_at) VALUES ('c1', 'a1', 'notify_holder', ?, ?)`, t0.UnixNano(), t0.UnixNano())
			}
			raw.Close()

			db := open(t, dir)
			defer db.Close()
			a, err := db.Account(t.Context(), "a1")
			if err != nil {
				t.Fatal(err)
			}
			if !a.HasTag(holdfast.TagDormant) || a.Activity.DepositCount != 0 || a.Activity.AddressBook != nil {
				t.Errorf("migrated account = %+v", a)
			}
			if r, err := db.Restriction(t.Context(), "r1"); err != nil || r.Origin != nil {
				t.Errorf("migrated restriction = %+v, %v; want no origin", r, err)
			}
			err = db.Update(t.Context(), "a1", t0, func(tx holdfast.AccountTx) error {
				tx.Account().Activity.DepositCount = 1
				if err := tx.SaveAccount(); err != nil {
					return err
				}
				if err := tx.SaveEvent(&holdfast.Event{ID: "e1", Type: holdfast.EventDeposit, Account: "a1", At: t0}); err != nil {
					return err
				}
				return tx.Enqueue(&holdfast.Command{ID: "c2", Type: holdfast.CommandNotifyHolder, CreatedAt: t0})
			})
			if err != nil {
				t.Fatalf("Update after migrating: %v", err)
			}
			ds, err := db.ClaimCommands(t.Context(), t0, time.Minute, 10)
			if err != nil {
				t.Fatal(err)
			}
			want := 1 // c2
			if have >= 3 {
				want = 2 // and c1, enqueued under the old schema
			}
			if len(ds) != want {
				t.Errorf("claimed %d commands after migrating, want %d", len(ds), want)
			}
		})
	}
}

// A log written under migration 012's queue (entries queued by a
// trigger, older ones in time order, which need not be rowid order) keeps
// its order when migration 016 makes the log read entries by rowid: the
// logged entries keep their leaves, the queued ones are logged in queue
// order, later entries after them, and the log verifies against a
// checkpoint kept from before.
func TestMigrateLogToRowidOrder(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	skey, _, err := tlog.GenerateKey("holdfast.test")
	if err != nil {
		t.Fatal(err)
	}
	signer, vkey, err := tlog.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2031, 1, 2, 3, 4, 5, 6, time.UTC)
	appendEntries := func(db *sqlite.DB, reason string) {
		t.Helper()
		for _, acct := range []string{"a", "b", "c"} {
			err := db.Update(ctx, acct, t0, func(tx holdfast.AccountTx) error {
				return tx.Append(&holdfast.AuditEntry{At: t0, Actor: "system", Action: holdfast.AuditApply, Reason: reason})
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	db := open(t, dir)
	appendEntries(db, "logged")
	kept, err := db.IntegrateLog(ctx, signer, t0, 100)
	if err != nil || kept == nil || kept.Size != 3 {
		t.Fatalf("IntegrateLog = %+v, %v", kept, err)
	}
	appendEntries(db, "queued")
	db.Close()

	// Back to schema 15 as migration 012 left it: the trigger, the
	// waiting entries in the queue, queued in an order that is not their
	// rowid order, and the logged entries' rowids out of leaf order too.
	// The tables of later migrations go too, as they were not there.
	raw := rawDB(t, filepath.Join(dir, sqlite.FileName))
	exec(t, raw, `DELETE FROM schema_migrations WHERE version >= 16`)
	exec(t, raw, `ALTER TABLE withdrawals DROP COLUMN policy`)
	exec(t, raw, `ALTER TABLE withdrawals DROP COLUMN total`)
	exec(t, raw, `DROP INDEX withdrawals_decided`)
	exec(t, raw, `CREATE INDEX withdrawals_decided ON withdrawals (account, decided_at)`)
	exec(t, raw, `DROP TABLE policy_backtests`)
	exec(t, raw, `DROP TABLE shadow_outcomes`)
	exec(t, raw, `DROP TABLE policy_activations`)
	exec(t, raw, `DROP TABLE policy_versions`)
	exec(t, raw, `CREATE TRIGGER audit_enqueue AFTER INSERT ON audit BEGIN
		INSERT INTO tlog_queue (account, seq) VALUES (NEW.account, NEW.seq); END`)
	exec(t, raw, `INSERT INTO tlog_queue (account, seq) SELECT account, seq FROM audit
		WHERE reason = 'queued' ORDER BY account DESC`)
	exec(t, raw, `UPDATE audit SET rowid = rowid + 1000 WHERE account = 'a'`)
	raw.Close()

	db = open(t, dir)
	defer db.Close()
	appendEntries(db, "after")
	if c, err := db.IntegrateLog(ctx, signer, t0, 100); err != nil || c == nil || c.Size != 9 {
		t.Fatalf("IntegrateLog after migrating = %+v, %v; want 9 leaves", c, err)
	}
	var order []string
	for i := range uint64(9) {
		e, err := db.LogEntry(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, e.Account+":"+e.Reason)
	}
	want := []string{"a:logged", "b:logged", "c:logged", "c:queued", "b:queued", "a:queued", "a:after", "b:after", "c:after"}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Errorf("leaves = %v\nwant     %v", order, want)
	}
	rep, err := db.VerifyLog(ctx, []tlog.Checkpoint{kept.Checkpoint}, vkey)
	if err != nil || !rep.OK() || rep.Queued != 0 {
		t.Fatalf("VerifyLog after migrating = %+v, %v", rep, err)
	}
}

// Withdrawals recorded before migration 022 count towards the daily
// limit after it, as they did before.
func TestMigrateWithdrawalTotals(t *testing.T) {
	dir := t.TempDir()
	storetest.MigratedWithdrawalTotals(t, func() holdfast.Store { return open(t, dir) }, func() {
		raw := rawDB(t, filepath.Join(dir, sqlite.FileName))
		defer raw.Close()
		exec(t, raw, `DELETE FROM schema_migrations WHERE version >= 22`)
		exec(t, raw, `DROP INDEX withdrawals_decided`)
		exec(t, raw, `ALTER TABLE withdrawals DROP COLUMN total`)
		exec(t, raw, `CREATE INDEX withdrawals_decided ON withdrawals (account, decided_at)`)
	})
}
