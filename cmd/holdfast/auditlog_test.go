package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/sqlite"
	_ "modernc.org/sqlite"
)

// TestAuditLogTour walks the README's tour of the transparency log with
// the real binary: a server publishes signed checkpoints; a kept
// checkpoint, an entry's proof and a consistency proof verify; then,
// with the server stopped, an insider erases one account's entries and
// their leaves from the SQLite file, and `audit verify --checkpoint`
// names the first leaf that no longer matches.
func TestAuditLogTour(t *testing.T) {
	n, token, data := adminServer(t)
	remote := []string{"--server", n.url, "--token", token}
	must := func(args ...string) string {
		t.Helper()
		code, out, errw := cli(t, args...)
		if code != 0 {
			t.Fatalf("holdfast %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errw)
		}
		return out
	}
	for _, account := range []string{"u1", "u2", "u3"} {
		must(append([]string{"panic-lock", "--account", account, "--duration", "72h"}, remote...)...)
	}
	key := strings.TrimSpace(must("audit", "key", "--data", data))
	if !strings.HasPrefix(key, "holdfast.audit+") {
		t.Fatalf("audit key = %q", key)
	}
	kept := filepath.Join(t.TempDir(), "kept.checkpoint")
	must(append([]string{"audit", "checkpoint", "--publish", "--out", kept}, remote...)...)
	note, _ := os.ReadFile(kept)
	if !strings.HasPrefix(string(note), "holdfast.audit\n") {
		t.Fatalf("checkpoint file:\n%s", note)
	}

	// Checkpoints and proofs by index are public; an entry by name is
	// staff's.
	resp, err := http.Get(n.url + "/audit/checkpoint")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /audit/checkpoint without a token: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get(n.url + "/audit/proof/entry?account=u1&seq=1")
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /audit/proof/entry without a token: %v %v; want 401", resp, err)
	}
	resp.Body.Close()
	if code, _, errw := cli(t, append([]string{"audit", "checkpoint", "--publish"}, "--server", n.url)...); code == 0 || !strings.Contains(errw, "unauthenticated") {
		t.Errorf("publishing without a token: exit %d, %s", code, errw)
	}

	var rc holdfast.Receipt
	if err := json.Unmarshal([]byte(must(append([]string{"audit", "prove", "--account", "u1", "--entry", "1", "--key", key}, remote...)...)), &rc); err != nil {
		t.Fatal(err)
	}
	if rc.Entry.Account != "u1" || rc.Entry.Action != holdfast.AuditApply {
		t.Errorf("proof of u1's first entry: %+v", rc.Entry)
	}
	must(append([]string{"extend", "--account", "u1", "--kind", "panic_lock", "--by", "24h", "--reason", "holder asked"}, remote...)...)
	if out := must(append([]string{"audit", "consistency", "--from", kept, "--key", key}, remote...)...); !strings.Contains(out, "extends the checkpoint") {
		t.Errorf("audit consistency: %s", out)
	}
	// The server publishes on its own within a second.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := fetchNote(n.url)
		if err == nil && !strings.Contains(c, "\n3\n") && !strings.Contains(c, "\n0\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint with the extension published: %q %v", c, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	n.kill()
	if out := must("audit", "verify", "--data", data, "--checkpoint", kept); !strings.Contains(out, "OK: transparency log") {
		t.Fatalf("audit verify before tampering:\n%s", out)
	}

	// The README's tamper, word for word.
	db, err := sql.Open("sqlite", filepath.Join(data, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM audit WHERE account = 'u1'; DELETE FROM tlog_leaves WHERE account = 'u1'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, out, errw := cli(t, "audit", "verify", "--data", data, "--checkpoint", kept)
	want := fmt.Sprintf("BROKEN: transparency log at leaf %d: leaf %d is missing from the log", rc.Leaf, rc.Leaf)
	if code != 1 || !strings.Contains(out, want) || !strings.Contains(errw, "failed_precondition") {
		t.Fatalf("audit verify after erasing u1's entries: exit %d\n%s%s", code, out, errw)
	}
}

func fetchNote(url string) (string, error) {
	resp, err := http.Get(url + "/audit/checkpoint")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
