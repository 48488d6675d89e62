package web

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/holdfast/holdfast"
)

// The pages' sessions. A cookie carries only a random id; the store keeps
// its SHA-256 with who is signed in and until when (holdfast.PageSession),
// so every node sharing the store agrees on it, and signing out, securing
// the account or leaving the Console idle ends it everywhere at once. A
// copy of the cookie is worth nothing after that.

// siteCookie is where a site keeps its session cookie.
type siteCookie struct{ name, path string }

var siteCookies = map[holdfast.PageSite]siteCookie{
	holdfast.SiteHolder: {holderCookie, "/me"},
	holdfast.SiteStaff:  {staffCookie, "/console"},
}

// sessionHash is what the store keeps of a session id.
func sessionHash(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// now is the pages' clock.
func (s *Server) now() time.Time { return s.cfg.Clock.Now() }

// startPageSession signs subject in to site until expires (and, with
// idle, until a request has not come for that long): a new session in the
// store and its cookie. Whoever calls it has authenticated subject.
func (s *Server) startPageSession(w http.ResponseWriter, r *http.Request, site holdfast.PageSite, subject string, idle time.Duration, expires time.Time) error {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	id := base64.RawURLEncoding.EncodeToString(b)
	now := s.now()
	ps := &holdfast.PageSession{Hash: sessionHash(id), Site: site, Subject: subject, CreatedAt: now, Idle: idle, ExpiresAt: expires}
	if err := s.cfg.Staff.StartPageSession(r.Context(), ps); err != nil {
		return err
	}
	// Max-Age, not Expires: the browser's clock need not agree with ours.
	s.setSessionCookie(w, r, site, id, max(1, int(expires.Sub(now).Seconds())))
	return nil
}

// pageSession returns the session of site that r's cookie names, if it is
// in force; nil otherwise (a store failure is logged, and counts as
// signed out).
func (s *Server) pageSession(r *http.Request, site holdfast.PageSite) *holdfast.PageSession {
	ck, err := r.Cookie(siteCookies[site].name)
	if err != nil || ck.Value == "" {
		return nil
	}
	ps, err := s.cfg.Staff.PageSession(r.Context(), sessionHash(ck.Value), s.now())
	if err != nil {
		if holdfast.ErrorCode(err) != holdfast.Unauthenticated {
			s.cfg.Logger.ErrorContext(r.Context(), "web: reading a session failed", "site", site, "err", err)
		}
		return nil
	}
	// A Console session is no Security Center session, nor the reverse.
	if ps.Site != site {
		return nil
	}
	return ps
}

// endPageSession signs r's browser out of site: the session ends in the
// store, then the browser forgets the cookie. An error means the session
// may still be in force.
func (s *Server) endPageSession(w http.ResponseWriter, r *http.Request, site holdfast.PageSite) error {
	if ck, err := r.Cookie(siteCookies[site].name); err == nil && ck.Value != "" {
		if err := s.cfg.Staff.EndPageSession(r.Context(), sessionHash(ck.Value)); err != nil {
			return err
		}
	}
	s.setSessionCookie(w, r, site, "", -1)
	return nil
}

func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, site holdfast.PageSite, value string, maxAge int) {
	c := siteCookies[site]
	http.SetCookie(w, &http.Cookie{Name: c.name, Value: value, Path: c.path, MaxAge: maxAge, HttpOnly: true, Secure: s.secureCookie(r), SameSite: http.SameSiteStrictMode})
}

// secureCookie reports whether a cookie set in answer to r is marked
// Secure: always with SecureCookies, and whenever r came over TLS, to this
// server or, with TrustForwardedProto, to the proxy in front of it (the
// first X-Forwarded-Proto, the one the client's hop set).
func (s *Server) secureCookie(r *http.Request) bool {
	if s.cfg.SecureCookies || r.TLS != nil {
		return true
	}
	if !s.cfg.TrustForwardedProto {
		return false
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}
