package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/internal/receipttest"
	"github.com/holdfast/holdfast/web"
)

// holderClickTo clicks sel (a link or a submit button) and waits for the
// next page to show wait: the old page is marked first, so that an element
// it also has does not count.
func holderClickTo(sel, wait string) chromedp.Action[chromedp.Void] {
	mark := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`document.documentElement.setAttribute("data-stale", "1"), true`)(ctx, t)
		return err
	})
	return chromedp.Steps(mark, click(sel), chromedp.WaitVisible(chromedp.CSS("html:not([data-stale]) "+wait)))
}

// holderIngest reports an event to the engine as the exchange's services would.
func (s *site) holderIngest(ev holdfast.Event) {
	s.t.Helper()
	if _, err := s.eng.Ingest(context.Background(), ev); err != nil {
		s.t.Fatalf("ingest %s: %v", ev.Type, err)
	}
}

func (s *site) holderSecurity(account string) *holdfast.SecurityOverview {
	s.t.Helper()
	ov, err := s.eng.Security(context.Background(), account, holdfast.User(account))
	if err != nil {
		s.t.Fatal(err)
	}
	return ov
}

// TestSecureMyAccount: one click and a confirmation freeze the account and
// sign every session out; the status shows the freeze and a check with
// the old session is denied.
func TestSecureMyAccount(t *testing.T) {
	s := newSite(t)
	s.holderIngest(holdfast.Event{Type: holdfast.EventLogin, Account: "u1", Device: "laptop", Session: "sess-1", IP: "203.0.113.7", Country: "DE"})
	ctx := context.Background()
	check := holdfast.CheckRequest{Account: "u1", Action: holdfast.ActionTrade, Session: "sess-1"}
	if d, err := s.eng.Check(ctx, check); err != nil || d.Effect == holdfast.Deny {
		t.Fatalf("trade with the session before securing: %+v %v", d, err)
	}
	s.signIn("u1")
	s.run(
		chromedp.WaitVisible(chromedp.CSS("#secure-button")),
		holderClickTo("#secure-button", "#secure-confirm"), // click 1
		holderClickTo("#secure-confirm", "#causes"),        // the confirmation
	)
	causes := s.text("#causes")
	if !strings.Contains(causes, "Account frozen by you") {
		t.Errorf("status after securing: %q", causes)
	}
	if !strings.Contains(causes, "Blocks:") || !strings.Contains(causes, "withdrawals") {
		t.Errorf("the status does not say what the freeze blocks: %q", causes)
	}
	if got := s.text("#done"); !strings.Contains(got, "secured") {
		t.Errorf("done message %q", got)
	}
	s.screenshot("security-center-secured")
	d, err := s.eng.Check(ctx, check)
	if err != nil || d.Effect != holdfast.Deny {
		t.Errorf("trade with the session after securing: %+v %v", d, err)
	}
	// The devices page shows the session signed out.
	s.run(chromedp.Navigate(s.url+"/me/devices"), chromedp.WaitVisible(chromedp.CSS("#session-list")))
	if got := s.text("#session-sess-1"); !strings.Contains(got, "Logged out") {
		t.Errorf("session row after securing: %q", got)
	}
}

// TestFreezeAndSessions: the home's freeze form applies the chosen
// duration; the devices page logs one session out, then every one.
func TestFreezeAndSessions(t *testing.T) {
	s := newSite(t)
	for _, id := range []string{"sess-a", "sess-b", "sess-c"} {
		s.holderIngest(holdfast.Event{Type: holdfast.EventLogin, Account: "u1", Device: "phone", Session: id})
	}
	s.signIn("u1")
	s.run(
		chromedp.Navigate(s.url+"/me/devices"),
		chromedp.WaitVisible(chromedp.CSS("#session-list")),
		holderClickTo(`button[aria-label="Log out session sess-a"]`, "#done"),
	)
	active := func() (n int) {
		for _, ss := range s.holderSecurity("u1").Sessions {
			if ss.Active {
				n++
			}
		}
		return n
	}
	if n := active(); n != 2 {
		t.Errorf("%d active sessions after logging one out, want 2", n)
	}
	s.run(
		holderClickTo("#revoke-all", "#done"),
	)
	if got := s.text("#done"); !strings.Contains(got, "Every session") {
		t.Errorf("done after log out everywhere: %q", got)
	}
	if n := active(); n != 0 {
		t.Errorf("%d active sessions after logging out everywhere", n)
	}
	if got := s.text("#session-list tbody"); strings.Contains(got, "Active") {
		t.Errorf("sessions still listed active: %q", got)
	}

	s.run(
		chromedp.Navigate(s.url+"/me/"),
		chromedp.WaitVisible(chromedp.CSS("#freeze-duration")),
		chromedp.SetValue(chromedp.CSS("#freeze-duration"), "1d"),
		holderClickTo("#freeze-submit", "#causes"),
	)
	if got := s.text("#causes"); !strings.Contains(got, "Account frozen by you") || !strings.Contains(got, "Until") {
		t.Errorf("status after a freeze: %q", got)
	}
	st, err := s.eng.Status(context.Background(), "u1", holdfast.ViewHolder, holdfast.User("u1"))
	if err != nil || len(st.Causes) != 1 || st.Causes[0].Kind != holdfast.KindSelfFreeze || time.Until(st.Causes[0].EndsAt) > 25*time.Hour {
		t.Errorf("engine status after a 1-day freeze: %+v %v", st, err)
	}
}

// holderPNG writes a real 1x1 PNG and returns its path.
func holderPNG(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 1, 1))
	img.Set(0, 0, color.RGBA{R: 200, G: 30, B: 30, A: 255})
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAppealWithFile: a deposit from a mixer freezes withdrawals; the
// holder opens a source-of-funds appeal, uploads a PNG (stored, listed,
// on the engine's case), and a refused file type shows why.
func TestAppealWithFile(t *testing.T) {
	s := newSite(t)
	s.holderIngest(holdfast.Event{Type: holdfast.EventDeposit, Account: "u1", Asset: "BTC", Amount: "0.4", USDValue: "26000", SourceRisk: "mixer"})
	s.signIn("u1")
	s.run(
		chromedp.Navigate(s.url+"/me/appeals"),
		chromedp.WaitVisible(chromedp.CSS("#case-type")),
		chromedp.SetValue(chromedp.CSS("#case-type"), "source_of_funds"),
		chromedp.SendKeys(chromedp.CSS("#statement"), "The coins came from my own wallet; I used a privacy tool."),
		holderClickTo("#case-open", "#case-id"),
	)
	if got := s.text("#case-state"); got != "open" {
		t.Errorf("case state %q", got)
	}
	if got := s.text("#entries"); !strings.Contains(got, "my own wallet") {
		t.Errorf("timeline after opening: %q", got)
	}

	s.run(
		chromedp.SetUploadFiles(chromedp.CSS("#evidence-file"), []string{holderPNG(t, "bank-statement.png")}),
		chromedp.SendKeys(chromedp.CSS("#evidence-description"), "Withdrawal from my other exchange"),
		holderClickTo("#evidence-submit", ".entry-evidence"),
	)
	if got := s.text(".entry-evidence"); !strings.Contains(got, "bank-statement.png") || !strings.Contains(got, "image/png") {
		t.Errorf("evidence entry on the page: %q", got)
	}
	s.screenshot("appeal-case")

	cs, err := s.eng.Cases(context.Background(), holdfast.CaseFilter{}, holdfast.User("u1"))
	if err != nil || len(cs) != 1 {
		t.Fatalf("cases: %v %v", cs, err)
	}
	c := cs[0]
	if c.Type != holdfast.CaseSourceOfFunds || len(c.Restrictions) != 1 {
		t.Errorf("case %+v", c)
	}
	var ev *holdfast.EvidenceRef
	for _, en := range c.Entries {
		if en.Type == holdfast.EntryEvidence {
			ev = en.Evidence
		}
	}
	if ev == nil || ev.Name != "bank-statement.png" || ev.ContentType != "image/png" || ev.Size == 0 || len(ev.SHA256) != 64 {
		t.Fatalf("evidence on the engine's case: %+v", ev)
	}

	// A text file is refused, with the reason shown.
	txt := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(txt, []byte("just some text\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.run(
		chromedp.SetUploadFiles(chromedp.CSS("#evidence-file"), []string{txt}),
		holderClickTo("#evidence-submit", "#error"),
	)
	if got := s.text("#error"); !strings.Contains(got, "PDF, PNG or JPEG") {
		t.Errorf("refused file: %q", got)
	}

	// The appeals list links the case; withdrawing it is final.
	s.run(
		chromedp.Navigate(s.url+"/me/appeals"),
		chromedp.WaitVisible(chromedp.CSS("#case-list")),
		holderClickTo("#case-list a", "#withdraw-submit"),
		holderClickTo("#withdraw-submit", "#done"),
	)
	if got := s.text("#case-state"); got != "withdrawn" {
		t.Errorf("state after withdrawing: %q", got)
	}
}

// TestNonDisclosure: a law-enforcement hold the holder may not learn of
// shows only the generic message, and no Security Center page names it,
// its reference or its reason.
func TestNonDisclosure(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	s.holderIngest(holdfast.Event{Type: holdfast.EventLogin, Account: "u1", Device: "laptop", Session: "sess-1"})
	const reason = "Subpoena from the fraud unit about account u1"
	no := false
	if _, err := s.eng.Apply(ctx, holdfast.ApplyRequest{
		Account: "u1", Kind: holdfast.KindLawEnforcementHold, Disclose: &no, Reference: "LE-REF-1",
		Reason: reason, Actor: holdfast.Staff("liaison1", holdfast.RoleLELiaison),
	}); err != nil {
		t.Fatal(err)
	}
	s.signIn("u1")
	s.run(chromedp.WaitVisible(chromedp.CSS("#causes")))
	if got, want := s.text("#causes"), coverMessage(s.eng); !strings.Contains(got, want) {
		t.Errorf("home status %q lacks the generic message %q", got, want)
	}
	s.screenshot("security-center-under-review")
	forbidden := []string{"law_enforcement", "LE-REF-1", reason, "liaison1"}
	for _, p := range []string{"/me/", "/me/devices", "/me/keys", "/me/whitelist", "/me/settings", "/me/appeals", "/me/checkup", "/me/history"} {
		s.run(chromedp.Navigate(s.url+p), chromedp.WaitReady(chromedp.CSS("#main")))
		page := s.html()
		for _, f := range forbidden {
			if strings.Contains(strings.ToLower(page), strings.ToLower(f)) {
				t.Errorf("%s shows %q", p, f)
			}
		}
	}
	// Trying to appeal it names nothing either.
	s.run(
		chromedp.Navigate(s.url+"/me/appeals"),
		chromedp.WaitVisible(chromedp.CSS("#case-type")),
		chromedp.SetValue(chromedp.CSS("#case-type"), "unlock_request"),
		holderClickTo("#case-open", "#error"),
	)
	page := strings.ToLower(s.html())
	for _, f := range forbidden {
		if strings.Contains(page, strings.ToLower(f)) {
			t.Errorf("the refused appeal shows %q", f)
		}
	}
}

// TestWhitelist: an added address, with its network and label, shows
// when it becomes usable; the whitelist turns on and the address comes
// off again.
func TestWhitelist(t *testing.T) {
	s := newSite(t)
	s.signIn("u1")
	const addr = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
	s.run(
		chromedp.Navigate(s.url+"/me/whitelist"),
		chromedp.WaitVisible(chromedp.CSS("#address")),
		chromedp.SendKeys(chromedp.CSS("#address"), addr),
		chromedp.SetValue(chromedp.CSS("#network"), "BTC"),
		chromedp.SendKeys(chromedp.CSS("#label"), "Cold wallet"),
		holderClickTo("#address-add", "#address-list"),
	)
	row := s.text("#address-list tbody tr")
	ov := s.holderSecurity("u1")
	if len(ov.Whitelist.Addresses) != 1 {
		t.Fatalf("whitelist %+v", ov.Whitelist)
	}
	if w := ov.Whitelist.Addresses[0]; w.Network != "BTC" || w.Label != "Cold wallet" {
		t.Errorf("the engine's entry: %+v", w)
	}
	usable := ov.Whitelist.Addresses[0].UsableAt.UTC().Format("2006-01-02 15:04 UTC")
	if !strings.Contains(row, addr) || !strings.Contains(row, "Usable from "+usable) {
		t.Errorf("address row %q, want the usable time %s", row, usable)
	}
	if got := s.text("#address-list tbody tr .label") + " / " + s.text("#address-list tbody tr .network"); got != "Cold wallet / BTC" {
		t.Errorf("the row's label and network: %q", got)
	}
	s.run(
		holderClickTo("#whitelist-on", "#whitelist-off"),
	)
	if !s.holderSecurity("u1").Whitelist.Enabled {
		t.Error("the whitelist is still off")
	}
	s.run(
		holderClickTo(`button[aria-label="Remove `+addr+`"]`, "#no-addresses"),
	)
	if n := len(s.holderSecurity("u1").Whitelist.Addresses); n != 0 {
		t.Errorf("%d addresses after removing", n)
	}
}

// TestCheckupAndSettings: the checkup's findings link to the pages that
// fix them; the anti-phishing code is set and never shown; the settings
// lock, its unlock request and its cancellation; a trusted contact.
func TestCheckupAndSettings(t *testing.T) {
	s := newSite(t)
	s.holderIngest(holdfast.Event{Type: holdfast.EventAPIKeyCreated, Account: "u1", APIKey: "key-1", Permissions: []string{"read", "withdraw"}})
	s.signIn("u1")
	s.run(chromedp.Navigate(s.url+"/me/checkup"), chromedp.WaitVisible(chromedp.CSS("#finding-list")))
	findings := s.text("#finding-list")
	for _, want := range []string{"anti-phishing", "any address", "can withdraw"} {
		if !strings.Contains(findings, want) {
			t.Errorf("checkup lacks %q: %q", want, findings)
		}
	}
	for fc, href := range map[string]string{"no_anti_phishing_code": "/me/settings#anti-phishing", "whitelist_off": "/me/whitelist#whitelist-on", "key_can_withdraw": "/me/keys#key-list"} {
		res, err := chromedp.Run(s.browser, chromedp.AttributeValue(chromedp.CSS(`li[data-code="`+fc+`"] a`), "href"))
		if err != nil || res.Value != href {
			t.Errorf("%s links to %+v (%v), want %s", fc, res, err, href)
		}
	}
	s.screenshot("security-checkup")

	const apCode = "tiger42"
	s.run(
		holderClickTo(`li[data-code="no_anti_phishing_code"] a`, "#code"),
		chromedp.SendKeys(chromedp.CSS("#code"), apCode),
		holderClickTo("#code-submit", "#done"),
	)
	if got := s.text("#anti-phishing-state"); !strings.Contains(got, "is set") {
		t.Errorf("anti-phishing state %q", got)
	}
	if strings.Contains(s.html(), apCode) {
		t.Error("the settings page shows the anti-phishing code")
	}
	if !s.holderSecurity("u1").AntiPhishingSet {
		t.Error("the engine has no anti-phishing code")
	}

	s.run(
		chromedp.SetValue(chromedp.CSS("#unlock-delay"), "3d"),
		holderClickTo("#lock-submit", "#unlock-request"),
		holderClickTo("#unlock-request", "#unlock-cancel"),
	)
	sl := s.holderSecurity("u1").SettingsLock
	if sl == nil || sl.UnlockRequestedAt.IsZero() {
		t.Fatalf("settings lock %+v", sl)
	}
	at := sl.UnlockRequestedAt.Add(sl.UnlockDelay.Std()).UTC().Format("2006-01-02 15:04 UTC")
	if got := s.text("#lock-state"); !strings.Contains(got, at) {
		t.Errorf("lock state %q lacks the unlock time %s", got, at)
	}
	s.run(
		holderClickTo("#unlock-cancel", "#unlock-request"),
	)
	// Locked settings refuse a trusted contact, saying why in words.
	s.run(
		chromedp.SendKeys(chromedp.CSS("#contact"), "friend1"),
		holderClickTo("#contact-add", "#error"),
	)
	if got := s.text("#error"); got != "Changing security settings is not possible on your account right now: Security settings locked." {
		t.Errorf("adding a contact under a settings lock: %q", got)
	}
}

// TestFormsWithoutJavaScript: the forms are plain posts: success
// redirects 303 to a page with a done code, a refusal re-renders the page
// with the engine's message and 422.
func TestFormsWithoutJavaScript(t *testing.T) {
	s := newSite(t)
	c := s.holderHTTP("u1")
	post := func(path string, form url.Values) (int, string, string) {
		t.Helper()
		resp, err := c.PostForm(s.url+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location"), string(body)
	}
	if status, loc, _ := post("/me/whitelist/add", url.Values{"address": {"addr-1"}, "network": {"ETH"}}); status != http.StatusSeeOther || loc != "/me/whitelist?done=whitelist_added" {
		t.Errorf("add address: %d %q", status, loc)
	}
	// A refusal is a sentence for people: no engine identifier, no Go
	// duration, no bracketed list.
	refused := func(what, path string, form url.Values, want string) {
		t.Helper()
		status, _, body := post(path, form)
		if status != http.StatusUnprocessableEntity || !strings.Contains(body, `role="alert"`) || !strings.Contains(body, want) {
			t.Errorf("%s: %d, want 422 saying %q:\n%s", what, status, want, alertText(body))
		}
		noIdentifiers(t, what, body)
	}
	refused("address without a network", "/me/whitelist/add", url.Values{"address": {"addr-3"}}, "Network is required: the chain the address is on (BTC, ETH, TRX")
	refused("address on an unknown network", "/me/whitelist/add", url.Values{"address": {"addr-3"}, "network": {"DOGE"}}, "Network must be one of BTC, ETH")
	refused("address with a long label", "/me/whitelist/add", url.Values{"address": {"addr-3"}, "network": {"BTC"}, "label": {strings.Repeat("x", 41)}}, "A label is at most 40 characters")
	refused("bad freeze duration", "/me/freeze", url.Values{"duration": {"5d"}}, "A freeze lasts one of 1 day, 2 days, 7 days, permanent, not 5 days")
	refused("bad unlock delay", "/me/settings/lock", url.Values{"unlock_delay": {"90d"}}, "The unlock delay must be from")
	refused("unfreeze request without a freeze", "/me/unfreeze", nil, "Your account is not frozen by you, so there is no freeze to end early.")
	if status, loc, _ := post("/me/settings/lock", url.Values{"unlock_delay": {"1d"}}); status != http.StatusSeeOther {
		t.Errorf("lock settings: %d %q", status, loc)
	}
	refused("settings locked twice", "/me/settings/lock", url.Values{"unlock_delay": {"1d"}}, "Your security settings are already locked.")
	refused("a change the settings lock blocks", "/me/whitelist/add", url.Values{"address": {"addr-2"}, "network": {"BTC"}},
		"Adding withdrawal addresses is not possible on your account right now: Security settings locked.")
	if status, loc, _ := post("/me/freeze", url.Values{"duration": {"1d"}}); status != http.StatusSeeOther || !strings.HasPrefix(loc, "/me/?done=frozen&receipt=") {
		t.Errorf("freeze: %d %q", status, loc)
	}
	if status, loc, _ := post("/me/unfreeze", nil); status != http.StatusSeeOther || !strings.HasPrefix(loc, "/me/?done=unfreeze_requested&receipt=") {
		t.Errorf("unfreeze request: %d %q", status, loc)
	}
	// Someone else's case is not found.
	resp, err := c.Get(s.url + "/me/appeals/case-nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown case: %d", resp.StatusCode)
	}
}

// noIdentifiers fails the test if a holder page's text names a kind or
// an action by its identifier (single words such as "withdraw" read as
// English and are allowed).
func noIdentifiers(t *testing.T, what, body string) {
	t.Helper()
	text := tags.ReplaceAllString(body, " ")
	for _, k := range holdfast.Kinds {
		if strings.Contains(string(k), "_") && strings.Contains(text, string(k)) {
			t.Errorf("%s: the page names the kind %s:\n%s", what, k, alertText(body))
		}
	}
	for _, a := range holdfast.Actions {
		if strings.Contains(string(a), "_") && strings.Contains(text, string(a)) {
			t.Errorf("%s: the page names the action %s:\n%s", what, a, alertText(body))
		}
	}
}

var (
	tags  = regexp.MustCompile(`(?s)<[^>]*>`)
	alert = regexp.MustCompile(`(?s)role="alert"[^>]*>(.*?)</`)
)

// alertText is a page's alert, for failure messages.
func alertText(body string) string {
	if m := alert.FindStringSubmatch(body); m != nil {
		return strings.TrimSpace(m[1])
	}
	return "(no alert)"
}

// coverMessage is the holder message of the kind hidden restrictions are
// shown as.
func coverMessage(eng *engine.Engine) string {
	_, kp := eng.Policy().Cover()
	return kp.Holder.Message
}

// holderHTTP is a browser without JavaScript signed in as account's
// holder: it keeps cookies and does not follow redirects.
func (s *site) holderHTTP(account string) *http.Client {
	s.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tok, err := web.MintHolderToken(s.key, account, 10*time.Minute, time.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	resp, err := c.Get(s.url + "/me/login?token=" + tok)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	return c
}

// TestReceiptDownload: after a freeze the home page links its receipt,
// which downloads (no JavaScript needed) as a file that the two public
// libraries verify. A holder gets receipts of their own freezes only:
// the entries of a law-enforcement hold on their account, and another
// holder's freeze, read exactly as an entry that does not exist.
func TestReceiptDownload(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	no := false
	if _, err := s.eng.Apply(ctx, holdfast.ApplyRequest{
		Account: "u1", Kind: holdfast.KindLawEnforcementHold, Disclose: &no, Reference: "LE-REF-1",
		Reason: "Subpoena", Actor: holdfast.Staff("liaison1", holdfast.RoleLELiaison),
	}); err != nil {
		t.Fatal(err)
	}
	other, err := s.eng.FreezeApplied(ctx, "u2", holdfast.Duration(24*time.Hour), holdfast.User("u2"))
	if err != nil {
		t.Fatal(err)
	}
	c := s.holderHTTP("u1")
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := c.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, err := c.PostForm(s.url+"/me/freeze", url.Values{"duration": {"1d"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	_, home := get(loc)
	entry := strings.TrimPrefix(loc, "/me/?done=frozen&receipt=")
	link := "/me/receipt?entry=" + entry
	if !strings.Contains(home, `href="`+link+`"`) || !strings.Contains(home, "Download receipt") {
		t.Fatalf("the page after a freeze (%s) has no receipt link %s:\n%s", loc, link, home)
	}
	resp, doc := get(link)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;") || resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("receipt download: %d %v", resp.StatusCode, resp.Header)
	}
	p, err := receipttest.Verify([]byte(doc), s.vkey)
	if err != nil {
		t.Fatalf("the downloaded receipt does not verify: %v\n%s", err, doc)
	}
	if p.Entry.Account != "u1" || p.Entry.Action != holdfast.AuditApply || strconv.FormatInt(p.Entry.Seq, 10) != entry {
		t.Errorf("the receipt proves entry %d (%s) of %s; want entry %s of u1", p.Entry.Seq, p.Entry.Action, p.Entry.Account, entry)
	}

	// Asking to end the freeze early has its receipt too.
	resp, err = c.PostForm(s.url+"/me/unfreeze", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	asked := strings.TrimPrefix(resp.Header.Get("Location"), "/me/?done=unfreeze_requested&receipt=")
	_, doc = get("/me/receipt?entry=" + asked)
	if p, err := receipttest.Verify([]byte(doc), s.vkey); err != nil || p.Entry.Action != holdfast.AuditUnfreezeRequested || strconv.FormatInt(p.Entry.Seq, 10) != asked {
		t.Errorf("the unfreeze request's receipt (entry %s): %+v, %v\n%s", asked, p, err, doc)
	}

	_, none := get("/me/receipt?entry=999")
	hidden := map[string]string{"the hold's entry": "1", "another holder's freeze": strconv.FormatInt(other.Entry, 10)}
	for what, seq := range hidden {
		resp, body := get("/me/receipt?entry=" + seq)
		if resp.StatusCode != http.StatusNotFound || strings.Replace(body, "entry "+seq, "entry 999", 1) != none {
			t.Errorf("%s (entry %s): %d, and not the page of an entry that does not exist:\n%s", what, seq, resp.StatusCode, body)
		}
		for _, f := range []string{"law_enforcement", "LE-REF-1", "liaison1", "Subpoena"} {
			if strings.Contains(body, f) {
				t.Errorf("%s shows %q", what, f)
			}
		}
	}
}

// TestOnePanicLock: a second press of the panic button extends the lock
// in force, the home page shows one lock with an Extend control that
// works, a shorter choice is refused in words, and locks stacked by an
// earlier version show as one, with the latest end.
func TestOnePanicLock(t *testing.T) {
	s := newSite(t)
	s.signIn("u1")
	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(s.browser, chromedp.Evaluate[int](`document.querySelectorAll(`+strconv.Quote(sel)+`).length`))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// choose picks the option of the Extend control at index i (-1: the
	// last).
	choose := func(i int) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](fmt.Sprintf(`(s => (s.selectedIndex = %d < 0 ? s.options.length - 1 : %d, true))(document.querySelector("#panic-extend-duration"))`, i, i))(ctx, tg)
			return err
		})
	}
	locks := func() []*holdfast.Restriction {
		t.Helper()
		rs, err := s.eng.List(context.Background(), holdfast.RestrictionFilter{Account: "u1", Kind: holdfast.KindPanicLock, ActiveAt: time.Now()}, holdfast.Staff("sam", holdfast.RoleSupport))
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	s.run(
		chromedp.Navigate(s.url+"/me/panic"),
		chromedp.Click(chromedp.CSS(`input[value="24h"]`)),
		holderClickTo("#panic-confirm", "#done"),
	)
	var err error
	first := locks()
	if len(first) != 1 || count("#panic-extend-form") != 1 {
		t.Fatalf("after one press: %d locks, %d Extend controls", len(first), count("#panic-extend-form"))
	}
	// Extend from the lock's own card, with its longest choice.
	s.run(
		choose(-1),
		holderClickTo("#panic-extend", "#done"),
	)
	ext := locks()
	if len(ext) != 1 || ext[0].ID != first[0].ID || !ext[0].EndsAt.After(first[0].EndsAt) {
		t.Fatalf("after Extend: %d locks, end %v (was %v); want the same lock, later", len(ext), ext[0].EndsAt, first[0].EndsAt)
	}
	if n := count("#panic-extend-form"); n != 1 {
		t.Errorf("%d Extend controls after extending, want 1", n)
	}
	// A second press on the panic page says the lock is already on.
	s.run(chromedp.Navigate(s.url+"/me/panic"), chromedp.WaitVisible(chromedp.CSS("#panic-active")))
	// The shortest choice ends earlier than the lock: refused, in words.
	s.run(
		chromedp.Navigate(s.url+"/me/"),
		choose(0),
		holderClickTo("#panic-extend", "#error"),
	)
	if got := s.text("#error"); !strings.Contains(got, "made longer, never shorter") {
		t.Errorf("a shorter press: %q", got)
	}
	if after := locks(); len(after) != 1 || !after[0].EndsAt.Equal(ext[0].EndsAt) {
		t.Errorf("a refused shorter press changed the lock: %+v", after)
	}

	// A lock stacked beside it by an earlier version, ending later still.
	now := time.Now()
	stacked := &holdfast.Restriction{ID: "rst-stacked", Account: "u1", Kind: holdfast.KindPanicLock, StartsAt: now, EndsAt: ext[0].EndsAt.Add(48 * time.Hour),
		CreatedAt: now, Disclose: true, AppliedBy: "user:u1", Reason: "holder pressed the panic button"}
	err = s.db.Update(context.Background(), "u1", now, func(tx holdfast.AccountTx) error {
		if err := tx.SaveRestriction(stacked); err != nil {
			return err
		}
		after, _ := json.Marshal(stacked)
		return tx.Append(&holdfast.AuditEntry{At: now, Actor: "user:u1", Action: holdfast.AuditApply, Restriction: stacked.ID, After: after, Reason: stacked.Reason})
	})
	if err != nil {
		t.Fatal(err)
	}
	// As a server that starts on such a store loads it.
	if err := s.eng.Refresh(context.Background(), "u1"); err != nil {
		t.Fatal(err)
	}
	s.run(chromedp.Navigate(s.url+"/me/"), chromedp.WaitVisible(chromedp.CSS("#causes")))
	if n := count("#panic-extend-form"); n != 1 {
		t.Errorf("two stacked locks show as %d cards, want 1", n)
	}
	ends, err := chromedp.Run(s.browser, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#causes .ends time")].map(t => t.getAttribute("datetime"))`))
	if err != nil {
		t.Fatal(err)
	}
	if want := stacked.EndsAt.UTC().Format(time.RFC3339); !slices.Contains(ends, want) {
		t.Errorf("the lock's card ends %v, want the latest end %s", ends, want)
	}
}

// TestHiddenHoldReadsAsTermsReview: the pages of an account under a
// law-enforcement hold and of one under a real Terms-of-Use review are
// the same page, byte for byte, but for the account's name: same label,
// same fields, same text. Nothing in the shape of a card gives the hold
// away.
func TestHiddenHoldReadsAsTermsReview(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	no := false
	if _, err := s.eng.Apply(ctx, holdfast.ApplyRequest{Account: "held", Kind: holdfast.KindLawEnforcementHold, Disclose: &no,
		Reference: "LE-REF-2", Reason: "production order", Actor: holdfast.Staff("liaison1", holdfast.RoleLELiaison)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.eng.Apply(ctx, holdfast.ApplyRequest{Account: "tosu", Kind: holdfast.KindTermsViolation,
		Reason: "terms review", Actor: holdfast.Staff("c1", holdfast.RoleCompliance)}); err != nil {
		t.Fatal(err)
	}
	page := func(account, path string) string {
		t.Helper()
		resp, err := s.holderHTTP(account).Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s as %s: %d", path, account, resp.StatusCode)
		}
		return strings.ReplaceAll(string(b), account, "ACCOUNT")
	}
	for _, p := range []string{"/me/", "/me/appeals", "/me/checkup", "/me/history"} {
		held, real := page("held", p), page("tosu", p)
		if held != real {
			t.Errorf("%s differs between a hidden hold and a real Terms-of-Use review:\n%s", p, firstDifference(held, real))
		}
	}
}

// firstDifference shows where two pages part.
func firstDifference(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-80)
	return "hidden hold: …" + a[from:min(len(a), i+80)] + "…\nreal review: …" + b[from:min(len(b), i+80)] + "…"
}

// TestHolderPagesInWords: every Security Center page of an account with
// several restrictions, a freeze, an appeal, a device and an API key
// reads in words: no kind or action by its identifier.
func TestHolderPagesInWords(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	s.holderIngest(holdfast.Event{Type: holdfast.EventAPIKeyCreated, Account: "u1", APIKey: "key-1", Permissions: []string{"read", "withdraw"}})
	s.holderIngest(holdfast.Event{Type: holdfast.EventLogin, Account: "u1", Device: "laptop", Session: "sess-1"})
	for _, k := range []holdfast.Kind{holdfast.KindWithdrawalFreeze, holdfast.KindKYCRequired, holdfast.KindCoolingOff} {
		if _, err := s.eng.Apply(ctx, holdfast.ApplyRequest{Account: "u1", Kind: k, Reason: "review", Actor: holdfast.Staff("c1", holdfast.RoleCompliance)}); err != nil {
			t.Fatal(err)
		}
	}
	c := s.holderHTTP("u1")
	for path, form := range map[string]url.Values{"/me/freeze": {"duration": {"1d"}}, "/me/appeals": {"type": {"unlock_request"}}} {
		resp, err := c.PostForm(s.url+path, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for _, p := range []string{"/me/", "/me/devices", "/me/keys", "/me/whitelist", "/me/settings", "/me/appeals", "/me/checkup", "/me/panic", "/me/secure", "/me/history"} {
		resp, err := c.Get(s.url + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
		noIdentifiers(t, p, string(b))
	}
}
