package main

import (
	"strconv"
	"strings"
	"testing"
)

// TestOperatorMetrics: /metrics of a real server names its build, shows
// the outbox's backlog (commands wait when no webhook URL is set) and its
// age, and counts calls refused for their token's rate limit.
func TestOperatorMetrics(t *testing.T) {
	bin := buildHoldfast(t)
	data := t.TempDir()
	if code, out, errw := cli(t, "staff", "add", "--data", data, "--id", "sam", "--roles", "support"); code != 0 {
		t.Fatalf("staff add: %s%s", out, errw)
	}
	_, tok, _ := cli(t, "token", "create", "--data", data, "--scopes", "staff,events", "--staff", "sam")
	token := strings.TrimSpace(tok)
	addr := freePort(t)
	n := &node{t: t, url: "http://" + addr, args: []string{bin, "serve", "--addr", addr, "--data", data, "--log-level", "error", "--rate-events", "1"}}
	n.start()
	t.Cleanup(n.kill)

	if line := n.metric(t, "holdfast_outbox_pending"); line != "holdfast_outbox_pending 0" {
		t.Errorf("a new server's outbox: %q", line)
	}
	if code, out, errw := cli(t, "apply", "--server", n.url, "--token", token, "--account", "acct-1", "--kind", "withdrawal_freeze", "--reason", "metrics"); code != 0 {
		t.Fatalf("apply: %s%s", out, errw)
	}
	pending, _ := strconv.Atoi(strings.TrimPrefix(n.metric(t, "holdfast_outbox_pending"), "holdfast_outbox_pending "))
	if pending < 1 {
		t.Errorf("after a restriction with no webhook URL, pending commands: %q", n.metric(t, "holdfast_outbox_pending"))
	}
	if age := n.metric(t, "holdfast_outbox_oldest_pending_age_seconds"); age == "" || strings.HasSuffix(age, " 0") {
		t.Errorf("oldest pending command's age: %q", age)
	}
	if line := n.metric(t, "holdfast_outbox_dead"); line != "holdfast_outbox_dead 0" {
		t.Errorf("dead letters: %q", line)
	}

	// One event a second: the second and third in a row are refused.
	refused := 0
	for i := range 3 {
		if code, _, _ := cli(t, "event", "--server", n.url, "--token", token, "--type", "login", "--account", "acct-2", "--id", "ev-"+strconv.Itoa(i)); code != 0 {
			refused++
		}
	}
	want := `holdfast_auth_rejected_total{reason="rate_limited"} ` + strconv.Itoa(refused)
	if got := n.metric(t, `holdfast_auth_rejected_total{reason="rate_limited"}`); refused == 0 || got != want {
		t.Errorf("rate-limited calls: %d refused, metric %q", refused, got)
	}

	var build string
	for _, l := range strings.Split(n.allMetrics(t), "\n") {
		if strings.HasPrefix(l, "holdfast_build_info{") {
			build = l
		}
	}
	if !strings.Contains(build, `version="`) || !strings.Contains(build, `commit="`) || !strings.HasSuffix(build, " 1") {
		t.Errorf("holdfast_build_info: %q", build)
	}
}
