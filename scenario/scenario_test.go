package scenario_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdfast/holdfast/scenario"
)

// TestScenarios runs every scenario under testdata/scenarios: the default
// policy's behaviour, step by step, as docs/design.md states it.
func TestScenarios(t *testing.T) {
	files, _ := filepath.Glob("../testdata/scenarios/*.yaml")
	if len(files) == 0 {
		t.Fatal("no scenarios found")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			f, err := scenario.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			res, err := scenario.Run(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			for _, fl := range res.Failures {
				t.Errorf("step %d: %s", fl.Step, fl.Message)
			}
			if res.Passed == 0 {
				t.Error("no step held an expectation")
			}
		})
	}
}

func write(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMainCountsAndJSON(t *testing.T) {
	p := write(t, "s.yaml", `name: counts
start: 2026-04-01T00:00:00Z
steps:
  - at: 0s
    do: {op: freeze, account: u1, duration: 24h, actor: "user:u1"}
  - at: 1h
    expect: {account: u1, action: withdraw, effect: deny}
  - at: 1h
    expect: {account: u1, action: withdraw, effect: allow}
  - at: 2h
    do: {op: lift, account: u1, kind: self_freeze, actor: "user:u1"}
    expect_error: permission_denied
  - at: 2h
    do: {op: lift, account: u1, kind: self_freeze, actor: "user:u1"}
`)
	var out, errb bytes.Buffer
	code := scenario.Main(context.Background(), []string{p}, &out, &errb)
	if code == 0 {
		t.Fatalf("exit 0 despite failures:\n%s", out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if got := lines[len(lines)-1]; got != "2 passed, 2 failed" {
		t.Fatalf("closing line %q, want %q\n%s", got, "2 passed, 2 failed", out.String())
	}
	if !strings.Contains(out.String(), "step 2:") || !strings.Contains(out.String(), "step 4:") {
		t.Fatalf("failed steps not named:\n%s", out.String())
	}

	out.Reset()
	scenario.Main(context.Background(), []string{"--json", p}, &out, &errb)
	var rep struct {
		Passed, Failed int
		Files          []struct {
			Name           string
			Passed, Failed int
			Failures       []struct {
				Step    int
				Message string
			}
		}
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out.String())
	}
	if rep.Passed != 2 || rep.Failed != 2 || len(rep.Files) != 1 || len(rep.Files[0].Failures) != 2 || rep.Files[0].Failures[0].Step != 2 {
		t.Fatalf("json report %+v", rep)
	}
}

func TestInvalidFilesNameFileStepAndField(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"no name", "start: 2026-04-01T00:00:00Z\nsteps: []\n", "name"},
		{"bad start", "name: x\nstart: yesterday\n", "start"},
		{"unknown key", "name: x\nstart: 2026-04-01T00:00:00Z\nsurprise: 1\n", "surprise"},
		{"two kinds of step", "name: x\nstart: 2026-04-01T00:00:00Z\nsteps:\n  - at: 0s\n    expect: {account: u1, action: view, effect: allow}\n    expect_tags: {account: u1}\n", "step 0: step"},
		{"time goes back", "name: x\nstart: 2026-04-01T00:00:00Z\nsteps:\n  - at: 1h\n    expect: {account: u1, action: view, effect: allow}\n  - at: 30m\n    expect: {account: u1, action: view, effect: allow}\n", "step 1: at"},
		{"unknown op", "name: x\nstart: 2026-04-01T00:00:00Z\nsteps:\n  - at: 0s\n    do: {op: explode, account: u1, actor: system}\n", "step 0: do.op"},
		{"unknown step key", "name: x\nstart: 2026-04-01T00:00:00Z\nsteps:\n  - at: 0s\n    expect: {account: u1, action: view, effect: allow, colour: red}\n", "colour"},
		{"bad effect", "name: x\nstart: 2026-04-01T00:00:00Z\nsteps:\n  - at: 0s\n    expect: {account: u1, action: view, effect: maybe}\n", "step 0: expect.effect"},
		{"start out of range", "name: x\nstart: 9999-12-31T00:00:00Z\nsteps: []\n", "start: start 9999-12-31T00:00:00Z is outside"},
		{"step out of range", "name: x\nstart: 2199-12-01T00:00:00Z\nsteps:\n  - at: 36500d\n    expect: {account: u1, action: view, effect: allow}\n", "step 0: at: at 2299"},
		{"bad error code", "name: x\nstart: 2026-04-01T00:00:00Z\nsteps:\n  - at: 0s\n    expect: {account: u1, action: view, effect: allow}\n    expect_error: oops\n", "step 0: expect_error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := write(t, "bad.yaml", c.body)
			var out, errb bytes.Buffer
			if code := scenario.Main(context.Background(), []string{p}, &out, &errb); code == 0 {
				t.Fatal("invalid file accepted")
			}
			msg := errb.String()
			if !strings.Contains(msg, p) || !strings.Contains(msg, c.want) || !strings.Contains(msg, "invalid_argument") {
				t.Fatalf("error %q does not name file and %q", msg, c.want)
			}
		})
	}
}
