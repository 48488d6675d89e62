package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
	"github.com/holdfast/holdfast/sqlite"
)

// TestCrashOnTheEmbeddedStore kills the server with SIGKILL in the middle
// of a flood of applies, withdrawal authorizations and events, restarts
// it, and checks that every acknowledged write is there with its answer,
// and that every audit chain verifies (nothing half-written).
func TestCrashOnTheEmbeddedStore(t *testing.T) {
	n, token, data := adminServer(t)
	c := rpc.NewClients(nil, n.url, token)
	ctx := context.Background()

	type ack struct{ kind, id, want string }
	var (
		mu    sync.Mutex
		acked []ack
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	record := func(a ack) {
		mu.Lock()
		acked = append(acked, a)
		mu.Unlock()
	}
	for w := range 6 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				acct := fmt.Sprintf("c-%d-%d", w, i)
				switch i % 3 {
				case 0:
					res, err := c.Restriction.Apply(ctx, connect.NewRequest(&holdfastv1.ApplyRequest{Account: acct, Kind: "reduce_only", Reason: "crash"}))
					if err != nil {
						return
					}
					record(ack{"apply", res.Msg.Restriction.Id, acct})
				case 1:
					res, err := c.Decision.AuthorizeWithdrawal(ctx, connect.NewRequest(&holdfastv1.AuthorizeWithdrawalRequest{Account: acct, Id: "w-" + acct, Asset: "USDT", Amount: "10", Address: "a1"}))
					if err != nil {
						return
					}
					record(ack{"withdrawal", "w-" + acct, acct + "/" + res.Msg.Outcome})
				default:
					if _, err := c.Event.Ingest(ctx, connect.NewRequest(&holdfastv1.IngestRequest{Event: &holdfastv1.Event{Id: "e-" + acct, Type: "password_changed", Account: acct}})); err != nil {
						return
					}
					record(ack{"event", "e-" + acct, acct})
				}
			}
		})
	}
	time.Sleep(400 * time.Millisecond)
	n.kill()
	stop.Store(true)
	wg.Wait()
	if len(acked) < 30 {
		t.Fatalf("only %d writes acknowledged before the kill", len(acked))
	}

	n.start()
	c = rpc.NewClients(nil, n.url, token)
	for _, a := range acked {
		switch a.kind {
		case "apply":
			if _, err := c.Restriction.Get(ctx, connect.NewRequest(&holdfastv1.GetRequest{Restriction: a.id})); err != nil {
				t.Fatalf("acknowledged restriction %s lost: %v", a.id, err)
			}
		case "withdrawal":
			acct, outcome, _ := strings.Cut(a.want, "/")
			res, err := c.Decision.AuthorizeWithdrawal(ctx, connect.NewRequest(&holdfastv1.AuthorizeWithdrawalRequest{Account: acct, Id: a.id, Asset: "USDT", Amount: "10", Address: "a1"}))
			if err != nil || res.Msg.Outcome != outcome {
				t.Fatalf("acknowledged withdrawal %s answered %v %v after the restart, was %s", a.id, res, err, outcome)
			}
		case "event":
			res, err := c.Event.Ingest(ctx, connect.NewRequest(&holdfastv1.IngestRequest{Event: &holdfastv1.Event{Id: a.id, Type: "password_changed", Account: a.want}}))
			if err != nil || !res.Msg.Result.Duplicate {
				t.Fatalf("acknowledged event %s not recorded: %v %v", a.id, res, err)
			}
		}
	}
	n.kill()
	if code, out, errw := cli(t, "audit", "verify", "--data", data); code != 0 || !strings.HasPrefix(out, "OK") {
		t.Fatalf("audit after the crash: %d %s %s", code, out, errw)
	}
	// The outbox still owes other services every acknowledged apply's
	// announcement (no webhook ran): nothing committed was lost from it.
	db, err := sqlite.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	owed, err := db.ListCommands(ctx, holdfast.CommandPending, 0)
	if err != nil {
		t.Fatal(err)
	}
	announced := map[string]bool{}
	for _, d := range owed {
		if d.Command.Type == holdfast.CommandRestrictionApplied {
			announced[d.Command.Restriction] = true
		}
	}
	for _, a := range acked {
		if a.kind == "apply" && !announced[a.id] {
			t.Fatalf("the outbox lost the announcement of acknowledged restriction %s", a.id)
		}
	}
	t.Logf("%d acknowledged writes survived SIGKILL", len(acked))
}

// adminServer starts the real binary on a fresh data directory with an
// admin and a token holding every scope; the node is killed at the end.
func adminServer(t *testing.T) (n *node, token, data string) {
	t.Helper()
	bin := buildHoldfast(t)
	data = t.TempDir()
	cli(t, "staff", "add", "--data", data, "--id", "admin", "--roles", "admin")
	_, tok, _ := cli(t, "token", "create", "--data", data, "--scopes", "staff,check,self_service,events", "--staff", "admin")
	addr := freePort(t)
	n = &node{t: t, url: "http://" + addr, args: []string{bin, "serve", "--addr", addr, "--data", data, "--log-level", "error"}}
	n.start()
	t.Cleanup(n.kill)
	return n, strings.TrimSpace(tok), data
}
