package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runBin runs the built binary as its own process and returns its exit
// code and output; one that is still running after 15 s is killed and
// reported as -1.
func runBin(t *testing.T, bin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errw bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errw
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return -1, out.String(), errw.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errw.String()
	case err != nil:
		t.Fatal(err)
	}
	return 0, out.String(), errw.String()
}

// TestOneServerPerDataDirectory: a second server on a data directory in
// use (which would never see the first one's writes) refuses to start, and
// so do commands that write to it; reading beside the server is fine.
// Once the server stops, both work.
func TestOneServerPerDataDirectory(t *testing.T) {
	bin := buildHoldfast(t)
	data := t.TempDir()
	if code, out, errw := runBin(t, bin, "staff", "add", "--data", data, "--id", "admin", "--roles", "admin"); code != 0 {
		t.Fatalf("staff add: %d %s %s", code, out, errw)
	}
	addr := freePort(t)
	first := &node{t: t, url: "http://" + addr, args: []string{bin, "serve", "--addr", addr, "--data", data, "--log-level", "error"}}
	first.start()
	t.Cleanup(first.kill)

	addr2 := freePort(t)
	code, _, errw := runBin(t, bin, "serve", "--addr", addr2, "--data", data, "--log-level", "error")
	if code <= 0 || !strings.Contains(errw, data) || !strings.Contains(errw, "another Holdfast process") {
		t.Errorf("a second serve on %s: exit %d, stderr %q; want it refused, naming the directory and its holder", data, code, errw)
	}
	for _, args := range [][]string{
		{"staff", "add", "--data", data, "--id", "bob", "--roles", "compliance"},
		{"token", "create", "--data", data, "--scopes", "check"},
		{"migrate", "--data", data},
	} {
		code, out, errw := runBin(t, bin, args...)
		if code != 1 || out != "" || !strings.HasPrefix(errw, "error: failed_precondition: ") || !strings.Contains(errw, data) {
			t.Errorf("%s beside the server: exit %d, stdout %q, stderr %q; want refused (failed_precondition, naming the directory)", strings.Join(args[:2], " "), code, out, errw)
		}
	}
	if code, out, errw := runBin(t, bin, "audit", "verify", "--data", data); code != 0 || !strings.HasPrefix(out, "OK") {
		t.Errorf("audit verify beside the server: %d %s %s", code, out, errw)
	}

	_ = first.cmd.Process.Signal(syscall.SIGTERM)
	_ = first.cmd.Wait()
	if code, out, errw := runBin(t, bin, "staff", "add", "--data", data, "--id", "bob", "--roles", "compliance"); code != 0 {
		t.Errorf("staff add after the server stopped: %d %s %s", code, out, errw)
	}
	second := &node{t: t, url: "http://" + addr2, args: []string{bin, "serve", "--addr", addr2, "--data", data, "--log-level", "error"}}
	second.start()
	t.Cleanup(second.kill)
}
