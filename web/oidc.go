package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Console sign-in through the exchange's OpenID Connect provider, when
// configured: the authorization code flow with PKCE (S256), a random state
// and nonce. GET /console/oidc/login sends the browser to the provider;
// GET /console/oidc/callback checks the state, exchanges the code, verifies
// the ID token (signature, issuer, audience, expiry, nonce), maps one of
// its claims to a staff id and, if the store has that staff member, starts
// the same session the password sign-in starts. The provider is
// responsible for the second factor. The flow's secrets (state, nonce,
// PKCE verifier) live in a short-lived signed, HttpOnly, SameSite=Lax
// cookie: Lax, because the provider sends the browser back cross-site.

// OIDCConfig configures Console sign-in through an OpenID Connect
// provider.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL (discovery is at
	// Issuer/.well-known/openid-configuration).
	Issuer string
	// ClientID and ClientSecret are the Console's client at the provider.
	ClientID, ClientSecret string
	// RedirectURL is the Console's callback as the provider knows it,
	// https://HOST/console/oidc/callback.
	RedirectURL string
	// StaffClaim names the ID token's claim whose value is the staff id
	// (default "email"; with "email", a token whose email_verified is
	// false is refused).
	StaffClaim string
	// Name is the provider's name on the sign-in page ("Sign in with
	// Name"; default the issuer's host).
	Name string
	// Scopes asked for (default openid, email, profile).
	Scopes []string
	// HTTPClient talks to the provider (default: a client with a 10 s
	// timeout).
	HTTPClient *http.Client
}

const (
	oidcFlowCookie = "hf_oidc"
	oidcFlowPath   = "/console/oidc"
	// oidcFlowTTL bounds the time at the provider (its own sign-in
	// included).
	oidcFlowTTL = 10 * time.Minute
	// signInRefused is the one answer for every refused sign-in, the
	// password form's (which part was wrong is an attacker's help).
	signInRefused = "Wrong staff id, password or code."
)

// oidcClient is the provider, discovered on first use (so the Console,
// and its password sign-in, start even while the provider is down).
type oidcClient struct {
	cfg  OIDCConfig
	name string

	mu       sync.Mutex
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newOIDCClient(cfg OIDCConfig) (*oidcClient, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.RedirectURL == "" {
		return nil, errors.New("web: OIDC needs an issuer, a client id and a redirect URL")
	}
	iss, err := url.Parse(cfg.Issuer)
	if err != nil || iss.Host == "" || (iss.Scheme != "https" && iss.Scheme != "http") {
		return nil, fmt.Errorf("web: OIDC issuer %q is not an http(s) URL", cfg.Issuer)
	}
	if u, err := url.Parse(cfg.RedirectURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("web: OIDC redirect URL %q is not an absolute http(s) URL", cfg.RedirectURL)
	}
	if cfg.StaffClaim == "" {
		cfg.StaffClaim = "email"
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	name := cfg.Name
	if name == "" {
		name = iss.Host
	}
	return &oidcClient{cfg: cfg, name: name}, nil
}

// ctx carries the provider's HTTP client (go-oidc and oauth2 take it from
// the context).
func (c *oidcClient) ctx(ctx context.Context) context.Context {
	ctx = oidc.ClientContext(ctx, c.cfg.HTTPClient)
	return context.WithValue(ctx, oauth2.HTTPClient, c.cfg.HTTPClient)
}

// discover returns the OAuth 2 client and the ID token verifier, fetching
// the provider's discovery document the first time (and again after a
// failure).
func (c *oidcClient) discover(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.oauth != nil {
		return c.oauth, c.verifier, nil
	}
	p, err := oidc.NewProvider(c.ctx(ctx), c.cfg.Issuer)
	if err != nil {
		return nil, nil, err
	}
	c.oauth = &oauth2.Config{ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret, RedirectURL: c.cfg.RedirectURL, Endpoint: p.Endpoint(), Scopes: c.cfg.Scopes}
	// Signature, issuer, audience (the client id) and expiry.
	c.verifier = p.Verifier(&oidc.Config{ClientID: c.cfg.ClientID})
	return c.oauth, c.verifier, nil
}

// oidcFlow is the flow cookie: what the callback must match.
type oidcFlow struct {
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	Expires  int64  `json:"exp"`
}

// flowKey signs the flow cookie: derived from the session key, so that no
// flow cookie is ever a session cookie.
func (s *Server) flowKey() []byte {
	m := hmac.New(sha256.New, s.cfg.SessionKey)
	m.Write([]byte("holdfast console oidc flow"))
	return m.Sum(nil)
}

func (s *Server) oidcRoutes() {
	if s.oidc == nil {
		return
	}
	s.mux.HandleFunc("GET /console/oidc/login", s.oidcLogin)
	s.mux.HandleFunc("GET /console/oidc/callback", s.oidcCallback)
}

// oidcName is the provider's name for the sign-in page ("" without OIDC).
func (s *Server) oidcName() string {
	if s.oidc == nil {
		return ""
	}
	return s.oidc.name
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) setFlowCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: oidcFlowCookie, Value: value, Path: oidcFlowPath, MaxAge: maxAge, HttpOnly: true, Secure: s.secureCookie(r), SameSite: http.SameSiteLaxMode})
}

func (s *Server) oidcLogin(w http.ResponseWriter, r *http.Request) {
	oc, _, err := s.oidc.discover(r.Context())
	if err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "web: OIDC provider discovery failed", "issuer", s.oidc.cfg.Issuer, "err", err)
		s.render(w, r, http.StatusServiceUnavailable, "console/login", map[string]string{"Error": "Sign-in with " + s.oidc.name + " is unavailable right now. Try again later."})
		return
	}
	f := oidcFlow{State: randomString(), Nonce: randomString(), Verifier: oauth2.GenerateVerifier(), Expires: time.Now().Add(oidcFlowTTL).Unix()}
	body, _ := json.Marshal(f)
	s.setFlowCookie(w, r, sign(s.flowKey(), body), int(oidcFlowTTL.Seconds()))
	http.Redirect(w, r, oc.AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), http.StatusSeeOther)
}

func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// The flow cookie is good for one try.
	s.setFlowCookie(w, r, "", -1)
	refuse := func(reason string, attrs ...any) {
		s.cfg.Logger.WarnContext(ctx, "web: console OIDC sign-in refused", append([]any{"reason", reason}, attrs...)...)
		s.render(w, r, http.StatusUnauthorized, "console/login", map[string]string{"Error": signInRefused})
	}
	var f oidcFlow
	ck, err := r.Cookie(oidcFlowCookie)
	if err != nil {
		refuse("no flow cookie")
		return
	}
	body, err := verify(s.flowKey(), ck.Value)
	if err != nil || json.Unmarshal(body, &f) != nil || f.State == "" || f.Nonce == "" || f.Verifier == "" || time.Now().Unix() >= f.Expires {
		refuse("bad or expired flow cookie")
		return
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.State)) != 1 {
		refuse("state mismatch")
		return
	}
	if e := q.Get("error"); e != "" {
		refuse("the provider refused", "error", e)
		return
	}
	code := q.Get("code")
	if code == "" {
		refuse("no code")
		return
	}
	oc, verifier, err := s.oidc.discover(ctx)
	if err != nil {
		refuse("provider discovery failed", "err", err)
		return
	}
	pctx := s.oidc.ctx(ctx)
	tok, err := oc.Exchange(pctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		// The provider's error code and description, not its whole answer.
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			refuse("code exchange failed", "status", re.Response.StatusCode, "error", re.ErrorCode, "description", re.ErrorDescription)
		} else {
			refuse("code exchange failed", "err", err)
		}
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		refuse("no ID token")
		return
	}
	idt, err := verifier.Verify(pctx, raw)
	if err != nil {
		refuse("ID token not valid", "err", err)
		return
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		refuse("nonce mismatch")
		return
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		refuse("unreadable claims")
		return
	}
	claim := s.oidc.cfg.StaffClaim
	id, _ := claims[claim].(string)
	if id == "" {
		refuse("no staff claim", "claim", claim, "subject", idt.Subject)
		return
	}
	if claim == "email" {
		// An unverified address names no one.
		if v, ok := claims["email_verified"]; ok && v != true && v != "true" {
			refuse("email not verified", "staff", id)
			return
		}
	}
	m, err := s.cfg.Staff.Staff(ctx, id)
	if err != nil {
		refuse("no such staff member", "staff", id)
		return
	}
	if !m.Active() {
		refuse("staff member disabled or removed", "staff", id)
		return
	}
	if !s.startSession(w, r, m) {
		return
	}
	s.cfg.Logger.InfoContext(ctx, "web: console sign-in", "staff", m.ID, "via", "oidc", "issuer", idt.Issuer, "subject", idt.Subject)
	// Not a redirect: this request came from the provider's site, and a
	// browser does not send the SameSite=Strict session cookie on a
	// redirect from it. A navigation this page starts is same-site.
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, signedInPage)
}

// signedInPage sends the browser on to the Console (no script: the CSP
// allows none inline).
const signedInPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="0;url=/console/">
<title>Console – signed in</title>
<link rel="stylesheet" href="/static/app.css">
</head>
<body>
<main id="main">
<p id="signed-in">Signed in. <a href="/console/">Continue to the Console</a>.</p>
</main>
</body>
</html>
`
