package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	neturl "net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/sqlite"
	"github.com/holdfast/holdfast/web"
)

// policyWith writes the default policy with extra rules appended (rules:
// is its last section) and returns the file's path.
func policyWith(t *testing.T, rules string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, append(policy.DefaultYAML(), []byte(rules)...), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPolicyValidateRefusesRuleTypos: a misspelt field or a comparison of
// the wrong type in a CEL condition is refused by `policy validate` and by
// `serve`, naming the rule, instead of failing every matching event later.
func TestPolicyValidateRefusesRuleTypos(t *testing.T) {
	for _, c := range []struct{ name, when, want string }{
		{"misspelt event field", `event.source_rsk == "mixer"`, "source_rsk"},
		{"int compared to a string", `account.deposit_count >= "3"`, "_>=_"},
		{"string compared to an int", `event.source_risk == 5`, "_==_"},
		{"misspelt account field", `account.deposit_cnt > 3`, "deposit_cnt"},
		{"a record built in the condition", `holdfast.Event{}.source_risk == "mixer"`, "cannot create a record"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := policyWith(t, "\n  - id: typo_rule\n    on: [deposit]\n    when: '"+c.when+"'\n    then:\n      - apply: {kind: withdrawal_freeze}\n")
			code, out, errw := cli(t, "policy", "validate", path)
			if code == 0 || !strings.Contains(errw, "rule typo_rule") || !strings.Contains(errw, c.want) || !strings.Contains(errw, ".when") {
				t.Fatalf("policy validate: exit %d, stdout %q, stderr %q; want a failure naming typo_rule and %q", code, out, errw, c.want)
			}
			code, _, errw = cli(t, "serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--policy", path)
			if code == 0 || !strings.Contains(errw, "invalid_argument") || !strings.Contains(errw, "rule typo_rule") {
				t.Fatalf("serve: exit %d, stderr %q; want invalid_argument naming typo_rule", code, errw)
			}
		})
	}
	// Evidence is checked the same way.
	path := policyWith(t, "\n  - id: typo_evidence\n    on: [deposit]\n    evidence: [event.usd_valu]\n    then:\n      - tag: high_risk\n")
	if code, _, errw := cli(t, "policy", "validate", path); code == 0 || !strings.Contains(errw, "rules[20].evidence[0]") || !strings.Contains(errw, "rule typo_evidence") {
		t.Fatalf("evidence typo: exit %d, %q", code, errw)
	}
	// on_error is one of apply and skip, and apply needs a restriction to
	// apply.
	for _, c := range []struct{ rule, want string }{
		{"\n  - id: bad_on_error\n    on: [deposit]\n    on_error: maybe\n    then:\n      - apply: {kind: withdrawal_freeze}\n", `rules[20].on_error: unknown on_error "maybe"`},
		{"\n  - id: nothing_to_apply\n    on: [deposit]\n    on_error: apply\n    then:\n      - tag: high_risk\n", "rules[20].on_error: on_error: apply applies the rule's restrictions when its condition fails, and rule nothing_to_apply has no apply action"},
	} {
		if code, _, errw := cli(t, "policy", "validate", policyWith(t, c.rule)); code == 0 || !strings.Contains(errw, c.want) {
			t.Errorf("exit %d, %q; want %q", code, errw, c.want)
		}
	}
	if code, out, errw := cli(t, "policy", "validate", policyWith(t, erroringRules)); code != 0 {
		t.Fatalf("rules that type-check: exit %d %q %q", code, out, errw)
	}
	if code, out, errw := cli(t, "policy", "validate", policyWith(t, "")); code != 0 {
		t.Fatalf("the default policy: exit %d %q %q", code, out, errw)
	}
}

// erroringRules type-check but fail at run time on an account's first
// deposit (a division by zero). deposit_ratio_closed applies a money-out
// restriction and so fails closed by default; deposit_ratio_open says
// on_error: skip.
const erroringRules = `
  - id: deposit_ratio_closed
    on: [deposit]
    when: 100 / account.deposit_count < 1
    then:
      - apply: {kind: association_review}
      - tag: high_risk

  - id: deposit_ratio_open
    on: [deposit]
    when: 100 / account.deposit_count < 1
    on_error: skip
    then:
      - apply: {kind: c2c_freeze}
`

// TestErroringRuleStopsNothing: a rule that fails at run time neither
// fails the event (it used to be internal, HTTP 500) nor stops the other
// rules; it is counted, shown on /readyz and in the Console, and fails
// closed or open as the policy says.
func TestErroringRuleStopsNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := policyWith(t, erroringRules)
	if code, _, errw := cli(t, "staff", "add", "--data", dir, "--id", "admin", "--roles", "admin"); code != 0 {
		t.Fatal(errw)
	}
	code, token, errw := cli(t, "token", "create", "--data", dir, "--scopes", "staff,events", "--staff", "admin")
	if code != 0 {
		t.Fatal(errw)
	}
	console := consoleStaff(t, dir, "cora")

	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, logs syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--data", dir, "--addr", addr, "--policy", path}, &out, &logs)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	url := "http://" + addr
	waitReady(t, url, &logs)
	t.Setenv("HOLDFAST_SERVER", url)
	t.Setenv("HOLDFAST_TOKEN", strings.TrimSpace(token))

	// A first deposit from a mixer: the stock rule deposit_flagged_source
	// still freezes withdrawals.
	event := []string{"event", "--type", "deposit", "--account", "acct-1", "--id", "dep-1", "--asset", "BTC", "--amount", "0.1", "--usd-value", "6000", "--source-risk", "mixer", "--json"}
	code, res, errw := cli(t, event...)
	if code != 0 {
		t.Fatalf("event: exit %d %s %s", code, res, errw)
	}
	var got struct {
		Result struct {
			Applied    []struct{ Kind, Reason string }
			Tags       []string
			Rules      []string
			RuleErrors []ruleError `json:"rule_errors"`
		}
	}
	if err := json.Unmarshal([]byte(res), &got); err != nil {
		t.Fatalf("%v: %s", err, res)
	}
	kinds := map[string]string{}
	for _, a := range got.Result.Applied {
		kinds[a.Kind] = a.Reason
	}
	if _, ok := kinds["withdrawal_freeze"]; !ok {
		t.Errorf("the other rules did not run: applied %v", got.Result.Applied)
	}
	if r, ok := kinds["association_review"]; !ok || !strings.Contains(r, "failed to evaluate") {
		t.Errorf("deposit_ratio_closed did not fail closed: applied %v", got.Result.Applied)
	}
	if _, ok := kinds["c2c_freeze"]; ok {
		t.Errorf("deposit_ratio_open (on_error: skip) applied its restriction")
	}
	if slices.Contains(got.Result.Tags, "high_risk") {
		t.Errorf("failing closed did more than apply the restriction: tags %v", got.Result.Tags)
	}
	// The reporting service sees that screening failed for its event.
	wantErrs := []ruleError{{"deposit_ratio_closed", "division by zero"}, {"deposit_ratio_open", "division by zero"}}
	if !slices.Equal(got.Result.RuleErrors, wantErrs) {
		t.Errorf("rule_errors %v, want %v", got.Result.RuleErrors, wantErrs)
	}
	// The event was stored: replaying it changes nothing.
	if code, res, _ := cli(t, event[:len(event)-1]...); code != 0 || !strings.Contains(res, "duplicate") {
		t.Errorf("replay: exit %d %s", code, res)
	}

	_, metrics := httpGet(t, http.DefaultClient, url+"/metrics")
	for _, want := range []string{
		`holdfast_rule_errors_total{rule="deposit_ratio_closed"} 1`,
		`holdfast_rule_errors_total{rule="deposit_ratio_open"} 1`,
		`holdfast_rule_errors_total{rule="deposit_flagged_source"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	resp, ready := httpGet(t, http.DefaultClient, url+"/readyz")
	if resp.StatusCode != 200 || !strings.HasPrefix(ready, "ready\n") || !strings.Contains(ready, "rule deposit_ratio_closed failed to evaluate 1 time(s)") || !strings.Contains(ready, "division by zero") {
		t.Errorf("/readyz: %d %q", resp.StatusCode, ready)
	}
	if !strings.Contains(logs.String(), `"msg":"rule failed to evaluate","rule":"deposit_ratio_open"`) {
		t.Errorf("no log line for the failed rule:\n%s", logs.String())
	}

	home := console(url)
	if !strings.Contains(home, `id="rule-errors"`) || !strings.Contains(home, `data-rule="deposit_ratio_closed"`) || !strings.Contains(home, `data-rule="deposit_ratio_open"`) {
		t.Errorf("the Console's home page shows no rule errors:\n%s", home)
	}

	// IngestBatch answers them in the event's own result.
	req, _ := http.NewRequest("POST", url+"/holdfast.v1.EventService/IngestBatch", strings.NewReader(
		`{"events": [{"type": "deposit", "account": "acct-2", "id": "dep-2", "asset": "USDT", "amount": "50", "usd_value": "50"}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(token))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var batch struct {
		Results []struct {
			Result struct {
				RuleErrors []ruleError `json:"rule_errors"`
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&batch); err != nil || resp.StatusCode != 200 || len(batch.Results) != 1 {
		t.Fatalf("IngestBatch: %d %v %+v", resp.StatusCode, err, batch)
	}
	if got := batch.Results[0].Result.RuleErrors; !slices.Equal(got, wantErrs) {
		t.Errorf("IngestBatch rule_errors %v, want %v", got, wantErrs)
	}
	// holdfast event says so too.
	code, res, errw = cli(t, "event", "--type", "deposit", "--account", "acct-3", "--asset", "USDT", "--amount", "50", "--usd-value", "50")
	if code != 0 || !strings.Contains(res, "rule deposit_ratio_open failed to evaluate: division by zero\n") {
		t.Errorf("event: exit %d %q %s", code, res, errw)
	}
}

// ruleError is one of an IngestResult's rule_errors, in its JSON.
type ruleError struct{ Rule, Message string }

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitReady(t *testing.T, url string, logs *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get(url + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func httpGet(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// consoleStaff adds a staff member with a Console password and TOTP to the
// store in dir (before the server opens it) and returns a function that
// signs them in at a server's URL and returns the Console's home page.
func consoleStaff(t *testing.T, dir, id string) func(url string) string {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	password := "correct horse battery " + id
	hash, err := web.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := web.NewTOTPSecret(id)
	if err != nil {
		t.Fatal(err)
	}
	err = db.PutStaff(ctx, &holdfast.StaffMember{ID: id, Roles: []holdfast.Role{holdfast.RoleSupport}, CreatedAt: time.Now(), PasswordHash: hash, TOTPSecret: secret})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	return func(base string) string {
		code, err := totp.GenerateCode(secret, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		resp, err := c.PostForm(base+"/console/login", neturl.Values{"staff": {id}, "password": {password}, "code": {code}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/console/" {
			t.Fatalf("Console sign-in: %d at %s", resp.StatusCode, resp.Request.URL)
		}
		return string(b)
	}
}

// TestBacktestReportsRuleErrors: a candidate policy whose rule fails at run
// time is replayed to the end (it used to stop the backtest with internal)
// and the report names the rule.
func TestBacktestReportsRuleErrors(t *testing.T) {
	path := policyWith(t, erroringRules)
	code, out, errw := cli(t, "backtest", "--events", backtestEvents, "--policy", path)
	if code != 0 || errw != "" {
		t.Fatalf("exit %d, stderr %q", code, errw)
	}
	for _, want := range []string{
		"Rules whose condition failed to evaluate (fix the policy):\n",
		"  deposit_ratio_closed (candidate policy): ",
		"failing closed; last: rule deposit_ratio_closed: division by zero\n",
		"  deposit_ratio_open (candidate policy): ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	rep := backtestJSON(t, "--events", backtestEvents, "--policy", path)
	if len(rep.RuleErrors) != 2 || rep.RuleErrors[0].Rule != "deposit_ratio_closed" || rep.RuleErrors[0].Policy != "candidate" || rep.RuleErrors[0].Count == 0 {
		t.Errorf("rule_errors: %+v", rep.RuleErrors)
	}
}

// TestSimulateErroringRule: the same rules through a scenario. The event
// step succeeds (it used to fail with internal), the other rules still
// apply, and the failing rules fail closed or open as the policy says.
func TestSimulateErroringRule(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), append(policy.DefaultYAML(), erroringRules...), 0o600); err != nil {
		t.Fatal(err)
	}
	scenario := `name: a rule that fails at run time stops nothing
policy: ./policy.yaml
start: 2026-04-01T00:00:00Z
accounts:
  - {id: u1}
steps:
  - at: 0s
    event: {type: deposit, account: u1, asset: BTC, amount: "0.1", usd_value: "6000", source_risk: mixer}
  - at: 1m
    expect: {account: u1, action: withdraw, effect: deny, kinds: [withdrawal_freeze, association_review]}
  - at: 1m
    expect: {account: u1, action: p2p_trade, effect: deny, kinds: [withdrawal_freeze]}
  - at: 1m
    expect_tags: {account: u1, lacks: [high_risk]}
`
	path := filepath.Join(dir, "erroring_rule.yaml")
	if err := os.WriteFile(path, []byte(scenario), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errw := cli(t, "simulate", path); code != 0 || !strings.Contains(out, "3 passed, 0 failed") {
		t.Fatalf("simulate: exit %d\n%s%s", code, out, errw)
	}
}
