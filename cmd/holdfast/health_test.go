package main

import (
	"strings"
	"testing"
)

// TestHealth: `holdfast health` answers with its exit code, as a container
// health check needs: 0 from a running server (up, and ready), 1 with the
// reason when nothing answers.
func TestHealth(t *testing.T) {
	bin := buildHoldfast(t)
	addr := freePort(t)
	n := &node{t: t, url: "http://" + addr, args: []string{bin, "serve", "--addr", addr, "--data", t.TempDir(), "--log-level", "error"}}
	n.start()
	t.Cleanup(n.kill)
	for _, args := range [][]string{{"health", "--server", n.url}, {"health", "--ready", "--server", n.url}} {
		if code, out, errw := cli(t, args...); code != 0 || !strings.Contains(out, ": ok") {
			t.Errorf("%v: exit %d %s%s", args, code, out, errw)
		}
	}
	n.kill()
	if code, _, errw := cli(t, "health", "--ready", "--server", n.url); code != 1 || !strings.Contains(errw, "connection refused") {
		t.Errorf("health of a stopped server: exit %d %s", code, errw)
	}
}
