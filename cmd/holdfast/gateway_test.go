package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdfast/holdfast/policy"
)

// TestGatewayTest: `gateway test` names the route and action a request
// maps to under the default policy, what an unmapped one gets, and refuses
// a path that tries to climb out of the route it names.
func TestGatewayTest(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr string
	}{
		{"withdrawal", []string{"--method", "POST", "--path", "/api/v1/withdrawals"}, 0, []string{"route 4: POST /api/v1/withdrawals\n", "action: withdraw\n"}, ""},
		{"order prefix", []string{"--method", "POST", "--path", "/api/v1/orders/batch"}, 0, []string{"route 0: POST /api/v1/orders*\n", "action: trade\n"}, ""},
		{"cancel", []string{"--method", "DELETE", "--path", "/api/v1/orders/42"}, 0, []string{"action: reduce_position\n"}, ""},
		{"cleaned path", []string{"--method", "POST", "--path", "/api/v1//withdrawals/"}, 0, []string{"action: withdraw\n", "matched as: /api/v1/withdrawals\n"}, ""},
		{"unmapped write", []string{"--method", "POST", "--path", "/api/v2/withdrawals"}, 0, []string{"unmapped (other)\n", "verdict: deny\n"}, ""},
		{"unmapped read", []string{"--method", "GET", "--path", "/status"}, 0, []string{"unmapped (safe)\n", "verdict: allow\n"}, ""},
		{"dot-dot", []string{"--method", "GET", "--path", "/api/v1/withdrawals/%2e%2e/orders"}, 0, []string{"refused: the path has a .. segment\n", "verdict: deny\n"}, ""},
		{"no method", []string{"--path", "/x"}, 1, nil, "error: invalid_argument: --method is required"},
		{"no path", []string{"--method", "GET"}, 1, nil, "error: invalid_argument: --path is required"},
		{"missing policy", []string{"--method", "GET", "--path", "/x", "--policy", filepath.Join(t.TempDir(), "nope.yaml")}, 1, nil, "error: invalid_argument: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errw := cli(t, append([]string{"gateway", "test"}, tt.args...)...)
			ok := code == tt.code && strings.HasPrefix(errw, tt.stderr)
			for _, s := range tt.stdout {
				ok = ok && strings.Contains(out, s)
			}
			if !ok {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr starting %q", code, out, errw, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}

// TestGatewayTestPolicyFile: with --policy the operator's own table
// decides, and --json gives the route for scripts.
func TestGatewayTestPolicyFile(t *testing.T) {
	def := string(policy.DefaultYAML())
	text := strings.Replace(def, "  routes:\n", "  routes:\n    - {method: \"*\", path: /api/v1/withdrawals*, action: withdraw}\n", 1)
	text = strings.Replace(text, "unmapped: {safe: allow, other: deny}", "unmapped: {safe: deny, other: deny}", 1)
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errw := cli(t, "gateway", "test", "--policy", path, "--method", "GET", "--path", "/api/v1/withdrawals", "--json")
	var got struct {
		Mapped bool
		Action string
		Route  struct {
			Index int
			Path  string
		}
	}
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil || !got.Mapped || got.Action != "withdraw" || got.Route.Index != 0 || got.Route.Path != "/api/v1/withdrawals*" {
		t.Fatalf("exit %d, stdout %q, stderr %q (%v); want route 0 and withdraw", code, out, errw, err)
	}
	if code, out, _ := cli(t, "gateway", "test", "--policy", path, "--method", "GET", "--path", "/status"); code != 0 || !strings.Contains(out, "verdict: deny") {
		t.Fatalf("unmapped GET under safe: deny: exit %d, stdout %q", code, out)
	}
}

// TestPolicyValidateGateway: a bad route, verdict, header or proxy network
// is reported by `policy validate` as FILE:LINE: field: message, every one.
func TestPolicyValidateGateway(t *testing.T) {
	def := string(policy.DefaultYAML())
	text := def
	for _, r := range [][2]string{
		{"method: POST, path: /api/v1/withdrawals, action: withdraw", "method: POTS, path: /api/v1/withdrawals, action: withdrawl"},
		{"path: /api/v1/transfers", "path: /api/v1/../transfers"},
		{"other: deny}", "other: refuse}"},
		{"header: X-Account-Id", "header: X Account"},
		{"172.16.0.0/12", "172.16.0.0/99"},
	} {
		if !strings.Contains(text, r[0]) {
			t.Fatalf("%q not in the default policy", r[0])
		}
		text = strings.Replace(text, r[0], r[1], 1)
	}
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	line := func(s string) int { return 1 + strings.Count(text[:strings.Index(text, s)], "\n") }
	code, out, errw := cli(t, "policy", "validate", path)
	want := []string{
		fmt.Sprintf("%s:%d: gateway.routes[4].method: unknown method \"POTS\"", path, line("POTS")),
		fmt.Sprintf("%s:%d: gateway.routes[4].action: unknown action \"withdrawl\"", path, line("POTS")),
		fmt.Sprintf("%s:%d: gateway.routes[5].path: path \"/api/v1/../transfers\"", path, line("/api/v1/../")),
		fmt.Sprintf("%s:%d: gateway.unmapped.other: unknown verdict \"refuse\"", path, line("other: refuse")),
		fmt.Sprintf("%s:%d: gateway.account.header: \"X Account\" is not a header name", path, line("X Account")),
		fmt.Sprintf("%s:%d: gateway.account.trusted_proxies[1]: \"172.16.0.0/99\" is not a network", path, line("/99")),
	}
	for _, w := range want {
		if !strings.Contains(errw, w) {
			t.Errorf("stderr lacks %q", w)
		}
	}
	if code != 1 || t.Failed() {
		t.Fatalf("policy validate: exit %d, stdout %q, stderr:\n%s", code, out, errw)
	}
}
