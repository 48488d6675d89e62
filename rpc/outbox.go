package rpc

import (
	"context"
	"time"

	"connectrpc.com/connect"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
)

// Outbox is what staff see of the commands to other services, and how
// they put a command that kept failing back in line. The store provides it
// (cmd/holdfast adapts the SQLite store).
type Outbox interface {
	ListCommands(ctx context.Context, state string, limit int) ([]OutboxEntry, error)
	RedriveCommand(ctx context.Context, id string, at time.Time) error
}

// OutboxEntry is a command and its delivery state.
type OutboxEntry struct {
	Command       holdfast.Command
	State         string
	Attempts      int
	NextAt        time.Time
	LastError     string
	LastAttemptAt time.Time
	DeliveredAt   time.Time
}

// outboxRoles may watch and redrive deliveries.
var outboxRoles = []holdfast.Role{holdfast.RoleSupport, holdfast.RoleAdmin}

func (h *restrictions) outbox(ctx context.Context) error {
	actor, err := staffActor(ctx)
	if err != nil {
		return err
	}
	if !actor.HasAnyRole(outboxRoles) {
		return holdfast.Errorf(holdfast.PermissionDenied, "actor", "%s may not manage deliveries (needs support or admin)", actor)
	}
	if h.box == nil {
		return holdfast.Errorf(holdfast.FailedPrecondition, "", "this server has no outbox")
	}
	return nil
}

func (h *restrictions) ListCommands(ctx context.Context, req *connect.Request[holdfastv1.ListCommandsRequest]) (*connect.Response[holdfastv1.ListCommandsResponse], error) {
	if err := h.outbox(ctx); err != nil {
		return nil, err
	}
	m := req.Msg
	switch m.State {
	case "", "pending", "delivered", "dead":
	default:
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "state", "state must be pending, delivered or dead, not %q", m.State)
	}
	if m.Limit < 0 || m.Limit > 1000 {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "limit", "limit must be between 0 and 1000")
	}
	limit := int(m.Limit)
	if limit == 0 {
		limit = 100
	}
	entries, err := h.box.ListCommands(ctx, m.State, limit)
	if err != nil {
		return nil, err
	}
	out := &holdfastv1.ListCommandsResponse{Commands: make([]*holdfastv1.OutboxCommand, len(entries))}
	for i, e := range entries {
		out.Commands[i] = &holdfastv1.OutboxCommand{
			Id: e.Command.ID, Account: e.Command.Account, Type: string(e.Command.Type),
			Restriction: opt(e.Command.Restriction), Event: opt(e.Command.Event), CreatedAt: pbTime(e.Command.CreatedAt),
			State: e.State, Attempts: int32(e.Attempts), NextAt: pbTime(e.NextAt), LastError: opt(e.LastError),
			LastAttemptAt: pbTime(e.LastAttemptAt), DeliveredAt: pbTime(e.DeliveredAt),
		}
	}
	return connect.NewResponse(out), nil
}

func (h *restrictions) RedriveCommand(ctx context.Context, req *connect.Request[holdfastv1.RedriveCommandRequest]) (*connect.Response[holdfastv1.RedriveCommandResponse], error) {
	if err := h.outbox(ctx); err != nil {
		return nil, err
	}
	if err := holdfast.ValidateID("id", req.Msg.Id); err != nil {
		return nil, err
	}
	if err := h.box.RedriveCommand(ctx, req.Msg.Id, h.engine.Now()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.RedriveCommandResponse{}), nil
}
