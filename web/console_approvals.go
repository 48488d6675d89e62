package web

import (
	"net/http"

	"github.com/holdfast/holdfast"
)

// The four-eyes queue: the pending lift requests the staff member may
// approve, and their own (which the engine will not let them approve).

func (s *Server) approvalRoutes() {
	s.mux.Handle("GET /console/approvals", s.asStaff(s.consoleApprovals))
	s.mux.Handle("POST /console/approvals/{id}/approve", s.asStaff(s.consoleApprove))
}

// approvalsView is the queue page's data.
type approvalsView struct {
	// Me is the signed-in actor's written form (to mark their own
	// requests).
	Me        string
	Approvals []*holdfast.Approval
}

func (s *Server) consoleApprovals(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember) {
	s.showApprovals(w, r, actor, m, nil)
}

func (s *Server) showApprovals(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember, failed error) {
	p := newPage(r, m, nil)
	status := http.StatusOK
	list, err := s.cfg.Engine.Approvals(r.Context(), actor)
	if err != nil {
		status, p.Error = statusOf(err), errorText(err)
	}
	if failed != nil {
		status, p.Error, p.Done = http.StatusUnprocessableEntity, errorText(failed), ""
	}
	p.Data = &approvalsView{Me: actor.String(), Approvals: list}
	s.render(w, r, status, "console/approvals", p)
}

func (s *Server) consoleApprove(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember) {
	id := r.PathValue("id")
	rst, err := s.cfg.Engine.Approve(r.Context(), id, actor)
	if err != nil {
		s.cfg.Logger.WarnContext(r.Context(), "web: console approval refused", "staff", m.ID, "approval", id, "err", err)
		s.showApprovals(w, r, actor, m, err)
		return
	}
	s.cfg.Logger.InfoContext(r.Context(), "web: console approval", "staff", m.ID, "approval", id, "restriction", rst.ID)
	http.Redirect(w, r, "/console/approvals?done=approved", http.StatusSeeOther)
}
