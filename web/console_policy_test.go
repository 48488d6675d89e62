package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/backtest"
	"github.com/holdfast/holdfast/policy"
)

// pushPolicyVersion stores the default policy as the active version (as a
// server's first start does) and pushes, as a compliance officer, a
// version whose rule login_after_inactivity waits 60 days instead of 30.
// It returns the pushed version.
func (s *site) pushPolicyVersion() *holdfast.PolicyVersion {
	s.t.Helper()
	ctx := context.Background()
	if _, err := s.eng.InstallPolicy(ctx); err != nil {
		s.t.Fatal(err)
	}
	old := []byte("when: account.inactive_days > 30.0")
	y := policy.DefaultYAML()
	if bytes.Count(y, old) != 1 {
		s.t.Fatalf("the default policy no longer has %q once", old)
	}
	y = bytes.Replace(y, old, []byte("when: account.inactive_days > 60.0"), 1)
	v, err := s.eng.PushPolicy(ctx, holdfast.Staff("bob", holdfast.RoleCompliance), y, "dormant after 60 days")
	if err != nil {
		s.t.Fatal(err)
	}
	return v
}

func short(hash string) string { return hash[:12] }

// TestConsolePolicyRelease: a compliance officer asks in the Console for a
// pushed version to become the policy; the page will not let them approve
// their own request and says why; an admin, in another session, approves
// it, and the page and the engine show it in force. The comparison page
// lists the changed rule and the version's YAML is shown as pushed.
func TestConsolePolicyRelease(t *testing.T) {
	s := newSite(t)
	v := s.pushPolicyVersion()
	def := s.eng.Policy().Hash
	row := "#v-" + short(v.Hash)
	cara := s.addConsoleStaff("cara", holdfast.RoleCompliance)
	ada := s.addConsoleStaff("ada", holdfast.RoleAdmin)

	s.consoleSignIn(cara)
	s.run(click(`.console-nav a[href="/console/policy"]`), chromedp.WaitVisible(chromedp.CSS("#versions")))
	if got := s.text(row); !strings.Contains(got, "draft") || !strings.Contains(got, "dormant after 60 days") || !strings.Contains(got, "bob") {
		t.Errorf("the pushed version's row: %q", got)
	}
	if got := s.text("#active-version"); !strings.Contains(got, short(def)) {
		t.Errorf("in force: %q, want %s", got, short(def))
	}

	// What the version changes, and its YAML.
	s.run(click(row+" .compare"), chromedp.WaitVisible(chromedp.CSS("#changes li")))
	if got := s.text("#changes"); !strings.Contains(got, "login_after_inactivity") || !strings.Contains(got, "60") {
		t.Errorf("the comparison: %q", got)
	}
	s.run(chromedp.Navigate(s.url+"/console/policy/version?v="+short(v.Hash)), chromedp.WaitVisible(chromedp.CSS("#yaml")))
	if got := s.text("#yaml"); !strings.Contains(got, "account.inactive_days > 60.0") || !strings.Contains(got, "# Holdfast default policy") {
		t.Errorf("the version's YAML: %.200q", got)
	}

	// Asking for the activation.
	s.run(
		chromedp.Navigate(s.url+"/console/policy"),
		chromedp.WaitVisible(chromedp.CSS(row)),
		chromedp.SendKeys(chromedp.CSS(row+" .activate input[name=reason]"), "ticket 812: fewer step-ups for seasonal traders"),
		click(row+" .activate button"),
		doneCode("policy_requested"),
	)
	if got := s.text("#pending"); !strings.Contains(got, "cara (you)") || !strings.Contains(got, "ticket 812") || !strings.Contains(got, short(v.Hash)) {
		t.Errorf("waiting for approval: %q", got)
	}

	// The same member cannot approve it.
	s.run(click("#pending .decide .approve"), chromedp.WaitVisible(chromedp.CSS("#error")))
	if got := s.text("#error"); !strings.Contains(got, "You asked for this activation") || !strings.Contains(got, "another member of compliance or admin") {
		t.Errorf("approving one's own request: %q", got)
	}
	if got := s.eng.Policy().Hash; got != def {
		t.Fatalf("a self-approval switched the policy to %s", got)
	}

	// An admin approves it.
	b := s.newSession()
	b.consoleSignIn(ada)
	b.run(chromedp.Navigate(s.url+"/console/policy"), chromedp.WaitVisible(chromedp.CSS("#pending")))
	b.run(
		chromedp.SendKeys(chromedp.CSS("#pending .decide input[name=reason]"), "reviewed the diff"),
		click("#pending .decide .approve"),
		doneCode("policy_approved"),
	)
	if got := b.text("#active-version"); !strings.Contains(got, short(v.Hash)) || !strings.Contains(got, "asked by cara") || !strings.Contains(got, "approved by ada") {
		t.Errorf("in force after the approval: %q", got)
	}
	if got := b.text(row + " .state"); !strings.Contains(got, "active") {
		t.Errorf("the version's state after the approval: %q", got)
	}
	if got := b.text("#no-pending"); got == "" {
		t.Errorf("an activation still waits")
	}
	if got := b.text("#decided"); !strings.Contains(got, "approved") || !strings.Contains(got, "ada") {
		t.Errorf("recent decisions: %q", got)
	}
	// The version it replaced can be returned to.
	if got := b.text("#v-" + short(def) + " .activate button"); got != "Roll back to this version" {
		t.Errorf("the retired version's button: %q", got)
	}
	if got := s.eng.Policy().Hash; got != v.Hash {
		t.Errorf("the engine runs %s after the approval, want %s", got, v.Hash)
	}
}

// TestConsolePolicyRoles: support sees the versions but no change forms;
// a change posted anyway is refused by the engine, and the page says so
// in words; a rejection needs a reason.
func TestConsolePolicyRoles(t *testing.T) {
	s := newSite(t)
	v := s.pushPolicyVersion()
	p := s.pagesWithOutbox()

	sup := p.client(t, s.addConsoleStaff("sam", holdfast.RoleSupport))
	resp, body := httpGet(t, sup, p.url+"/console/policy")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, short(v.Hash)) {
		t.Fatalf("support's policy page: %d\n%s", resp.StatusCode, body)
	}
	for _, form := range []string{"/console/policy/activate", "/console/policy/shadow", "/decide"} {
		if strings.Contains(body, form) {
			t.Errorf("support's policy page has the form %s", form)
		}
	}
	resp, err := sup.PostForm(p.url+"/console/policy/activate", url.Values{"version": {v.Hash}, "reason": {"why not"}})
	if err != nil {
		t.Fatal(err)
	}
	b := readBody(t, resp)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(b, "Only members of compliance or admin may change the policy") || strings.Contains(b, "permission_denied") {
		t.Errorf("support asking for an activation: %d\n%s", resp.StatusCode, b)
	}
	if as, err := s.eng.PolicyActivations(context.Background(), true); err != nil || len(as) != 0 {
		t.Errorf("activations after support's request: %v %v", as, err)
	}

	comp := p.client(t, s.addConsoleStaff("cara", holdfast.RoleCompliance))
	a, err := s.eng.RequestPolicyActivation(context.Background(), holdfast.Staff("bob", holdfast.RoleCompliance), v.Hash, "ticket 812", false)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = comp.PostForm(p.url+"/console/policy/activations/"+a.ID+"/decide", url.Values{"decision": {"reject"}})
	if err != nil {
		t.Fatal(err)
	}
	if b := readBody(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(b, "A reason to reject is required") {
		t.Errorf("a rejection without a reason: %d\n%s", resp.StatusCode, b)
	}
	resp, err = comp.PostForm(p.url+"/console/policy/activations/"+a.ID+"/decide", url.Values{"decision": {"reject"}, "reason": {"not before the audit"}})
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.Request.URL.Query().Get("done") != "policy_rejected" {
		t.Errorf("the rejection ended at %s", resp.Request.URL)
	}
	if as, err := s.eng.PolicyActivations(context.Background(), true); err != nil || len(as) != 0 {
		t.Errorf("activations waiting after the rejection: %v %v", as, err)
	}
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestConsolePolicyShadow: compliance starts shadowing a version from its
// row and stops it again; the page shows the state each time.
func TestConsolePolicyShadow(t *testing.T) {
	s := newSite(t)
	v := s.pushPolicyVersion()
	p := s.pagesWithOutbox()
	comp := p.client(t, s.addConsoleStaff("cara", holdfast.RoleCompliance))

	post := func(form url.Values, done string) string {
		t.Helper()
		resp, err := comp.PostForm(p.url+"/console/policy/shadow", form)
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(t, resp)
		if got := resp.Request.URL.Query().Get("done"); got != done {
			t.Fatalf("shadow %v ended at %s (%d)\n%s", form, resp.Request.URL, resp.StatusCode, body)
		}
		return body
	}
	body := post(url.Values{"version": {v.Hash}, "reason": {"try it on live events first"}}, "shadow_started")
	if !strings.Contains(body, `class="version state-shadow" id="v-`+short(v.Hash)) || !strings.Contains(body, "Stop shadowing") {
		t.Errorf("the page after shadowing does not show the version shadowed:\n%s", body)
	}
	if got, err := s.eng.PolicyVersion(context.Background(), v.Hash); err != nil || got.State != holdfast.PolicyShadow {
		t.Errorf("the version after shadowing: %+v %v", got, err)
	}
	// A live event the shadowed version would judge otherwise shows on
	// its page.
	if err := s.eng.SetPolicyShadow(context.Background(), holdfast.Staff("cara", holdfast.RoleCompliance), v.Hash, ""); err != nil {
		t.Fatal(err)
	}
	resp, err := comp.Get(p.url + "/console/policy/version?v=" + v.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if page := readBody(t, resp); !strings.Contains(page, `id="shadow-report"`) || !strings.Contains(page, "Shadowed now") {
		t.Errorf("the version page has no shadow report:\n%s", page)
	}
	body = post(url.Values{"version": {v.Hash}, "stop": {"yes"}}, "shadow_stopped")
	if !strings.Contains(body, `class="version state-draft" id="v-`+short(v.Hash)) || strings.Contains(body, "Stop shadowing") {
		t.Errorf("the page after stopping does not show the version as a draft:\n%s", body)
	}
}

// TestConsoleRestrictionNamesPolicy: a restriction a rule applied shows,
// on the account page, the rule, the event and the policy version that
// applied it, linked to that version.
func TestConsoleRestrictionNamesPolicy(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	opm := 500.0
	if _, err := s.eng.Ingest(ctx, holdfast.Event{ID: "ev-burst", Type: holdfast.EventAPIActivity, Account: "u-burst", OrdersPerMinute: &opm}); err != nil {
		t.Fatal(err)
	}
	p := s.pagesWithOutbox()
	comp := p.client(t, s.addConsoleStaff("cara", holdfast.RoleCompliance))
	resp, err := comp.Get(p.url + "/console/account?id=u-burst")
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	hash := s.eng.Policy().Hash
	want := `rule api_burst, event ev-burst, policy <a href="/console/policy/version?v=` + hash + `">` + hash[:12] + `</a>`
	if !strings.Contains(body, want) {
		t.Errorf("the account page lacks %s:\n%s", want, body)
	}
}

// TestConsolePolicyPush: a compliance member uploads a policy file and it
// is stored as a draft; a file that does not validate is refused with its
// problem and line, and nothing is stored.
func TestConsolePolicyPush(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	if _, err := s.eng.InstallPolicy(ctx); err != nil {
		t.Fatal(err)
	}
	p := s.pagesWithOutbox()
	comp := p.client(t, s.addConsoleStaff("cara", holdfast.RoleCompliance))
	push := func(yml []byte) (*http.Response, string) {
		t.Helper()
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("file", "stricter.yaml")
		fw.Write(yml)
		mw.WriteField("comment", "halve the burst threshold")
		mw.Close()
		resp, err := comp.Post(p.url+"/console/policy/push", mw.FormDataContentType(), &body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, readBody(t, resp)
	}
	bad := bytes.Replace(policy.DefaultYAML(), []byte("event.orders_per_minute > 100.0"), []byte("event.orders_per_minute >"), 1)
	resp, body := push(bad)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, ": rule api_burst: ") {
		t.Errorf("an invalid file: %d\n%s", resp.StatusCode, body)
	}
	if vs, _ := s.eng.PolicyVersions(ctx); len(vs) != 1 {
		t.Fatalf("an invalid file was stored: %d versions", len(vs))
	}
	good := bytes.Replace(policy.DefaultYAML(), []byte("event.orders_per_minute > 100.0"), []byte("event.orders_per_minute > 50.0"), 1)
	resp, body = push(good)
	if got := resp.Request.URL.Query().Get("done"); got != "policy_pushed" {
		t.Fatalf("the push ended at %s (%d):\n%s", resp.Request.URL, resp.StatusCode, body)
	}
	v, err := s.eng.PolicyVersion(ctx, holdfast.PolicyHash(good))
	if err != nil || v.State != holdfast.PolicyDraft || v.Author != "cara" || v.Comment != "halve the burst threshold" {
		t.Fatalf("the pushed version: %+v %v", v, err)
	}
	if !strings.Contains(body, short(v.Hash)) {
		t.Errorf("the page does not list the new version:\n%s", body)
	}
}

// TestConsolePolicyBacktest: a version's page shows the backtest its push
// started: per kind, how many accounts each version restricted, with the
// accounts only the new one did.
func TestConsolePolicyBacktest(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	v := s.pushPolicyVersion()
	rep, _ := json.Marshal(backtest.Report{Events: 7, Accounts: 3, Kinds: []backtest.KindReport{
		{Kind: holdfast.KindStepUpVerification, Baseline: 2, Candidate: 1, OnlyBaseline: []string{"acct-45d"}},
	}})
	now := time.Now()
	b := &holdfast.PolicyBacktest{Version: v.Hash, Baseline: s.eng.Policy().Hash, State: holdfast.BacktestRunning, Since: now.Add(-30 * 24 * time.Hour), StartedAt: now, UpdatedAt: now}
	if err := s.db.StartPolicyBacktest(ctx, b); err != nil {
		t.Fatal(err)
	}
	b.State, b.Events, b.FinishedAt, b.Report = holdfast.BacktestDone, 7, now, rep
	if err := s.db.UpdatePolicyBacktest(ctx, b); err != nil {
		t.Fatal(err)
	}
	p := s.pagesWithOutbox()
	comp := p.client(t, s.addConsoleStaff("cara", holdfast.RoleCompliance))
	resp, err := comp.Get(p.url + "/console/policy/version?v=" + v.Hash)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	for _, want := range []string{"Done: 7 recorded event(s)", `<td data-label="Kind">step_up_verification</td>`, `<a href="/console/account?id=acct-45d">acct-45d</a>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the version page lacks %s:\n%s", want, body)
		}
	}
}
