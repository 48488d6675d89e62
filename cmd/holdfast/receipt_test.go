package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/receipttest"
	"github.com/holdfast/holdfast/tlog"
)

// TestReceiptCLI runs the real binary: a holder's panic lock saved with
// --receipt verifies offline with `receipt verify` (and with the two
// public libraries), which says what it proves; a pretty-printed copy
// still verifies; a receipt with an entry field changed, a proof hash
// changed, or its checkpoint signed by another key fails with
// failed_precondition.
func TestReceiptCLI(t *testing.T) {
	bin := buildHoldfast(t)
	data := t.TempDir()
	n, _ := serveLogged(t, bin, data)
	code, tok, errw := runBin(t, bin, "token", "create", "--data", data, "--scopes", "self_service")
	if code != 0 {
		t.Fatalf("token create: %d %s", code, errw)
	}
	holder := []string{"--server", n.url, "--token", strings.TrimSpace(tok)}
	code, vkey, errw := runBin(t, bin, "audit", "key", "--data", data)
	if code != 0 {
		t.Fatalf("audit key: %d %s", code, errw)
	}
	vkey = strings.TrimSpace(vkey)
	dir := t.TempDir()
	// Another account's freeze first, so that the proof has hashes.
	if code, _, errw := runBin(t, bin, append([]string{"freeze", "--account", "u0", "--duration", "24h"}, holder...)...); code != 0 {
		t.Fatalf("freeze: %s", errw)
	}
	file := filepath.Join(dir, "receipt.json")
	if code, out, errw := runBin(t, bin, append([]string{"panic-lock", "--account", "u1", "--receipt", file}, holder...)...); code != 0 || errw != "" {
		t.Fatalf("panic-lock --receipt: %d %s %s", code, out, errw)
	}
	doc, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p, err := receipttest.Verify(doc, vkey)
	if err != nil {
		t.Fatalf("the saved receipt does not verify with the public libraries: %v\n%s", err, doc)
	}
	code, out, errw := runBin(t, bin, "receipt", "verify", file, "--key", vkey)
	if code != 0 {
		t.Fatalf("receipt verify: exit %d, %s", code, errw)
	}
	for _, want := range []string{"OK: entry ", "account:     u1\n", "action:      apply\n", "actor:       user:u1\n", "kind:        panic_lock\n",
		"restriction: " + p.Entry.Restriction + "\n", "leaf:        " + strconv.FormatUint(p.LeafIndex, 10) + "\n", "tree size:   " + strconv.FormatUint(p.TreeSize, 10) + "\n", "ends:        20"} {
		if !strings.Contains(out, want) {
			t.Errorf("receipt verify does not say %q:\n%s", want, out)
		}
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, doc, "", "  "); err != nil {
		t.Fatal(err)
	}
	prettyFile := filepath.Join(dir, "pretty.json")
	if err := os.WriteFile(prettyFile, pretty.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "log.pub")
	if err := os.WriteFile(keyFile, []byte(vkey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errw := runBin(t, bin, "receipt", "verify", prettyFile, "--key", keyFile); code != 0 {
		t.Errorf("a pretty-printed receipt, the key from a file: exit %d, %s", code, errw)
	}

	tampers := map[string]func(rc *holdfast.Receipt){
		"entry time changed": func(rc *holdfast.Receipt) { rc.Entry.At = rc.Entry.At.Add(time.Hour) },
		"entry end changed": func(rc *holdfast.Receipt) {
			rc.Entry.After = bytes.Replace(rc.Entry.After, []byte(`"ends_at":"20`), []byte(`"ends_at":"19`), 1)
		},
		"proof hash changed": func(rc *holdfast.Receipt) { rc.Proof[0][0] ^= 1 },
		"another key's checkpoint": func(rc *holdfast.Receipt) {
			cp, err := tlog.Open([]byte(rc.Checkpoint), vkey)
			if err != nil {
				t.Fatal(err)
			}
			skey, _, err := tlog.GenerateKey(cp.Origin)
			if err != nil {
				t.Fatal(err)
			}
			s, _, err := tlog.NewSigner(skey)
			if err != nil {
				t.Fatal(err)
			}
			forged, err := tlog.Sign(cp.Checkpoint, s)
			if err != nil {
				t.Fatal(err)
			}
			rc.Checkpoint = string(forged.Note)
		},
	}
	for name, tamper := range tampers {
		t.Run(name, func(t *testing.T) {
			var rc holdfast.Receipt
			if err := json.Unmarshal(doc, &rc); err != nil || len(rc.Proof) == 0 {
				t.Fatalf("the receipt: %v, %d proof hashes", err, len(rc.Proof))
			}
			tamper(&rc)
			bad, _ := json.Marshal(&rc)
			if _, err := receipttest.Verify(bad, vkey); err == nil {
				t.Fatal("the tampered receipt still verifies with the public libraries: the tamper changed nothing")
			}
			path := filepath.Join(t.TempDir(), "bad.json")
			if err := os.WriteFile(path, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errw := runBin(t, bin, "receipt", "verify", path, "--key", vkey)
			if code != 1 || out != "" || !strings.HasPrefix(errw, "error: failed_precondition: ") {
				t.Errorf("receipt verify: exit %d, stdout %q, stderr %q; want failed_precondition", code, out, errw)
			}
		})
	}
	if code, _, errw := runBin(t, bin, "receipt", "verify", file); code != 2 || !strings.Contains(errw, "--key") {
		t.Errorf("receipt verify without --key: exit %d, %s", code, errw)
	}
}
