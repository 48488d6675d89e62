package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/backtest"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/sqlite"
)

const (
	backtestEvents   = "../../testdata/backtest/events.jsonl"
	backtestStricter = "../../testdata/backtest/stricter.yaml"
)

// backtestJSON runs `holdfast backtest --json` and decodes the report.
func backtestJSON(t *testing.T, args ...string) *backtest.Report {
	t.Helper()
	code, out, errw := cli(t, append([]string{"backtest", "--json"}, args...)...)
	if code != 0 || errw != "" {
		t.Fatalf("backtest: exit %d, stderr %q", code, errw)
	}
	var rep backtest.Report
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("backtest --json: %v\n%s", err, out)
	}
	return &rep
}

func TestBacktestCLI(t *testing.T) {
	code, out, errw := cli(t, "backtest", "--events", backtestEvents, "--policy", backtestStricter)
	if code != 0 || errw != "" {
		t.Fatalf("exit %d, stderr %q", code, errw)
	}
	for _, want := range []string{
		"52 events replayed, 11 accounts\n",
		"KIND                  BASELINE  CANDIDATE  DIFFERENCE  ONLY_BASELINE  ONLY_CANDIDATE\n",
		"reduce_only           2         4          +2          0              2\n",
		"withdrawal_freeze     2         4          +2          0              2\n",
		"cooling_off           2         2          0           0              0\n",
		"reduce_only only under the candidate (2):\n  acct-carol\n  acct-frank\n",
		"withdrawal_freeze only under the candidate (2):\n  acct-alice\n  acct-heidi\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	rep := backtestJSON(t, "--events", backtestEvents, "--policy", backtestStricter)
	if rep.Events != 52 || len(rep.Kinds) != 6 || !reflect.DeepEqual(rep.Kinds[2].OnlyCandidate, []string{"acct-carol", "acct-frank"}) {
		t.Errorf("report %+v", rep)
	}

	// The default policy as both candidate and baseline: no differences.
	dflt := filepath.Join(t.TempDir(), "default.yaml")
	if err := os.WriteFile(dflt, policy.DefaultYAML(), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ = cli(t, "backtest", "--events", backtestEvents, "--policy", dflt)
	if code != 0 || !strings.Contains(out, "No differences") {
		t.Errorf("default against itself: exit %d\n%s", code, out)
	}
	// Swapped: the stricter file as baseline.
	rep = backtestJSON(t, "--events", backtestEvents, "--policy", dflt, "--baseline", backtestStricter)
	if !reflect.DeepEqual(rep.Kinds[3].OnlyBaseline, []string{"acct-alice", "acct-heidi"}) {
		t.Errorf("swapped: %+v", rep.Kinds[3])
	}
}

// More differing accounts than the human output lists.
func TestBacktestCLIManyAccounts(t *testing.T) {
	var buf bytes.Buffer
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 25 {
		ev := holdfast.Event{Type: holdfast.EventAPIActivity, Account: "acct-" + string(rune('a'+i)), At: t0.Add(time.Duration(i) * time.Minute), OrdersPerMinute: ptr(75.0)}
		b, _ := json.Marshal(ev)
		buf.Write(append(b, '\n'))
	}
	buf.WriteString("{\"type\":\"login\"}\n")
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := cli(t, "backtest", "--events", path, "--policy", backtestStricter)
	for _, want := range []string{
		"25 events replayed, 25 accounts, 1 invalid line(s) skipped\n",
		"reduce_only only under the candidate (25):\n",
		"  acct-t\n  … and 5 more\n",
		"Invalid lines (skipped):\n  line 26: invalid_argument: account is required (field account)\n",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("exit %d, output lacks %q:\n%s", code, want, out)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestBacktestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	// A typo in a rule's field: the loader names the line and the field.
	b := bytes.Replace(policy.DefaultYAML(), []byte("  - id: api_burst\n    on: [api_activity]\n"), []byte("  - id: api_burst\n    onn: [api_activity]\n"), 1)
	if err := os.WriteFile(bad, b, 0o600); err != nil {
		t.Fatal(err)
	}
	badPrefix := "error: invalid_argument: " + bad + ":"
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string // prefix
	}{
		{"no events", []string{"backtest", "--policy", backtestStricter}, 2, "error: invalid_argument: --events is required"},
		{"no policy", []string{"backtest", "--events", backtestEvents}, 2, "error: invalid_argument: --policy is required"},
		{"missing events file", []string{"backtest", "--events", filepath.Join(dir, "nope.jsonl"), "--policy", backtestStricter}, 1, "error: invalid_argument: cannot read the events file: "},
		{"invalid candidate", []string{"backtest", "--events", backtestEvents, "--policy", bad}, 1, badPrefix},
		{"invalid baseline", []string{"backtest", "--events", backtestEvents, "--policy", backtestStricter, "--baseline", bad}, 1, badPrefix},
		{"missing policy file", []string{"backtest", "--events", backtestEvents, "--policy", filepath.Join(dir, "nope.yaml")}, 1, "error: invalid_argument: " + filepath.Join(dir, "nope.yaml") + ": cannot read the policy file"},
		{"export without data", []string{"events", "export", "--data", filepath.Join(dir, "nodata")}, 1, "error: not_found: "},
		{"export bad after", []string{"events", "export", "--data", dir, "--after", "yesterday"}, 2, "error: invalid_argument: --after must be an RFC 3339 time"},
		{"export bad account", []string{"events", "export", "--data", dir, "--account", "a b"}, 1, "error: invalid_argument: account may hold only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errw := cli(t, tt.args...)
			if code != tt.code || !strings.HasPrefix(errw, tt.stderr) {
				t.Fatalf("exit %d, stderr %q; want exit %d, stderr starting %q", code, errw, tt.code, tt.stderr)
			}
		})
	}
	// The policy error points at the line of the typo.
	_, _, errw := cli(t, "backtest", "--events", backtestEvents, "--policy", bad)
	line := 1 + bytes.Count(b[:bytes.Index(b, []byte("    onn:"))], []byte("\n"))
	if want := badPrefix + strconv.Itoa(line) + ": "; !strings.HasPrefix(errw, want) {
		t.Errorf("stderr %q; want it to start %q", errw, want)
	}
}

// TestExportBacktest records events.jsonl through the engine into a data
// directory (without their "at": the engine stamps them from its clock, as
// in production), exports them with `holdfast events export`, and feeds
// the export back into `holdfast backtest`: the report is the one the
// original file gives.
func TestExportBacktest(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	originals := recordEvents(t, ctx, dir)

	code, out, errw := cli(t, "events", "export", "--data", dir)
	if code != 0 || errw != "" {
		t.Fatalf("export: exit %d, stderr %q", code, errw)
	}
	var exported []holdfast.Event
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var e holdfast.Event
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		exported = append(exported, e)
	}
	if len(exported) != len(originals) {
		t.Fatalf("exported %d events, recorded %d", len(exported), len(originals))
	}
	for i := range originals {
		want, _ := json.Marshal(originals[i])
		got, _ := json.Marshal(exported[i])
		if !bytes.Equal(got, want) {
			t.Fatalf("event %d exported as %s; recorded %s", i, got, want)
		}
	}

	export := filepath.Join(t.TempDir(), "export.jsonl")
	if err := os.WriteFile(export, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	fromExport := backtestJSON(t, "--events", export, "--policy", backtestStricter)
	fromFile := backtestJSON(t, "--events", backtestEvents, "--policy", backtestStricter)
	if !reflect.DeepEqual(fromExport, fromFile) {
		t.Fatalf("backtest of the export:\n%+v\nof the file:\n%+v", fromExport, fromFile)
	}

	// Filters: one account, and events after a time.
	_, out, _ = cli(t, "events", "export", "--data", dir, "--account", "acct-bob")
	if n := strings.Count(out, "\n"); n != 7 || strings.Count(out, `"account":"acct-bob"`) != 7 {
		t.Errorf("--account acct-bob: %d lines\n%s", n, out)
	}
	_, out, _ = cli(t, "events", "export", "--data", dir, "--after", "2026-03-06T23:00:00Z")
	if n := strings.Count(out, "\n"); n != 5 || !strings.HasPrefix(out, `{"id":"evt-048",`) {
		t.Errorf("--after: %d lines\n%s", n, out)
	}
	// Piped back in through standard input.
	root := newRoot(new(bytes.Buffer), new(bytes.Buffer))
	var stdout bytes.Buffer
	root.SetOut(&stdout)
	root.SetIn(strings.NewReader(out))
	root.SetArgs([]string{"backtest", "--events", "-", "--policy", backtestStricter, "--json"})
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatal(err)
	}
	var rep backtest.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || rep.Events != 5 {
		t.Errorf("backtest from stdin: %v %+v", err, rep)
	}
}

// vclock is a settable clock.
type vclock struct{ now time.Time }

func (c *vclock) Now() time.Time { return c.now }

// recordEvents ingests events.jsonl into a store in dir through the engine,
// each at its time but without its "at", and returns the events as they
// should be recorded (with "at").
func recordEvents(t *testing.T, ctx context.Context, dir string) []holdfast.Event {
	t.Helper()
	f, err := os.Open(backtestEvents)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	clk := &vclock{}
	eng, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default(), Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var out []holdfast.Event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e holdfast.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
		clk.now, e.At = e.At, time.Time{}
		if _, err := eng.Ingest(ctx, e); err != nil {
			t.Fatalf("ingest %s: %v", e.ID, err)
		}
	}
	return out
}
