package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdfast/holdfast/policy"
)

// policyWith writes the default policy with extra rules appended (rules:
// is its last section) and returns the file's path.
func policyWith(t *testing.T, rules string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, append(policy.DefaultYAML(), []byte(rules)...), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPolicyValidateRefusesRuleTypos: a misspelt field or a comparison of
// the wrong type in a CEL condition is refused by `policy validate` and by
// `serve`, naming the rule, instead of failing every matching event later.
func TestPolicyValidateRefusesRuleTypos(t *testing.T) {
	for _, c := range []struct{ name, when, want string }{
		{"misspelt event field", `event.source_rsk == "mixer"`, "source_rsk"},
		{"int compared to a string", `account.deposit_count >= "3"`, "_>=_"},
		{"string compared to an int", `event.source_risk == 5`, "_==_"},
		{"misspelt account field", `account.deposit_cnt > 3`, "deposit_cnt"},
		{"a record built in the condition", `holdfast.Event{}.source_risk == "mixer"`, "cannot create a record"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := policyWith(t, "\n  - id: typo_rule\n    on: [deposit]\n    when: '"+c.when+"'\n    then:\n      - apply: {kind: withdrawal_freeze}\n")
			code, out, errw := cli(t, "policy", "validate", path)
			if code == 0 || !strings.Contains(errw, "rule typo_rule") || !strings.Contains(errw, c.want) || !strings.Contains(errw, ".when") {
				t.Fatalf("policy validate: exit %d, stdout %q, stderr %q; want a failure naming typo_rule and %q", code, out, errw, c.want)
			}
			code, _, errw = cli(t, "serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--policy", path)
			if code == 0 || !strings.Contains(errw, "invalid_argument") || !strings.Contains(errw, "rule typo_rule") {
				t.Fatalf("serve: exit %d, stderr %q; want invalid_argument naming typo_rule", code, errw)
			}
		})
	}
	// Evidence is checked the same way.
	path := policyWith(t, "\n  - id: typo_evidence\n    on: [deposit]\n    evidence: [event.usd_valu]\n    then:\n      - tag: high_risk\n")
	if code, _, errw := cli(t, "policy", "validate", path); code == 0 || !strings.Contains(errw, "rules[20].evidence[0]") || !strings.Contains(errw, "rule typo_evidence") {
		t.Fatalf("evidence typo: exit %d, %q", code, errw)
	}
	if code, out, errw := cli(t, "policy", "validate", policyWith(t, "")); code != 0 {
		t.Fatalf("the default policy: exit %d %q %q", code, out, errw)
	}
}
