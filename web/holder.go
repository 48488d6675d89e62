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
// (/me/login?token=…); the token starts a session in the store
// (session.go) that ends with it, at the latest, and an HttpOnly,
// SameSite=Strict cookie naming the session.

const holderCookie = "hf_holder"

// holderKey is the request context key of the signed-in holder's account.
type holderKey struct{}

// holderSessionKey is the request context key of the holder's session.
type holderSessionKey struct{}

func (s *Server) holderRoutes() {
	s.mux.HandleFunc("GET /me/login", s.holderLogin)
	s.mux.HandleFunc("POST /me/logout", s.holderLogout)
	s.mux.Handle("GET /me/{$}", s.asHolder(s.holderHome))
	s.mux.Handle("GET /me/panic", s.asHolder(s.panicForm))
	s.mux.Handle("POST /me/panic", s.asHolder(s.panicLock))
	s.mux.Handle("GET /me/receipt", s.asHolder(s.receipt))
	s.securityRoutes()
	s.appealRoutes()
	s.historyRoutes()
}

// holderLogin turns a sign-in link into a session. A link works once:
// it is marked used in the store (atomically, so a second use, on this
// node or another sharing the store, is refused) before the session
// starts. The session's cookie is a fresh random id, so the link itself
// never becomes a credential again.
func (s *Server) holderLogin(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	now := s.now()
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
	if err := s.startPageSession(w, r, holdfast.SiteHolder, c.Account, 0, exp); err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "web: starting a Security Center session failed", "err", err)
		http.Error(w, "Something went wrong. Please try again.", http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, "/me/", http.StatusSeeOther)
}

// signinPage is what the sign-in page says: Used when the link was used
// before.
type signinPage struct{ Used bool }

// holderLogout ends the session on the server, so that the cookie is
// refused from then on, on every node, whoever kept a copy.
func (s *Server) holderLogout(w http.ResponseWriter, r *http.Request) {
	if err := s.endPageSession(w, r, holdfast.SiteHolder); err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "web: ending a Security Center session failed", "err", err)
		http.Error(w, "Signing out failed. Please try again.", http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, "/me/", http.StatusSeeOther)
}

// asHolder runs h for a signed-in holder, or answers as notSignedIn
// does (holder_emergency.go).
func (s *Server) asHolder(h func(w http.ResponseWriter, r *http.Request, account string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ps := s.pageSession(r, holdfast.SiteHolder)
		if ps == nil {
			s.notSignedIn(w, r)
			return
		}
		ctx := context.WithValue(context.WithValue(r.Context(), holderKey{}, ps.Subject), holderSessionKey{}, ps)
		h(w, r.WithContext(ctx), ps.Subject)
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
		s.renderHolder(w, r, account, http.StatusUnprocessableEntity, s.homeScreen(), holderErrorText(err))
		return
	}
	http.Redirect(w, r, s.withReceipt(flashURL("/me/", "panic_lock"), a.Entry), http.StatusSeeOther)
}
