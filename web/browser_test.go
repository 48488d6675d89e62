package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/blob"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/internal/receipttest"
	"github.com/holdfast/holdfast/internal/servicetest"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/rpc"
	"github.com/holdfast/holdfast/sqlite"
	"github.com/holdfast/holdfast/tlog"
	"github.com/holdfast/holdfast/web"
)

// site is a real server (the API and the pages, on a real SQLite store)
// and a real headless Chromium driving it.
type site struct {
	t       *testing.T
	url     string
	eng     *engine.Engine
	db      *sqlite.DB
	key     []byte
	vkey    string // the audit log's public key
	browser context.Context
}

var testKey = []byte("0123456789abcdef0123456789abcdef-holder")

// chromium finds Debian's Chromium (CI installs it); without it the
// browser tests skip loudly, or fail when HOLDFAST_REQUIRE_SERVICES=1.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("HOLDFAST_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	servicetest.Missing(t, "Chromium not found (apt-get install chromium)")
	return ""
}

// newSite starts a site; each of adjust changes the pages' configuration.
func newSite(t *testing.T, adjust ...func(*web.Config)) *site {
	t.Helper()
	exe := chromium(t)
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The site signs its audit log, so that freezes come with receipts.
	skey, _, err := tlog.GenerateKey("holdfast.test")
	if err != nil {
		t.Fatal(err)
	}
	signer, vkey, err := tlog.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default(), Logger: log, LogSigner: signer, LogVerifierKey: vkey})
	if err != nil {
		t.Fatal(err)
	}
	evidence, err := blob.NewDir(filepath.Join(dir, "evidence"), 10<<20)
	if err != nil {
		t.Fatal(err)
	}
	cfg := web.Config{Engine: eng, Staff: db, Evidence: evidence, HolderKey: testKey, SessionKey: []byte("0123456789abcdef0123456789abcdef-session"), Logger: log}
	for _, a := range adjust {
		a(&cfg)
	}
	pages, err := web.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	api := rpc.Handler(rpc.Config{Engine: eng, Staff: db, Logger: log, Evidence: evidence})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if web.IsPage(r.URL.Path) {
			pages.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1200, 900),
	)
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	bctx, cancelT := context.WithTimeout(bctx, 60*time.Second)
	t.Cleanup(cancelT)
	return &site{t: t, url: srv.URL, eng: eng, db: db, key: testKey, vkey: vkey, browser: bctx}
}

// signIn opens the Security Center as the holder of account.
func (s *site) signIn(account string) {
	s.t.Helper()
	tok, err := web.MintHolderToken(s.key, account, 10*time.Minute, time.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	s.run(chromedp.Navigate(s.url + "/me/login?token=" + tok))
}

// click clicks the first visible element matching sel. chromedp finds the
// node, then asks for its position by the node's id; a page that replaced
// its document in between (a navigation settling) answers "No node with
// given id found", before any mouse event was sent. Such a click is made
// again with a fresh query, so it is never made twice.
func click(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		return againIfStale(func() error {
			_, err := chromedp.Click(chromedp.CSS(sel))(ctx, t)
			return err
		})
	})
}

// againIfStale runs fn again, a few times, while it fails on a node the
// page replaced between chromedp finding it and using it (a form's answer
// redraws the page).
func againIfStale(fn func() error) error {
	var err error
	for range 5 {
		if err = fn(); err == nil || !strings.Contains(err.Error(), "node with given id") {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

func (s *site) run(steps ...chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	if err := chromedp.Do(s.browser, steps...); err != nil {
		s.t.Fatal(err)
	}
}

// text returns the visible text of the element sel (a CSS selector).
func (s *site) text(sel string) string {
	s.t.Helper()
	return s.read(chromedp.Text(chromedp.CSS(sel)))
}

// html returns the whole current page's markup (hidden fields included).
func (s *site) html() string {
	s.t.Helper()
	return s.read(chromedp.OuterHTML(chromedp.CSS("html")))
}

// read runs a query of the page, again if the page replaced its node.
func (s *site) read(q chromedp.Action[string]) string {
	s.t.Helper()
	var out string
	err := againIfStale(func() (err error) {
		out, err = chromedp.Run(s.browser, q)
		return err
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// screenshot saves the page to docs/screenshots/name.png when
// HOLDFAST_SCREENSHOTS is set (the committed ones are made that way).
func (s *site) screenshot(name string) {
	s.t.Helper()
	if os.Getenv("HOLDFAST_SCREENSHOTS") == "" {
		return
	}
	png, err := chromedp.Run(s.browser, chromedp.FullScreenshot(100))
	if err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("..", "docs", "screenshots", name+".png"), png, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// TestPanicButton: from the Security Center's first screen, two clicks
// stop every withdrawal, and the status bar says so; the page then offers
// the lock's receipt, which downloads as a file that the two public
// libraries verify.
func TestPanicButton(t *testing.T) {
	s := newSite(t)
	s.signIn("u1")
	s.run(chromedp.WaitVisible(chromedp.CSS("#panic-button")))
	s.screenshot("security-center")
	s.run(
		click("#panic-button"), // click 1
		chromedp.WaitVisible(chromedp.CSS("#panic-confirm")),
	)
	s.screenshot("panic-confirm")
	s.run(
		click("#panic-confirm"), // click 2
		chromedp.WaitVisible(chromedp.CSS("#causes")),
	)
	// The lock by its name for people, never the engine's identifier.
	if got := s.text("#causes"); !strings.Contains(got, "Panic lock") || strings.Contains(got, "panic_lock") {
		t.Errorf("status after the panic button: %q", got)
	}
	d, err := s.eng.Check(context.Background(), holdfast.CheckRequest{Account: "u1", Action: holdfast.ActionWithdraw})
	if err != nil || d.Effect != holdfast.Deny {
		t.Errorf("withdraw after the panic button: %+v %v", d, err)
	}

	doc := s.download("#receipt-download")
	p, err := receipttest.Verify(doc, s.vkey)
	if err != nil {
		t.Fatalf("the downloaded receipt does not verify: %v\n%s", err, doc)
	}
	if e := p.Entry; e.Account != "u1" || e.Action != holdfast.AuditApply || e.Actor != "user:u1" || !strings.Contains(string(e.After), `"kind":"panic_lock"`) {
		t.Errorf("the receipt proves %s by %s on %s: %s", e.Action, e.Actor, e.Account, e.After)
	}
}

// download clicks the link sel and returns the file the browser saved.
func (s *site) download(sel string) []byte {
	s.t.Helper()
	dir := s.t.TempDir()
	progress := chromedp.Events(s.browser, browser.DownloadProgress)
	s.run(
		chromedp.WaitVisible(chromedp.CSS(sel)),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: new(true),
			})
			return err
		}),
		click(sel),
	)
	for ev, err := range progress {
		if err != nil {
			s.t.Fatal(err)
		}
		switch ev.State {
		case browser.DownloadProgressStateCompleted:
			b, err := os.ReadFile(filepath.Join(dir, ev.GUID))
			if err != nil {
				s.t.Fatal(err)
			}
			return b
		case browser.DownloadProgressStateCanceled:
			s.t.Fatalf("the browser cancelled the download of %s", sel)
		}
	}
	s.t.Fatalf("no download from %s", sel)
	return nil
}

// TestSecurityHeaders: every page carries a strict CSP and refuses framing;
// a cross-site form post is refused.
func TestSecurityHeaders(t *testing.T) {
	s := newSite(t)
	resp, err := http.Get(s.url + "/me/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("X-Frame-Options %q", resp.Header.Get("X-Frame-Options"))
	}
	req, _ := http.NewRequest(http.MethodPost, s.url+"/me/panic", strings.NewReader("duration=7d"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site post: %d, want 403", resp.StatusCode)
	}
}
