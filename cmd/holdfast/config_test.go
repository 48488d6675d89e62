package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeConfigFile: `serve --config` takes its settings from the file,
// HOLDFAST_* variables override the file and flags override both; `config
// show` prints the result with each value's source and no secret; a key
// the file should not have is refused with its line.
func TestServeConfigFile(t *testing.T) {
	bin := buildHoldfast(t)
	dir := t.TempDir()
	fileAddr, envAddr, flagAddr := freePort(t), freePort(t), freePort(t)
	cfg := filepath.Join(dir, "holdfast.yaml")
	write := func(path, text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(cfg, "# a server's settings\naddr: "+fileAddr+"\ndata: "+filepath.Join(dir, "data")+"\nlog-level: error\nmax-lag: 5s\nrate-events: 10\n")

	for _, c := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"the file", nil, nil, fileAddr},
		{"a variable over the file", nil, []string{"HOLDFAST_ADDR=" + envAddr}, envAddr},
		{"a flag over both", []string{"--addr", flagAddr}, []string{"HOLDFAST_ADDR=" + envAddr}, flagAddr},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := &node{t: t, url: "http://" + c.want, args: append([]string{bin, "serve", "--config", cfg}, c.args...), env: c.env}
			n.start() // waits for /readyz at the address it should have taken
			n.kill()
		})
	}

	show := exec.Command(bin, "config", "show", "--config", cfg, "--store", "postgres://hf:hunter2@db.internal/holdfast")
	show.Env = append(os.Environ(), "HOLDFAST_WEBHOOK_SECRET=whsec-very-secret", "HOLDFAST_MAX_LAG=3s")
	out, err := show.CombinedOutput()
	if err != nil {
		t.Fatalf("config show: %v\n%s", err, out)
	}
	for _, want := range []string{
		"addr: " + fileAddr + "  # " + cfg + ":2",
		"max-lag: 3s  # env HOLDFAST_MAX_LAG",
		"rate-events: 10  # " + cfg + ":6",
		"store: postgres://hf:***@db.internal/holdfast  # flag",
		"bus-prefix: holdfast  # default",
		"HOLDFAST_WEBHOOK_SECRET: set (redacted)",
		"HOLDFAST_SMTP_PASSWORD: not set",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("config show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "hunter2") || strings.Contains(string(out), "whsec-very-secret") {
		t.Errorf("config show printed a secret:\n%s", out)
	}

	bad := filepath.Join(dir, "bad.yaml")
	write(bad, "addr: 127.0.0.1:0\nmax_lag: 5s\nwebhook-secret: x\nmax-lag: soon\n")
	code, _, errw := cli(t, "serve", "--config", bad)
	for _, want := range []string{bad + `:2: unknown key "max_lag"`, bad + ":3: webhook-secret is a secret"} {
		if code == 0 || !strings.Contains(errw, want) {
			t.Errorf("serve with a bad config: exit %d, want %q in\n%s", code, want, errw)
		}
	}
	write(bad, "addr: 127.0.0.1:0\nmax-lag: soon\n")
	if code, _, errw := cli(t, "serve", "--config", bad); code == 0 || !strings.Contains(errw, bad+`:2: max-lag: time: invalid duration "soon"`) {
		t.Errorf("serve with a bad value: exit %d %s", code, errw)
	}
}
