package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// Every stored time comes back as the same instant to the nanosecond, in
// UTC; the zero time comes back zero.
func testTimeRoundTrip(t *testing.T, h *harness) {
	zone := time.FixedZone("UTC+05:30", 5*3600+1800)
	now := time.Date(2031, 3, 4, 5, 6, 7, 123456789, zone)
	early := time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC) // negative Unix time
	r := restriction("r1", "a1", holdfast.KindStepUpVerification, early, 0)
	r.EndsAt, r.CreatedAt = now.Add(time.Nanosecond), now
	r.Device, r.Factors = "dev-1", []holdfast.Factor{holdfast.FactorEmail, holdfast.FactorTOTP}
	e := entry("a1", now, holdfast.AuditApply, "r1")
	h.update("a1", now, func(tx holdfast.AccountTx) error {
		tx.Account().UnfreezeRequestedAt = now.Add(2 * time.Nanosecond)
		if err := tx.SaveAccount(); err != nil {
			return err
		}
		if err := tx.SaveRestriction(r); err != nil {
			return err
		}
		return tx.Append(e)
	})

	check := func(what string, got, want time.Time) {
		t.Helper()
		if !got.Equal(want) || got.UnixNano() != want.UnixNano() || (!got.IsZero() && got.Location() != time.UTC) {
			t.Errorf("%s = %v, want %v in UTC", what, got, want)
		}
	}
	got, err := h.s.Restriction(h.ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	check("StartsAt", got.StartsAt, early)
	check("EndsAt", got.EndsAt, r.EndsAt)
	check("CreatedAt", got.CreatedAt, now)
	if !got.LiftedAt.IsZero() {
		t.Errorf("LiftedAt = %v, want zero", got.LiftedAt)
	}
	want := r.Clone()
	want.EndsAt, want.CreatedAt = r.EndsAt.UTC(), r.CreatedAt.UTC()
	sameJSON(t, "restriction", got, want)

	a, err := h.s.Account(h.ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	check("Account.CreatedAt", a.CreatedAt, now)
	check("Account.LastActiveAt", a.LastActiveAt, now)
	check("Account.UnfreezeRequestedAt", a.UnfreezeRequestedAt, now.Add(2*time.Nanosecond))
	if !a.VerifiedAt.IsZero() {
		t.Errorf("Account.VerifiedAt = %v, want zero", a.VerifiedAt)
	}
	es := h.history("a1")
	check("AuditEntry.At", es[0].At, now)
	if es[0].Hash != e.Hash {
		t.Errorf("stored entry hash %s, appended %s", es[0].Hash, e.Hash)
	}
}

// ActiveRestrictions streams what is in force or to come at t across all
// accounts, and stops at the first error from fn.
func testActiveRestrictions(t *testing.T, h *harness) {
	lifted := restriction("lifted", "a2", holdfast.KindCoolingOff, t0, 0)
	lifted.LiftedAt = t0.Add(time.Minute)
	h.save("a1", t0, restriction("a1-active", "a1", holdfast.KindCoolingOff, t0, time.Hour),
		restriction("a1-ended", "a1", holdfast.KindCoolingOff, t0, time.Minute))
	h.save("a2", t0, lifted, restriction("a2-future", "a2", holdfast.KindSelfFreeze, t0.Add(time.Hour), 0))
	h.save("a3", t0, restriction("a3-permanent", "a3", holdfast.KindPermanentBan, t0, 0))

	var got []string
	err := h.s.ActiveRestrictions(h.ctx, t0.Add(time.Minute), func(r *holdfast.Restriction) error {
		got = append(got, r.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []string{"a1-active", "a2-future", "a3-permanent"}; !slices.Equal(got, want) {
		t.Errorf("ActiveRestrictions = %v, want %v", got, want)
	}

	stop := errors.New("stop")
	calls := 0
	err = h.s.ActiveRestrictions(h.ctx, t0, func(*holdfast.Restriction) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("ActiveRestrictions with failing fn = %v after %d calls, want stop after 1", err, calls)
	}
}

// Restrictions filters by account, kind and time, lists newest first (ties
// by id, descending) and honours the limit.
func testRestrictionFilters(t *testing.T, h *harness) {
	r := func(id, account string, kind holdfast.Kind, created time.Duration) *holdfast.Restriction {
		return restriction(id, account, kind, t0.Add(created), 2*time.Hour)
	}
	lifted := r("a1-3", "a1", holdfast.KindCoolingOff, 2*time.Hour)
	lifted.LiftedAt = t0.Add(3 * time.Hour)
	h.save("a1", t0, r("a1-1", "a1", holdfast.KindCoolingOff, 0), r("a1-2", "a1", holdfast.KindReduceOnly, time.Hour), lifted,
		r("a1-2b", "a1", holdfast.KindReduceOnly, time.Hour))
	h.save("a2", t0, r("a2-1", "a2", holdfast.KindCoolingOff, 30*time.Minute))

	for _, tc := range []struct {
		name string
		f    holdfast.RestrictionFilter
		want []string
	}{
		{"all", holdfast.RestrictionFilter{}, []string{"a1-3", "a1-2b", "a1-2", "a2-1", "a1-1"}},
		{"account", holdfast.RestrictionFilter{Account: "a1"}, []string{"a1-3", "a1-2b", "a1-2", "a1-1"}},
		{"kind", holdfast.RestrictionFilter{Kind: holdfast.KindCoolingOff}, []string{"a1-3", "a2-1", "a1-1"}},
		{"account and kind", holdfast.RestrictionFilter{Account: "a1", Kind: holdfast.KindReduceOnly}, []string{"a1-2b", "a1-2"}},
		{"active", holdfast.RestrictionFilter{Account: "a1", ActiveAt: t0.Add(150 * time.Minute)}, []string{"a1-2b", "a1-2"}},
		{"active, all accounts", holdfast.RestrictionFilter{ActiveAt: t0.Add(140 * time.Minute)}, []string{"a1-2b", "a1-2", "a2-1"}},
		{"active when they end", holdfast.RestrictionFilter{ActiveAt: t0.Add(3 * time.Hour)}, nil},
		{"limit", holdfast.RestrictionFilter{Limit: 2}, []string{"a1-3", "a1-2b"}},
		{"none", holdfast.RestrictionFilter{Account: "nobody"}, nil},
	} {
		got, err := h.s.Restrictions(h.ctx, tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if g := ids(got, false); !slices.Equal(g, tc.want) {
			t.Errorf("%s: Restrictions(%+v) = %v, want %v", tc.name, tc.f, g, tc.want)
		}
	}
}

// AccountDigests pages through every account in byte order of its id,
// those without restrictions too, each with what it has in force or to
// come, by id.
func testAccountDigests(t *testing.T, h *harness) {
	lifted := restriction("a2-lifted", "a2", holdfast.KindCoolingOff, t0, 0)
	lifted.LiftedAt = t0.Add(time.Minute)
	h.save("a1", t0, restriction("a1-z", "a1", holdfast.KindCoolingOff, t0, time.Hour),
		restriction("a1-ended", "a1", holdfast.KindCoolingOff, t0, time.Minute),
		restriction("a1-a", "a1", holdfast.KindSelfFreeze, t0.Add(time.Hour), 0))
	h.save("a2", t0, lifted)
	h.save("a3", t0, restriction("a3-permanent", "a3", holdfast.KindPermanentBan, t0, 0))
	for _, id := range []string{"Z", "a0"} { // "Z" < "a": byte order, whatever the locale
		h.update(id, t0, func(tx holdfast.AccountTx) error { return tx.SaveAccount() })
	}

	at := t0.Add(time.Minute)
	var got []string
	after := ""
	for page := 0; ; page++ {
		ds, err := h.s.AccountDigests(h.ctx, after, 2, at)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) > 2 {
			t.Fatalf("page of %d accounts, limit 2", len(ds))
		}
		for _, d := range ds {
			s := d.Account + ":"
			for _, r := range d.Restrictions {
				s += " " + r.ID + "@" + r.StartsAt.Sub(t0).String()
				if !r.EndsAt.IsZero() {
					s += "-" + r.EndsAt.Sub(t0).String()
				}
			}
			got = append(got, s)
			after = d.Account
		}
		if len(ds) < 2 {
			break
		}
	}
	want := []string{"Z:", "a0:", "a1: a1-a@1h0m0s a1-z@0s-1h0m0s", "a2:", "a3: a3-permanent@0s"}
	if !slices.Equal(got, want) {
		t.Errorf("AccountDigests pages = %q, want %q", got, want)
	}
	if _, err := h.s.AccountDigests(h.ctx, "", 0, at); holdfast.ErrorCode(err) != holdfast.InvalidArgument {
		t.Errorf("AccountDigests with limit 0: %v, want invalid_argument", err)
	}
}
