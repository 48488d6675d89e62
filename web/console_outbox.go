package web

import (
	"context"
	"net/http"
	"time"

	"github.com/holdfast/holdfast"
)

// Outbox is what the Console needs of the store's outbox: its dead
// letters, and putting one back in line. holdfast.OutboxStore satisfies
// it.
type Outbox interface {
	ListCommands(ctx context.Context, state holdfast.CommandState, limit int) ([]holdfast.Delivery, error)
	RedriveCommand(ctx context.Context, id string, at time.Time) error
}

var _ Outbox = holdfast.OutboxStore(nil)

// outboxRoles may watch and redrive deliveries (the API's rule,
// rpc/outbox.go).
var outboxRoles = []holdfast.Role{holdfast.RoleSupport, holdfast.RoleAdmin}

// deadLimit bounds the dead letters listed.
const deadLimit = 200

func (s *Server) outboxRoutes() {
	s.mux.Handle("GET /console/outbox", s.asStaff(s.consoleOutbox))
	s.mux.Handle("POST /console/outbox/{id}/redrive", s.asStaff(s.consoleRedrive))
}

// outboxView is the dead-letter page's data.
type outboxView struct {
	Configured bool
	Dead       []holdfast.Delivery
}

// mayOutbox refuses staff without an outbox role (403), or answers that
// the server has no outbox.
func (s *Server) mayOutbox(actor holdfast.Actor) error {
	if !actor.HasAnyRole(outboxRoles) {
		return holdfast.Errorf(holdfast.PermissionDenied, "actor", "%s may not manage deliveries (needs support or admin)", actor)
	}
	return nil
}

func (s *Server) consoleOutbox(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember) {
	s.showOutbox(w, r, actor, m, nil)
}

func (s *Server) showOutbox(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember, failed error) {
	p := newPage(r, m, nil)
	v := &outboxView{Configured: s.cfg.Outbox != nil}
	p.Data = v
	if err := s.mayOutbox(actor); err != nil {
		p.Error, p.Done = errorText(err), ""
		s.render(w, r, http.StatusForbidden, "console/outbox", p)
		return
	}
	status := http.StatusOK
	if v.Configured {
		var err error
		if v.Dead, err = s.cfg.Outbox.ListCommands(r.Context(), holdfast.CommandDead, deadLimit); err != nil {
			status, p.Error = statusOf(err), errorText(err)
		}
	}
	if failed != nil {
		status, p.Error, p.Done = http.StatusUnprocessableEntity, errorText(failed), ""
	}
	s.render(w, r, status, "console/outbox", p)
}

func (s *Server) consoleRedrive(w http.ResponseWriter, r *http.Request, actor holdfast.Actor, m *holdfast.StaffMember) {
	if err := s.mayOutbox(actor); err != nil {
		s.showOutbox(w, r, actor, m, nil)
		return
	}
	id := r.PathValue("id")
	err := holdfast.ValidateID("command", id)
	if err == nil && s.cfg.Outbox == nil {
		err = holdfast.Errorf(holdfast.FailedPrecondition, "", "this server has no outbox")
	}
	if err == nil {
		err = s.cfg.Outbox.RedriveCommand(r.Context(), id, s.cfg.Engine.Now())
	}
	if err != nil {
		s.showOutbox(w, r, actor, m, err)
		return
	}
	s.cfg.Logger.InfoContext(r.Context(), "web: console redrive", "staff", m.ID, "command", id)
	http.Redirect(w, r, "/console/outbox?done=redriven", http.StatusSeeOther)
}
