package web

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
)

// The Security Center. A holder arrives with a token the exchange minted
// (/me/login?token=…); the token becomes an HttpOnly, SameSite=Strict
// session cookie that expires with it.

const holderCookie = "hf_holder"

// holderKey is the request context key of the signed-in holder's account.
type holderKey struct{}

func (s *Server) holderRoutes() {
	s.mux.HandleFunc("GET /me/login", s.holderLogin)
	s.mux.HandleFunc("POST /me/logout", s.holderLogout)
	s.mux.Handle("GET /me/{$}", s.asHolder(s.holderHome))
	s.mux.Handle("GET /me/panic", s.asHolder(s.panicForm))
	s.mux.Handle("POST /me/panic", s.asHolder(s.panicLock))
	s.mux.Handle("GET /me/receipt", s.asHolder(s.receipt))
	s.securityRoutes()
	s.appealRoutes()
}

// holderLogin turns a sign-in link into a session. A link works once:
// it is marked used in the store (atomically, so a second use, on this
// node or another sharing the store, is refused) before the session
// starts. The session cookie is a fresh token signed with a key of its
// own, so the link itself never becomes a credential again.
func (s *Server) holderLogin(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	now := time.Now()
	c, err := VerifyHolderToken(s.cfg.HolderKey, token, now)
	if err != nil {
		s.render(w, r, http.StatusUnauthorized, "holder/signin", nil)
		return
	}
	if err := s.cfg.Staff.UseLink(r.Context(), linkHash(token), time.Unix(c.Expires, 0), now); err != nil {
		if holdfast.ErrorCode(err) != holdfast.Unauthenticated {
			s.cfg.Logger.ErrorContext(r.Context(), "web: recording a sign-in link failed", "err", err)
			http.Error(w, "Something went wrong. Please try again.", http.StatusInternalServerError)
			return
		}
		s.cfg.Logger.WarnContext(r.Context(), "web: a used sign-in link was tried again", "account", c.Account)
		s.render(w, r, http.StatusUnauthorized, "holder/signin", signinPage{Used: true})
		return
	}
	// A session lasts at most HolderSession, whatever the link says.
	exp := time.Unix(c.Expires, 0)
	if max := now.Add(s.cfg.HolderSession); exp.After(max) {
		exp = max
	}
	session, err := MintHolderToken(holderSessionKey(s.cfg.HolderKey), c.Account, exp.Sub(now), now)
	if err != nil {
		http.Error(w, "signing failed", http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: holderCookie, Value: session, Path: "/me", Expires: exp, HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/me/", http.StatusSeeOther)
}

// signinPage is what the sign-in page says: Used when the link was used
// before.
type signinPage struct{ Used bool }

func (s *Server) holderLogout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: holderCookie, Value: "", Path: "/me", MaxAge: -1, HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/me/", http.StatusSeeOther)
}

// asHolder runs h for a signed-in holder, or answers as notSignedIn
// does (holder_emergency.go).
func (s *Server) asHolder(h func(w http.ResponseWriter, r *http.Request, account string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(holderCookie)
		if err != nil {
			s.notSignedIn(w, r)
			return
		}
		c, err := VerifyHolderToken(holderSessionKey(s.cfg.HolderKey), ck.Value, time.Now())
		if err != nil {
			s.notSignedIn(w, r)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), holderKey{}, c.Account)), c.Account)
	})
}

// holderPage is what every Security Center page gets.
type holderPage struct {
	Account string
	// Section names the page in the navigation ("home", "devices", …).
	Section string
	Done    string
	Error   string
	Status  *holdfast.Status
	// Receipt is the audit entry whose receipt the page offers for
	// download, after a freeze (0: none).
	Receipt int64
	// Data is the page's own.
	Data any
}

func (s *Server) page(r *http.Request, account string) (*holderPage, error) {
	st, err := s.cfg.Engine.Status(r.Context(), account, holdfast.ViewHolder, holdfast.User(account))
	if err != nil {
		return nil, err
	}
	st.Causes = onePanicLock(st.Causes)
	p := &holderPage{Account: account, Done: r.URL.Query().Get("done"), Status: st}
	if n, err := strconv.ParseInt(r.URL.Query().Get("receipt"), 10, 64); err == nil && n > 0 {
		p.Receipt = n
	}
	return p, nil
}

// onePanicLock keeps one panic lock among causes, the one that ends
// last: a second press extends the lock in force, but accounts may still
// hold locks stacked by earlier versions, and a holder in a hurry must
// see one lock and one end.
func onePanicLock(causes []holdfast.StatusCause) []holdfast.StatusCause {
	last := -1
	for i, c := range causes {
		if c.Kind == holdfast.KindPanicLock && (last < 0 || c.EndsAt.IsZero() || (!causes[last].EndsAt.IsZero() && c.EndsAt.After(causes[last].EndsAt))) {
			last = i
		}
	}
	if last < 0 {
		return causes
	}
	keep := causes[last].ID
	return slices.DeleteFunc(causes, func(c holdfast.StatusCause) bool {
		return c.Kind == holdfast.KindPanicLock && c.ID != keep
	})
}

func (s *Server) holderHome(w http.ResponseWriter, r *http.Request, account string) {
	s.renderHolder(w, r, account, http.StatusOK, s.homeScreen(), "")
}

// panicForm is the panic button's second (and last) click: a duration and
// a confirmation.
func (s *Server) panicForm(w http.ResponseWriter, r *http.Request, account string) {
	p, err := s.page(r, account)
	if err != nil {
		s.holderFailure(w, r, account, err)
		return
	}
	p.Section = "home"
	ss := s.cfg.Engine.Policy().SelfService
	p.Data = struct{ Min, Max, Default holdfast.Duration }{ss.PanicLockMin, ss.PanicLockMax, ss.PanicLockDefault}
	s.render(w, r, http.StatusOK, "holder/panic", p)
}

func (s *Server) panicLock(w http.ResponseWriter, r *http.Request, account string) {
	d, err := holdfast.ParseDuration(r.FormValue("duration"))
	a := &engine.Applied{}
	if err == nil {
		a, err = s.cfg.Engine.PanicLockApplied(r.Context(), account, d, holdfast.User(account))
	}
	if err != nil {
		s.renderHolder(w, r, account, http.StatusUnprocessableEntity, s.homeScreen(), errorText(err))
		return
	}
	http.Redirect(w, r, s.withReceipt(flashURL("/me/", "panic_lock"), a.Entry), http.StatusSeeOther)
}
