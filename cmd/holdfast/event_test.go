package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// eventServer starts a server and returns a token with the events, check
// and staff scopes, set as $HOLDFAST_TOKEN.
func eventServer(t *testing.T) {
	t.Helper()
	url, dir := server(t)
	t.Setenv("HOLDFAST_SERVER", url)
	t.Setenv("HOLDFAST_TOKEN", "")
	if code, _, errw := cli(t, "staff", "add", "--data", dir, "--id", "admin", "--roles", "admin"); code != 0 {
		t.Fatal(errw)
	}
	code, tok, errw := cli(t, "token", "create", "--data", dir, "--scopes", "events,check,staff", "--staff", "admin")
	if code != 0 {
		t.Fatal(errw)
	}
	t.Setenv("HOLDFAST_TOKEN", strings.TrimSpace(tok))
}

func TestEventCLI(t *testing.T) {
	eventServer(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // regexp
		stderr string // prefix
	}{
		{"password change", []string{"event", "--type", "password_changed", "--account", "acct-1", "--id", "e-1", "--device", "d1", "--ip", "10.0.0.1"}, 0,
			`(?s)^event e-1 ingested\nrules fired: security_change_cooling_off\n  applied   cooling_off rst_\w+ until \S+ \(rule security_change_cooling_off\)\n`, ""},
		{"check shows it", []string{"check", "--account", "acct-1", "--action", "withdraw"}, 0, `^deny\n  deny: cooling_off L1`, ""},
		{"replayed id", []string{"event", "--type", "password_changed", "--account", "acct-1", "--id", "e-1", "--device", "d1", "--ip", "10.0.0.1"}, 0,
			`^duplicate: nothing changed \(event e-1 was ingested before\)\n$`, ""},
		{"rolling window", []string{"event", "--type", "phone_changed", "--account", "acct-1"}, 0, `  extended  cooling_off rst_`, ""},
		{"nothing fires", []string{"event", "--type", "login", "--account", "acct-2", "--device", "d1", "--country", "DE", "--session", "s1"}, 0, `^event evt_\w+ ingested\nno rule fired\n$`, ""},
		{"api burst", []string{"event", "--type", "api_activity", "--account", "acct-3", "--api-key", "k1", "--orders-per-minute", "150"}, 0,
			`(?s)rules fired: api_burst\n  applied   reduce_only .*commands sent: cancel_spot_orders`, ""},
		{"only set numbers are sent", []string{"event", "--type", "api_activity", "--account", "acct-4", "--failure-rate", "0.2"}, 0, `no rule fired`, ""},
		{"a zero that was set is sent", []string{"event", "--type", "login", "--account", "acct-4", "--orders-per-minute", "0"}, 1, ``,
			"error: invalid_argument: login events carry no orders_per_minute"},
		{"undisclosed hold", []string{"event", "--type", "law_enforcement_request", "--account", "acct-5", "--case-ref", "le-1", "--disclose=false", "--json"}, 0,
			`(?s)"kind": "law_enforcement_hold",.*"disclose": false`, ""},
		{"field the type does not carry", []string{"event", "--type", "login", "--account", "acct-1", "--amount", "5"}, 1, ``,
			"error: invalid_argument: login events carry no amount"},
		{"unknown type", []string{"event", "--type", "coffee_break", "--account", "acct-1"}, 1, ``, `error: invalid_argument: unknown event type "coffee_break" (field type)`},
		{"bad notice period", []string{"event", "--type", "sanctions_match", "--account", "acct-1", "--notice-period", "a month"}, 1, ``, "error: invalid_argument: invalid notice_period"},
		{"bad at", []string{"event", "--type", "login", "--account", "acct-1", "--at", "yesterday"}, 2, ``, "error: invalid_argument: --at"},
		{"JSON", []string{"event", "--type", "deposit", "--account", "acct-6", "--asset", "BTC", "--amount", "0.5", "--usd-value", "30000", "--source-risk", "mixer", "--json"}, 0,
			`(?s)^\{\n  "result": \{\n    "event": "evt_\w+",\n    "duplicate": false,\n    "applied": \[.*"kind": "withdrawal_freeze"`, ""},
		{"file and fields", []string{"event", "--file", "x.jsonl", "--type", "login"}, 2, ``, "error: invalid_argument: --file takes every event from the file; drop --type"},
		{"missing file", []string{"event", "--file", filepath.Join(t.TempDir(), "nope.jsonl")}, 1, ``, "error: not_found: cannot read the events file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errw := cli(t, tt.args...)
			if code != tt.code || !regexp.MustCompile(tt.stdout).MatchString(out) || !strings.HasPrefix(errw, tt.stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout matching %q, stderr starting %q", code, out, errw, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}

func TestEventFileCLI(t *testing.T) {
	eventServer(t)
	dir := t.TempDir()
	write := func(name string, lines ...string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// Lines as `holdfast events export` writes them: holdfast.Event in JSON.
	var exported []string
	for i, ev := range []holdfast.Event{
		{ID: "f-1", Type: holdfast.EventPasswordReset, Account: "acct-f1", At: time.Now().Add(-time.Minute).UTC()},
		{ID: "f-2", Type: holdfast.EventSanctionsMatch, Account: "acct-f2", NoticePeriod: holdfast.Duration(30 * holdfast.Day), CaseRef: "ofac-1"},
		{ID: "f-3", Type: holdfast.EventAPIActivity, Account: "acct-f3", OrdersPerMinute: new(120.0)},
		{ID: "f-4", Type: holdfast.EventVerificationCompleted, Account: "acct-f3", Factors: []holdfast.Factor{holdfast.Factor("email")}},
	} {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(i, err)
		}
		exported = append(exported, string(b))
	}
	good := write("good.jsonl", exported...)
	code, out, errw := cli(t, "event", "--file", good, "--batch", "3")
	if code != 0 || out != good+": 4 event(s): 4 ingested, 0 duplicate(s), 0 invalid\n" || errw != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errw)
	}
	if code, out, _ := cli(t, "check", "--account", "acct-f1", "--action", "withdraw"); code != 0 || !strings.Contains(out, "cooling_off") {
		t.Fatalf("the file's password reset started no cooling-off: %s", out)
	}

	// The same file again is all duplicates; a mixed file reports each bad
	// line by number and ingests the rest, across batches.
	code, out, _ = cli(t, "event", "--file", good)
	if code != 0 || !strings.Contains(out, "4 event(s): 0 ingested, 4 duplicate(s), 0 invalid") {
		t.Fatalf("replay: exit %d, %s", code, out)
	}
	mixed := write("mixed.jsonl",
		`{"id":"m-1","type":"password_changed","account":"acct-m1"}`,
		``,
		`{"id":"m-2","type":"login","account":"acct-m2","amount":"5"}`,
		`{"id":"m-3","type":"login","account":"acct-m3","colour":"red"}`,
		`{"id":"m-4","type":"login",`,
		`{"id":"m-1","type":"password_changed","account":"acct-m1"}`,
		`{"id":"m-5","type":"kyc_status","account":"acct-m5","status":"expired"}`,
		`{"id":"m-6","type":"sanctions_match","account":"acct-m6","notice_period":"soon"}`,
	)
	code, out, _ = cli(t, "event", "--file", mixed, "--batch", "2")
	for _, want := range []string{
		mixed + ": 7 event(s): 2 ingested, 1 duplicate(s), 4 invalid\n",
		"  line 3: invalid_argument: login events carry no amount",
		`  line 4: invalid_argument: invalid JSON event: (line 1:48): unknown field "colour" (field colour)`,
		"  line 5: invalid_argument: invalid JSON event: ",
		"  line 8: invalid_argument: invalid notice_period \"soon\"",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("mixed file output lacks %q:\n%s", want, out)
		}
	}
	if code != 1 {
		t.Errorf("exit %d, want 1 for a file with invalid lines", code)
	}
	if _, out, _ := cli(t, "check", "--account", "acct-m5", "--action", "withdraw"); !strings.Contains(out, "kyc_required") {
		t.Errorf("the line after the bad ones was not ingested: %s", out)
	}

	code, out, _ = cli(t, "event", "--file", mixed, "--json")
	var sum struct {
		Events, Ingested, Duplicates, Invalid int
		Errors                                []struct {
			Line        int
			Code, Field string
		}
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || code != 1 {
		t.Fatalf("--json: exit %d, %v\n%s", code, err, out)
	}
	if sum.Events != 7 || sum.Ingested != 0 || sum.Duplicates != 3 || sum.Invalid != 4 || len(sum.Errors) != 4 || sum.Errors[0].Line != 3 || sum.Errors[0].Field != "amount" {
		t.Errorf("--json summary = %+v", sum)
	}
}
