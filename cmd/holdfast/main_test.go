package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/rpc"
	"github.com/holdfast/holdfast/sqlite"
)

// cli runs the command in-process and returns exit code, stdout, stderr.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errw bytes.Buffer
	code := run(context.Background(), args, &out, &errw)
	return code, out.String(), errw.String()
}

// server starts a real server on a SQLite store in a fresh data directory
// and returns its URL and the directory.
func server(t *testing.T) (url, dir string) {
	t.Helper()
	return serverOn(t, t.TempDir())
}

// serverOn starts a real server on the store in dir.
func serverOn(t *testing.T, dir string) (url, _ string) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default(), Clock: holdfast.WallClock{}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rpc.Handler(rpc.Config{Engine: eng, Staff: db, Logger: log, Outbox: staffOutbox{db}}))
	t.Cleanup(srv.Close)
	return srv.URL, dir
}

var tokenRE = regexp.MustCompile(`^hf_[A-Za-z0-9_-]{43}\n$`)

func TestCLI(t *testing.T) {
	url, dir := server(t)
	t.Setenv("HOLDFAST_SERVER", url)
	t.Setenv("HOLDFAST_TOKEN", "")

	// Bootstrap straight on the data directory the server is using.
	if code, out, errw := cli(t, "staff", "add", "--data", dir, "--id", "admin", "--roles", "admin"); code != 0 {
		t.Fatalf("staff add: %d %s %s", code, out, errw)
	}
	code, admin, errw := cli(t, "token", "create", "--data", dir, "--scopes", "staff,check,self_service,events", "--staff", "admin")
	if code != 0 || !tokenRE.MatchString(admin) || errw != "" {
		t.Fatalf("token create printed %q, %q (exit %d); want only the token", admin, errw, code)
	}
	admin = strings.TrimSpace(admin)
	t.Setenv("HOLDFAST_TOKEN", admin)

	tests := []struct {
		name    string
		args    []string
		code    int
		stdout  string // substring
		stderr  string // prefix
		jsonKey string // with --json: a key the output must have
	}{
		{"check allows", []string{"check", "--account", "acct-1", "--action", "withdraw"}, 0, "allow", "", ""},
		{"check as JSON", []string{"check", "--account", "acct-1", "--action", "withdraw", "--json"}, 0, `"effect": "allow"`, "", "causes"},
		{"panic lock", []string{"panic-lock", "--account", "acct-1", "--duration", "24h"}, 0, "panic_lock on acct-1", "", ""},
		{"lift a panic lock", []string{"lift", "--account", "acct-1", "--kind", "panic_lock", "--reason", "please"}, 1, "", "error: immutable: a panic_lock cannot be lifted", ""},
		{"shorten a panic lock", []string{"extend", "--account", "acct-1", "--kind", "panic_lock", "--until", "2000-01-01T00:00:00Z"}, 1, "", "error: immutable: ", ""},
		{"extend a panic lock without a reason", []string{"extend", "--account", "acct-1", "--kind", "panic_lock", "--by", "1d"}, 1, "", "error: invalid_argument: ", ""},
		{"extend a panic lock", []string{"extend", "--account", "acct-1", "--kind", "panic_lock", "--by", "1d", "--reason", "holder asked"}, 0, "panic_lock on acct-1", "", ""},
		{"check denies", []string{"check", "--account", "acct-1", "--action", "withdraw"}, 0, "deny", "", ""},
		{"status", []string{"status", "--account", "acct-1"}, 0, "withdraw=deny", "", ""},
		{"history", []string{"history", "--account", "acct-1", "--json"}, 0, `"action": "extend"`, "", "entries"},
		{"unknown action", []string{"check", "--account", "acct-1", "--action", "fly"}, 1, "", `error: invalid_argument: unknown action "fly" (field action)`, ""},
		{"unknown kind", []string{"apply", "--account", "acct-1", "--kind", "house_arrest"}, 1, "", "error: invalid_argument: unknown kind", ""},
		{"bad duration", []string{"freeze", "--account", "acct-2", "--duration", "3 weeks"}, 1, "", "error: invalid_argument: invalid duration", ""},
		{"bad until", []string{"extend", "--account", "acct-1", "--kind", "panic_lock", "--until", "soon"}, 2, "", "error: invalid_argument: --until", ""},
		{"extend past the longest duration", []string{"extend", "--account", "acct-1", "--kind", "panic_lock", "--by", "90000d"}, 1, "", `error: invalid_argument: by "90000d" is longer than 36500d`, ""},
		{"extend until after the last time kept", []string{"extend", "--account", "acct-1", "--kind", "panic_lock", "--until", "9999-12-31T00:00:00Z"}, 1, "", "error: invalid_argument: until 9999-12-31T00:00:00Z is outside", ""},
		{"event at 9999-12-31", []string{"event", "--type", "login", "--account", "acct-9", "--at", "9999-12-31T00:00:00Z"}, 1, "", "error: invalid_argument: at 9999-12-31T00:00:00Z is outside", ""},
		{"not found", []string{"get", "--restriction", "rst_nosuch"}, 1, "", "error: not_found: ", ""},
		{"request unfreeze without a freeze", []string{"request-unfreeze", "--account", "acct-3"}, 1, "", "error: failed_precondition: ", ""},
		{"no token", []string{"check", "--account", "acct-1", "--action", "trade", "--token", "hf_nope"}, 1, "", "error: unauthenticated: ", ""},
		{"withdrawal", []string{"authorize-withdrawal", "--account", "acct-4", "--id", "wd-1", "--asset", "USDT", "--amount", "100", "--address", "a1"}, 0, "approve withdrawal wd-1", "", ""},
		{"withdrawal replayed with other fields", []string{"authorize-withdrawal", "--account", "acct-4", "--id", "wd-1", "--asset", "USDT", "--amount", "999", "--address", "a1"}, 1, "", "error: conflict: ", ""},
		{"unknown flag", []string{"check", "--colour", "red"}, 2, "", "error: invalid_argument: unknown flag: --colour", ""},
		{"bad role", []string{"staff", "add", "--data", dir, "--id", "bob", "--roles", "janitor"}, 1, "", `error: invalid_argument: unknown role "janitor"`, ""},
		{"token for a missing staff member", []string{"token", "create", "--data", dir, "--scopes", "staff", "--staff", "ghost"}, 1, "", "error: not_found: ", ""},
		{"bad scope", []string{"token", "create", "--data", dir, "--scopes", "root"}, 1, "", `error: invalid_argument: unknown scope "root"`, ""},
		{"audit verify", []string{"audit", "verify", "--data", dir}, 0, "OK: 3 account(s)", "", ""}, // two accounts and the staff chain
		{"audit verify one account", []string{"audit", "verify", "--data", dir, "--account", "acct-1"}, 0, "OK: 1 account(s), 2 entries", "", ""},
		{"audit verify no data", []string{"audit", "verify", "--data", filepath.Join(dir, "nope")}, 1, "", "error: not_found: ", ""},
		{"policy show", []string{"policy", "show"}, 0, "panic_lock:", "", ""},
		{"version", []string{"version"}, 0, "holdfast ", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errw := cli(t, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.stdout) || !strings.HasPrefix(errw, tt.stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout containing %q, stderr starting %q", code, out, errw, tt.code, tt.stdout, tt.stderr)
			}
			if tt.jsonKey != "" {
				var m map[string]any
				if err := json.Unmarshal([]byte(out), &m); err != nil || m[tt.jsonKey] == nil {
					t.Fatalf("--json output lacks %q: %v\n%s", tt.jsonKey, err, out)
				}
			}
		})
	}
}

func TestFourEyesCLI(t *testing.T) {
	url, dir := server(t)
	t.Setenv("HOLDFAST_SERVER", url)
	tokens := map[string]string{}
	for _, id := range []string{"carol", "dave"} {
		cli(t, "staff", "add", "--data", dir, "--id", id, "--roles", "compliance")
		_, tok, _ := cli(t, "token", "create", "--data", dir, "--scopes", "staff", "--staff", id)
		tokens[id] = strings.TrimSpace(tok)
	}
	as := func(who string, args ...string) (int, string, string) {
		return cli(t, append(args, "--token", tokens[who])...)
	}
	if code, _, errw := as("carol", "apply", "--account", "acct-1", "--kind", "full_restriction", "--reason", "aml"); code != 0 {
		t.Fatal(errw)
	}
	code, out, _ := as("carol", "lift", "--account", "acct-1", "--kind", "full_restriction", "--json")
	var res struct {
		Pending struct{ ID string } `json:"pending"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Pending.ID == "" {
		t.Fatalf("lift: %d %s", code, out)
	}
	if code, _, errw := as("carol", "approve", "--request", res.Pending.ID); code != 1 || !strings.HasPrefix(errw, "error: permission_denied: ") {
		t.Fatalf("self-approval: %d %s", code, errw)
	}
	if code, out, _ := as("dave", "approvals"); code != 0 || !strings.Contains(out, res.Pending.ID) {
		t.Fatalf("approvals: %d %s", code, out)
	}
	if code, out, errw := as("dave", "approve", "--request", res.Pending.ID); code != 0 || !strings.Contains(out, "lifted") {
		t.Fatalf("approve: %d %s %s", code, out, errw)
	}
}

// TestPanicExtensionCLI: extending a panic lock by 36500 d takes a
// reason and then only opens a request that a second compliance officer
// approves.
func TestPanicExtensionCLI(t *testing.T) {
	url, dir := server(t)
	t.Setenv("HOLDFAST_SERVER", url)
	tokens := map[string]string{}
	for _, id := range []string{"carol", "dave"} {
		cli(t, "staff", "add", "--data", dir, "--id", id, "--roles", "compliance")
		_, tok, _ := cli(t, "token", "create", "--data", dir, "--scopes", "staff", "--staff", id)
		tokens[id] = strings.TrimSpace(tok)
	}
	_, tok, _ := cli(t, "token", "create", "--data", dir, "--scopes", "self_service")
	tokens["holder"] = strings.TrimSpace(tok)
	as := func(who string, args ...string) (int, string, string) {
		return cli(t, append(args, "--token", tokens[who])...)
	}
	if code, _, errw := as("holder", "panic-lock", "--account", "acct-1", "--duration", "7d"); code != 0 {
		t.Fatal(errw)
	}
	if code, _, errw := as("carol", "extend", "--account", "acct-1", "--kind", "panic_lock", "--by", "36500d"); code != 1 || !strings.HasPrefix(errw, "error: invalid_argument: ") || !strings.Contains(errw, "(field reason)") {
		t.Fatalf("extend without a reason: %d %s", code, errw)
	}
	code, out, errw := as("carol", "extend", "--account", "acct-1", "--kind", "panic_lock", "--by", "36500d", "--reason", "court order 17")
	if code != 0 || !strings.Contains(out, "pending approval apr_") || !strings.Contains(out, "holdfast approve --request") {
		t.Fatalf("extend past the bound: %d %q %q", code, out, errw)
	}
	code, out, _ = as("carol", "extend", "--account", "acct-1", "--kind", "panic_lock", "--by", "36500d", "--reason", "court order 17", "--json")
	var res struct {
		Pending struct {
			ID string
			Op string
		} `json:"pending"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Pending.ID == "" || res.Pending.Op != "extend" {
		t.Fatalf("extend --json: %d %s", code, out)
	}
	if code, _, errw := as("carol", "approve", "--request", res.Pending.ID); code != 1 || !strings.HasPrefix(errw, "error: permission_denied: ") {
		t.Fatalf("self-approval: %d %s", code, errw)
	}
	if code, out, _ := as("dave", "approvals"); code != 0 || !strings.Contains(out, res.Pending.ID) || !strings.Contains(out, "extend to 2126-") {
		t.Fatalf("approvals: %d %s", code, out)
	}
	if code, out, errw := as("dave", "approve", "--request", res.Pending.ID); code != 0 || !strings.Contains(out, "panic_lock on acct-1") || !strings.Contains(out, "2126-") {
		t.Fatalf("approve: %d %s %s", code, out, errw)
	}
}

// TestServe runs `holdfast serve` on a fresh directory, checks the
// first-start hint and readiness, and stops it as SIGINT would.
func TestServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := filepath.Join(t.TempDir(), "data")

	ctx, cancel := context.WithCancel(context.Background())
	var out, errw syncBuffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"serve", "--data", dir, "--addr", addr}, &out, &errw) }()

	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v\n%s", err, errw.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, sqlite.FileName)); err != nil {
		t.Errorf("data directory not created: %v", err)
	}
	for _, want := range []string{
		"holdfast staff add --data " + dir + " --id admin --roles admin",
		"holdfast token create --data " + dir + " --scopes staff,check,self_service,events --staff admin",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("first-start hint lacks %q:\n%s", want, out.String())
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d: %s", code, errw.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(errw.String(), `"msg":"stopped"`) {
		t.Errorf("log:\n%s", errw.String())
	}
}
