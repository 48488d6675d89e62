package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/go-jose/go-jose/v4"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/sqlite"
	"github.com/holdfast/holdfast/web"
)

// fakeIdP is a minimal but real OpenID provider: discovery, a JWKS with
// the public half of an RSA key made for the test, an authorization
// endpoint that signs the user in at once (as a provider would after its
// own login) and sends the browser back with a code, and a token endpoint
// that checks the client, the code and its PKCE verifier and answers with
// an ID token signed RS256.
type fakeIdP struct {
	t            *testing.T
	srv          *httptest.Server
	key          *rsa.PrivateKey
	clientID     string
	clientSecret string
	mu           sync.Mutex
	codes        map[string]authz
	email        string // the signed-in user's email claim
	audience     string // the ID token's aud ("" means the client id)
	exchanged    int    // codes redeemed
	badNonce     bool   // answer with an ID token for another nonce
	// interactive: the authorization endpoint shows its own sign-in
	// page first, whose button sends the browser on (a navigation the
	// provider's page starts, as with a real provider's login form).
	interactive bool
}

// authz is what the authorization endpoint remembers of a code.
type authz struct {
	challenge, nonce, redirect string
}

func newFakeIdP(t *testing.T) *fakeIdP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &fakeIdP{t: t, key: key, clientID: "holdfast-console", clientSecret: "s3cret", codes: map[string]authz{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *fakeIdP) set(email, audience string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.email, p.audience = email, audience
}

// redeemed is how many codes the token endpoint has exchanged.
func (p *fakeIdP) redeemed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exchanged
}

func (p *fakeIdP) discovery(w http.ResponseWriter, r *http.Request) {
	u := p.srv.URL
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                u,
		"authorization_endpoint":                u + "/authorize",
		"token_endpoint":                        u + "/token",
		"jwks_uri":                              u + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
	})
}

func (p *fakeIdP) jwks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
}

func (p *fakeIdP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("response_type") != "code" || q.Get("client_id") != p.clientID || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" || !strings.Contains(" "+q.Get("scope")+" ", " openid ") {
		http.Error(w, "bad authorization request: "+r.URL.RawQuery, http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	interactive := p.interactive
	p.mu.Unlock()
	if interactive && r.Method == http.MethodGet {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!doctype html><title>IdP</title><form method="post" action="/authorize?`+html.EscapeString(r.URL.RawQuery)+`"><button id="idp-continue">Sign in</button></form>`)
		return
	}
	code := strings.Repeat("c", 8) + base64.RawURLEncoding.EncodeToString(random(16))
	p.mu.Lock()
	p.codes[code] = authz{challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), redirect: q.Get("redirect_uri")}
	p.mu.Unlock()
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	v := back.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (p *fakeIdP) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != p.clientID || secret != p.clientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	code := r.PostForm.Get("code")
	a, ok := p.codes[code]
	delete(p.codes, code) // one use
	if r.PostForm.Get("grant_type") != "authorization_code" || !ok || r.PostForm.Get("redirect_uri") != a.redirect {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
		return
	}
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != a.challenge {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "PKCE verification failed"})
		return
	}
	p.exchanged++
	aud := p.audience
	if aud == "" {
		aud = p.clientID
	}
	nonce := a.nonce
	if p.badNonce {
		nonce = "not-" + nonce
	}
	now := time.Now()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": "at-" + code,
		"token_type":   "Bearer",
		"expires_in":   300,
		"id_token": p.sign(map[string]any{
			"iss": p.srv.URL, "sub": "user-" + p.email, "aud": aud,
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
			"nonce": nonce, "email": p.email, "email_verified": true,
		}),
	})
}

// sign makes a compact JWS (RS256) of claims.
func (p *fakeIdP) sign(claims map[string]any) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: p.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		p.t.Error(err)
		return ""
	}
	body, _ := json.Marshal(claims)
	jws, err := signer.Sign(body)
	if err != nil {
		p.t.Error(err)
		return ""
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		p.t.Error(err)
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// oidcSite is the pages on a real SQLite store, with OIDC sign-in
// through idp; logs collects what they log.
type oidcSite struct {
	url  string
	db   *sqlite.DB
	logs *lockedBuffer
}

func newOIDCSite(t *testing.T, idp *fakeIdP, host string) *oidcSite {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	eng, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + strings.Replace(ln.Addr().String(), "127.0.0.1", host, 1)
	pages, err := web.New(web.Config{Engine: eng, Staff: db, HolderKey: testKey, SessionKey: []byte("0123456789abcdef0123456789abcdef-session"), Logger: log,
		OIDC: &web.OIDCConfig{Issuer: idp.srv.URL, ClientID: idp.clientID, ClientSecret: idp.clientSecret, RedirectURL: base + "/console/oidc/callback", Name: "Exchange SSO"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(pages)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return &oidcSite{url: base, db: db, logs: logs}
}

// lockedBuffer is a log sink safe for the handlers' goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (s *oidcSite) addStaff(t *testing.T, id string) {
	t.Helper()
	if err := s.db.PutStaff(context.Background(), &holdfast.StaffMember{ID: id, Roles: []holdfast.Role{holdfast.RoleSupport}, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

func newBrowserClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 20 * time.Second}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// TestOIDCSignIn: the sign-in page offers the provider; following it, the
// provider signs the user in and sends them back, and the Console opens as
// the staff member the email claim names, with a session cookie as the
// password sign-in's.
func TestOIDCSignIn(t *testing.T) {
	idp := newFakeIdP(t)
	s := newOIDCSite(t, idp, "127.0.0.1")
	s.addStaff(t, "alice@exchange.example")
	idp.set("alice@exchange.example", "")
	c := newBrowserClient(t)

	resp, body := get(t, c, s.url+"/console/login")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `href="/console/oidc/login"`) || !strings.Contains(body, "Sign in with Exchange SSO") {
		t.Fatalf("sign-in page %d without the provider's link:\n%s", resp.StatusCode, body)
	}
	// Without a session, the Console sends us to sign in.
	if resp, _ := get(t, c, s.url+"/console/"); resp.Request.URL.Path != "/console/login" {
		t.Fatalf("signed out, /console/ ended at %s", resp.Request.URL)
	}

	// Back from the provider, the callback's page sends the browser on
	// to the Console itself (a redirect from the provider's site would
	// not carry the SameSite=Strict session cookie).
	resp, body = get(t, c, s.url+"/console/oidc/login")
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/console/oidc/callback" || !strings.Contains(body, `<meta http-equiv="refresh" content="0;url=/console/">`) {
		t.Fatalf("after the provider: %d at %s\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	resp, body = get(t, c, s.url+"/console/")
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/console/" {
		t.Fatalf("the Console: %d at %s\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	if !strings.Contains(body, "alice@exchange.example") {
		t.Errorf("the Console does not name the staff member:\n%s", body)
	}
	if idp.redeemed() != 1 {
		t.Errorf("codes redeemed: %d, want 1", idp.redeemed())
	}
	// The cookies as the browser keeps them: the session, and no flow.
	u, _ := url.Parse(s.url + "/console/")
	var names []string
	for _, ck := range c.Jar.Cookies(u) {
		names = append(names, ck.Name)
	}
	if strings.Join(names, ",") != "hf_staff" {
		t.Errorf("cookies after sign-in: %v, want just hf_staff", names)
	}
	logs := s.logs.String()
	if !strings.Contains(logs, "web: console sign-in") || !strings.Contains(logs, "staff=alice@exchange.example") || !strings.Contains(logs, "via=oidc") {
		t.Errorf("no sign-in log line:\n%s", logs)
	}
	if strings.Contains(logs, "eyJ") || strings.Contains(logs, "at-c") {
		t.Errorf("a token in the logs:\n%s", logs)
	}
}

// TestOIDCFlowCookie: the flow cookie is HttpOnly, SameSite=Lax (the
// provider sends the browser back cross-site), scoped to the flow's
// paths and short-lived; the authorization request carries PKCE (S256),
// a state and a nonce.
func TestOIDCFlowCookie(t *testing.T) {
	idp := newFakeIdP(t)
	s := newOIDCSite(t, idp, "127.0.0.1")
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(s.url + "/console/oidc/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), idp.srv.URL+"/authorize?") {
		t.Fatalf("login sends to %q", resp.Header.Get("Location"))
	}
	q := loc.Query()
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || len(q.Get("state")) < 32 || len(q.Get("nonce")) < 32 || q.Get("redirect_uri") != s.url+"/console/oidc/callback" {
		t.Errorf("authorization request %v", q)
	}
	var flow *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "hf_oidc" {
			flow = ck
		}
	}
	if flow == nil || !flow.HttpOnly || flow.SameSite != http.SameSiteLaxMode || flow.Path != "/console/oidc" || flow.MaxAge <= 0 || flow.MaxAge > 600 {
		t.Errorf("flow cookie %+v", flow)
	}
}

// TestOIDCRefusals: a callback whose state is not the flow's, an ID token
// naming no staff member, and an ID token for another client are all
// refused with the password form's one answer, and leave no session.
func TestOIDCRefusals(t *testing.T) {
	idp := newFakeIdP(t)
	s := newOIDCSite(t, idp, "127.0.0.1")
	s.addStaff(t, "alice@exchange.example")

	// The password form's answer to a wrong password.
	c := newBrowserClient(t)
	resp, err := c.PostForm(s.url+"/console/login", url.Values{"staff": {"alice@exchange.example"}, "password": {"wrong"}, "code": {"000000"}})
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	const generic = "Wrong staff id, password or code."
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(pw), generic) {
		t.Fatalf("password refusal %d:\n%s", resp.StatusCode, pw)
	}

	refused := func(t *testing.T, c *http.Client, resp *http.Response, body string) {
		t.Helper()
		if resp.StatusCode != http.StatusUnauthorized || resp.Request.URL.Path != "/console/oidc/callback" || !strings.Contains(body, generic) {
			t.Errorf("want the generic refusal at the callback, got %d at %s:\n%s", resp.StatusCode, resp.Request.URL, body)
		}
		if resp, _ := get(t, c, s.url+"/console/"); resp.Request.URL.Path != "/console/login" {
			t.Errorf("after a refusal, /console/ ended at %s", resp.Request.URL)
		}
	}

	t.Run("wrong state", func(t *testing.T) {
		idp.set("alice@exchange.example", "")
		c := newBrowserClient(t)
		// Start a flow but stop at the provider's answer, then come back
		// with a state of our own (a forged or replayed callback).
		c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
			if req.URL.Path == "/console/oidc/callback" {
				return http.ErrUseLastResponse
			}
			return nil
		}
		resp, err := c.Get(s.url + "/console/oidc/login")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		back, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || back.Query().Get("code") == "" {
			t.Fatalf("the provider answered %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		q := back.Query()
		q.Set("state", "forged-"+q.Get("state"))
		back.RawQuery = q.Encode()
		c.CheckRedirect = nil
		before := idp.redeemed()
		resp, body := get(t, c, back.String())
		refused(t, c, resp, body)
		if idp.redeemed() != before {
			t.Errorf("a code was redeemed for a wrong state")
		}
		if !strings.Contains(s.logs.String(), "state mismatch") {
			t.Errorf("no log of the refusal:\n%s", s.logs)
		}
	})

	t.Run("no flow cookie", func(t *testing.T) {
		c := newBrowserClient(t)
		resp, body := get(t, c, s.url+"/console/oidc/callback?code=x&state=y")
		refused(t, c, resp, body)
	})

	t.Run("unknown staff id", func(t *testing.T) {
		idp.set("mallory@exchange.example", "")
		c := newBrowserClient(t)
		resp, body := get(t, c, s.url+"/console/oidc/login")
		refused(t, c, resp, body)
		if strings.Contains(body, "mallory") {
			t.Errorf("the refusal names the claim:\n%s", body)
		}
		if !strings.Contains(s.logs.String(), "no such staff member") {
			t.Errorf("no log of the refusal:\n%s", s.logs)
		}
	})

	t.Run("wrong audience", func(t *testing.T) {
		idp.set("alice@exchange.example", "some-other-client")
		c := newBrowserClient(t)
		resp, body := get(t, c, s.url+"/console/oidc/login")
		refused(t, c, resp, body)
		if !strings.Contains(s.logs.String(), "ID token not valid") {
			t.Errorf("no log of the refusal:\n%s", s.logs)
		}
	})

	t.Run("wrong nonce", func(t *testing.T) {
		idp.set("alice@exchange.example", "")
		idp.mu.Lock()
		idp.badNonce = true
		idp.mu.Unlock()
		defer func() {
			idp.mu.Lock()
			idp.badNonce = false
			idp.mu.Unlock()
		}()
		c := newBrowserClient(t)
		resp, body := get(t, c, s.url+"/console/oidc/login")
		refused(t, c, resp, body)
		if !strings.Contains(s.logs.String(), "nonce mismatch") {
			t.Errorf("no log of the refusal:\n%s", s.logs)
		}
	})

	t.Run("the same callback twice", func(t *testing.T) {
		idp.set("alice@exchange.example", "")
		c := newBrowserClient(t)
		var callback string
		c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
			if req.URL.Path == "/console/oidc/callback" && callback == "" {
				callback = req.URL.String()
			}
			return nil
		}
		if resp, body := get(t, c, s.url+"/console/oidc/login"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Signed in.") {
			t.Fatalf("first sign-in: %d at %s", resp.StatusCode, resp.Request.URL)
		}
		// A second browser replaying the callback URL (no flow cookie).
		c2 := newBrowserClient(t)
		resp, body := get(t, c2, callback)
		refused(t, c2, resp, body)
	})
}

// TestOIDCUnavailable: with the provider down the sign-in page still
// works and the link says so, and the Console still starts.
func TestOIDCUnavailable(t *testing.T) {
	idp := newFakeIdP(t)
	s := newOIDCSite(t, idp, "127.0.0.1")
	idp.srv.Close()
	c := newBrowserClient(t)
	resp, body := get(t, c, s.url+"/console/oidc/login")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "Sign-in with Exchange SSO is unavailable") {
		t.Errorf("provider down: %d\n%s", resp.StatusCode, body)
	}
}

// TestOIDCConfig: an incomplete OIDC configuration is refused at start.
func TestOIDCConfig(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef-session")
	for _, c := range []web.OIDCConfig{
		{ClientID: "c", RedirectURL: "https://h/console/oidc/callback"},
		{Issuer: "https://idp", RedirectURL: "https://h/console/oidc/callback"},
		{Issuer: "https://idp", ClientID: "c"},
		{Issuer: "idp.example", ClientID: "c", RedirectURL: "https://h/console/oidc/callback"},
		{Issuer: "https://idp", ClientID: "c", RedirectURL: "/console/oidc/callback"},
	} {
		if _, err := web.New(web.Config{HolderKey: key, SessionKey: key, OIDC: &c}); err == nil {
			t.Errorf("accepted %+v", c)
		}
	}
	// Without OIDC, no link and no routes.
	s, err := web.New(web.Config{HolderKey: key, SessionKey: key})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	_, body := get(t, srv.Client(), srv.URL+"/console/login")
	if strings.Contains(body, "oidc") {
		t.Errorf("sign-in page offers OIDC without it:\n%s", body)
	}
	if resp, _ := get(t, srv.Client(), srv.URL+"/console/oidc/login"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/console/oidc/login without OIDC: %d", resp.StatusCode)
	}
}

// TestOIDCSignInBrowser: the same sign-in in a real Chromium, with the
// provider on another site (127.0.0.1 against localhost), so that the
// browser's SameSite rules apply as in production: the Lax flow cookie must
// come back on the provider's cross-site redirect, and the Console must
// open after it.
func TestOIDCSignInBrowser(t *testing.T) {
	exe := chromium(t)
	idp := newFakeIdP(t)
	s := newOIDCSite(t, idp, "localhost")
	s.addStaff(t, "alice@exchange.example")
	idp.set("alice@exchange.example", "")
	idp.interactive = true

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	defer func() { cancelB(); cancelA() }()
	bctx, cancelT := context.WithTimeout(bctx, 60*time.Second)
	defer cancelT()

	// The Console's home (#account) or, without the session cookie, its
	// sign-in form (#staff).
	if err := chromedp.Do(bctx,
		chromedp.Navigate(s.url+"/console/login"),
		chromedp.WaitVisible(chromedp.CSS("#oidc-login")),
		click("#oidc-login"),
		chromedp.WaitVisible(chromedp.CSS("#idp-continue")),
		click("#idp-continue"),
		chromedp.WaitVisible(chromedp.CSS("#account, #staff")),
	); err != nil {
		t.Fatalf("%v\nlogs:\n%s", err, s.logs)
	}
	loc, err := chromedp.Run(bctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if loc != s.url+"/console/" {
		t.Fatalf("signed in through the provider, the browser is at %s, not the Console\nlogs:\n%s", loc, s.logs)
	}
	who, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("header")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(who, "alice@exchange.example") {
		t.Errorf("the Console's header: %q", who)
	}
}
