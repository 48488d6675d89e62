package web_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/blob"
	"github.com/holdfast/holdfast/web"
)

// staffLogin is a Console member's credentials.
type staffLogin struct{ id, password, secret string }

// addStaff creates a staff member who can sign in to the Console.
func (s *site) addConsoleStaff(id string, roles ...holdfast.Role) staffLogin {
	s.t.Helper()
	password := "correct horse " + id
	hash, err := web.HashPassword(password)
	if err != nil {
		s.t.Fatal(err)
	}
	secret, _, err := web.NewTOTPSecret(id)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.db.PutStaff(context.Background(), &holdfast.StaffMember{ID: id, Roles: roles, CreatedAt: time.Now(), PasswordHash: hash, TOTPSecret: secret}); err != nil {
		s.t.Fatal(err)
	}
	return staffLogin{id: id, password: password, secret: secret}
}

func totpCode(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// typeLogin fills and sends the Console's sign-in form.
func (s *site) typeConsoleLogin(id, password, otp string) {
	s.t.Helper()
	s.run(
		chromedp.Navigate(s.url+"/console/login"),
		chromedp.WaitVisible(chromedp.CSS("#staff")),
		chromedp.SendKeys(chromedp.CSS("#staff"), id),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.SendKeys(chromedp.CSS("#code"), otp),
		click(".login button"),
	)
}

// consoleSignIn signs l in through the login form, typing a current code.
func (s *site) consoleSignIn(l staffLogin) {
	s.t.Helper()
	s.typeConsoleLogin(l.id, l.password, totpCode(s.t, l.secret))
	s.run(chromedp.WaitVisible(chromedp.CSS("#account")))
}

// session is a second, separate browser session (its own cookies) in the
// same Chromium.
func (s *site) newSession() *site {
	s.t.Helper()
	ctx, cancel := chromedp.NewContext(s.browser, chromedp.WithNewBrowserContext())
	s.t.Cleanup(cancel)
	c := *s
	c.browser = ctx
	return &c
}

// done waits for the confirmation code on the page.
func doneCode(code string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(`#done[data-done="` + code + `"]`))
}

func (s *site) openConsoleAccount(id string) {
	s.t.Helper()
	s.run(chromedp.Navigate(s.url+"/console/account?id="+url.QueryEscape(id)), chromedp.WaitVisible(chromedp.CSS("#apply-form")))
}

func (s *site) tradeEffect(account string) holdfast.Effect {
	s.t.Helper()
	d, err := s.eng.Check(context.Background(), holdfast.CheckRequest{Account: account, Action: holdfast.ActionTrade})
	if err != nil {
		s.t.Fatal(err)
	}
	return d.Effect
}

// TestConsoleFourEyesLift: a compliance officer applies a full
// restriction and asks to lift it; they cannot approve their own request;
// a second compliance officer, in another browser session, approves it and
// the account trades again.
func TestConsoleFourEyesLift(t *testing.T) {
	s := newSite(t)
	bob := s.addConsoleStaff("bob", holdfast.RoleCompliance)
	bea := s.addConsoleStaff("bea", holdfast.RoleCompliance)
	const acct = "acct-4eyes"

	s.consoleSignIn(bob)
	s.openConsoleAccount(acct)
	s.run(
		chromedp.SetValue(chromedp.CSS("#apply-kind"), "full_restriction"),
		chromedp.SendKeys(chromedp.CSS("#apply-reason"), "AML alert 7781: structuring"),
		click("#apply-submit"),
		doneCode("applied"),
	)
	if got := s.text("#active"); !strings.Contains(got, "full_restriction") || !strings.Contains(got, "AML alert 7781") {
		t.Errorf("active restrictions after apply: %q", got)
	}
	if got := s.text("#audit-status"); !strings.Contains(got, "Intact") {
		t.Errorf("audit status: %q", got)
	}
	if e := s.tradeEffect(acct); e != holdfast.Deny {
		t.Fatalf("trade after full_restriction: %s", e)
	}
	s.screenshot("console-account")

	s.run(
		chromedp.SendKeys(chromedp.CSS(".lift input[name=reason]"), "review cleared the account"),
		click(".lift button"),
		doneCode("lift_requested"),
	)
	if got := s.text("#done"); !strings.Contains(got, "second") {
		t.Errorf("lift of a four-eyes kind says %q", got)
	}
	if got := s.text("#active"); !strings.Contains(got, "Lift requested by staff:bob") {
		t.Errorf("pending lift not shown: %q", got)
	}
	if e := s.tradeEffect(acct); e != holdfast.Deny {
		t.Fatalf("trade after only asking to lift: %s", e)
	}

	// The asker sees their request, and the engine refuses their approval.
	s.run(chromedp.Navigate(s.url+"/console/approvals"), chromedp.WaitVisible(chromedp.CSS("#approvals")))
	if got := s.text("#approvals"); !strings.Contains(got, "staff:bob (you)") || !strings.Contains(got, "review cleared the account") {
		t.Errorf("approvals queue: %q", got)
	}
	s.screenshot("console-approvals")
	s.run(click(".approve button"), chromedp.WaitVisible(chromedp.CSS("#error")))
	if got := s.text("#error"); !strings.Contains(got, "second person") {
		t.Errorf("approving one's own request: %q", got)
	}
	if e := s.tradeEffect(acct); e != holdfast.Deny {
		t.Fatalf("trade after a self-approval: %s", e)
	}

	b := s.newSession()
	b.consoleSignIn(bea)
	b.run(chromedp.Navigate(s.url+"/console/approvals"), chromedp.WaitVisible(chromedp.CSS("#approvals")))
	b.run(click(".approve button"), doneCode("approved"))
	if e := s.tradeEffect(acct); e != holdfast.Allow {
		t.Errorf("trade after the second person approved: %s", e)
	}
	b.openConsoleAccount(acct)
	if got := b.text("#no-active"); got == "" {
		t.Errorf("account still lists restrictions")
	}
}

// TestConsoleLawEnforcementHold: support sees that an account is held for
// law enforcement but never the order's reference or reason, and cannot
// apply one; a law-enforcement liaison sees both.
func TestConsoleLawEnforcementHold(t *testing.T) {
	s := newSite(t)
	const acct = "acct-le"
	_, err := s.eng.Apply(context.Background(), holdfast.ApplyRequest{
		Account: acct, Kind: holdfast.KindLawEnforcementHold, Reason: "secret order", Reference: "LE-REF-9",
		Actor: holdfast.Staff("lena", holdfast.RoleLELiaison),
	})
	if err != nil {
		t.Fatal(err)
	}
	sue := s.addConsoleStaff("sue", holdfast.RoleSupport)
	leo := s.addConsoleStaff("leo", holdfast.RoleLELiaison)

	s.consoleSignIn(sue)
	s.openConsoleAccount(acct)
	if got := s.text("#active"); !strings.Contains(got, "law_enforcement_hold") {
		t.Errorf("support does not see the hold: %q", got)
	}
	page := s.html()
	for _, secret := range []string{"LE-REF-9", "secret order"} {
		if strings.Contains(page, secret) {
			t.Errorf("support's account page shows %q", secret)
		}
	}

	// Support may not apply a law-enforcement hold: the engine says so.
	s.run(
		chromedp.SetValue(chromedp.CSS("#apply-kind"), "law_enforcement_hold"),
		chromedp.SendKeys(chromedp.CSS("#apply-reason"), "copying the hold"),
		chromedp.SendKeys(chromedp.CSS("#apply-reference"), "LE-REF-10"),
		click("#apply-submit"),
		chromedp.WaitVisible(chromedp.CSS("#error")),
	)
	if got := s.text("#error"); !strings.Contains(got, "staff:sue may not apply law_enforcement_hold") {
		t.Errorf("support applying a law-enforcement hold: %q", got)
	}
	if page := s.html(); strings.Contains(page, "LE-REF-9") || strings.Contains(page, "secret order") {
		t.Errorf("the refusal page leaks the hold's reference or reason")
	}
	// Nor lift it.
	s.openConsoleAccount(acct)
	s.run(
		chromedp.SendKeys(chromedp.CSS(".lift input[name=reason]"), "looks fine"),
		click(".lift button"),
		chromedp.WaitVisible(chromedp.CSS("#error")),
	)
	if got := s.text("#error"); !strings.Contains(got, "may not ask to lift law_enforcement_hold") {
		t.Errorf("support lifting a law-enforcement hold: %q", got)
	}
	rs, err := s.eng.List(context.Background(), holdfast.RestrictionFilter{Account: acct, ActiveAt: time.Now()}, holdfast.System)
	if err != nil || len(rs) != 1 {
		t.Fatalf("restrictions after support's attempts: %v %v", rs, err)
	}

	s.consoleSignIn(leo)
	s.openConsoleAccount(acct)
	if got := s.text("#active"); !strings.Contains(got, "LE-REF-9") || !strings.Contains(got, "secret order") {
		t.Errorf("le_liaison's account page: %q", got)
	}
}

// TestConsoleSignInRefusals: a wrong password, a wrong code and an unknown
// staff id all get the same one message, and no session.
func TestConsoleSignInRefusals(t *testing.T) {
	s := newSite(t)
	cy := s.addConsoleStaff("cy", holdfast.RoleSupport)
	good := totpCode(t, cy.secret)
	bad := good[:5] + string('0'+(good[5]-'0'+1)%10)
	var msgs []string
	for _, try := range [][3]string{
		{cy.id, "wrong password", good},
		{cy.id, cy.password, bad},
		{"nobody", cy.password, good},
	} {
		s.typeConsoleLogin(try[0], try[1], try[2])
		s.run(chromedp.WaitVisible(chromedp.CSS(".error")))
		msgs = append(msgs, s.text(".error"))
	}
	for _, m := range msgs {
		if m != "Wrong staff id, password or code. A code works once: after signing in with one, wait for the next." {
			t.Errorf("refusals say %q", msgs)
			break
		}
	}
	// No session came of them.
	s.run(chromedp.Navigate(s.url+"/console/approvals"), chromedp.WaitVisible(chromedp.CSS("#staff")))
	s.consoleSignIn(cy)
}

// TestConsoleCaseDecision: from the case queue, compliance approves a
// source-of-funds appeal and keeps the suspicious amount held.
func TestConsoleCaseDecision(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	const acct = "acct-sof"
	if _, err := s.eng.Apply(ctx, holdfast.ApplyRequest{Account: acct, Kind: holdfast.KindWithdrawalFreeze, Reason: "deposit from a mixer", Actor: holdfast.System}); err != nil {
		t.Fatal(err)
	}
	c, err := s.eng.OpenCase(ctx, holdfast.OpenCaseRequest{Account: acct, Type: holdfast.CaseSourceOfFunds, Statement: "The 2 BTC are my salary; 0.5 BTC came through a friend's wallet.", Actor: holdfast.User(acct)})
	if err != nil {
		t.Fatal(err)
	}
	cora := s.addConsoleStaff("cora", holdfast.RoleCompliance)
	s.consoleSignIn(cora)
	s.run(
		click("#link-cases"),
		chromedp.WaitVisible(chromedp.CSS("#cases")),
	)
	if got := s.text("#cases"); !strings.Contains(got, c.ID) || !strings.Contains(got, "source_of_funds") {
		t.Errorf("case queue: %q", got)
	}
	s.run(click(".case-link"), chromedp.WaitVisible(chromedp.CSS("#decide-form")))
	s.run(
		chromedp.SendKeys(chromedp.CSS("#note-text"), "Salary slips match; the 0.5 BTC is unexplained."),
		click("#note-submit"),
		doneCode("noted"),
	)
	if got := s.text("#entries"); !strings.Contains(got, "my salary") || !strings.Contains(got, "unexplained") {
		t.Errorf("case timeline: %q", got)
	}
	s.screenshot("console-case")
	s.run(
		click("#decision-approve"),
		chromedp.SendKeys(chromedp.CSS("#decide-reason"), "Salary documented; keep the unexplained part held."),
		chromedp.SendKeys(chromedp.CSS("#keep-asset"), "BTC"),
		chromedp.SendKeys(chromedp.CSS("#keep-amount"), "0.5"),
		click("#decide-submit"),
		doneCode("decided"),
	)
	if got := s.text("#case-state"); got != "approved" {
		t.Errorf("case state on the page: %q", got)
	}
	if got := s.text("#case-hold"); got != "0.5 BTC" {
		t.Errorf("held on the page: %q", got)
	}
	got, err := s.eng.Case(ctx, c.ID, holdfast.System)
	if err != nil || got.State != holdfast.CaseApproved || got.Hold == nil || got.Hold.Asset != "BTC" || got.Hold.Amount != "0.5" {
		t.Fatalf("case after the decision: %+v %v", got, err)
	}
	rs, err := s.eng.List(ctx, holdfast.RestrictionFilter{Account: acct, ActiveAt: time.Now()}, holdfast.System)
	if err != nil || len(rs) != 0 {
		t.Errorf("restrictions after the approval: %v %v", rs, err)
	}
}

// consolePages is a second pages server on the site's engine and store, with the
// store's outbox and an evidence store the test can fill, driven over
// plain HTTP.
type consolePages struct {
	url      string
	evidence blob.Store
}

func (s *site) pagesWithOutbox(adjust ...func(*web.Config)) *consolePages {
	s.t.Helper()
	evidence, err := blob.NewDir(filepath.Join(s.t.TempDir(), "evidence"), 1<<20)
	if err != nil {
		s.t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := web.Config{Engine: s.eng, Staff: s.db, Evidence: evidence, Outbox: s.db, HolderKey: s.key, SessionKey: []byte("0123456789abcdef0123456789abcdef-session"), Logger: log}
	for _, a := range adjust {
		a(&cfg)
	}
	h, err := web.New(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	s.t.Cleanup(srv.Close)
	return &consolePages{url: srv.URL, evidence: evidence}
}

// client signs l in over HTTP and returns a client carrying the session.
func (p *consolePages) client(t *testing.T, l staffLogin) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(p.url+"/console/login", url.Values{"staff": {l.id}, "password": {l.password}, "code": {totpCode(t, l.secret)}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/console/" {
		t.Fatalf("sign-in of %s: %d at %s", l.id, resp.StatusCode, resp.Request.URL)
	}
	return c
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

// TestConsoleOutbox: only support and admin see the dead letters and
// redrive them; others get 403.
func TestConsoleOutbox(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	p := s.pagesWithOutbox()
	if _, err := s.eng.Apply(ctx, holdfast.ApplyRequest{Account: "acct-out", Kind: holdfast.KindReduceOnly, Reason: "order burst", Actor: holdfast.System}); err != nil {
		t.Fatal(err)
	}
	claimed, err := s.db.ClaimCommandsOf(ctx, holdfast.TypeFilter{}, time.Now(), time.Minute, 1)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	dead := claimed[0]
	if err := s.db.FailCommand(ctx, dead.Command.ID, dead.LeaseUntil, time.Now(), "receiver answered 500", time.Time{}); err != nil {
		t.Fatal(err)
	}

	comp := p.client(t, s.addConsoleStaff("carl", holdfast.RoleCompliance))
	if resp, body := httpGet(t, comp, p.url+"/console/outbox"); resp.StatusCode != http.StatusForbidden || strings.Contains(body, dead.Command.ID) {
		t.Errorf("compliance on the outbox: %d", resp.StatusCode)
	}
	resp, err := comp.PostForm(p.url+"/console/outbox/"+dead.Command.ID+"/redrive", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("compliance redriving: %d", resp.StatusCode)
	}

	sup := p.client(t, s.addConsoleStaff("sam", holdfast.RoleSupport))
	resp, body := httpGet(t, sup, p.url+"/console/outbox")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, dead.Command.ID) || !strings.Contains(body, "receiver answered 500") {
		t.Fatalf("support's outbox page: %d\n%s", resp.StatusCode, body)
	}
	resp, err = sup.PostForm(p.url+"/console/outbox/"+dead.Command.ID+"/redrive", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Query().Get("done") != "redriven" {
		t.Errorf("redrive: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	if d, err := s.db.Command(ctx, dead.Command.ID); err != nil || d.State != holdfast.CommandPending {
		t.Errorf("command after the redrive: %+v %v", d, err)
	}
}

// TestConsoleEvidence: a case's file is served inline, with its recorded
// type, to staff who may see the case; nothing else is.
func TestConsoleEvidence(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	p := s.pagesWithOutbox()
	const acct = "acct-ev"
	if _, err := s.eng.Apply(ctx, holdfast.ApplyRequest{Account: acct, Kind: holdfast.KindWithdrawalFreeze, Reason: "flagged source", Actor: holdfast.System}); err != nil {
		t.Fatal(err)
	}
	c, err := s.eng.OpenCase(ctx, holdfast.OpenCaseRequest{Account: acct, Type: holdfast.CaseSourceOfFunds, Actor: holdfast.User(acct)})
	if err != nil {
		t.Fatal(err)
	}
	pdf := []byte("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
	ref, err := p.evidence.Put(ctx, bytes.NewReader(pdf))
	if err != nil {
		t.Fatal(err)
	}
	other, err := p.evidence.Put(ctx, bytes.NewReader([]byte("%PDF-1.4\n% another file\n%%EOF\n")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.eng.AddCaseEntry(ctx, holdfast.CaseEntryRequest{Case: c.ID, Type: holdfast.EntryEvidence, Evidence: &holdfast.EvidenceRef{SHA256: ref.SHA256, Name: "statement.pdf", ContentType: ref.ContentType, Size: ref.Size}, Actor: holdfast.User(acct)}); err != nil {
		t.Fatal(err)
	}
	base := p.url + "/console/cases/" + c.ID

	comp := p.client(t, s.addConsoleStaff("cleo", holdfast.RoleCompliance))
	resp, body := httpGet(t, comp, base)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "/evidence/"+ref.SHA256) {
		t.Fatalf("case page: %d", resp.StatusCode)
	}
	resp, body = httpGet(t, comp, base+"/evidence/"+ref.SHA256)
	if resp.StatusCode != http.StatusOK || body != string(pdf) {
		t.Fatalf("evidence: %d %q", resp.StatusCode, body)
	}
	h := resp.Header
	if h.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(h.Get("Content-Disposition"), "inline") || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("evidence headers: %v", h)
	}
	// A stored file that is not this case's is not served through it.
	if resp, _ := httpGet(t, comp, base+"/evidence/"+other.SHA256); resp.StatusCode != http.StatusNotFound {
		t.Errorf("another file through the case: %d", resp.StatusCode)
	}
	// Support may not see source-of-funds cases: the engine refuses.
	sup := p.client(t, s.addConsoleStaff("sid", holdfast.RoleSupport))
	if resp, body := httpGet(t, sup, base+"/evidence/"+ref.SHA256); resp.StatusCode != http.StatusForbidden || body == string(pdf) {
		t.Errorf("support fetching the evidence: %d", resp.StatusCode)
	}
}
