package web

import (
	"net/http"
	"net/url"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
)

// The Console. Staff sign in with their password (argon2id) and a TOTP
// code, which works once; the session lives in the store (session.go),
// ends after StaffIdle without a request and StaffSession in all, and its
// HttpOnly, SameSite=Strict cookie carries only its random id. The staff
// member's roles are read afresh on every request (a role taken away
// takes effect at once).

const staffCookie = "hf_staff"

func (s *Server) consoleRoutes() {
	s.mux.HandleFunc("GET /console/login", s.consoleLoginForm)
	s.mux.HandleFunc("POST /console/login", s.consoleLogin)
	s.mux.HandleFunc("POST /console/logout", s.consoleLogout)
	s.mux.Handle("GET /console/{$}", s.asStaff(s.consoleHome))
	s.accountRoutes()
	s.approvalRoutes()
	s.caseRoutes()
	s.outboxRoutes()
	s.policyRoutes()
}

// consolePage is what every Console page gets.
type consolePage struct {
	Staff *holdfast.StaffMember
	Done  string
	Error string
	Data  any
}

// consoleDone says in words what a ?done= code reports (codes only travel in
// the query string; an unknown one is shown as is).
var consoleDone = map[string]string{
	"applied":            "Restriction applied.",
	"lifted":             "Restriction lifted.",
	"lift_requested":     "Lift requested. This kind needs four eyes: a second, different staff member must approve it in Approvals before it ends.",
	"extended":           "Restriction extended.",
	"extend_requested":   "Extension requested. It passes the policy's bound on a panic lock, so a second, different staff member must approve it in Approvals before the end moves.",
	"approved":           "Approved: the restriction is lifted, or its end moved as asked.",
	"noted":              "Note added.",
	"assigned":           "Case assigned.",
	"decided":            "Case decided.",
	"redriven":           "Command put back in line for delivery.",
	"policy_requested":   "Activation requested. Another member of compliance or admin must approve it below before the policy changes.",
	"rollback_requested": "Rollback requested. Another member of compliance or admin must approve it below before the policy changes.",
	"policy_approved":    "Approved: the version is now the active policy. Servers sharing the store follow within a second.",
	"policy_rejected":    "Activation rejected: the policy in force stays as it was.",
	"shadow_started":     "Shadowing started: the version is tried on live events beside the active policy, never enforced.",
	"policy_pushed":      "Version stored as a draft: compare it, shadow it, or ask for its activation below.",
	"shadow_stopped":     "Shadowing stopped.",
}

// DoneText is the page's confirmation, if any.
func (p *consolePage) DoneText() string {
	if p.Done == "" {
		return ""
	}
	if t, ok := consoleDone[p.Done]; ok {
		return t
	}
	return "Done: " + p.Done + "."
}

// newPage starts a Console page for m, with the confirmation the query
// string carries.
func newPage(r *http.Request, m *holdfast.StaffMember, data any) *consolePage {
	return &consolePage{Staff: m, Done: r.URL.Query().Get("done"), Data: data}
}

// withDone adds ?done=code (or &done=code) to a Console URL.
func withDone(u *url.URL, code string) string {
	q := u.Query()
	q.Set("done", code)
	u.RawQuery = q.Encode()
	return u.String()
}

func (s *Server) consoleLoginForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "console/login", nil)
}

// passwordRefused is the password form's one answer for every refused
// sign-in, a replayed code's too.
const passwordRefused = signInRefused + " A code works once: after signing in with one, wait for the next."

func (s *Server) consoleLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, password, code := r.FormValue("staff"), r.FormValue("password"), r.FormValue("code")
	now := s.now()
	if !s.signins.take(id, now) {
		s.cfg.Logger.WarnContext(r.Context(), "web: console sign-in locked out", "staff", id)
		s.render(w, r, http.StatusTooManyRequests, "console/login", map[string]string{"Error": "Too many attempts. Try again in 15 minutes."})
		return
	}
	m, err := s.cfg.Staff.Staff(ctx, id)
	ok := err == nil && m.Active() && m.PasswordHash != "" && m.TOTPSecret != "" && CheckPassword(m.PasswordHash, password)
	var step int64
	if ok {
		step, ok = totpStep(m.TOTPSecret, code, now)
	}
	if ok {
		// A code works once, on every node sharing the store: one read
		// over a shoulder or from a proxy's log is refused.
		switch err := s.cfg.Staff.UseTOTPStep(ctx, m.ID, step); {
		case holdfast.ErrorCode(err) == holdfast.Unauthenticated:
			s.cfg.Logger.WarnContext(ctx, "web: a used Console code was tried again", "staff", id)
			ok = false
		case err != nil:
			s.cfg.Logger.ErrorContext(ctx, "web: recording a Console code failed", "staff", id, "err", err)
			http.Error(w, "Something went wrong. Please try again.", http.StatusInternalServerError)
			return
		}
	}
	// One answer for every failure: which part was wrong is an attacker's
	// help.
	if !ok {
		s.cfg.Logger.WarnContext(ctx, "web: console sign-in refused", "staff", id)
		s.render(w, r, http.StatusUnauthorized, "console/login", map[string]string{"Error": passwordRefused})
		return
	}
	s.signins.succeeded(id)
	if !s.startSession(w, r, m) {
		return
	}
	s.cfg.Logger.InfoContext(ctx, "web: console sign-in", "staff", m.ID)
	http.Redirect(w, r, "/console/", http.StatusSeeOther)
}

// startSession signs m in: a session in the store and its cookie. Whoever
// calls it has authenticated m. On false it has answered the request.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, m *holdfast.StaffMember) bool {
	if err := s.startPageSession(w, r, holdfast.SiteStaff, m.ID, s.cfg.StaffIdle, s.now().Add(s.cfg.StaffSession)); err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "web: starting a Console session failed", "staff", m.ID, "err", err)
		http.Error(w, "Something went wrong. Please try again.", http.StatusInternalServerError)
		return false
	}
	return true
}

// consoleLogout ends the session on the server, so that the cookie is
// refused from then on, on every node, whoever kept a copy.
func (s *Server) consoleLogout(w http.ResponseWriter, r *http.Request) {
	if err := s.endPageSession(w, r, holdfast.SiteStaff); err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "web: ending a Console session failed", "err", err)
		http.Error(w, "Signing out failed. Please try again.", http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

// asStaff runs h for a signed-in staff member (the actor carries their
// current roles), or sends them to sign in.
func (s *Server) asStaff(h func(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ps := s.pageSession(r, holdfast.SiteStaff)
		if ps == nil {
			http.Redirect(w, r, "/console/login", http.StatusSeeOther)
			return
		}
		// Read on every request: a member disabled or removed is signed
		// out at once, on every node.
		m, err := s.cfg.Staff.Staff(r.Context(), ps.Subject)
		if err != nil || !m.Active() {
			http.Redirect(w, r, "/console/login", http.StatusSeeOther)
			return
		}
		h(w, r, holdfast.Actor{Type: holdfast.ActorStaff, ID: m.ID, Roles: m.Roles}, m)
	})
}

type consoleHomeData struct {
	RuleErrors []engine.RuleError
}

func (s *Server) consoleHome(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember) {
	// Rules that fail to evaluate stop nothing, so staff are told here
	// rather than by failed events.
	s.render(w, r, http.StatusOK, "console/home", newPage(r, m, consoleHomeData{RuleErrors: s.cfg.Engine.RuleErrors()}))
}
