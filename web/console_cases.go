package web

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/blob"
)

// The case queue (undecided cases, overdue first, as the engine orders
// them), a case's page with its timeline and evidence, and the forms to
// add a note, assign and decide.

func (s *Server) caseRoutes() {
	s.mux.Handle("GET /console/cases", s.asStaff(s.consoleCases))
	s.mux.Handle("GET /console/cases/{id}", s.asStaff(s.consoleCase))
	s.mux.Handle("GET /console/cases/{id}/evidence/{sha256}", s.asStaff(s.consoleEvidence))
	s.mux.Handle("POST /console/cases/{id}/note", s.asStaff(s.consoleNote))
	s.mux.Handle("POST /console/cases/{id}/assign", s.asStaff(s.consoleAssign))
	s.mux.Handle("POST /console/cases/{id}/decide", s.asStaff(s.consoleDecide))
}

// queueView is the case queue's data.
type queueView struct {
	Now   time.Time
	Cases []*holdfast.Case
}

func (s *Server) consoleCases(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember) {
	p := newPage(r, m, nil)
	status := http.StatusOK
	cs, err := s.cfg.Engine.Cases(r.Context(), holdfast.CaseFilter{Open: true}, actor)
	if err != nil {
		status, p.Error = statusOf(err), errorText(err)
	}
	p.Data = &queueView{Now: s.cfg.Engine.Now(), Cases: cs}
	s.render(w, r, status, "console/cases", p)
}

// caseView is a case page's data.
type caseView struct {
	Now  time.Time
	Case *holdfast.Case
	// Linked are the linked restrictions as the staff member may see
	// them (nil where one could not be read).
	Linked []*holdfast.Restriction
	Form   decideForm
}

// decideForm is the decision form's input, kept after a refusal.
type decideForm struct {
	Decision, Reason, Asset, Amount, Note, Assignee string
}

// KeepHeld reports whether the case can keep an amount held.
func (v *caseView) KeepHeld() bool {
	return v.Case != nil && v.Case.Type == holdfast.CaseSourceOfFunds
}

func (s *Server) consoleCase(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember) {
	s.showCase(w, r, actor, m, nil, decideForm{})
}

func (s *Server) showCase(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember, failed error, form decideForm) {
	ctx := r.Context()
	p := newPage(r, m, nil)
	v := &caseView{Now: s.cfg.Engine.Now(), Form: form}
	p.Data = v
	c, err := s.cfg.Engine.Case(ctx, r.PathValue("id"), actor)
	if err != nil {
		p.Error = errorText(err)
		s.render(w, r, statusOf(err), "console/case", p)
		return
	}
	v.Case = c
	for _, id := range c.Restrictions {
		rst, err := s.cfg.Engine.Get(ctx, id, actor)
		if err != nil {
			rst = &holdfast.Restriction{ID: id}
		}
		v.Linked = append(v.Linked, rst)
	}
	status := http.StatusOK
	if failed != nil {
		status, p.Error, p.Done = http.StatusUnprocessableEntity, errorText(failed), ""
	}
	s.render(w, r, status, "console/case", p)
}

// caseURL is a case's page, with a confirmation code.
func caseURL(id, done string) string {
	return withDone(&url.URL{Path: "/console/cases/" + url.PathEscape(id)}, done)
}

func (s *Server) consoleNote(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember) {
	id, text := r.PathValue("id"), r.FormValue("text")
	_, err := s.cfg.Engine.AddCaseEntry(r.Context(), holdfast.CaseEntryRequest{Case: id, Type: holdfast.EntryNote, Text: text, Actor: actor})
	if err != nil {
		s.showCase(w, r, actor, m, err, decideForm{Note: text})
		return
	}
	http.Redirect(w, r, caseURL(id, "noted"), http.StatusSeeOther)
}

func (s *Server) consoleAssign(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember) {
	id, staff := r.PathValue("id"), strings.TrimSpace(r.FormValue("staff"))
	_, err := s.cfg.Engine.AssignCase(r.Context(), id, staff, actor)
	if err != nil {
		s.showCase(w, r, actor, m, err, decideForm{Assignee: staff})
		return
	}
	s.cfg.Logger.InfoContext(r.Context(), "web: console case assigned", "staff", m.ID, "case", id, "assignee", staff)
	http.Redirect(w, r, caseURL(id, "assigned"), http.StatusSeeOther)
}

func (s *Server) consoleDecide(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember) {
	id := r.PathValue("id")
	f := decideForm{Decision: r.FormValue("decision"), Reason: r.FormValue("reason"), Asset: strings.TrimSpace(r.FormValue("keep_asset")), Amount: strings.TrimSpace(r.FormValue("keep_amount"))}
	req := holdfast.DecideCaseRequest{Case: id, Decision: holdfast.CaseDecision(f.Decision), Reason: f.Reason, Actor: actor}
	if f.Asset != "" || f.Amount != "" {
		req.KeepHeld = &holdfast.AmountHold{Asset: f.Asset, Amount: f.Amount}
	}
	err := required("reason", f.Reason, "A reason")
	if err == nil {
		_, err = s.cfg.Engine.DecideCase(r.Context(), req)
	}
	if err != nil {
		s.showCase(w, r, actor, m, err, f)
		return
	}
	s.cfg.Logger.InfoContext(r.Context(), "web: console case decided", "staff", m.ID, "case", id, "decision", f.Decision)
	http.Redirect(w, r, caseURL(id, "decided"), http.StatusSeeOther)
}

// consoleEvidence streams one of a case's files to staff who may see the
// case. The file is served inline with its recorded type; the page
// headers (nosniff, the CSP) still apply.
func (s *Server) consoleEvidence(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember) {
	ctx := r.Context()
	c, err := s.cfg.Engine.Case(ctx, r.PathValue("id"), actor)
	if err != nil {
		http.Error(w, errorText(err), statusOf(err))
		return
	}
	sum := r.PathValue("sha256")
	var ref *holdfast.EvidenceRef
	for _, en := range c.Entries {
		if en.Evidence != nil && en.Evidence.SHA256 == sum {
			ref = en.Evidence
			break
		}
	}
	if ref == nil || s.cfg.Evidence == nil {
		http.Error(w, "No such file on this case.", http.StatusNotFound)
		return
	}
	f, err := s.cfg.Evidence.Open(ctx, sum)
	if errors.Is(err, blob.ErrNotFound) {
		http.Error(w, "The file is no longer stored.", http.StatusNotFound)
		return
	}
	if err != nil {
		s.cfg.Logger.ErrorContext(ctx, "web: evidence open failed", "case", c.ID, "sha256", sum, "err", err)
		http.Error(w, "The file could not be read.", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	ct := ref.ContentType
	if _, _, err := mime.ParseMediaType(ct); err != nil || ct == "" {
		ct = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	disp := mime.FormatMediaType("inline", map[string]string{"filename": ref.Name})
	if disp == "" {
		disp = "inline"
	}
	h.Set("Content-Disposition", disp)
	h.Set("X-Content-Type-Options", "nosniff")
	s.cfg.Logger.InfoContext(ctx, "web: console evidence viewed", "staff", m.ID, "case", c.ID, "sha256", sum)
	if _, err := io.Copy(w, f); err != nil {
		s.cfg.Logger.WarnContext(ctx, "web: evidence stream failed", "case", c.ID, "err", err)
	}
}
