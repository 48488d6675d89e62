package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/holdfast/holdfast"
)

// The Console's account lookup: what restricts an account now, its full
// history and audit-chain status, its cases, and the forms to apply, lift
// and extend restrictions. Everything shown comes from the engine as the
// signed-in staff member may see it (a law-enforcement hold's reason and
// reference stay hidden from roles without see_reason).

func (s *Server) accountRoutes() {
	s.mux.Handle("GET /console/account", s.asStaff(s.consoleAccount))
	s.mux.Handle("POST /console/account/apply", s.asStaff(s.consoleApply))
	s.mux.Handle("POST /console/account/lift", s.asStaff(s.consoleLift))
	s.mux.Handle("POST /console/account/extend", s.asStaff(s.consoleExtend))
}

// accountView is the account page's data.
type accountView struct {
	ID      string
	Active  []*holdfast.Restriction
	History []holdfast.AuditEntry
	Audit   *holdfast.AuditReport
	Cases   []*holdfast.Case
	// Pending maps a restriction to the four-eyes request waiting to lift
	// or extend it (among those the staff member may see).
	Pending map[string]*holdfast.Approval
	Kinds   []holdfast.Kind
	Form    applyForm
}

// applyForm is the apply form's input, kept to fill the form again after
// a refusal.
type applyForm struct {
	Kind, Duration, Reason, Reference string
	Disclose                          bool
}

func (s *Server) loadAccount(ctx context.Context, id string, actor holdfast.Actor) (*accountView, error) {
	// VerifyAudit with no account checks every chain: never let an empty
	// id get there.
	if err := holdfast.ValidateID("account", id); err != nil {
		return nil, err
	}
	eng := s.cfg.Engine
	v := &accountView{ID: id, Kinds: holdfast.Kinds, Pending: map[string]*holdfast.Approval{}}
	var err error
	if v.Active, err = eng.List(ctx, holdfast.RestrictionFilter{Account: id, ActiveAt: eng.Now()}, actor); err != nil {
		return nil, err
	}
	if v.History, err = eng.History(ctx, id, actor); err != nil {
		return nil, err
	}
	if v.Audit, err = eng.VerifyAudit(ctx, id); err != nil {
		return nil, err
	}
	if v.Cases, err = eng.Cases(ctx, holdfast.CaseFilter{Account: id}, actor); err != nil {
		return nil, err
	}
	approvals, err := eng.Approvals(ctx, actor)
	if err != nil {
		return nil, err
	}
	for _, a := range approvals {
		if a.Account == id {
			v.Pending[a.Restriction] = a
		}
	}
	return v, nil
}

func (s *Server) consoleAccount(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember) {
	id := strings.TrimSpace(r.URL.Query().Get("id"))
	if id == "" {
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
		return
	}
	s.showAccount(w, r, actor, m, id, nil, applyForm{})
}

// showAccount renders the account page; failed, when set, is why a form
// was refused (status 422).
func (s *Server) showAccount(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember, id string, failed error, form applyForm) {
	p := newPage(r, m, nil)
	status := http.StatusOK
	v, err := s.loadAccount(r.Context(), id, actor)
	if err != nil {
		status, p.Error = statusOf(err), errorText(err)
		v = &accountView{ID: id, Kinds: holdfast.Kinds}
	}
	if failed != nil {
		status, p.Error, p.Done = http.StatusUnprocessableEntity, errorText(failed), ""
	}
	v.Form = form
	p.Data = v
	s.render(w, r, status, "console/account", p)
}

// accountURL is the account page, with a confirmation code.
func accountURL(id, done string) string {
	return withDone(&url.URL{Path: "/console/account", RawQuery: url.Values{"id": {id}}.Encode()}, done)
}

// required refuses a blank form field.
func required(field, value, what string) error {
	if strings.TrimSpace(value) == "" {
		return holdfast.Errorf(holdfast.InvalidArgument, field, "%s is required.", what)
	}
	return nil
}

func (s *Server) consoleApply(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember) {
	id := r.FormValue("id")
	f := applyForm{Kind: r.FormValue("kind"), Duration: strings.TrimSpace(r.FormValue("duration")), Reason: r.FormValue("reason"), Reference: strings.TrimSpace(r.FormValue("reference")), Disclose: r.FormValue("disclose") == "yes"}
	rst, err := s.apply(r.Context(), id, f, actor)
	if err != nil {
		s.showAccount(w, r, actor, m, id, err, f)
		return
	}
	s.cfg.Logger.InfoContext(r.Context(), "web: console apply", "staff", m.ID, "account", id, "kind", rst.Kind, "restriction", rst.ID)
	http.Redirect(w, r, accountURL(id, "applied"), http.StatusSeeOther)
}

func (s *Server) apply(ctx context.Context, id string, f applyForm, actor holdfast.Actor) (*holdfast.Restriction, error) {
	if err := required("reason", f.Reason, "A reason"); err != nil {
		return nil, err
	}
	var d holdfast.Duration
	if f.Duration != "" {
		var err error
		if d, err = holdfast.ParseDuration(f.Duration); err != nil {
			return nil, err
		}
	}
	kind := holdfast.Kind(f.Kind)
	// As the API does: a kind that needs the authority's reference is
	// refused without it; whoever may not apply the kind at all hears
	// that from the engine instead.
	if kp := s.cfg.Engine.Policy().Kind(kind); kp != nil && kp.RequireReference && f.Reference == "" && actor.HasAnyRole(kp.Apply) {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "reference", "a %s needs the authority's reference", kind)
	}
	req := holdfast.ApplyRequest{Account: id, Kind: kind, Duration: d, Reason: f.Reason, Reference: f.Reference, Actor: actor}
	if f.Disclose {
		yes := true
		req.Disclose = &yes
	}
	return s.cfg.Engine.Apply(ctx, req)
}

func (s *Server) consoleLift(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember) {
	id, rid, reason := r.FormValue("id"), r.FormValue("restriction"), r.FormValue("reason")
	err := required("reason", reason, "A reason")
	var res *holdfast.LiftResult
	if err == nil {
		res, err = s.cfg.Engine.Lift(r.Context(), holdfast.LiftRequest{Target: holdfast.Target{Account: id, Restriction: rid}, Reason: reason, Actor: actor})
	}
	if err != nil {
		s.showAccount(w, r, actor, m, id, err, applyForm{})
		return
	}
	if res.Pending != nil {
		s.cfg.Logger.InfoContext(r.Context(), "web: console lift requested", "staff", m.ID, "account", id, "restriction", rid, "approval", res.Pending.ID)
		http.Redirect(w, r, accountURL(id, "lift_requested"), http.StatusSeeOther)
		return
	}
	s.cfg.Logger.InfoContext(r.Context(), "web: console lift", "staff", m.ID, "account", id, "restriction", rid)
	http.Redirect(w, r, accountURL(id, "lifted"), http.StatusSeeOther)
}

func (s *Server) consoleExtend(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember) {
	id, rid, reason := r.FormValue("id"), r.FormValue("restriction"), r.FormValue("reason")
	err := required("reason", reason, "A reason")
	var by holdfast.Duration
	if err == nil {
		if err = required("by", r.FormValue("by"), "A duration to add"); err == nil {
			by, err = holdfast.ParseDuration(strings.TrimSpace(r.FormValue("by")))
		}
	}
	var res *holdfast.ExtendResult
	if err == nil {
		res, err = s.cfg.Engine.Extend(r.Context(), holdfast.ExtendRequest{Target: holdfast.Target{Account: id, Restriction: rid}, By: by, Reason: reason, Actor: actor})
	}
	if err != nil {
		s.showAccount(w, r, actor, m, id, err, applyForm{})
		return
	}
	if res.Pending != nil {
		s.cfg.Logger.InfoContext(r.Context(), "web: console extension requested", "staff", m.ID, "account", id, "restriction", rid, "by", by.String(), "approval", res.Pending.ID)
		http.Redirect(w, r, accountURL(id, "extend_requested"), http.StatusSeeOther)
		return
	}
	s.cfg.Logger.InfoContext(r.Context(), "web: console extend", "staff", m.ID, "account", id, "restriction", rid, "by", by.String(), "reason", reason)
	http.Redirect(w, r, accountURL(id, "extended"), http.StatusSeeOther)
}

// statusOf is the HTTP status a page answers for an engine error.
func statusOf(err error) int {
	switch holdfast.ErrorCode(err) {
	case holdfast.NotFound:
		return http.StatusNotFound
	case holdfast.PermissionDenied:
		return http.StatusForbidden
	case holdfast.InvalidArgument, holdfast.FailedPrecondition, holdfast.Conflict, holdfast.Immutable:
		return http.StatusUnprocessableEntity
	}
	return http.StatusInternalServerError
}
