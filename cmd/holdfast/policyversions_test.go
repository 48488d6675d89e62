package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/policy"
)

// TestPolicyLifecycle pushes a stricter API-burst threshold to a real
// server, activates it with two people, sees the same event apply
// reduce_only (naming the version), rolls back the same way, and restarts
// the server with a file that is not the active version.
func TestPolicyLifecycle(t *testing.T) {
	bin := buildHoldfast(t)
	data := t.TempDir()
	for _, s := range []struct{ id, roles string }{{"alice", "compliance"}, {"bob", "admin"}, {"sam", "support"}} {
		if code, out, errw := cli(t, "staff", "add", "--data", data, "--id", s.id, "--roles", s.roles); code != 0 {
			t.Fatalf("staff add: %s%s", out, errw)
		}
	}
	token := func(staff, scopes string) string {
		_, tok, _ := cli(t, "token", "create", "--data", data, "--scopes", scopes, "--staff", staff)
		return strings.TrimSpace(tok)
	}
	alice, bob, sam := token("alice", "staff,events"), token("bob", "staff"), token("sam", "staff")
	_, gwTok, _ := cli(t, "token", "create", "--data", data, "--scopes", "check")
	gw := strings.TrimSpace(gwTok)
	addr := freePort(t)
	n := &node{t: t, url: "http://" + addr, args: []string{bin, "serve", "--addr", addr, "--data", data, "--log-level", "error"}}
	n.start()
	t.Cleanup(n.kill)

	as := func(tok string, args ...string) (int, string, string) {
		t.Helper()
		return cli(t, append(args, "--server", n.url, "--token", tok)...)
	}
	must := func(tok string, args ...string) string {
		t.Helper()
		code, out, errw := as(tok, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", strings.Join(args, " "), code, out, errw)
		}
		return out
	}
	burst := func(account string) string {
		t.Helper()
		must(alice, "event", "--type", "api_activity", "--account", account, "--orders-per-minute", "80")
		return must(bob, "list", "--account", account, "--json")
	}

	// The first start installed the default policy as the active version.
	defaultHash := regexp.MustCompile(`[0-9a-f]{64}`)
	out := must(bob, "policy", "versions", "--json")
	if !strings.Contains(out, `"state": "active"`) || !strings.Contains(out, policy.Default().Hash) {
		t.Fatalf("versions after the first start: %s", out)
	}
	if got := burst("acct-before"); strings.Contains(got, "reduce_only") {
		t.Fatalf("80 orders a minute restricted under the default: %s", got)
	}

	dir := t.TempDir()
	write := func(name, from, to string) string {
		t.Helper()
		b := strings.Replace(string(policy.DefaultYAML()), from, to, 1)
		if b == string(policy.DefaultYAML()) {
			t.Fatalf("%q is not in the default policy", from)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stricter := write("stricter.yaml", "event.orders_per_minute > 100.0", "event.orders_per_minute > 50.0")
	// The version also maps a new money-out route for the gateway.
	b, err := os.ReadFile(stricter)
	if err != nil {
		t.Fatal(err)
	}
	route := "    - {method: GET, path: /api/v1/*, action: view}\n"
	if !strings.Contains(string(b), route) {
		t.Fatalf("the default policy has no route %q", route)
	}
	if err := os.WriteFile(stricter, []byte(strings.Replace(string(b), route, "    - {method: POST, path: /api/v2/payouts, action: withdraw}\n"+route, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	payout := func() int {
		t.Helper()
		return forwardAuth(t, n, gw, "POST", "/api/v2/payouts", "X-Account-Id", "acct-panicked").status
	}
	must(alice, "apply", "--account", "acct-panicked", "--kind", "withdrawal_freeze", "--reason", "flagged deposit")
	if got := payout(); got != http.StatusForbidden {
		t.Fatalf("an unmapped write before the activation: %d", got)
	}

	// Bad input first: nothing is stored.
	badCEL := write("bad.yaml", "event.orders_per_minute > 100.0", "event.orders_per_minute >")
	if code, _, errw := as(alice, "policy", "push", badCEL); code == 0 || !strings.Contains(errw, "invalid_argument") || !strings.Contains(errw, "yaml.rules[") {
		t.Errorf("invalid CEL: exit %d, %s", code, errw)
	}
	unknownKind := write("unknown-kind.yaml", "- apply: {kind: reduce_only, duration: 24h}", "- apply: {kind: house_arrest, duration: 24h}")
	if code, _, errw := as(alice, "policy", "push", unknownKind); code == 0 || !strings.Contains(errw, `unknown kind "house_arrest"`) || !strings.Contains(errw, "yaml.rules[") {
		t.Errorf("an unknown kind: exit %d, %s", code, errw)
	}
	// A version may not drop a kind (reduce_only is in force on
	// acct-panicked below, and on the api_burst accounts): every kind
	// needs its settings.
	noKind := write("no-kind.yaml", "\n  reduce_only:\n", "\n  reduce_only_gone:\n")
	if code, _, errw := as(alice, "policy", "push", noKind); code == 0 || !strings.Contains(errw, "invalid_argument") || !strings.Contains(errw, "reduce_only") {
		t.Errorf("a version without reduce_only: exit %d, %s", code, errw)
	}
	if code, _, errw := as(sam, "policy", "push", stricter); code == 0 || !strings.Contains(errw, "permission_denied") {
		t.Errorf("support pushes: exit %d, %s", code, errw)
	}

	out = must(alice, "policy", "push", stricter, "--comment", "halve the API burst threshold")
	version := defaultHash.FindString(out)
	if version == "" {
		t.Fatalf("push printed %q", out)
	}
	if code, _, errw := as(alice, "policy", "push", stricter); code == 0 || !strings.Contains(errw, "conflict") {
		t.Errorf("the same bytes twice: exit %d, %s", code, errw)
	}
	if out := must(bob, "policy", "show", "--version", version[:12]); !strings.Contains(out, "event.orders_per_minute > 50.0") {
		t.Errorf("policy show --version: %.200s", out)
	}
	if out := must(bob, "policy", "show", "--version", "active"); out != string(policy.DefaultYAML()) {
		t.Errorf("policy show --version active is not the installed default: %.200s", out)
	}
	if out := must(bob, "policy", "diff", policy.Default().Hash[:12], version[:12]); !strings.Contains(out, "rule api_burst") {
		t.Errorf("diff of the versions: %s", out)
	}

	// Shadowed, the stricter threshold judges live events beside the
	// active one and enforces nothing.
	must(alice, "policy", "shadow", version[:12], "--reason", "see what it would catch")
	if got := burst("acct-shadowed"); strings.Contains(got, "reduce_only") {
		t.Fatalf("a shadowed version was enforced: %s", got)
	}
	// Outcomes are written in batches, a fraction of a second later.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if out = must(bob, "policy", "shadow-report"); strings.Contains(out, "acct-shadowed") {
			break
		}
	}
	if !strings.Contains(out, "api_burst") || !strings.Contains(out, "would_apply") || !strings.Contains(out, "acct-shadowed") {
		t.Errorf("shadow report: %s", out)
	}
	if strings.Contains(out, "acct-before") {
		t.Errorf("the report holds an event from before the shadow run: %s", out)
	}
	res, err := http.Get(n.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if want := `holdfast_shadow_outcomes_total{outcome="would_apply",rule="api_burst",version="` + version[:12] + `"} 1`; !strings.Contains(string(b), want) {
		t.Errorf("/metrics lacks %s", want)
	}

	// Activation needs a second person.
	out = must(alice, "policy", "activate", version[:10], "--reason", "bots are faster now")
	id := regexp.MustCompile(`pac_[a-z0-9]+`).FindString(out)
	if id == "" {
		t.Fatalf("activate printed %q", out)
	}
	if code, _, errw := as(alice, "policy", "approve", id); code == 0 || !strings.Contains(errw, "permission_denied") {
		t.Fatalf("approving one's own activation: exit %d, %s", code, errw)
	}
	if got := burst("acct-pending"); strings.Contains(got, "reduce_only") {
		t.Fatalf("a pending activation took effect: %s", got)
	}
	must(bob, "policy", "approve", id, "--reason", "reviewed the diff")
	// The gateway now maps the new route, and the freeze stops it.
	r := forwardAuth(t, n, gw, "POST", "/api/v2/payouts", "X-Account-Id", "acct-panicked")
	if r.status != http.StatusForbidden || r.header.Get("X-Holdfast-Action") != "withdraw" {
		t.Fatalf("the new version's route at the gateway: %d %s %s", r.status, r.header, r.body)
	}
	if r := forwardAuth(t, n, gw, "POST", "/api/v2/payouts", "X-Account-Id", "acct-free"); r.status != http.StatusOK {
		t.Fatalf("an unrestricted payout through the new route: %d %s", r.status, r.body)
	}
	got := burst("acct-after")
	if !strings.Contains(got, "reduce_only") || !strings.Contains(got, version) {
		t.Fatalf("after the activation, 80 orders a minute: %s (want reduce_only naming %s)", got, version)
	}

	if out := must(bob, "history", "--account", "acct-after"); !strings.Contains(out, "POLICY") || !strings.Contains(out, version[:12]) {
		t.Errorf("history does not name the version that applied the restriction:\n%s", out)
	}

	// Rollback, by two people again.
	out = must(bob, "policy", "rollback", policy.Default().Hash[:12], "--reason", "too many false positives")
	id = regexp.MustCompile(`pac_[a-z0-9]+`).FindString(out)
	must(alice, "policy", "approve", id)
	if got := burst("acct-rolled-back"); strings.Contains(got, "reduce_only") {
		t.Fatalf("after the rollback: %s", got)
	}

	// The store governs: a restart with a file other than the active
	// version is refused, naming both.
	n.kill()
	code, _, errw := cli(t, "serve", "--addr", freePort(t), "--data", data, "--policy", stricter)
	if code == 0 || !strings.Contains(errw, "failed_precondition") || !strings.Contains(errw, policy.Default().Hash[:12]) {
		t.Fatalf("serve with another policy file: exit %d, %s", code, errw)
	}
	if _, err := os.Stat(filepath.Join(data, "holdfast.db")); err != nil {
		t.Fatal(err)
	}
}
