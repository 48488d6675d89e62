package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdfast/holdfast/policy"
)

// TestPolicyOverlay: a one-line policy file validates, `policy show
// --effective` prints it merged onto the default, a server started with
// it sends a withdrawal over the file's threshold to review (under the
// default's it is approved), and the store holds the merged policy, so a
// later release's default cannot change what the version means.
func TestPolicyOverlay(t *testing.T) {
	bin := buildHoldfast(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "overlay.yaml")
	if err := os.WriteFile(file, []byte("withdrawal_review: {single_usd: 50000}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errw := cli(t, "policy", "validate", file); code != 0 {
		t.Fatalf("policy validate: exit %d %s%s", code, out, errw)
	}
	code, effective, errw := cli(t, "policy", "show", "--effective", file)
	if code != 0 || !strings.Contains(effective, "single_usd: 50000") || !strings.Contains(effective, "login_restricted_country") {
		t.Fatalf("policy show --effective: exit %d %s\n%.400s", code, errw, effective)
	}
	p, err := policy.ParseVersion([]byte(effective))
	if err != nil || p.WithdrawalReview.SingleUSD != 50000 {
		t.Fatalf("the effective policy does not stand alone: %v", err)
	}

	// A mistake in an overlay names the file and line.
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("# raise the bar\nwithdrawal_review:\n  single_usd: a lot\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errw := cli(t, "policy", "validate", bad); code == 0 || !strings.Contains(errw, bad+":3: withdrawal_review.single_usd: ") {
		t.Fatalf("policy validate of a bad overlay: exit %d %s", code, errw)
	}

	data := t.TempDir()
	if code, out, errw := cli(t, "staff", "add", "--data", data, "--id", "bob", "--roles", "admin"); code != 0 {
		t.Fatalf("staff add: %s%s", out, errw)
	}
	_, staffTok, _ := cli(t, "token", "create", "--data", data, "--scopes", "staff", "--staff", "bob")
	_, checkTok, _ := cli(t, "token", "create", "--data", data, "--scopes", "check")
	addr := freePort(t)
	n := &node{t: t, url: "http://" + addr, args: []string{bin, "serve", "--addr", addr, "--data", data, "--policy", file, "--log-level", "error"}}
	n.start()
	t.Cleanup(n.kill)

	code, out, errw := cli(t, "authorize-withdrawal", "--server", n.url, "--token", strings.TrimSpace(checkTok),
		"--account", "acct-1", "--id", "w-1", "--asset", "USDT", "--amount", "60000", "--address", "addr-1")
	if code != 0 || !strings.Contains(out, "review") {
		t.Fatalf("a 60,000 USDT withdrawal under a 50,000 threshold: exit %d %s%s", code, out, errw)
	}
	code, out, errw = cli(t, "policy", "show", "--version", "active", "--server", n.url, "--token", strings.TrimSpace(staffTok))
	if code != 0 || out != effective {
		t.Fatalf("the stored active version is not the effective policy: exit %d %s\n%.300s", code, errw, out)
	}
}
