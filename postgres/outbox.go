package postgres

import (
	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/sqlstore"
)

// Enqueue writes a command to the outbox in the update's transaction (see
// sqlstore.Enqueue, which holds the rest of the outbox: claims with FOR
// UPDATE SKIP LOCKED, leases, settlement and listing).
func (t *accountTx) Enqueue(c *holdfast.Command) error {
	if err := t.check(); err != nil {
		return err
	}
	if err := t.own("command", c.ID, &c.Account); err != nil {
		return err
	}
	err := sqlstore.Enqueue(t.ctx, dialect, t, t.now, c)
	if err == nil {
		t.wrote = true // the outbox row keeps the transaction worth committing
	}
	return err
}
