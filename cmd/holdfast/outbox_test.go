package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/sqlite"
	"github.com/holdfast/holdfast/webhook"
)

// commitCommand stores a pending outbox command in a data directory, as a
// server that stopped before delivering it would have left it.
func commitCommand(t *testing.T, dir, id string) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(context.Background(), "acct-1", time.Now().UTC(), func(tx holdfast.AccountTx) error {
		return tx.Enqueue(&holdfast.Command{ID: id, Type: holdfast.CommandRevokeSessions})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// serve --webhook-url delivers what the outbox holds, signed with the
// secret from the environment, and never logs that secret.
func TestServeDeliversWebhooks(t *testing.T) {
	const secret = "serve-test-secret-0123456789"
	t.Setenv(webhookSecretEnv, secret)
	dir := filepath.Join(t.TempDir(), "data")
	commitCommand(t, dir, "cmd-1")

	got := make(chan string, 10)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := webhook.ReadRequest(r, []byte(secret), time.Now(), time.Minute)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		got <- c.ID
	}))
	defer rc.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errw syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--data", dir, "--addr", addr, "--webhook-url", rc.URL + "/hooks"}, &out, &errw)
	}()
	select {
	case id := <-got:
		if id != "cmd-1" {
			t.Errorf("receiver got %q, want cmd-1", id)
		}
	case code := <-done:
		t.Fatalf("serve exited %d: %s", code, errw.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("no delivery:\n%s", errw.String())
	}
	// The outcome is recorded once the answer is back: read it as an
	// operator would, beside the running server.
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, stdout, stderr := cli(t, "outbox", "list", "--data", dir, "--state", "delivered")
		if code == 0 && strings.Contains(stdout, "cmd-1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cmd-1 not recorded as delivered: %d %s %s", code, stdout, stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v\n%s", err, errw.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d: %s", code, errw.String())
	}
	if log := errw.String(); strings.Contains(log, secret) || !strings.Contains(log, "webhook delivery is on") {
		t.Errorf("log holds the secret or does not say delivery is on:\n%s", log)
	}
}

func TestServeWebhookNeedsSecret(t *testing.T) {
	t.Setenv(webhookSecretEnv, "")
	code, _, stderr := cli(t, "serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--webhook-url", "https://example.com/hooks")
	if code == 0 || !strings.Contains(stderr, webhookSecretEnv) {
		t.Errorf("serve without a secret: exit %d, %s", code, stderr)
	}
}

// An operator lists the outbox and redrives a dead command.
func TestOutboxCLI(t *testing.T) {
	dir := t.TempDir()
	commitCommand(t, dir, "cmd-1")
	commitCommand(t, dir, "cmd-2")
	db, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	closeDB := func() { once.Do(func() { db.Close() }) }
	defer closeDB()
	ds, err := db.ClaimCommands(context.Background(), time.Now(), time.Minute, 1)
	if err != nil || len(ds) != 1 {
		t.Fatalf("claim: %v, %v", ds, err)
	}
	if err := db.FailCommand(context.Background(), ds[0].Command.ID, ds[0].LeaseUntil, time.Now(), "HTTP 410: gone", time.Time{}); err != nil {
		t.Fatal(err)
	}
	closeDB()
	dead := ds[0].Command.ID

	code, stdout, stderr := cli(t, "outbox", "list", "--data", dir, "--state", "dead")
	if code != 0 || !strings.Contains(stdout, dead) || !strings.Contains(stdout, "HTTP 410: gone") || strings.Count(stdout, "cmd-") != 1 {
		t.Errorf("outbox list --state dead: %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, _ = cli(t, "outbox", "list", "--data", dir, "--json")
	if code != 0 || !strings.Contains(stdout, `"state": "dead"`) || !strings.Contains(stdout, `"state": "pending"`) {
		t.Errorf("outbox list --json: %d\n%s", code, stdout)
	}
	if code, stdout, stderr := cli(t, "outbox", "redrive", dead, "--data", dir); code != 0 || !strings.Contains(stdout, "due now") {
		t.Errorf("outbox redrive: %d %s %s", code, stdout, stderr)
	}
	if code, stdout, _ := cli(t, "outbox", "list", "--data", dir, "--state", "dead"); code != 0 || strings.Contains(stdout, "cmd-") {
		t.Errorf("dead commands after redrive: %d\n%s", code, stdout)
	}
	if code, _, stderr := cli(t, "outbox", "redrive", "nope", "--data", dir); code != 1 || !strings.Contains(stderr, "not_found") {
		t.Errorf("redrive of an unknown command: %d %s", code, stderr)
	}
	if code, _, stderr := cli(t, "outbox", "list", "--data", dir, "--state", "lost"); code == 0 || !strings.Contains(stderr, "invalid_argument") {
		t.Errorf("list --state lost: %d %s", code, stderr)
	}
}
