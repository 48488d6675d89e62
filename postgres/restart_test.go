package postgres_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/policy"
)

// privateServer runs a PostgreSQL server of the test's own (initdb as the
// postgres user, on a free port), so the test may stop and start it
// without disturbing the machine's shared server.
func privateServer(t *testing.T) (dsn string, restart func()) {
	t.Helper()
	bin := "/usr/lib/postgresql/15/bin"
	// Not one of the machine's services (HOLDFAST_REQUIRE_SERVICES does
	// not cover it): without the binaries or root, skip loudly.
	if _, err := os.Stat(filepath.Join(bin, "initdb")); err != nil || os.Geteuid() != 0 {
		t.Skipf("!!! a private PostgreSQL needs %s/initdb and root (to run it as postgres): SKIPPING (%v)", bin, err)
	}
	dir, err := os.MkdirTemp("", "hf-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	as := func(args ...string) {
		t.Helper()
		out, err := exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	if out, err := exec.Command("chown", "postgres", dir).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	data := filepath.Join(dir, "data")
	as(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres")
	port := 20000 + int(time.Now().UnixNano()%10000)
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", port, dir)
	as(filepath.Join(bin, "pg_ctl"), "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "start")
	t.Cleanup(func() {
		exec.Command("runuser", "-u", "postgres", "--", filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "stop").Run()
	})
	restart = func() {
		as(filepath.Join(bin, "pg_ctl"), "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-m", "fast", "-w", "restart")
	}
	return "postgres://postgres@127.0.0.1:" + strconv.Itoa(port) + "/postgres?sslmode=disable", restart
}

// TestPostgresRestartUnderLoad restarts PostgreSQL in the middle of a
// flood of withdrawal authorizations through two nodes: while it is down
// no withdrawal is approved (the calls fail: closed); the nodes recover by
// themselves when it is back; every acknowledged authorization is kept and
// the audit chains verify.
func TestPostgresRestartUnderLoad(t *testing.T) {
	dsn, restart := privateServer(t)
	ctx := context.Background()
	nodes := make([]*engine.Engine, 2)
	for i := range nodes {
		db := open(t, dsn)
		t.Cleanup(func() { db.Close() })
		eng, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default()})
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = eng
	}
	var (
		mu     sync.Mutex
		acked  = map[string]holdfast.Outcome{}
		failed atomic.Int64
		stop   atomic.Bool
		wg     sync.WaitGroup
	)
	for w := range 8 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				id := fmt.Sprintf("w-%d-%d", w, i)
				c, cancel := context.WithTimeout(ctx, 5*time.Second)
				res, err := nodes[w%2].AuthorizeWithdrawal(c, holdfast.WithdrawalRequest{Account: fmt.Sprintf("acct-%d", i%50), ID: id, Asset: "USDT", Amount: "1", Address: "a1"})
				cancel()
				if err != nil {
					failed.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				mu.Lock()
				acked[id] = res.Outcome
				mu.Unlock()
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	restart()
	// Recovery without restarting the nodes.
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n > before+200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the nodes did not recover within 20 s after the restart (%d acknowledged before, %d now)", before, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if failed.Load() == 0 {
		t.Log("no call failed during the restart (it was quick)")
	}
	db := open(t, dsn)
	defer db.Close()
	for id, outcome := range acked {
		res, err := nodes[0].AuthorizeWithdrawal(ctx, holdfast.WithdrawalRequest{Account: accountOf(id), ID: id, Asset: "USDT", Amount: "1", Address: "a1"})
		if err != nil || res.Outcome != outcome {
			t.Fatalf("acknowledged withdrawal %s: %v %v (was %s)", id, res, err, outcome)
		}
	}
	rep, err := db.VerifyAudit(ctx, "")
	if err != nil || !rep.OK() {
		t.Fatalf("audit after the restart: %+v %v", rep, err)
	}
	t.Logf("%d authorizations acknowledged (%d before the restart), %d calls failed while PostgreSQL restarted", len(acked), before, failed.Load())
}

// accountOf recovers the account a withdrawal id was sent for: w-W-I was
// for acct-(I mod 50).
func accountOf(id string) string {
	var w, i int
	fmt.Sscanf(id, "w-%d-%d", &w, &i)
	return fmt.Sprintf("acct-%d", i%50)
}
