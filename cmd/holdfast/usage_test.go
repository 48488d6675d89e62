package main

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestUsageMistakes runs the real binary: a mistake in the command line,
// or a listen address that is taken, is the operator's to fix and is never
// reported as internal.
func TestUsageMistakes(t *testing.T) {
	bin := buildHoldfast(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pol, []byte("version: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string // prefix
	}{
		{"unknown command", []string{"bogus"}, 2, `error: invalid_argument: unknown command "bogus" for "holdfast"`},
		{"unknown subcommand", []string{"policy", "bogus"}, 2, `error: invalid_argument: unknown command "bogus" for "holdfast policy"`},
		{"two files to policy validate", []string{"policy", "validate", pol, pol}, 2, "error: invalid_argument: accepts 1 arg(s), received 2"},
		{"no file to policy validate", []string{"policy", "validate"}, 2, "error: invalid_argument: accepts 1 arg(s), received 0"},
		{"stray argument", []string{"staff", "add", "x", "--data", dir, "--id", "a", "--roles", "admin"}, 2, `error: invalid_argument: unknown command "x" for "holdfast staff add"`},
		{"no idle timeout", []string{"serve", "--data", dir, "--staff-idle-timeout", "0s"}, 2, "error: invalid_argument: --staff-idle-timeout must be > 0"},
		{"port in use", []string{"serve", "--data", dir, "--addr", taken.Addr().String()}, 1, "error: invalid_argument: cannot listen on " + taken.Addr().String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errw bytes.Buffer
			cmd := exec.Command(bin, tt.args...)
			cmd.Stdout, cmd.Stderr = &out, &errw
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code || !strings.HasPrefix(errw.String(), tt.stderr) || strings.Contains(errw.String(), "internal") {
				t.Fatalf("exit %d, stderr %q; want exit %d, stderr starting %q", code, errw.String(), tt.code, tt.stderr)
			}
		})
	}
	// The port's owner is untouched, and its error names the flag.
	var errw bytes.Buffer
	cmd := exec.Command(bin, "serve", "--data", dir, "--addr", taken.Addr().String())
	cmd.Stderr = &errw
	_ = cmd.Run()
	if !strings.Contains(errw.String(), "(field addr)") {
		t.Fatalf("port in use: %q does not name the field addr", errw.String())
	}
}
