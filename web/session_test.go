package web_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/web"
)

// cookie returns the value of the browser's cookie name for path on the
// site (HttpOnly ones too: the protocol sees them, scripts do not).
func (s *site) cookie(name, path string) string {
	s.t.Helper()
	res, err := chromedp.Call(s.browser, network.GetCookies, network.GetCookiesParams{URLs: []string{s.url + path}})
	if err != nil {
		s.t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return c.Value
		}
	}
	s.t.Fatalf("no cookie %s for %s", name, path)
	return ""
}

// replay requests u with only the cookie name=value, as a copy of it
// would, and returns the status and the page (redirects not followed).
func replay(t *testing.T, u, name, value string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.AddCookie(&http.Cookie{Name: name, Value: value})
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// signedOut reports whether the browser shows the Security Center's
// sign-in page.
func (s *site) signedOut() bool {
	s.t.Helper()
	title := s.read(chromedp.Title())
	return strings.Contains(title, "sign in") && !strings.Contains(s.html(), `action="/me/logout"`)
}

// TestSignOutEndsSession: signing out ends the session on the server: a
// copy of the cookie taken before, replayed afterwards by another client,
// is refused. On both sites.
func TestSignOutEndsSession(t *testing.T) {
	s := newSite(t)
	s.signIn("u1")
	s.run(chromedp.WaitVisible(chromedp.CSS("#panic-button")))
	holder := s.cookie("hf_holder", "/me/")
	if code, body := replay(t, s.url+"/me/", "hf_holder", holder); code != http.StatusOK || !strings.Contains(body, "panic-button") {
		t.Fatalf("the holder's cookie before signing out: %d", code)
	}
	s.run(holderClickTo(`form[action="/me/logout"] button`, "main"))
	if !s.signedOut() {
		t.Error("the page after signing out is not the sign-in page")
	}
	if code, body := replay(t, s.url+"/me/", "hf_holder", holder); code != http.StatusUnauthorized || strings.Contains(body, "panic-button") {
		t.Errorf("the holder's cookie replayed after signing out: %d", code)
	}

	cy := s.addConsoleStaff("cy", holdfast.RoleSupport)
	s.consoleSignIn(cy)
	staff := s.cookie("hf_staff", "/console/")
	if code, _ := replay(t, s.url+"/console/", "hf_staff", staff); code != http.StatusOK {
		t.Fatalf("the Console cookie before signing out: %d", code)
	}
	s.run(click(`form[action="/console/logout"] button`), chromedp.WaitVisible(chromedp.CSS("#staff")))
	if code, _ := replay(t, s.url+"/console/", "hf_staff", staff); code != http.StatusSeeOther {
		t.Errorf("the Console cookie replayed after signing out: %d, want a redirect to sign in", code)
	}
	// A Security Center session id is no Console session, nor the reverse.
	s.signIn("u1")
	s.run(chromedp.WaitVisible(chromedp.CSS("#panic-button")))
	if code, _ := replay(t, s.url+"/console/", "hf_staff", s.cookie("hf_holder", "/me/")); code != http.StatusSeeOther {
		t.Errorf("a holder's session id as a Console cookie: %d", code)
	}
}

// TestSecureAccountEndsOtherSessions: the holder presses "Secure my
// account" in one browser; the Security Center open in another browser
// (an attacker's) is signed out, and its cookie is refused. The browser
// that pressed it stays signed in, on a new session.
func TestSecureAccountEndsOtherSessions(t *testing.T) {
	s := newSite(t)
	s.signIn("u1")
	s.run(chromedp.WaitVisible(chromedp.CSS("#secure-button")))
	pressed := s.cookie("hf_holder", "/me/")
	other := s.newSession()
	other.signIn("u1")
	other.run(chromedp.WaitVisible(chromedp.CSS("#panic-button")))
	stolen := other.cookie("hf_holder", "/me/")

	s.run(
		holderClickTo("#secure-button", "#secure-confirm"),
		holderClickTo("#secure-confirm", "#causes"),
	)
	if got := s.text("#causes"); !strings.Contains(got, "Account frozen by you") {
		t.Errorf("status after securing: %q", got)
	}
	other.run(chromedp.Navigate(s.url + "/me/"))
	if !other.signedOut() {
		t.Error("the other browser is still signed in after securing the account")
	}
	for name, c := range map[string]string{"the other browser's": stolen, "the pressing browser's old": pressed} {
		if code, _ := replay(t, s.url+"/me/", "hf_holder", c); code != http.StatusUnauthorized {
			t.Errorf("%s cookie after securing: %d", name, code)
		}
	}
	s.run(chromedp.Navigate(s.url + "/me/devices"))
	if s.signedOut() {
		t.Error("the browser that secured the account was signed out")
	}
}

// offsetClock is the wall clock moved on by what a test adds.
type offsetClock struct{ d atomic.Int64 }

func (c *offsetClock) Now() time.Time          { return time.Now().Add(time.Duration(c.d.Load())).UTC() }
func (c *offsetClock) advance(d time.Duration) { c.d.Add(int64(d)) }
func (c *offsetClock) code(t *testing.T, secret string) string {
	t.Helper()
	code, err := totp.GenerateCode(secret, c.Now())
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// pages starts another pages server on the site's engine and store, with
// cfg's sessions settings and clock, driven over plain HTTP.
func (s *site) pages(cfg web.Config) string {
	s.t.Helper()
	cfg.Engine, cfg.Staff, cfg.HolderKey = s.eng, s.db, s.key
	cfg.SessionKey = []byte("0123456789abcdef0123456789abcdef-session")
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := web.New(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	s.t.Cleanup(srv.Close)
	return srv.URL
}

// consoleLogin posts the password form with a new cookie jar and returns
// the client and the status (redirects not followed).
func consoleLogin(t *testing.T, base string, l staffLogin, code string) (*http.Client, int) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: noRedirects.CheckRedirect}
	resp, err := c.PostForm(base+"/console/login", url.Values{"staff": {l.id}, "password": {l.password}, "code": {code}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return c, resp.StatusCode
}

func status(t *testing.T, c *http.Client, u string) int {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestConsoleCodeOnce: a code signs a member in once; the same code again,
// on this server or another on the same store, is refused with the one
// generic answer, even though it is still within its 30 s.
func TestConsoleCodeOnce(t *testing.T) {
	s := newSite(t)
	one, two := s.pages(web.Config{}), s.pages(web.Config{})
	dee := s.addConsoleStaff("dee", holdfast.RoleSupport)
	code := totpCode(t, dee.secret)
	c, st := consoleLogin(t, one, dee, code)
	if st != http.StatusSeeOther || status(t, c, one+"/console/") != http.StatusOK {
		t.Fatalf("the first sign-in with a code: %d", st)
	}
	for _, base := range []string{one, two} {
		if _, st := consoleLogin(t, base, dee, code); st != http.StatusUnauthorized {
			t.Errorf("the same code again at %s: %d, want 401", base, st)
		}
	}
}

// TestConsoleCodeReplayInBrowser: in Chromium, a code that signed a
// staff member in is refused when typed again, in another browser, even
// with the right password, and the page says why; the next code works.
func TestConsoleCodeReplayInBrowser(t *testing.T) {
	s := newSite(t)
	fay := s.addConsoleStaff("fay", holdfast.RoleSupport)
	code := totpCode(t, fay.secret)
	s.typeConsoleLogin(fay.id, fay.password, code)
	s.run(chromedp.WaitVisible(chromedp.CSS("#account")))

	other := s.newSession()
	other.typeConsoleLogin(fay.id, fay.password, code)
	other.run(chromedp.WaitVisible(chromedp.CSS(`p.error[role="alert"]`)))
	if got := other.text(`p.error`); !strings.Contains(got, "A code works once") {
		t.Errorf("a replayed code: the page says %q", got)
	}
	if strings.Contains(other.html(), `id="account"`) {
		t.Error("a replayed code signed the second browser in")
	}
	// The next time step's code signs in.
	next, err := totp.GenerateCode(fay.secret, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	other.typeConsoleLogin(fay.id, fay.password, next)
	other.run(chromedp.WaitVisible(chromedp.CSS("#account")))
}

// TestSessionBounds: a Console session ends after its idle timeout
// without a request (each request moves it) and after StaffSession
// however busy; a Security Center session after 15 minutes. The server's
// clock is moved, not waited for.
func TestSessionBounds(t *testing.T) {
	s := newSite(t)
	clock := &offsetClock{}
	base := s.pages(web.Config{Clock: clock})
	eve := s.addConsoleStaff("eve", holdfast.RoleSupport)

	c, st := consoleLogin(t, base, eve, clock.code(t, eve.secret))
	if st != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", st)
	}
	for range 3 { // 60 minutes in use, never 30 idle
		clock.advance(20 * time.Minute)
		if st := status(t, c, base+"/console/"); st != http.StatusOK {
			t.Fatalf("a Console session in use: %d", st)
		}
	}
	clock.advance(30 * time.Minute)
	if st := status(t, c, base+"/console/"); st != http.StatusSeeOther {
		t.Errorf("a Console session idle for 30 minutes: %d, want a redirect to sign in", st)
	}

	c, st = consoleLogin(t, base, eve, clock.code(t, eve.secret))
	if st != http.StatusSeeOther {
		t.Fatalf("sign-in again: %d", st)
	}
	for range 23 { // busy until 8 h less 20 min
		clock.advance(20 * time.Minute)
		if st := status(t, c, base+"/console/"); st != http.StatusOK {
			t.Fatalf("a busy Console session: %d", st)
		}
	}
	clock.advance(20 * time.Minute)
	if st := status(t, c, base+"/console/"); st != http.StatusSeeOther {
		t.Errorf("a busy Console session after 8 h: %d, want a redirect to sign in", st)
	}

	// A configured idle timeout.
	short := s.pages(web.Config{Clock: clock, StaffIdle: 5 * time.Minute})
	clock.advance(time.Minute)
	c, _ = consoleLogin(t, short, eve, clock.code(t, eve.secret))
	clock.advance(4 * time.Minute)
	if st := status(t, c, short+"/console/"); st != http.StatusOK {
		t.Errorf("within a 5-minute idle timeout: %d", st)
	}
	clock.advance(5 * time.Minute)
	if st := status(t, c, short+"/console/"); st != http.StatusSeeOther {
		t.Errorf("past a 5-minute idle timeout: %d", st)
	}

	// The Security Center: 15 minutes, however long the link says.
	tok, err := web.MintHolderToken(s.key, "u1", time.Hour, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	h := &http.Client{Jar: jar, CheckRedirect: noRedirects.CheckRedirect}
	if st := status(t, h, base+"/me/login?token="+tok); st != http.StatusSeeOther {
		t.Fatalf("holder sign-in: %d", st)
	}
	clock.advance(14 * time.Minute)
	if st := status(t, h, base+"/me/"); st != http.StatusOK {
		t.Errorf("a Security Center session after 14 minutes: %d", st)
	}
	clock.advance(time.Minute)
	if st := status(t, h, base+"/me/"); st != http.StatusUnauthorized {
		t.Errorf("a Security Center session after 15 minutes: %d", st)
	}
}

// TestSecureCookies: cookies are Secure when asked to be, when the
// request came over TLS, and behind a trusted proxy that says https; a
// header from a client the server was not told to trust changes nothing.
func TestSecureCookies(t *testing.T) {
	s := newSite(t)
	secureAt := func(base string, c *http.Client, header string) bool {
		t.Helper()
		tok, err := web.MintHolderToken(s.key, "u1", time.Minute, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, base+"/me/login?token="+tok, nil)
		if header != "" {
			req.Header.Set("X-Forwarded-Proto", header)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, ck := range resp.Cookies() {
			if ck.Name == "hf_holder" {
				return ck.Secure
			}
		}
		t.Fatalf("no session cookie from %s: %d", base, resp.StatusCode)
		return false
	}
	plain := s.pages(web.Config{})
	if secureAt(plain, noRedirects, "") || secureAt(plain, noRedirects, "https") {
		t.Error("Secure over plain HTTP, from an untrusted X-Forwarded-Proto or none")
	}
	proxied := s.pages(web.Config{TrustForwardedProto: true})
	if !secureAt(proxied, noRedirects, "https") || !secureAt(proxied, noRedirects, "https, http") || secureAt(proxied, noRedirects, "http") {
		t.Error("behind a trusted proxy, Secure must follow its X-Forwarded-Proto")
	}
	if !secureAt(s.pages(web.Config{SecureCookies: true}), noRedirects, "") {
		t.Error("not Secure with SecureCookies")
	}
	h, err := web.New(web.Config{Engine: s.eng, Staff: s.db, HolderKey: s.key, SessionKey: s.key, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	tlsSrv := httptest.NewTLSServer(h)
	defer tlsSrv.Close()
	c := tlsSrv.Client()
	c.CheckRedirect = noRedirects.CheckRedirect
	if !secureAt(tlsSrv.URL, c, "") {
		t.Error("not Secure over TLS")
	}
}
