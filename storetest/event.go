package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// Events are recorded once per id, read back inside the update that
// recorded them, and stream back whole in the order they were recorded
// (not by their time), across a reopen.
func testEvents(t *testing.T, h *harness) {
	opm, rate, disclose := 120.0, 0.6, false
	e1 := &holdfast.Event{ID: "e1", Type: holdfast.EventAPIActivity, Account: "a1", At: t0, APIKey: "k1", OrdersPerMinute: &opm, FailureRate: &rate}
	// Recorded second but earlier in time: the stream keeps recorded order.
	e2 := &holdfast.Event{ID: "e2", Type: holdfast.EventLogin, Account: "a2", At: t0.Add(-time.Hour), Device: "d1", Country: "DE", IP: "10.0.0.1", Session: "s1"}
	e3 := &holdfast.Event{ID: "e3", Type: holdfast.EventLawEnforcementRequest, Account: "a1", At: t0.Add(time.Minute), CaseRef: "le-7", Disclose: &disclose}
	e4 := &holdfast.Event{ID: "e4", Type: holdfast.EventSanctionsMatch, Account: "a1", At: t0.Add(2 * time.Minute), NoticePeriod: holdfast.Duration(30 * 24 * time.Hour)}
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
	h.update("a1", t0, func(tx holdfast.AccountTx) error {
		if err := tx.SaveEvent(e3); err != nil {
			return err
		}
		return tx.SaveEvent(e4)
	})
	h.reopen()
	h.update("a1", t0, func(tx holdfast.AccountTx) error {
		if seen, err := tx.Event("e1"); err != nil || !seen {
			t.Errorf("Event(e1) after reopen = %v, %v; want true", seen, err)
		}
		return nil
	})

	stream := func(what string, f holdfast.EventFilter, want ...*holdfast.Event) {
		t.Helper()
		got := []*holdfast.Event{}
		if err := h.s.Events(h.ctx, f, func(e *holdfast.Event) error { got = append(got, e); return nil }); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if want == nil {
			want = []*holdfast.Event{}
		}
		sameJSON(t, what, got, want)
	}
	stream("Events", holdfast.EventFilter{}, e1, e2, e3, e4)
	stream("Events(a1)", holdfast.EventFilter{Account: "a1"}, e1, e3, e4)
	stream("Events(a2)", holdfast.EventFilter{Account: "a2"}, e2)
	stream("Events(nobody)", holdfast.EventFilter{Account: "nobody"})
	stream("Events(after t0)", holdfast.EventFilter{After: t0}, e3, e4)
	stream("Events(after t0-1ns)", holdfast.EventFilter{After: t0.Add(-time.Nanosecond)}, e1, e3, e4)
	stream("Events(limit 2)", holdfast.EventFilter{Limit: 2}, e1, e2)
	stream("Events(a1, after t0, limit 1)", holdfast.EventFilter{Account: "a1", After: t0, Limit: 1}, e3)
	stream("Events(login)", holdfast.EventFilter{Type: holdfast.EventLogin}, e2)
	stream("Events(a1, login)", holdfast.EventFilter{Account: "a1", Type: holdfast.EventLogin})
	stream("Events(a1, newest)", holdfast.EventFilter{Account: "a1", Newest: true}, e4, e3, e1)
	stream("Events(a1, newest, limit 2)", holdfast.EventFilter{Account: "a1", Newest: true, Limit: 2}, e4, e3)
	stream("Events(a1, sanctions_match, newest, limit 1)", holdfast.EventFilter{Account: "a1", Type: holdfast.EventSanctionsMatch, Newest: true, Limit: 1}, e4)

	// fn's error stops the stream and comes back unchanged.
	stop := errors.New("stop")
	n := 0
	err := h.s.Events(h.ctx, holdfast.EventFilter{}, func(*holdfast.Event) error { n++; return stop })
	if err != stop || n != 1 {
		t.Errorf("Events with a failing fn = %v after %d calls, want stop after 1", err, n)
	}
}

// An event id is recorded once across all accounts: a replay on the same
// account and the same id on another account are both conflicts, and the
// other account does not see it as its own.
func testEventDuplicates(t *testing.T, h *harness) {
	e1 := &holdfast.Event{ID: "e1", Type: holdfast.EventLogin, Account: "a1", At: t0, Device: "d1"}
	h.update("a1", t0, func(tx holdfast.AccountTx) error { return tx.SaveEvent(e1) })

	err := h.s.Update(h.ctx, "a1", t0, func(tx holdfast.AccountTx) error {
		replay := *e1
		return tx.SaveEvent(&replay)
	})
	wantCode(t, "saving e1 twice", err, holdfast.Conflict, "id")

	err = h.s.Update(h.ctx, "a2", t0, func(tx holdfast.AccountTx) error {
		if seen, err := tx.Event("e1"); err != nil || seen {
			t.Errorf("a2: Event(e1) of a1 = %v, %v; want false", seen, err)
		}
		other := *e1
		other.Account = "a2"
		return tx.SaveEvent(&other)
	})
	wantCode(t, "saving a1's event id on a2", err, holdfast.Conflict, "id")

	// Within one update too; and the failed update leaves nothing behind.
	err = h.s.Update(h.ctx, "a1", t0, func(tx holdfast.AccountTx) error {
		e := &holdfast.Event{ID: "e2", Type: holdfast.EventLogin, Account: "a1", At: t0}
		if err := tx.SaveEvent(e); err != nil {
			return err
		}
		return tx.SaveEvent(e)
	})
	wantCode(t, "saving e2 twice in one update", err, holdfast.Conflict, "id")
	h.update("a1", t0, func(tx holdfast.AccountTx) error {
		if seen, err := tx.Event("e2"); err != nil || seen {
			t.Errorf("Event(e2) after its update failed = %v, %v; want false", seen, err)
		}
		return nil
	})
	var got []string
	if err := h.s.Events(h.ctx, holdfast.EventFilter{}, func(e *holdfast.Event) error { got = append(got, e.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "Events after duplicates", got, []string{"e1"})
}

// What the event stream taught about an account (maps and times included)
// and why a rule applied a restriction round-trip exactly, in the update
// and across a reopen; no origin stays nil.
func testActivityOrigin(t *testing.T, h *harness) {
	act := holdfast.Activity{
		DepositCount: 3, DepositTotalUSD: 1234.5,
		AddressBook:      map[string]time.Time{"bc1q": t0, "0xabc": t0.Add(-time.Nanosecond)},
		RuleRestrictions: []time.Time{t0, t0.Add(time.Hour)},
		ReturnedAt:       t0.Add(time.Second), PendingDevices: map[string]string{"d9": "FR", "d8": ""},
	}
	origin := &holdfast.Origin{Rule: "api_burst", Event: "e1", EventType: holdfast.EventAPIActivity,
		Evidence: map[string]string{"event.orders_per_minute": "120", "features.deposit_avg_usd": "0.5"}}
	ruled := restriction("r1", "a1", holdfast.KindReduceOnly, t0, 24*time.Hour)
	ruled.AppliedBy, ruled.Origin = "rule:api_burst", origin
	manual := restriction("r2", "a1", holdfast.KindCoolingOff, t0, time.Hour)
	h.update("a1", t0, func(tx holdfast.AccountTx) error {
		tx.Account().Activity = act
		if err := tx.SaveAccount(); err != nil {
			return err
		}
		if err := tx.SaveRestriction(ruled); err != nil {
			return err
		}
		return tx.SaveRestriction(manual)
	})
	h.update("a1", t0, func(tx holdfast.AccountTx) error {
		sameJSON(t, "Activity in the next update", tx.Account().Activity, act)
		return nil
	})
	h.update("a2", t0, func(tx holdfast.AccountTx) error { return tx.SaveAccount() })
	h.reopen()

	a, err := h.s.Account(h.ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "Activity", a.Activity, act)
	if !a.Activity.AddressBook["0xabc"].Equal(t0.Add(-time.Nanosecond)) {
		t.Errorf("address book time = %v, want %v", a.Activity.AddressBook["0xabc"], t0.Add(-time.Nanosecond))
	}
	if a2, err := h.s.Account(h.ctx, "a2"); err != nil {
		t.Fatal(err)
	} else {
		sameJSON(t, "Activity of an account that has none", a2.Activity, holdfast.Activity{})
	}
	got, err := h.s.Restriction(h.ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "Origin", got.Origin, origin)
	got, err = h.s.Restriction(h.ctx, "r2")
	if err != nil {
		t.Fatal(err)
	}
	if got.Origin != nil {
		t.Errorf("Origin of a restriction saved without one = %+v, want nil", got.Origin)
	}
	h.update("a1", t0, func(tx holdfast.AccountTx) error {
		for _, r := range tx.Restrictions() {
			if r.ID == "r1" {
				sameJSON(t, "Origin in tx.Restrictions()", r.Origin, origin)
			}
		}
		return nil
	})
}
