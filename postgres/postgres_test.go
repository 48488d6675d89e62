package postgres_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/servicetest"
	"github.com/holdfast/holdfast/postgres"
	"github.com/holdfast/holdfast/sqlite"
	"github.com/holdfast/holdfast/storetest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// serverDSN returns the test server's DSN, or skips the test when the
// server is unreachable (fails it when HOLDFAST_REQUIRE_SERVICES=1). Every
// test works in schemas of its own, which it drops.
func serverDSN(t testing.TB) string { return servicetest.Postgres(t) }

// withParam returns dsn, a URL or key=value DSN, with key set to value.
func withParam(dsn, key, value string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " " + key + "=" + value
}

// inSchema returns dsn with its search_path set to schema.
func inSchema(dsn, schema string) string { return withParam(dsn, "search_path", schema) }

// admin runs statements on the test server outside any store.
func admin(t testing.TB, sql ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, serverDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range sql {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// newSchema creates an empty schema, dropped when the test ends, and
// returns a DSN whose connections work in it.
func newSchema(t testing.TB, name string) string {
	t.Helper()
	dsn := serverDSN(t)
	ident := pgx.Identifier{name}.Sanitize()
	admin(t, `DROP SCHEMA IF EXISTS `+ident+` CASCADE`, `CREATE SCHEMA `+ident)
	t.Cleanup(func() { admin(t, `DROP SCHEMA IF EXISTS `+ident+` CASCADE`) })
	return inSchema(dsn, name)
}

// schemaName derives a schema name from s (a directory, a test name).
func schemaName(s string) string {
	h := sha256.Sum256([]byte(s))
	return "holdfast_test_" + hex.EncodeToString(h[:8])
}

func open(t testing.TB, dsn string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

// newDB opens a store in a fresh schema of the test's own.
func newDB(t testing.TB) (*postgres.DB, string) {
	t.Helper()
	dsn := newSchema(t, schemaName(t.Name()))
	db := open(t, dsn)
	t.Cleanup(func() { db.Close() })
	return db, dsn
}

// schemas maps each storetest dir to the DSN of its schema.
var schemas sync.Map

func TestContract(t *testing.T) {
	serverDSN(t)
	storetest.Run(t, openContract)
}

// openContract opens the store of a storetest dir: the first open of dir
// gets an empty schema; a reopen finds the same one, data and all.
func openContract(t *testing.T, dir string) holdfast.Store {
	dsn, ok := schemas.Load(dir)
	if !ok {
		dsn = newSchema(t, schemaName(dir))
		schemas.Store(dir, dsn)
	}
	return open(t, dsn.(string))
}

// migrations reads schema_migrations: the rows, the top version and when
// each was applied.
func migrations(t *testing.T, dsn string) (n, top int, applied map[int]int64) {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT version, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	applied = map[int]int64{}
	for rows.Next() {
		var v int
		var at int64
		if err := rows.Scan(&v, &at); err != nil {
			t.Fatal(err)
		}
		n, top, applied[v] = n+1, v, at
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n, top, applied
}

// migrationFiles counts the migrations: numbers may have gaps (they are
// handed out to changes in flight), so rows are counted against files.
func migrationFiles(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no migration files: %v", err)
	}
	return len(files)
}

// Migrations apply once: a second Open and Migrate change nothing, and a
// database from a newer binary is refused rather than misread.
func TestMigrations(t *testing.T) {
	dsn := newSchema(t, schemaName(t.Name()))
	open(t, dsn).Close()
	n, top, first := migrations(t, dsn)
	if n == 0 || n != migrationFiles(t) {
		t.Fatalf("schema_migrations has %d rows up to version %d for %d files", n, top, migrationFiles(t))
	}
	open(t, dsn).Close()
	if err := postgres.Migrate(t.Context(), dsn); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	n2, top2, again := migrations(t, dsn)
	if n2 != n || top2 != top {
		t.Errorf("reopening changed schema_migrations: %d rows up to %d, want %d up to %d", n2, top2, n, top)
	}
	for v, at := range first {
		if again[v] != at {
			t.Errorf("migration %d applied again (at %d, first at %d)", v, again[v], at)
		}
	}
	admin(t, `INSERT INTO `+pgx.Identifier{schemaName(t.Name()), "schema_migrations"}.Sanitize()+
		` (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`)
	if db, err := postgres.Open(t.Context(), dsn); err == nil {
		db.Close()
		t.Error("Open accepted a database with a newer schema")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open of a newer schema: %v", err)
	}
	if err := postgres.Migrate(t.Context(), dsn); err == nil {
		t.Error("Migrate accepted a database with a newer schema")
	}
}

// Withdrawals recorded before migration 022 count towards the daily
// limit after it, as they did before.
func TestMigrateWithdrawalTotals(t *testing.T) {
	schema := schemaName(t.Name())
	dsn := newSchema(t, schema)
	in := func(table string) string { return pgx.Identifier{schema, table}.Sanitize() }
	storetest.MigratedWithdrawalTotals(t, func() holdfast.Store { return open(t, dsn) }, func() {
		admin(t, `DELETE FROM `+in("schema_migrations")+` WHERE version >= 22`,
			`DROP INDEX `+in("withdrawals_decided"),
			`ALTER TABLE `+in("withdrawals")+` DROP COLUMN total`,
			`CREATE INDEX withdrawals_decided ON `+in("withdrawals")+` (account, decided_at)`)
	})
}

// Nodes starting at once against an empty database migrate it once: the
// advisory lock makes the others wait and then find nothing to do.
func TestConcurrentOpen(t *testing.T) {
	dsn := newSchema(t, schemaName(t.Name()))
	const nodes = 3
	dbs := make([]*postgres.DB, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range nodes {
		wg.Go(func() {
			<-start
			dbs[i], errs[i] = postgres.Open(t.Context(), dsn)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: Open: %v", i, err)
			continue
		}
		dbs[i].Close()
	}
	n, top, _ := migrations(t, dsn)
	if n == 0 || n != migrationFiles(t) {
		t.Errorf("schema_migrations has %d rows up to version %d after concurrent opens", n, top)
	}
}

// Two nodes (two pools) update one account at once: withdrawals that
// check the 24 h count before approving, and restrictions saved from the
// other node. The account row lock makes it all serial: the limit holds
// exactly, no write is lost, the chain has no gaps and verifies.
func TestLinearizableAcrossNodes(t *testing.T) {
	dsn := newSchema(t, schemaName(t.Name()))
	a, b := open(t, dsn), open(t, dsn)
	defer a.Close()
	defer b.Close()
	nodes := []*postgres.DB{a, b}
	ctx := t.Context()
	now := time.Date(2031, 3, 4, 5, 6, 7, 891234567, time.UTC)
	const (
		account      = "acct-1"
		workers, per = 16, 6
		limit        = 40 // approvals allowed in the window
		restrictions = 12
	)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range workers {
		db := nodes[g%2]
		wg.Go(func() {
			<-start
			for i := range per {
				id := fmt.Sprintf("w-%02d-%02d", g, i)
				err := db.Update(ctx, account, now, func(tx holdfast.AccountTx) error {
					ws, err := tx.Withdrawals(now.Add(-24 * time.Hour))
					if err != nil {
						return err
					}
					approved := 0
					for _, w := range ws {
						if w.Outcome == holdfast.Approve {
							approved++
						}
					}
					outcome := holdfast.Approve
					if approved >= limit {
						outcome = holdfast.DenyOutcome
					}
					acct := tx.Account()
					acct.KnownDevices = append(acct.KnownDevices, id)
					if err := tx.SaveAccount(); err != nil {
						return err
					}
					e := &holdfast.AuditEntry{At: now, Actor: "system", Action: holdfast.AuditWithdrawal, Reason: id}
					if err := tx.Append(e); err != nil {
						return err
					}
					return tx.SaveWithdrawal(&holdfast.Withdrawal{
						WithdrawalRequest: holdfast.WithdrawalRequest{ID: id, Asset: "BTC", Amount: "1", Address: "addr"},
						Outcome:           outcome, Causes: []holdfast.Cause{}, DecidedAt: now, Seq: e.Seq,
					})
				})
				if err != nil {
					t.Errorf("withdrawal %s: %v", id, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		<-start
		for i := range restrictions {
			id := fmt.Sprintf("r-%02d", i)
			err := b.Update(ctx, account, now, func(tx holdfast.AccountTx) error {
				r := &holdfast.Restriction{ID: id, Kind: holdfast.KindCoolingOff, StartsAt: now, EndsAt: now.Add(time.Hour),
					CreatedAt: now, Reason: "test", Disclose: true, AppliedBy: "system"}
				if err := tx.SaveRestriction(r); err != nil {
					return err
				}
				return tx.Append(&holdfast.AuditEntry{At: now, Actor: "system", Action: holdfast.AuditApply, Restriction: id})
			})
			if err != nil {
				t.Errorf("restriction %s: %v", id, err)
				return
			}
		}
	})
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}

	total := workers*per + restrictions
	rep, err := a.VerifyAudit(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Accounts != 1 || rep.Entries != int64(total) {
		t.Errorf("VerifyAudit = %+v, want OK with 1 account and %d entries", rep, total)
	}
	es, err := b.History(ctx, account)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range es {
		if e.Seq != int64(i+1) {
			t.Fatalf("History[%d].Seq = %d: a gap", i, e.Seq)
		}
	}
	if len(es) != total {
		t.Errorf("history has %d entries, want %d", len(es), total)
	}
	acct, err := a.Account(ctx, account)
	if err != nil {
		t.Fatal(err)
	}
	if len(acct.KnownDevices) != workers*per || acct.AuditSeq != int64(total) {
		t.Errorf("account has %d devices and head %d, want %d and %d (lost updates)", len(acct.KnownDevices), acct.AuditSeq, workers*per, total)
	}
	err = a.Update(ctx, account, now, func(tx holdfast.AccountTx) error {
		ws, err := tx.Withdrawals(now.Add(-48 * time.Hour))
		if err != nil {
			return err
		}
		approved := 0
		seqs := map[int64]bool{}
		for _, w := range ws {
			if w.Outcome == holdfast.Approve {
				approved++
			}
			if seqs[w.Seq] || es[w.Seq-1].Reason != w.ID {
				t.Errorf("withdrawal %s has seq %d, whose entry is %q", w.ID, w.Seq, es[w.Seq-1].Reason)
			}
			seqs[w.Seq] = true
		}
		if len(ws) != workers*per || approved != limit {
			t.Errorf("%d withdrawals, %d approved; want %d and exactly %d", len(ws), approved, workers*per, limit)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := b.Restrictions(ctx, holdfast.RestrictionFilter{Account: account})
	if err != nil || len(rs) != restrictions {
		t.Errorf("Restrictions = %d, %v; want %d", len(rs), err, restrictions)
	}
}

// Updates of one new account from two nodes at once: one creates it, the
// other waits on its row and then sees it stored; a read-only update of a
// new account leaves no row behind.
func TestNewAccountRace(t *testing.T) {
	_, dsn := newDB(t)
	a, b := open(t, dsn), open(t, dsn)
	defer a.Close()
	defer b.Close()
	now := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	var created atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		db := []*postgres.DB{a, b}[i%2]
		wg.Go(func() {
			err := db.Update(t.Context(), "fresh", now.Add(time.Duration(i)), func(tx holdfast.AccountTx) error {
				if tx.Account().AuditSeq == 0 {
					created.Add(1)
				}
				return tx.Append(&holdfast.AuditEntry{At: now, Actor: "system", Action: holdfast.AuditAccountUpdated})
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := created.Load(); n != 1 {
		t.Errorf("%d updates saw the account as new, want 1", n)
	}
	rep, err := a.VerifyAudit(t.Context(), "fresh")
	if err != nil || !rep.OK() || rep.Entries != 8 {
		t.Errorf("VerifyAudit = %+v, %v", rep, err)
	}
	if err := a.Update(t.Context(), "ghost", now, func(tx holdfast.AccountTx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	err = a.Update(t.Context(), "ghost2", now, func(tx holdfast.AccountTx) error {
		return tx.Enqueue(&holdfast.Command{ID: "c1", Type: holdfast.CommandNotifyHolder})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"ghost", "ghost2"} {
		if _, err := a.Account(t.Context(), id); holdfast.ErrorCode(err) != holdfast.NotFound {
			t.Errorf("Account(%s) after updates that saved nothing: %v, want not_found", id, err)
		}
	}
	if _, err := a.Command(t.Context(), "c1"); err != nil {
		t.Errorf("command enqueued for an unsaved account: %v", err)
	}
}

// BenchmarkUpdate measures single-row updates (the account row) from many
// goroutines over many accounts, through a pool of 16 connections.
func BenchmarkUpdate(b *testing.B) {
	dsn := newSchema(b, schemaName(b.Name()))
	db := open(b, withParam(dsn, "pool_max_conns", "16"))
	defer db.Close()
	storetest.BenchUpdates(b, db, 16, func(tx holdfast.AccountTx, _ string, i int64, now time.Time) error {
		tx.Account().LastActiveAt = now.Add(time.Duration(i))
		return tx.SaveAccount()
	})
}

// A serialization failure or deadlock reported inside fn runs fn again in
// a fresh transaction: the failed attempt's writes are gone.
func TestRetriesSerializationFailure(t *testing.T) {
	db, _ := newDB(t)
	now := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, code := range []string{"40001", "40P01"} {
		account := "acct-" + code
		calls := 0
		err := db.Update(t.Context(), account, now, func(tx holdfast.AccountTx) error {
			calls++
			if err := tx.Append(&holdfast.AuditEntry{At: now, Actor: "system", Action: holdfast.AuditAccountUpdated}); err != nil {
				return err
			}
			if calls == 1 {
				return fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code, Message: "simulated"})
			}
			return nil
		})
		if err != nil || calls != 2 {
			t.Errorf("%s: Update = %v after %d calls, want success after 2", code, err, calls)
		}
		if es, err := db.History(t.Context(), account); err != nil || len(es) != 1 {
			t.Errorf("%s: history = %d entries, %v; want the second attempt's one", code, len(es), err)
		}
	}
	calls := 0
	err := db.Update(t.Context(), "acct-forever", now, func(tx holdfast.AccountTx) error {
		calls++
		return &pgconn.PgError{Code: "40001", Message: "simulated"}
	})
	if err == nil || calls < 2 || calls > 10 {
		t.Errorf("Update failing every time = %v after %d calls, want the failure after a few", err, calls)
	}
}

// TestTamper edits the tables behind the store's back (the contract's
// tamper suite): VerifyAudit must name exactly the tampered account and
// the first broken seq.
func TestTamper(t *testing.T) {
	serverDSN(t)
	storetest.Tamper(t, openContract, func(t *testing.T, dir string, stmts ...string) {
		admin(t, append([]string{
			`SET search_path TO ` + pgx.Identifier{schemaName(dir)}.Sanitize(),
			`SET session_replication_role = replica`, // foreign keys off
		}, stmts...)...)
	})
}

// TestTamperState edits the state tables behind the store's back (the
// contract's state tamper suite).
func TestTamperState(t *testing.T) {
	serverDSN(t)
	storetest.TamperState(t, openContract, func(t *testing.T, dir string, stmts ...string) {
		admin(t, append([]string{
			`SET search_path TO ` + pgx.Identifier{schemaName(dir)}.Sanitize(),
			`SET session_replication_role = replica`, // foreign keys off
		}, stmts...)...)
	})
}

// The same updates give the same chain, hash for hash, in PostgreSQL and
// in SQLite: an audit log can move between the stores and still verify.
func TestSameHashesAsSQLite(t *testing.T) {
	pg, _ := newDB(t)
	lite, err := sqlite.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	zone := time.FixedZone("UTC+05:30", 5*3600+1800)
	t0 := time.Date(1969, 12, 31, 23, 59, 59, 999999999, zone)
	for _, s := range []holdfast.Store{pg, lite} {
		for i := range 3 {
			err := s.Update(t.Context(), "a1", t0, func(tx holdfast.AccountTx) error {
				for j := range 2 {
					e := &holdfast.AuditEntry{At: t0.Add(time.Duration(i*2+j) * time.Nanosecond), Actor: "staff:s1",
						Action: holdfast.AuditExtend, Restriction: "r1", Reason: "ünïcode ✓ reason",
						Before: json.RawMessage(`{"kind":"cooling_off",  "ends_at": null}`), After: json.RawMessage(`{"n":1}`)}
					if j == 1 {
						e.Before, e.After = nil, json.RawMessage(`[]`)
					}
					if err := tx.Append(e); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	want, err := lite.History(t.Context(), "a1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := pg.History(t.Context(), "a1")
	if err != nil {
		t.Fatal(err)
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) || len(got) != 6 {
		t.Errorf("PostgreSQL history differs from SQLite's:\n got %s\nwant %s", g, w)
	}
}
