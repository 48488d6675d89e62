package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/backtest"
	"github.com/holdfast/holdfast/policy"
)

// The policy's versions as governed releases (issue 20): every staff
// member may read the versions, their activations, a version's YAML and
// what one version changes against another; members of compliance and
// admin see the forms to ask for an activation (or a rollback), approve or
// reject one, and start or stop shadowing a version. The engine decides
// every change (four eyes included): these handlers only call it as the
// signed-in member and say its refusals in words.

func (s *Server) policyRoutes() {
	s.mux.Handle("GET /console/policy", s.asStaff(s.consolePolicy))
	s.mux.Handle("GET /console/policy/diff", s.asStaff(s.consolePolicyDiff))
	s.mux.Handle("GET /console/policy/version", s.asStaff(s.consolePolicyVersion))
	s.mux.Handle("POST /console/policy/activate", s.asStaff(s.consolePolicyActivate))
	s.mux.Handle("POST /console/policy/activations/{id}/decide", s.asStaff(s.consolePolicyDecide))
	s.mux.Handle("POST /console/policy/shadow", s.asStaff(s.consolePolicyShadow))
	s.mux.Handle("POST /console/policy/push", s.asStaff(s.consolePolicyPush))
}

// maxPolicyUpload bounds a pushed policy file and its form.
const maxPolicyUpload = 2 << 20

// consolePolicyPush stores an uploaded policy file as a draft version;
// a file that does not validate is refused with its first problem, line
// and field.
func (s *Server) consolePolicyPush(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember) {
	r.Body = http.MaxBytesReader(w, r.Body, maxPolicyUpload)
	var (
		yml []byte
		err error
	)
	if err = r.ParseMultipartForm(maxPolicyUpload); err != nil {
		err = userError("file", "The file could not be read, or is larger than 2 MiB.")
	} else {
		defer r.MultipartForm.RemoveAll()
		f, _, ferr := r.FormFile("file")
		if ferr != nil {
			err = userError("file", "Choose the policy file (YAML) to push.")
		} else {
			yml, err = io.ReadAll(f)
			f.Close()
		}
	}
	var v *holdfast.PolicyVersion
	if err == nil {
		v, err = s.cfg.Engine.PushPolicy(r.Context(), actor, yml, strings.TrimSpace(r.FormValue("comment")))
	}
	if err != nil {
		s.cfg.Logger.WarnContext(r.Context(), "web: console policy push refused", "staff", m.ID, "err", err)
		text, status := policyRefused(actor, err, false)
		s.showPolicy(w, r, actor, m, text, status)
		return
	}
	s.cfg.Logger.InfoContext(r.Context(), "web: console policy pushed", "staff", m.ID, "version", v.Hash)
	http.Redirect(w, r, policyURL("policy_pushed"), http.StatusSeeOther)
}

// policyRoles may change the policy: the engine's rule (engine/policy.go),
// used here only to decide which forms to show.
var policyRoles = []holdfast.Role{holdfast.RoleCompliance, holdfast.RoleAdmin}

// recentDecisions bounds the decided activations listed.
const recentDecisions = 10

// policyView is the policy page's data.
type policyView struct {
	// Me is the signed-in member's id (to mark their own requests).
	Me string
	// MayGovern shows the change forms.
	MayGovern bool
	Active    *holdfast.PolicyVersion
	Versions  []*holdfast.PolicyVersion
	Pending   []*holdfast.PolicyActivation
	Decided   []*holdfast.PolicyActivation
}

func (s *Server) loadPolicy(ctx context.Context, actor holdfast.Actor) (*policyView, error) {
	eng := s.cfg.Engine
	v := &policyView{Me: actor.ID, MayGovern: actor.HasAnyRole(policyRoles)}
	var err error
	if v.Versions, err = eng.PolicyVersions(ctx); err != nil {
		return v, err
	}
	for _, pv := range v.Versions {
		if pv.State == holdfast.PolicyActive {
			v.Active = pv
		}
	}
	all, err := eng.PolicyActivations(ctx, false)
	if err != nil {
		return v, err
	}
	for _, a := range all {
		switch {
		case a.State == holdfast.ActivationPending:
			v.Pending = append(v.Pending, a)
		case len(v.Decided) < recentDecisions:
			v.Decided = append(v.Decided, a)
		}
	}
	return v, nil
}

func (s *Server) consolePolicy(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember) {
	s.showPolicy(w, r, actor, m, "", 0)
}

// showPolicy renders the policy page; failed, when set, is why a form was
// refused, in words, answered with failedStatus.
func (s *Server) showPolicy(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember, failed string, failedStatus int) {
	p := newPage(r, m, nil)
	status := http.StatusOK
	v, err := s.loadPolicy(r.Context(), actor)
	if err != nil {
		status, p.Error = statusOf(err), errorText(err)
	}
	if failed != "" {
		status, p.Error, p.Done = failedStatus, failed, ""
	}
	p.Data = v
	s.render(w, r, status, "console/policy", p)
}

// policyRefused is what the page says of a refused change, and its status.
// decide marks a refused approval or rejection: a member of compliance or
// admin is refused one only when they asked for the activation themselves.
func policyRefused(actor holdfast.Actor, err error, decide bool) (string, int) {
	if holdfast.ErrorCode(err) == holdfast.PermissionDenied {
		if !actor.HasAnyRole(policyRoles) {
			return "Only members of compliance or admin may change the policy; you may look at its versions and what they change.", http.StatusForbidden
		}
		if decide {
			return "You asked for this activation: another member of compliance or admin must approve or reject it.", http.StatusForbidden
		}
	}
	return errorText(err), statusOf(err)
}

// policyURL is the policy page with a confirmation code.
func policyURL(done string) string {
	return withDone(&url.URL{Path: "/console/policy"}, done)
}

func (s *Server) consolePolicyActivate(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember) {
	hash, reason, rollback := r.FormValue("version"), r.FormValue("reason"), r.FormValue("rollback") == "yes"
	err := required("reason", reason, "A reason")
	var a *holdfast.PolicyActivation
	if err == nil {
		a, err = s.cfg.Engine.RequestPolicyActivation(r.Context(), actor, hash, reason, rollback)
	}
	if err != nil {
		s.cfg.Logger.WarnContext(r.Context(), "web: console policy activation refused", "staff", m.ID, "version", hash, "err", err)
		text, status := policyRefused(actor, err, false)
		s.showPolicy(w, r, actor, m, text, status)
		return
	}
	s.cfg.Logger.InfoContext(r.Context(), "web: console policy activation requested", "staff", m.ID, "version", a.Hash, "activation", a.ID, "rollback", rollback)
	done := "policy_requested"
	if rollback {
		done = "rollback_requested"
	}
	http.Redirect(w, r, policyURL(done), http.StatusSeeOther)
}

func (s *Server) consolePolicyDecide(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember) {
	id, reason := r.PathValue("id"), r.FormValue("reason")
	var approve bool
	var err error
	switch r.FormValue("decision") {
	case "approve":
		approve = true
	case "reject":
		err = required("reason", reason, "A reason to reject")
	default:
		err = holdfast.Errorf(holdfast.InvalidArgument, "decision", "Choose Approve or Reject.")
	}
	var a *holdfast.PolicyActivation
	if err == nil {
		a, err = s.cfg.Engine.DecidePolicyActivation(r.Context(), actor, id, approve, reason)
	}
	if err != nil {
		s.cfg.Logger.WarnContext(r.Context(), "web: console policy decision refused", "staff", m.ID, "activation", id, "err", err)
		text, status := policyRefused(actor, err, true)
		s.showPolicy(w, r, actor, m, text, status)
		return
	}
	s.cfg.Logger.InfoContext(r.Context(), "web: console policy decision", "staff", m.ID, "activation", id, "version", a.Hash, "state", a.State)
	done := "policy_rejected"
	if approve {
		done = "policy_approved"
	}
	http.Redirect(w, r, policyURL(done), http.StatusSeeOther)
}

func (s *Server) consolePolicyShadow(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember) {
	hash, reason := r.FormValue("version"), r.FormValue("reason")
	stop := r.FormValue("stop") == "yes"
	var err error
	if stop {
		hash = ""
	} else if strings.TrimSpace(hash) == "" {
		err = holdfast.Errorf(holdfast.InvalidArgument, "version", "Choose a version to shadow.")
	}
	if err == nil {
		err = s.cfg.Engine.SetPolicyShadow(r.Context(), actor, hash, reason)
	}
	if err != nil {
		s.cfg.Logger.WarnContext(r.Context(), "web: console policy shadow refused", "staff", m.ID, "version", hash, "err", err)
		text, status := policyRefused(actor, err, false)
		s.showPolicy(w, r, actor, m, text, status)
		return
	}
	s.cfg.Logger.InfoContext(r.Context(), "web: console policy shadow", "staff", m.ID, "version", hash)
	done := "shadow_started"
	if stop {
		done = "shadow_stopped"
	}
	http.Redirect(w, r, policyURL(done), http.StatusSeeOther)
}

// diffView is the comparison page's data.
type diffView struct {
	Versions []*holdfast.PolicyVersion
	// From and To are the refs asked for ("" in From: the active version).
	From, To string
	A, B     *holdfast.PolicyVersion
	Groups   []changeGroup
	Compared bool
}

// changeGroup is the changes to one top-level section of the policy file.
type changeGroup struct {
	Section string
	Changes []policy.Change
}

// section is the top-level key of a change's path ("rules", "kinds", …).
func section(path string) string {
	if i := strings.IndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return path
}

func groupChanges(cs []policy.Change) []changeGroup {
	var gs []changeGroup
	at := map[string]int{}
	for _, c := range cs {
		sec := section(c.Path)
		i, ok := at[sec]
		if !ok {
			i = len(gs)
			at[sec] = i
			gs = append(gs, changeGroup{Section: sec})
		}
		gs[i].Changes = append(gs[i].Changes, c)
	}
	return gs
}

func (s *Server) consolePolicyDiff(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember) {
	ctx := r.Context()
	p := newPage(r, m, nil)
	q := r.URL.Query()
	v := &diffView{From: strings.TrimSpace(q.Get("from")), To: strings.TrimSpace(q.Get("to"))}
	p.Data = v
	status := http.StatusOK
	var err error
	if v.Versions, err = s.cfg.Engine.PolicyVersions(ctx); err != nil {
		p.Error = errorText(err)
		s.render(w, r, statusOf(err), "console/policy_diff", p)
		return
	}
	if v.To == "" {
		// By default the newest version that is not active: what an
		// activation would change.
		for _, pv := range v.Versions {
			if pv.State != holdfast.PolicyActive {
				v.To = pv.Hash
				break
			}
		}
	}
	if v.To != "" {
		var cs []policy.Change
		v.A, v.B, cs, err = s.cfg.Engine.DiffPolicies(ctx, v.From, v.To)
		if err != nil {
			status, p.Error = statusOf(err), errorText(err)
		} else {
			v.Compared, v.Groups = true, groupChanges(cs)
		}
	}
	s.render(w, r, status, "console/policy_diff", p)
}

func (s *Server) consolePolicyVersion(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember) {
	p := newPage(r, m, nil)
	pv, err := s.cfg.Engine.PolicyVersion(r.Context(), strings.TrimSpace(r.URL.Query().Get("v")))
	if err != nil {
		p.Error = errorText(err)
		s.render(w, r, statusOf(err), "console/policy_version", p)
		return
	}
	v := &versionView{PolicyVersion: pv}
	// The backtest its push started, against the version then active.
	if _, bt, err := s.cfg.Engine.PolicyBacktest(r.Context(), pv.Hash); err == nil {
		v.Backtest = bt
		if len(bt.Report) > 0 {
			var rep backtest.Report
			if json.Unmarshal(bt.Report, &rep) == nil {
				v.BacktestReport = &rep
			}
		}
	}
	// What the version did in the shadow of the active one, if it ever
	// ran there: counts by rule and the newest events.
	if _, counts, recent, err := s.cfg.Engine.ShadowReport(r.Context(), pv.Hash, time.Time{}, 20); err == nil {
		v.ShadowCounts, v.ShadowRecent = counts, recent
	}
	p.Data = v
	s.render(w, r, http.StatusOK, "console/policy_version", p)
}

// versionView is a version with what its shadow runs found.
type versionView struct {
	*holdfast.PolicyVersion
	ShadowCounts   []holdfast.ShadowCount
	ShadowRecent   []*holdfast.ShadowOutcome
	Backtest       *holdfast.PolicyBacktest
	BacktestReport *backtest.Report
}
