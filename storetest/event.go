package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// Events are recorded once per id, roll back with their update, and stream
// back in recorded order, across a reopen.
func testEvents(t *testing.T, h *harness) {
	opm := 120.0
	e1 := &holdfast.Event{ID: "e1", Type: holdfast.EventAPIActivity, Account: "a1", At: t0, OrdersPerMinute: &opm}
	e2 := &holdfast.Event{ID: "e2", Type: holdfast.EventLogin, Account: "a2", At: t0.Add(time.Minute), Device: "d1", Country: "DE"}
	h.update("a1", t0, func(tx holdfast.AccountTx) error {
		if seen, err := tx.Event("e1"); err != nil || seen {
			t.Errorf("Event before saving = %v, %v", seen, err)
		}
		if err := tx.SaveEvent(e1); err != nil {
			return err
		}
		if seen, err := tx.Event("e1"); err != nil || !seen {
			t.Errorf("Event after saving = %v, %v; want true (reads own writes)", seen, err)
		}
		return nil
	})
	h.update("a2", t0, func(tx holdfast.AccountTx) error { return tx.SaveEvent(e2) })
	boom := errors.New("boom")
	err := h.s.Update(h.ctx, "a1", t0, func(tx holdfast.AccountTx) error {
		if err := tx.SaveEvent(&holdfast.Event{ID: "e3", Type: holdfast.EventLogin, Account: "a1", At: t0}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want boom", err)
	}
	err = h.s.Update(h.ctx, "a1", t0, func(tx holdfast.AccountTx) error { return tx.SaveEvent(e1) })
	if holdfast.ErrorCode(err) != holdfast.Conflict {
		t.Errorf("saving e1 twice = %v, want conflict", err)
	}
	h.reopen()
	var got []*holdfast.Event
	if err := h.s.Events(h.ctx, holdfast.EventFilter{}, func(e *holdfast.Event) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "Events", got, []*holdfast.Event{e1, e2})
	got = nil
	if err := h.s.Events(h.ctx, holdfast.EventFilter{Account: "a2"}, func(e *holdfast.Event) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "Events(a2)", got, []*holdfast.Event{e2})
}

// Activity and origins round-trip; Withdrawals returns a time window;
// enqueued commands roll back with their update.
func testActivityOriginWindow(t *testing.T, h *harness) {
	act := holdfast.Activity{
		DepositCount: 3, DepositTotalUSD: 1234.5,
		AddressBook:      map[string]time.Time{"bc1q": t0},
		RuleRestrictions: []time.Time{t0, t0.Add(time.Hour)},
		ReturnedAt:       t0, PendingDevices: map[string]string{"d9": "FR"},
	}
	origin := &holdfast.Origin{Rule: "api_burst", Event: "e1", EventType: holdfast.EventAPIActivity, Evidence: map[string]string{"event.orders_per_minute": "120"}}
	r := &holdfast.Restriction{ID: "r1", Account: "a1", Kind: holdfast.KindReduceOnly, StartsAt: t0, Disclose: true, AppliedBy: "rule:api_burst", CreatedAt: t0, Origin: origin}
	h.update("a1", t0, func(tx holdfast.AccountTx) error {
		tx.Account().Activity = act
		if err := tx.SaveAccount(); err != nil {
			return err
		}
		if err := tx.SaveRestriction(r); err != nil {
			return err
		}
		for i, at := range []time.Time{t0.Add(-25 * time.Hour), t0.Add(-time.Hour), t0} {
			w := &holdfast.Withdrawal{WithdrawalRequest: holdfast.WithdrawalRequest{Account: "a1", ID: string(rune('a' + i)), Asset: "USDT", Amount: "1", Address: "x"}, Outcome: holdfast.Approve, DecidedAt: at}
			if err := tx.SaveWithdrawal(w); err != nil {
				return err
			}
		}
		return tx.Enqueue(&holdfast.Command{ID: "c1", Type: holdfast.CommandCancelSpotOrders, CreatedAt: t0})
	})
	boom := errors.New("boom")
	if err := h.s.Update(h.ctx, "a1", t0, func(tx holdfast.AccountTx) error {
		if err := tx.Enqueue(&holdfast.Command{ID: "c2", Type: holdfast.CommandNotifyHolder, CreatedAt: t0}); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("Update = %v", err)
	}
	// c1 committed, so enqueueing its id again fails; c2 rolled back, so
	// its id is free.
	if err := h.s.Update(h.ctx, "a1", t0, func(tx holdfast.AccountTx) error {
		return tx.Enqueue(&holdfast.Command{ID: "c1", Type: holdfast.CommandNotifyHolder, CreatedAt: t0})
	}); err == nil {
		t.Error("enqueueing a committed command id twice succeeded")
	}
	h.update("a1", t0, func(tx holdfast.AccountTx) error {
		return tx.Enqueue(&holdfast.Command{ID: "c2", Type: holdfast.CommandNotifyHolder, CreatedAt: t0})
	})
	h.reopen()
	a, err := h.s.Account(h.ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "Activity", a.Activity, act)
	got, err := h.s.Restriction(h.ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "Origin", got.Origin, origin)
	h.update("a1", t0, func(tx holdfast.AccountTx) error {
		ws, err := tx.Withdrawals(t0.Add(-24 * time.Hour))
		if err != nil {
			return err
		}
		if len(ws) != 2 || ws[0].ID != "b" || ws[1].ID != "c" {
			t.Errorf("Withdrawals in the last 24 h = %d, want b and c", len(ws))
		}
		return nil
	})
}
