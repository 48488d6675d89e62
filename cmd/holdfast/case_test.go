package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/blob"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/rpc"
	"github.com/holdfast/holdfast/sqlite"
)

// caseServer is server with an evidence store in DIR/evidence, as serve
// wires it.
func caseServer(t *testing.T) (url, dir string) {
	t.Helper()
	dir = t.TempDir()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	evidence, err := blob.NewDir(filepath.Join(dir, "evidence"), rpc.DefaultMaxEvidenceBytes)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default(), Clock: holdfast.WallClock{}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rpc.Handler(rpc.Config{Engine: eng, Staff: db, Logger: log, Outbox: staffOutbox{db}, Evidence: evidence}))
	t.Cleanup(srv.Close)
	return srv.URL, dir
}

// TestCaseCLI: a holder's app opens a case and uploads a file, compliance
// lists, downloads and approves it, and the report comes out as JSON
// Lines.
func TestCaseCLI(t *testing.T) {
	url, dir := caseServer(t)
	t.Setenv("HOLDFAST_SERVER", url)
	t.Setenv("HOLDFAST_TOKEN", "")
	tokens := map[string]string{}
	mint := func(name string, args ...string) {
		code, out, errw := cli(t, append([]string{"token", "create", "--data", dir}, args...)...)
		if code != 0 {
			t.Fatalf("token %s: %s", name, errw)
		}
		tokens[name] = strings.TrimSpace(out)
	}
	for id, roles := range map[string]string{"carol": "compliance", "lee": "le_liaison"} {
		if code, _, errw := cli(t, "staff", "add", "--data", dir, "--id", id, "--roles", roles); code != 0 {
			t.Fatal(errw)
		}
		mint(id, "--scopes", "staff", "--staff", id)
	}
	mint("app", "--scopes", "self_service")
	mint("events", "--scopes", "events")
	as := func(who string, args ...string) (int, string, string) {
		t.Helper()
		return cli(t, append(args, "--token", tokens[who])...)
	}
	must := func(who string, args ...string) string {
		t.Helper()
		code, out, errw := as(who, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", strings.Join(args, " "), code, errw)
		}
		return out
	}

	must("events", "event", "--type", "deposit", "--account", "acct-1", "--asset", "BTC", "--amount", "0.5", "--usd-value", "30000", "--source-risk", "mixer")
	var opened struct {
		Case struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"case"`
	}
	out := must("app", "case", "open", "acct-1", "--type", "source_of_funds", "--statement", "my own wallet", "--json")
	if err := json.Unmarshal([]byte(out), &opened); err != nil || opened.Case.ID == "" || opened.Case.State != "open" {
		t.Fatalf("open: %v\n%s", err, out)
	}
	id := opened.Case.ID

	// Upload a PNG; a text file is refused whatever its name.
	img := image.NewGray(image.Rect(0, 0, 8, 8))
	var pngBytes bytes.Buffer
	if err := png.Encode(&pngBytes, img); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "proof.png")
	if err := os.WriteFile(file, pngBytes.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out = must("app", "case", "upload", id, file, "--account", "acct-1", "--json")
	var up struct {
		Evidence struct {
			Sha256      string `json:"sha256"`
			ContentType string `json:"content_type"`
		} `json:"evidence"`
	}
	if err := json.Unmarshal([]byte(out), &up); err != nil || up.Evidence.ContentType != "image/png" {
		t.Fatalf("upload: %v\n%s", err, out)
	}
	fake := filepath.Join(t.TempDir(), "x.pdf")
	if err := os.WriteFile(fake, []byte("plain text"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errw := as("app", "case", "upload", id, fake, "--account", "acct-1"); code != 1 || !strings.HasPrefix(errw, "error: invalid_argument: ") || !strings.Contains(errw, "(field content)") {
		t.Fatalf("text upload: exit %d %s", code, errw)
	}
	if code, _, errw := as("app", "case", "show", id, "--account", "acct-2"); code != 1 || !strings.HasPrefix(errw, "error: not_found: ") {
		t.Fatalf("another holder: exit %d %s", code, errw)
	}

	// Compliance works the case.
	if out := must("carol", "case", "list", "--open"); !strings.Contains(out, id) || !strings.Contains(out, "source_of_funds") {
		t.Fatalf("list:\n%s", out)
	}
	must("carol", "case", "add", id, "--note", "looks fine")
	saved := filepath.Join(t.TempDir(), "got.png")
	if out := must("carol", "case", "download", id, up.Evidence.Sha256, "-o", saved); !strings.Contains(out, "proof.png") {
		t.Fatalf("download: %s", out)
	}
	if got, _ := os.ReadFile(saved); !bytes.Equal(got, pngBytes.Bytes()) {
		t.Fatal("downloaded bytes differ")
	}
	if code, _, errw := as("carol", "case", "decide", id, "approve", "--keep-held", "BTC"); code != 2 || !strings.Contains(errw, "ASSET:AMOUNT") {
		t.Fatalf("bad --keep-held: exit %d %s", code, errw)
	}
	out = must("carol", "case", "decide", id, "approve", "--keep-held", "BTC:0.5", "--reason", "own wallet")
	if !strings.Contains(out, "approved") || !strings.Contains(out, "held: 0.5 BTC") {
		t.Fatalf("decide:\n%s", out)
	}
	if out := must("app", "case", "show", id, "--account", "acct-1"); strings.Contains(out, "looks fine") || !strings.Contains(out, "approved") {
		t.Fatalf("holder's view:\n%s", out)
	}

	// An LE hold and a seizure, then the report line by line.
	must("lee", "apply", "--account", "acct-1", "--kind", "law_enforcement_hold", "--reason", "order", "--reference", "LE-7")
	must("lee", "compliance", "seizure", "acct-1", "--asset", "BTC", "--amount", "0.2", "--reference", "LE-7")
	out = must("carol", "compliance", "report", "acct-1", "--jsonl")
	records := map[string]int{}
	var last map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %v: %s", err, sc.Text())
		}
		rec, _ := m["record"].(string)
		records[rec]++
		last = m
		if rec == "account" && m["id"] != "acct-1" {
			t.Fatalf("account line: %v", m)
		}
	}
	if records["account"] != 1 || records["restriction"] != 2 || records["case"] != 1 || records["audit_entry"] == 0 || last["record"] != "audit" || last["ok"] != true {
		t.Fatalf("report records %v, last %v\n%s", records, last, out)
	}
	if out := must("carol", "compliance", "in-notice"); !strings.HasPrefix(out, "ACCOUNT") {
		t.Fatalf("in-notice: %s", out)
	}
}
