package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// The outbox is written in the transaction of the change that caused it:
// a command commits with its update, survives a reopen, and rolls back with
// a failed update. Store has no reader for the outbox (delivery is each
// store's own API), so a command's presence shows as its id being taken:
// a second Enqueue of it is a conflict.
func testOutbox(t *testing.T, h *harness) {
	cmd := func(id string, typ holdfast.CommandType) *holdfast.Command {
		return &holdfast.Command{ID: id, Type: typ, Restriction: "r1", Event: "e1", CreatedAt: t0}
	}
	taken := func(id string) bool {
		t.Helper()
		err := h.s.Update(h.ctx, "a1", t0, func(tx holdfast.AccountTx) error {
			return tx.Enqueue(cmd(id, holdfast.CommandNotifyHolder))
		})
		switch holdfast.ErrorCode(err) {
		case holdfast.Conflict:
			return true
		case "":
			return false
		}
		t.Fatalf("Enqueue(%s) = %v, want success or conflict", id, err)
		return false
	}

	// Committed with the restriction it is about; the account is filled in.
	c1 := cmd("c1", holdfast.CommandRestrictionApplied)
	h.update("a1", t0, func(tx holdfast.AccountTx) error {
		if err := tx.SaveRestriction(restriction("r1", "a1", holdfast.KindReduceOnly, t0, time.Hour)); err != nil {
			return err
		}
		return tx.Enqueue(c1)
	})
	if c1.Account != "a1" {
		t.Errorf("Enqueue left the command's account %q, want a1", c1.Account)
	}

	// Rolled back with a failed update, restriction and all.
	boom := errors.New("boom")
	err := h.s.Update(h.ctx, "a1", t0, func(tx holdfast.AccountTx) error {
		if err := tx.SaveRestriction(restriction("r2", "a1", holdfast.KindFullRestriction, t0, 0)); err != nil {
			return err
		}
		if err := tx.Enqueue(cmd("c2", holdfast.CommandCancelAllOrders)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want boom", err)
	}
	if _, err := h.s.Restriction(h.ctx, "r2"); holdfast.ErrorCode(err) != holdfast.NotFound {
		t.Errorf("restriction r2 of the failed update: %v, want not_found", err)
	}

	// A duplicate fails its whole update, even when fn ignores the error.
	err = h.s.Update(h.ctx, "a1", t0, func(tx holdfast.AccountTx) error {
		if err := tx.SaveRestriction(restriction("r3", "a1", holdfast.KindC2CFreeze, t0, 0)); err != nil {
			return err
		}
		_ = tx.Enqueue(cmd("c1", holdfast.CommandNotifyHolder))
		return nil
	})
	wantCode(t, "Enqueue of a committed id", err, holdfast.Conflict, "id")
	if _, err := h.s.Restriction(h.ctx, "r3"); holdfast.ErrorCode(err) != holdfast.NotFound {
		t.Errorf("restriction r3 committed past a duplicate Enqueue: %v", err)
	}
	err = h.s.Update(h.ctx, "a1", t0, func(tx holdfast.AccountTx) error {
		if err := tx.Enqueue(cmd("c4", holdfast.CommandRevokeSessions)); err != nil {
			return err
		}
		return tx.Enqueue(cmd("c4", holdfast.CommandRevokeAPIKeys))
	})
	wantCode(t, "Enqueue twice in one update", err, holdfast.Conflict, "id")

	// A command belongs to the account of its update.
	err = h.s.Update(h.ctx, "a2", t0, func(tx holdfast.AccountTx) error {
		c := cmd("c5", holdfast.CommandNotifyHolder)
		c.Account = "a1"
		return tx.Enqueue(c)
	})
	if err == nil {
		t.Error("a2's update enqueued a command of a1")
	}

	h.reopen()
	if !taken("c1") {
		t.Error("committed command c1 is gone after reopen")
	}
	for _, id := range []string{"c2", "c4", "c5"} {
		if taken(id) {
			t.Errorf("command %s of a failed update was kept", id)
		}
	}
}
