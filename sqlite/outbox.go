package sqlite

import (
	"context"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/sqlstore"
)

// The outbox is package sqlstore's (claims, leases, settlement, listing);
// the account transaction's Enqueue is here, as the rest of accountTx.

// The outbox's types are the domain's (holdfast.Delivery and friends), so
// that every store offers the same outbox; these names keep this package's
// callers short.
type (
	CommandState = holdfast.CommandState
	Delivery     = holdfast.Delivery
	TypeFilter   = holdfast.TypeFilter
)

const (
	CommandPending   = holdfast.CommandPending
	CommandDelivered = holdfast.CommandDelivered
	CommandDead      = holdfast.CommandDead
)

// Enqueue writes a command to the outbox in the update's transaction (see
// sqlstore.Enqueue).
func (t *accountTx) Enqueue(c *holdfast.Command) error {
	if err := t.check(); err != nil {
		return err
	}
	if err := t.own("command", c.ID, &c.Account); err != nil {
		return err
	}
	// The writer runs its statements under its own context.
	return sqlstore.Enqueue(context.Background(), dialect, t, t.now, c)
}
