package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
)

// The Console. Staff sign in with their password (argon2id) and a TOTP
// code; the session is a signed, HttpOnly, SameSite=Strict cookie naming
// the staff member, whose roles are read afresh on every request (a role
// taken away takes effect at once).

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
	"applied":          "Restriction applied.",
	"lifted":           "Restriction lifted.",
	"lift_requested":   "Lift requested. This kind needs four eyes: a second, different staff member must approve it in Approvals before it ends.",
	"extended":         "Restriction extended.",
	"extend_requested": "Extension requested. It passes the policy's bound on a panic lock, so a second, different staff member must approve it in Approvals before the end moves.",
	"approved":         "Approved: the restriction is lifted, or its end moved as asked.",
	"noted":            "Note added.",
	"assigned":         "Case assigned.",
	"decided":          "Case decided.",
	"redriven":         "Command put back in line for delivery.",
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

func (s *Server) consoleLogin(w http.ResponseWriter, r *http.Request) {
	id, password, code := r.FormValue("staff"), r.FormValue("password"), r.FormValue("code")
	if !s.signins.take(id, time.Now()) {
		s.cfg.Logger.WarnContext(r.Context(), "web: console sign-in locked out", "staff", id)
		s.render(w, r, http.StatusTooManyRequests, "console/login", map[string]string{"Error": "Too many attempts. Try again in 15 minutes."})
		return
	}
	m, err := s.cfg.Staff.Staff(r.Context(), id)
	// One answer for every failure: which part was wrong is an attacker's
	// help.
	if err != nil || !m.Active() || m.PasswordHash == "" || m.TOTPSecret == "" || !CheckPassword(m.PasswordHash, password) || !checkTOTP(m.TOTPSecret, code, time.Now()) {
		s.cfg.Logger.WarnContext(r.Context(), "web: console sign-in refused", "staff", id)
		s.render(w, r, http.StatusUnauthorized, "console/login", map[string]string{"Error": "Wrong staff id, password or code."})
		return
	}
	s.signins.succeeded(id)
	s.startSession(w, r, m)
	s.cfg.Logger.InfoContext(r.Context(), "web: console sign-in", "staff", m.ID)
	http.Redirect(w, r, "/console/", http.StatusSeeOther)
}

// startSession signs m in: it sets the session cookie. Whoever calls it has
// authenticated m.
func (s *Server) startSession(w http.ResponseWriter, _ *http.Request, m *holdfast.StaffMember) {
	body, _ := json.Marshal(staffClaims{Staff: m.ID, Expires: time.Now().Add(s.cfg.StaffSession).Unix()})
	http.SetCookie(w, &http.Cookie{Name: staffCookie, Value: sign(s.cfg.SessionKey, body), Path: "/console", MaxAge: int(s.cfg.StaffSession.Seconds()), HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
}

func (s *Server) consoleLogout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: staffCookie, Value: "", Path: "/console", MaxAge: -1, HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

// asStaff runs h for a signed-in staff member (the actor carries their
// current roles), or sends them to sign in.
func (s *Server) asStaff(h func(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(staffCookie)
		if err != nil {
			http.Redirect(w, r, "/console/login", http.StatusSeeOther)
			return
		}
		body, err := verify(s.cfg.SessionKey, ck.Value)
		var c staffClaims
		if err != nil || json.Unmarshal(body, &c) != nil || time.Now().Unix() >= c.Expires {
			http.Redirect(w, r, "/console/login", http.StatusSeeOther)
			return
		}
		// Read on every request: a member disabled or removed is signed
		// out at once, on every node.
		m, err := s.cfg.Staff.Staff(r.Context(), c.Staff)
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
