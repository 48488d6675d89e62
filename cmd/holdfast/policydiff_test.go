package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdfast/holdfast/policy"
)

// TestPolicyDiffCLI: `policy diff` reads two files and prints what the
// second changes, in words or as JSON; equal policies are "no
// differences"; an invalid file is exit 2 with its line.
func TestPolicyDiffCLI(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	def := string(policy.DefaultYAML())
	oldPath := write("old.yaml", def)
	// The same policy with a comment added is no difference.
	samePath := write("same.yaml", "# reviewed\n"+def)
	changed := strings.Replace(def, "single_usd: 100000", "single_usd: 50000", 1)
	changed = strings.Replace(changed, "restricted_countries: [US]", "restricted_countries: [US, KP]", 1)
	changed = strings.Replace(changed, "blocks: {deny: [withdraw, internal_transfer, p2p_trade]}", "blocks: {deny: [internal_transfer, p2p_trade], review: [withdraw]}", 1) // withdrawal_freeze
	newPath := write("new.yaml", changed)

	code, out, errw := cli(t, "policy", "diff", oldPath, samePath)
	if code != 0 || out != "no differences\n" || errw != "" {
		t.Fatalf("equal policies: exit %d, stdout %q, stderr %q", code, out, errw)
	}

	code, out, errw = cli(t, "policy", "diff", oldPath, newPath)
	want := "kind withdrawal_freeze: effect on withdraw deny → review\n" +
		"restricted_countries: + KP\n" +
		"withdrawal_review.single_usd: 100000 → 50000\n"
	if code != 0 || out != want || errw != "" {
		t.Fatalf("exit %d, stdout:\n%s\nstderr %q; want exit 0 and:\n%s", code, out, errw, want)
	}

	code, out, _ = cli(t, "policy", "diff", "--json", oldPath, newPath)
	var got struct {
		Changes []policy.Change `json:"changes"`
	}
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil || len(got.Changes) != 3 {
		t.Fatalf("--json: exit %d, %v:\n%s", code, err, out)
	}
	if c := got.Changes[2]; c.Op != "changed" || c.Path != "withdrawal_review.single_usd" || c.Old != "100000" || c.New != "50000" {
		t.Fatalf("--json: %+v", c)
	}
	if _, out, _ := cli(t, "policy", "diff", "--json", oldPath, samePath); !strings.Contains(out, `"changes": []`) {
		t.Fatalf("--json, no differences: %s", out)
	}

	// --exit-code: 1 when they differ, 0 when not.
	if code, _, _ := cli(t, "policy", "diff", "--exit-code", oldPath, newPath); code != 1 {
		t.Fatalf("--exit-code on different policies: exit %d", code)
	}
	if code, _, _ := cli(t, "policy", "diff", "--exit-code", oldPath, samePath); code != 0 {
		t.Fatalf("--exit-code on equal policies: exit %d", code)
	}

	// An invalid or missing side is trouble: exit 2, saying where.
	bad := write("bad.yaml", strings.Replace(def, "single_usd: 100000", "single_usd: -1", 1))
	code, out, errw = cli(t, "policy", "diff", oldPath, bad)
	if code != 2 || out != "" || !strings.Contains(errw, bad+":") || !strings.Contains(errw, "withdrawal_review.single_usd") {
		t.Fatalf("invalid policy: exit %d, stdout %q, stderr %q", code, out, errw)
	}
	if code, _, errw := cli(t, "policy", "diff", filepath.Join(dir, "nope.yaml"), oldPath); code != 2 || !strings.Contains(errw, "cannot read") {
		t.Fatalf("missing file: exit %d, stderr %q", code, errw)
	}
}
