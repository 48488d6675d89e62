package web_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/smtptest"
	"github.com/holdfast/holdfast/notify"
	"github.com/holdfast/holdfast/web"
)

// The emergency freeze of a holder who cannot sign in, driven in a real
// Chromium against a real store, with the code read from the mail a real
// SMTP server received.

// emergencyRecipients finds a holder's contact as the server's delivery does.
type emergencyRecipients struct{ s holdfast.Store }

func (r emergencyRecipients) Recipient(ctx context.Context, account string) (notify.Recipient, error) {
	a, err := r.s.Account(ctx, account)
	if holdfast.ErrorCode(err) == holdfast.NotFound {
		return notify.Recipient{}, nil
	}
	if err != nil {
		return notify.Recipient{}, err
	}
	return notify.Recipient{Email: a.Security.Email, Phone: a.Security.Phone, AntiPhishingCode: a.Security.AntiPhishingCode}, nil
}

// emergencyLog is a log the server writes while the test reads it.
type emergencyLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *emergencyLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *emergencyLog) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// emergencySite is a site whose signed-out pages send codes by email
// through mail; the pages' log is kept.
type emergencySite struct {
	*site
	mail *smtptest.Server
	log  *emergencyLog
}

func newEmergencySite(t *testing.T, adjust ...func(*web.Config)) *emergencySite {
	t.Helper()
	mail := smtptest.Start(t, smtptest.Options{})
	log := &emergencyLog{}
	s := newSite(t, append([]func(*web.Config){emailCodesTo(t, mail), func(c *web.Config) {
		c.Logger = slog.New(slog.NewTextHandler(log, nil))
	}}, adjust...)...)
	return &emergencySite{site: s, mail: mail, log: log}
}

// emailCodesTo sends the emergency freeze's codes by email through mail.
func emailCodesTo(t *testing.T, mail *smtptest.Server) func(*web.Config) {
	return func(c *web.Config) {
		n, err := notify.New(emergencyRecipients{c.Staff.(holdfast.Store)}, notify.Config{SMTPAddr: mail.Addr, From: "Holdfast <security@example.com>"})
		if err != nil {
			t.Fatal(err)
		}
		c.Emergency.Sender = n
	}
}

// emailCodes sends the emergency freeze's codes to a mail server of its
// own, so that its pages show the form.
func emailCodes(t *testing.T) func(*web.Config) {
	return emailCodesTo(t, smtptest.Start(t, smtptest.Options{}))
}

// holder gives account an email address, an anti-phishing code, a session
// and an API key.
func (s *emergencySite) holder(account, email string) {
	s.t.Helper()
	s.holderIngest(holdfast.Event{Type: holdfast.EventEmailChanged, Account: account, Email: email})
	s.holderIngest(holdfast.Event{Type: holdfast.EventLogin, Account: account, Device: "laptop", Session: account + "-s1"})
	s.holderIngest(holdfast.Event{Type: holdfast.EventAPIKeyCreated, Account: account, APIKey: account + "-k1", Permissions: []string{"read", "trade"}})
	if err := s.eng.SetAntiPhishingCode(context.Background(), account, "heron-42", holdfast.User(account)); err != nil {
		s.t.Fatal(err)
	}
}

var emergencyCodeInMail = regexp.MustCompile(`Your code: ([0-9]{8})`)

// code waits for the nth mail and returns it with the code it carries.
func (s *emergencySite) code(n int) (*smtptest.Mail, string) {
	s.t.Helper()
	msgs := s.mail.Wait(s.t, n, 10*time.Second)
	m, err := msgs[n-1].Parse()
	if err != nil {
		s.t.Fatal(err)
	}
	got := emergencyCodeInMail.FindStringSubmatch(m.Body)
	if got == nil {
		s.t.Fatalf("no code in the mail:\n%s", m.Body)
	}
	return m, got[1]
}

// askCode fills in the account on the emergency page and asks for a code.
func (s *emergencySite) askCode(account string) {
	s.t.Helper()
	s.run(
		chromedp.Navigate(s.url+"/me/emergency"),
		chromedp.WaitVisible(chromedp.CSS("#emergency-account")),
		chromedp.SendKeys(chromedp.CSS("#emergency-account"), account),
		holderClickTo("#emergency-send", "h1"),
	)
}

// enterCode types code on the code page and submits it.
func (s *emergencySite) enterCode(code string) {
	s.t.Helper()
	s.run(
		chromedp.WaitVisible(chromedp.CSS("#emergency-code")),
		chromedp.SendKeys(chromedp.CSS("#emergency-code"), code),
		holderClickTo("#emergency-freeze", "h1"),
	)
}

func (s *site) emergencyHistory(account string) []holdfast.AuditEntry {
	s.t.Helper()
	h, err := s.db.History(context.Background(), account)
	if err != nil {
		s.t.Fatal(err)
	}
	return h
}

// emergencyByHolder keeps the entries the holder of account made.
func emergencyByHolder(h []holdfast.AuditEntry, account string) []holdfast.AuditEntry {
	return slices.DeleteFunc(h, func(e holdfast.AuditEntry) bool { return e.Actor != holdfast.User(account).String() })
}

// emergencyKinds are the kinds of the account's restrictions in force (the
// email address given in holder() starts a cooling_off).
func (s *site) emergencyKinds(account string) []holdfast.Kind {
	s.t.Helper()
	st, err := s.eng.Status(context.Background(), account, holdfast.ViewHolder, holdfast.User(account))
	if err != nil {
		s.t.Fatal(err)
	}
	var out []holdfast.Kind
	for _, c := range st.Causes {
		out = append(out, c.Kind)
	}
	return out
}

func emergencyEntries(h []holdfast.AuditEntry, action string) []holdfast.AuditEntry {
	var out []holdfast.AuditEntry
	for _, e := range h {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// TestEmergencyFreezeSignedOut: a holder without a session goes from the
// sign-in page to "I can't sign in", gets a code by email (with their
// anti-phishing code), enters it, and their account is frozen with every
// session and API key revoked; the page says so in words, and the
// account's log records the request and the freeze, never the code.
func TestEmergencyFreezeSignedOut(t *testing.T) {
	s := newEmergencySite(t)
	s.holder("u1", "holder@example.com")
	ctx := context.Background()

	s.run(
		chromedp.Navigate(s.url+"/me/"),
		chromedp.WaitVisible(chromedp.CSS("#emergency-link")),
		holderClickTo("#emergency-link", "#emergency-account"),
		chromedp.SendKeys(chromedp.CSS("#emergency-account"), "u1"),
		holderClickTo("#emergency-send", "#code-sent"),
	)
	s.screenshot("emergency-code")
	mail, code := s.code(1)
	if !strings.HasPrefix(mail.Subject, "[heron-42] ") || !strings.Contains(mail.Body, "Anti-phishing code: heron-42") {
		t.Errorf("the code's mail lacks the anti-phishing code: %q\n%s", mail.Subject, mail.Body)
	}
	if to := mail.Header.Get("To"); !strings.Contains(to, "holder@example.com") {
		t.Errorf("the code went to %q", to)
	}
	challenge := emergencyChallenge.FindString(s.html())
	s.enterCode(code)
	done := s.text("#emergency-done")
	if !strings.Contains(done, "Your account is frozen until") {
		t.Errorf("the answer: %q", done)
	}
	want := time.Now().Add(7 * 24 * time.Hour).UTC().Format("2006-01-02")
	if !strings.Contains(done, want) {
		t.Errorf("the answer does not say the freeze ends on %s: %q", want, done)
	}
	page := s.text("main")
	for _, id := range []string{"self_freeze", "secure_account", "api_key", "emergency_code"} {
		if strings.Contains(page, id) {
			t.Errorf("the answer shows the identifier %q:\n%s", id, page)
		}
	}
	s.screenshot("emergency-done")

	if k := s.emergencyKinds("u1"); !slices.Contains(k, holdfast.KindSelfFreeze) {
		t.Fatalf("restrictions after the emergency freeze: %v", k)
	}
	if d, err := s.eng.Check(ctx, holdfast.CheckRequest{Account: "u1", Action: holdfast.ActionView, Session: "u1-s1"}); err != nil || d.Effect != holdfast.Deny {
		t.Errorf("the old session after the freeze: %+v %v", d, err)
	}
	ov := s.holderSecurity("u1")
	for _, ss := range ov.Sessions {
		if ss.Active {
			t.Errorf("session %s still active", ss.ID)
		}
	}
	for _, k := range ov.APIKeys {
		if k.RevokedAt.IsZero() {
			t.Errorf("API key %s not revoked", k.ID)
		}
	}

	h := s.emergencyHistory("u1")
	sent := emergencyEntries(h, holdfast.AuditEmergencyCodeSent)
	if len(sent) != 1 || sent[0].Actor != "system" || !strings.Contains(string(sent[0].After), `"channel":"email"`) || !strings.Contains(string(sent[0].After), `"client":"127.0.0.1"`) {
		t.Errorf("the request's entry: %+v", sent)
	}
	secured := emergencyEntries(h, holdfast.AuditSecureAccount)
	applied := emergencyByHolder(emergencyEntries(h, holdfast.AuditApply), "u1")
	if len(secured) != 1 || secured[0].Actor != "user:u1" || len(applied) != 1 {
		t.Fatalf("the freeze's entries: %d secure_account, %d apply by the holder", len(secured), len(applied))
	}
	r, err := holdfast.DecodeRestriction(applied[0].After)
	if err != nil || r.Kind != holdfast.KindSelfFreeze || !strings.Contains(r.Reason, "signed out") || !strings.Contains(r.Reason, "one-time code") {
		t.Errorf("the freeze does not say it came from the signed-out path: %+v %v", r, err)
	}
	for _, e := range h {
		if strings.Contains(string(e.After)+string(e.Before)+e.Reason, code) {
			t.Errorf("entry %d (%s) holds the code", e.Seq, e.Action)
		}
	}
	if strings.Contains(s.log.String(), code) {
		t.Error("the log holds the code")
	}

	// The code works once.
	resp, err := http.PostForm(s.url+"/me/emergency/confirm", url.Values{"challenge": {challenge}, "code": {code}, "account": {"u1"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone || !strings.Contains(string(body), "expired or was used") {
		t.Errorf("the code used again: %d\n%s", resp.StatusCode, body)
	}
}

// emergencyChallenge finds a challenge id in a page.
var emergencyChallenge = regexp.MustCompile(`emc_[A-Za-z0-9_-]+`)

// emergencyMain is a page's main element with the parts that name the
// request blanked: the account and the challenge.
func emergencyMain(html, account string) string {
	i, j := strings.Index(html, "<main"), strings.Index(html, "</main>")
	if i < 0 || j < 0 {
		return html
	}
	return emergencyChallenge.ReplaceAllString(strings.ReplaceAll(html[i:j], account, "ACCOUNT"), "CHALLENGE")
}

// TestEmergencyUnknownAccount: an account Holdfast does not know, and one
// without a contact, get the same pages as a real one (asking for a
// code, and a wrong code), in about the same time; nothing is sent, the
// unknown account is not created, and its requests are logged.
func TestEmergencyUnknownAccount(t *testing.T) {
	s := newEmergencySite(t)
	s.holder("u1", "holder@example.com")
	s.holderIngest(holdfast.Event{Type: holdfast.EventLogin, Account: "u2", Device: "phone", Session: "u2-s1"}) // no contact

	pages := map[string][2]string{}
	for _, account := range []string{"u1", "nobody-here", "u2"} {
		s.askCode(account)
		asked := emergencyMain(s.html(), account)
		s.enterCode("00000000")
		wrong := emergencyMain(s.html(), account)
		pages[account] = [2]string{asked, wrong}
	}
	for _, account := range []string{"nobody-here", "u2"} {
		for i, what := range []string{"the code page", "a wrong code's page"} {
			if got, want := pages[account][i], pages["u1"][i]; got != want {
				t.Errorf("%s for %s differs from a real account's:\n%s\nwant\n%s", what, account, got, want)
			}
		}
	}
	if !strings.Contains(pages["u1"][1], "That code is not right.") {
		t.Errorf("a wrong code's page: %s", pages["u1"][1])
	}
	if n := len(s.mail.Wait(t, 1, 10*time.Second)); n != 1 {
		t.Errorf("%d mails, want 1 (for u1 only)", n)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(s.mail.Messages()); n != 1 {
		t.Errorf("%d mails, want 1 (for u1 only)", n)
	}
	if _, err := s.eng.Account(context.Background(), "nobody-here"); holdfast.ErrorCode(err) != holdfast.NotFound {
		t.Errorf("the unknown account: %v, want not_found", err)
	}
	if !strings.Contains(s.log.String(), "account=nobody-here") {
		t.Errorf("no log line for the unknown account:\n%s", s.log.String())
	}
	// The account without a contact has its request and the wrong code on
	// its record, like a real one.
	h := s.emergencyHistory("u2")
	if sent := emergencyEntries(h, holdfast.AuditEmergencyCodeSent); len(sent) != 1 || !strings.Contains(string(sent[0].After), `"channel":"none"`) {
		t.Errorf("u2's request: %+v", sent)
	}
	if n := len(emergencyEntries(h, holdfast.AuditEmergencyCodeRefused)); n != 1 {
		t.Errorf("u2 has %d refused codes on record, want 1", n)
	}

	// The same time: every answer waits for the slowest path's floor.
	timed := func(account string) time.Duration {
		start := time.Now()
		resp, err := http.PostForm(s.url+"/me/emergency/code", url.Values{"account": {account}})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("code for %s: %d", account, resp.StatusCode)
		}
		return time.Since(start)
	}
	known, unknown := timed("u1"), timed("nobody-else")
	if known < 300*time.Millisecond || unknown < 300*time.Millisecond {
		t.Errorf("answers took %s (known) and %s (unknown), want at least the 300ms floor", known, unknown)
	}
	if d := known - unknown; d > 150*time.Millisecond || d < -150*time.Millisecond {
		t.Errorf("answers took %s (known) and %s (unknown): they tell the accounts apart", known, unknown)
	}
}

// TestEmergencyRateLimits: past the account's limit, asking for a code is
// refused in words, for an unknown account alike; past the client's
// limit, every request from that address is.
func TestEmergencyRateLimits(t *testing.T) {
	s := newEmergencySite(t, func(c *web.Config) {
		c.Emergency.AccountLimit, c.Emergency.ClientLimit = 2, 6
		c.Emergency.ClientIPHeader = "X-Client-IP"
		c.Emergency.MinResponse = 10 * time.Millisecond
	})
	s.holder("u1", "holder@example.com")
	for _, account := range []string{"u1", "nobody-here"} {
		for range 2 {
			s.askCode(account)
			if got := s.text("h1"); got != "Enter your code" {
				t.Fatalf("asking for %s's code within the limit: %q", account, got)
			}
		}
		s.askCode(account)
		if got := s.text("#error"); !strings.Contains(got, "Too many requests") {
			t.Errorf("the third code for %s: %q", account, got)
		}
	}
	s.mail.Wait(t, 2, 10*time.Second)
	ask := func(client, account string) int {
		req, _ := http.NewRequest(http.MethodPost, s.url+"/me/emergency/code", strings.NewReader(url.Values{"account": {account}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Client-IP", client)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// The browser's address has used all six of its requests; another
	// address has its own six, across accounts.
	for i := range 6 {
		if got := ask("198.51.100.7", "a"+string(rune('0'+i))); got != http.StatusOK {
			t.Fatalf("request %d from a new address: %d", i+1, got)
		}
	}
	if got := ask("198.51.100.7", "a9"); got != http.StatusTooManyRequests {
		t.Errorf("the seventh request from one address: %d, want 429", got)
	}
	if got := ask("2001:db8::1", "b1"); got != http.StatusOK {
		t.Errorf("another address: %d", got)
	}
}

// TestEmergencyWrongCodes: five wrong codes use the code up; the right
// one then freezes nothing, and each wrong code is on the account's
// record.
func TestEmergencyWrongCodes(t *testing.T) {
	s := newEmergencySite(t)
	s.holder("u1", "holder@example.com")
	s.askCode("u1")
	_, code := s.code(1)
	wrong := "99999999"
	if wrong == code {
		wrong = "88888888"
	}
	for i := range 4 {
		s.enterCode(wrong)
		if got, want := s.text("#error"), "That code is not right."; !strings.Contains(got, want) || !strings.Contains(got, []string{"4 more", "3 more", "2 more", "1 more"}[i]) {
			t.Errorf("wrong code %d: %q", i+1, got)
		}
	}
	challenge := emergencyChallenge.FindString(s.html())
	s.enterCode(wrong)
	if got := s.text("#error"); !strings.Contains(got, "Too many wrong codes") {
		t.Errorf("the fifth wrong code: %q", got)
	}
	resp, err := http.PostForm(s.url+"/me/emergency/confirm", url.Values{"challenge": {challenge}, "code": {code}, "account": {"u1"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "Too many wrong codes") {
		t.Errorf("the right code after five wrong ones: %d\n%s", resp.StatusCode, body)
	}
	if k := s.emergencyKinds("u1"); slices.Contains(k, holdfast.KindSelfFreeze) {
		t.Errorf("the account was frozen after five wrong codes: %v", k)
	}
	refused := emergencyEntries(s.emergencyHistory("u1"), holdfast.AuditEmergencyCodeRefused)
	if len(refused) != 5 || !strings.Contains(string(refused[4].After), `"attempt":5`) {
		t.Errorf("refused codes on record: %+v", refused)
	}
}

// TestEmergencyAfterSessionEnded: a panic-lock confirmation sent after the
// 15-minute session ended does nothing, and the answer is the emergency
// freeze, prefilled with the account, not a dead-end sign-in page.
func TestEmergencyAfterSessionEnded(t *testing.T) {
	s := newEmergencySite(t, func(c *web.Config) { c.HolderSession = 2 * time.Second })
	s.holder("u1", "holder@example.com")
	s.signIn("u1")
	s.run(
		chromedp.Navigate(s.url+"/me/panic"),
		chromedp.WaitVisible(chromedp.CSS("#panic-confirm")),
		chromedp.Sleep(2500*time.Millisecond),
		holderClickTo("#panic-confirm", "h1"),
	)
	if got := s.text("#session-ended"); !strings.Contains(got, "nothing was changed") {
		t.Errorf("the answer after the session ended: %q", got)
	}
	if account := s.read(chromedp.Value(chromedp.CSS("#emergency-account"))); account != "u1" {
		t.Errorf("the emergency form is prefilled with %q, want u1", account)
	}
	s.screenshot("emergency-session-ended")
	if k := s.emergencyKinds("u1"); slices.Contains(k, holdfast.KindPanicLock) {
		t.Errorf("the late panic press locked the account: %v", k)
	}
	// On from there: the code, and the freeze.
	s.run(holderClickTo("#emergency-send", "#code-sent"))
	_, code := s.code(1)
	s.enterCode(code)
	if got := s.text("#emergency-done"); !strings.Contains(got, "frozen until") {
		t.Errorf("the freeze after the session ended: %q", got)
	}

	// A session id the store does not know (ended, swept, or made up)
	// does nothing either, and names no account: only the form's own
	// field fills it in.
	req, _ := http.NewRequest(http.MethodPost, s.url+"/me/secure", strings.NewReader("account=u9"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "hf_holder", Value: "an-ended-session-id"})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if page := string(b); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, `value="u9"`) || !strings.Contains(page, "session-ended") {
		t.Errorf("a post with an ended session: %d\n%s", resp.StatusCode, page)
	}
	if k := s.emergencyKinds("u9"); len(k) != 0 {
		t.Errorf("a post with an ended session changed the account: %v", k)
	}
}

// TestEmergencyIdentityService: the page hands the holder to the
// exchange's identity service with a signed request; the service sends
// them back with a token, the holder confirms, and the account is frozen.
// The token works once; a sign-in link is no such token.
func TestEmergencyIdentityService(t *testing.T) {
	var asked sync.Map
	var siteURL string
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := web.VerifyEmergencyRequest(testKey, r.URL.Query().Get("request"), time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		asked.Store(q.Account, true)
		// The service verified the holder its own way.
		tok, err := web.MintEmergencyToken(testKey, q.Account, 5*time.Minute, time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		http.Redirect(w, r, siteURL+"/me/emergency/verified?token="+url.QueryEscape(tok), http.StatusSeeOther)
	}))
	t.Cleanup(idp.Close)
	s := newSite(t, func(c *web.Config) { c.Emergency.IdentityURL = idp.URL + "/verify" })
	siteURL = s.url
	s.holderIngest(holdfast.Event{Type: holdfast.EventLogin, Account: "u1", Device: "laptop", Session: "u1-s1"})

	s.run(
		chromedp.Navigate(s.url+"/me/emergency?account=u1"),
		chromedp.WaitVisible(chromedp.CSS("#emergency-identity")),
		holderClickTo("#emergency-identity", "#identity-freeze"),
	)
	if _, ok := asked.Load("u1"); !ok {
		t.Error("the identity service was not asked about u1")
	}
	if got := s.text("h1"); got != "Freeze account u1?" {
		t.Errorf("the confirmation page: %q", got)
	}
	back := s.read(chromedp.Location())
	s.run(holderClickTo("#identity-freeze", "#emergency-done"))
	if got := s.text("#emergency-done"); !strings.Contains(got, "frozen until") {
		t.Errorf("the answer: %q", got)
	}
	applied := emergencyByHolder(emergencyEntries(s.emergencyHistory("u1"), holdfast.AuditApply), "u1")
	if len(applied) != 1 || !strings.Contains(string(applied[0].After), "identity service") {
		t.Errorf("the freeze's entries by the holder: %d", len(applied))
	}

	// Once only.
	s.run(chromedp.Navigate(back), holderClickTo("#identity-freeze", "h1"))
	if got := s.text("#error"); !strings.Contains(got, "used already") {
		t.Errorf("the token used again: %q", got)
	}
	// A sign-in link is not an identity service's token.
	link, err := web.MintHolderToken(testKey, "u2", time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s.run(chromedp.Navigate(s.url + "/me/emergency/verified?token=" + url.QueryEscape(link)))
	if got := s.text("#error"); !strings.Contains(got, "not valid") {
		t.Errorf("a sign-in link at the callback: %q", got)
	}
}
