// Package web serves Holdfast's two pages from the binary: the Security
// Center for account holders (/me/) and the Console for staff
// (/console/). Pages are server-rendered html/template with htmx
// (vendored, static/htmx.min.js) for progressive enhancement; every form
// works without JavaScript. Every rule lives in the engine: the handlers
// authenticate, call it with the right actor, and render what it allows.
package web

import (
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/blob"
	"github.com/holdfast/holdfast/engine"
)

//go:embed templates static
var files embed.FS

// Config wires the pages.
type Config struct {
	Engine *engine.Engine
	Staff  holdfast.StaffStore
	// Evidence keeps case files (uploads from the Security Center, the
	// Console's evidence viewer).
	Evidence blob.Store
	// HolderKey verifies holder tokens (at least 32 bytes).
	HolderKey []byte
	// SessionKey signs the Console's OpenID Connect flow cookie (at least
	// 32 bytes). Sessions themselves are kept in Staff (PageSessions).
	SessionKey []byte
	// SecureCookies marks every cookie Secure. Without it, a cookie is
	// Secure when its request came over TLS, or, with
	// TrustForwardedProto (below), when the proxy in front says so.
	SecureCookies bool
	// HolderSession and StaffSession bound a session (defaults 15 min
	// and 8 h).
	HolderSession, StaffSession time.Duration
	Logger                      *slog.Logger
	// Outbox, when set, lets support and admin see the outbox's dead
	// letters in the Console and put them back in line
	// (holdfast.OutboxStore satisfies it).
	Outbox Outbox
	// OIDC, when set, adds Console sign-in through the exchange's OpenID
	// Connect provider beside the password and TOTP.
	OIDC *OIDCConfig

	// StaffIdle ends a Console session no request used for that long
	// (default 30 min).
	StaffIdle time.Duration
	// TrustForwardedProto marks cookies Secure when X-Forwarded-Proto
	// says https: set it only behind a proxy that overwrites the header.
	TrustForwardedProto bool
	// Clock tells the sessions' time (default the wall clock).
	Clock holdfast.Clock
	// Emergency lets a holder who cannot sign in freeze their account
	// (holder_emergency.go).
	Emergency EmergencyConfig
}

// Server is the pages' handler.
type Server struct {
	cfg   Config
	pages map[string]*template.Template
	mux   *http.ServeMux
	// signins limits Console sign-in attempts per staff id.
	signins *lockout
	// oidc is the OpenID Connect provider (nil without one).
	oidc *oidcClient
}

// New checks cfg and builds the handler.
func New(cfg Config) (*Server, error) {
	if len(cfg.HolderKey) < MinKeyBytes || len(cfg.SessionKey) < MinKeyBytes {
		return nil, errors.New("web: holder and session keys must be at least 32 bytes")
	}
	if cfg.HolderSession <= 0 {
		cfg.HolderSession = 15 * time.Minute
	}
	if cfg.StaffSession <= 0 {
		cfg.StaffSession = 8 * time.Hour
	}
	if cfg.StaffIdle <= 0 {
		cfg.StaffIdle = 30 * time.Minute
	}
	if cfg.Clock == nil {
		cfg.Clock = holdfast.WallClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, pages: map[string]*template.Template{}, mux: http.NewServeMux(), signins: newLockout(5, 15*time.Minute)}
	if cfg.OIDC != nil {
		c, err := newOIDCClient(*cfg.OIDC)
		if err != nil {
			return nil, err
		}
		s.oidc = c
	}
	if err := s.parse(); err != nil {
		return nil, err
	}
	static, _ := fs.Sub(files, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	s.holderRoutes()
	if err := s.emergencyRoutes(); err != nil {
		return nil, err
	}
	s.consoleRoutes()
	s.oidcRoutes()
	return s, nil
}

// parse builds one template per page: the layout, the shared partials
// (templates/partials) and the page's file.
func (s *Server) parse() error {
	pages, err := fs.Glob(files, "templates/*/*.html")
	if err != nil {
		return err
	}
	for _, p := range pages {
		if strings.HasPrefix(p, "templates/partials/") {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).Funcs(template.FuncMap{"oidcName": s.oidcName}).ParseFS(files, "templates/layout.html", "templates/partials/*.html", p)
		if err != nil {
			return err
		}
		s.pages[strings.TrimSuffix(strings.TrimPrefix(p, "templates/"), ".html")] = t
	}
	return nil
}

var funcs = template.FuncMap{
	// short is a policy version's hash as the CLI lists it: its first 12
	// hex digits.
	"short": func(hash string) string { return hash[:min(12, len(hash))] },
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"iso": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
}

// ServeHTTP adds the security headers every page carries and refuses
// cross-site writes (CSRF), then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	csrf.Handler(s.mux).ServeHTTP(w, r)
}

// csrf refuses state-changing requests that the browser says come from
// another site (Sec-Fetch-Site / Origin), the standard library's check.
var csrf = http.NewCrossOriginProtection()

// IsPage reports whether a request path belongs to the pages.
func IsPage(path string) bool {
	return path == "/me" || path == "/console" || strings.HasPrefix(path, "/me/") || strings.HasPrefix(path, "/console/") || strings.HasPrefix(path, "/static/")
}

// render writes a page, or logs why it could not.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	t := s.pages[page]
	if t == nil {
		http.Error(w, "no such page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := t.Execute(w, data); err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "web: rendering failed", "page", page, "err", err)
	}
}

// flash carries one message to the next page through the query string
// (codes only, never text the caller chose).
func flashURL(path, code string) string {
	if code == "" {
		return path
	}
	return path + "?done=" + code
}

// errorText is what a page says of an engine error: its message (domain
// errors are written for the caller, and the engine never puts what the
// caller may not know in them).
func errorText(err error) string {
	var he *holdfast.Error
	if errors.As(err, &he) {
		return he.Message
	}
	return "Something went wrong. Please try again."
}
