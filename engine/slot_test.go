package engine

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/policy"
)

type slotTestClock struct{ now time.Time }

func (c *slotTestClock) Now() time.Time { return c.now }

func slotTestEngine(clk holdfast.Clock) *Engine {
	e := &Engine{clock: clk, index: newIndex(), aliasKey: []byte("slot-test")}
	e.pol.Store(policy.Default())
	return e
}

// A check answered from the rules a slot holds inline equals the decision
// over the entry's full rules, for any restrictions (one to four, so that
// some accounts take each path), at and around every start and end, in
// both views, with and without a device.
func TestInlineSlotDecidesAsTheEntry(t *testing.T) {
	base := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	offsets := []time.Duration{-time.Hour, -time.Nanosecond, 0, time.Nanosecond, time.Hour, 2 * time.Hour}
	inline, total := 0, 0
	rapid.Check(t, func(rt *rapid.T) {
		clk := &slotTestClock{now: base}
		e := slotTestEngine(clk)
		var rs []*holdfast.Restriction
		for j := range rapid.IntRange(1, 4).Draw(rt, "restrictions") {
			r := &holdfast.Restriction{
				ID:       fmt.Sprintf("r-%d", j),
				Account:  "acct",
				Kind:     rapid.SampledFrom(holdfast.Kinds).Draw(rt, "kind"),
				StartsAt: base.Add(rapid.SampledFrom(offsets).Draw(rt, "start")),
				Disclose: rapid.Bool().Draw(rt, "disclose"),
				Device:   rapid.SampledFrom([]string{"", "", "d1"}).Draw(rt, "device"),
			}
			if end := rapid.SampledFrom(offsets).Draw(rt, "end"); end > r.StartsAt.Sub(base) {
				r.EndsAt = base.Add(end)
			}
			if rapid.Bool().Draw(rt, "origin") {
				r.Origin = &holdfast.Origin{Rule: "velocity", Event: "ev-1", Evidence: map[string]string{"n": "3"}}
			}
			rs = append(rs, r)
		}
		// Published an hour before, so that no rule is dropped as over.
		published := base.Add(-2 * time.Hour)
		e.index.put("acct", 1, e.rulesFor(rs, published), published.UnixNano())
		ent := e.index.get("acct")
		h := maphashOf(e.index, "acct")
		s := e.index.shard(h).t.Load().slot(h)
		total++
		if s.n > 0 {
			inline++
		}
		var times []time.Time
		for _, r := range rs {
			times = append(times, r.StartsAt.Add(-time.Nanosecond), r.StartsAt, r.EndsAt.Add(-time.Nanosecond), r.EndsAt)
		}
		for _, now := range times {
			clk.now = now
			for _, a := range holdfast.Actions {
				for _, view := range []holdfast.View{holdfast.ViewStaff, holdfast.ViewHolder} {
					for _, device := range []string{"", "d1", "d2"} {
						req := holdfast.CheckRequest{Account: "acct", Action: a, View: view, Device: device}
						got := e.CheckInto(&req, nil)
						want := holdfast.Decision{Effect: holdfast.Allow, Causes: []holdfast.Cause{}}
						if ent != nil {
							want = e.decide(ent.rules, &req, now, nil)
						}
						if len(got.Causes) == 0 && len(want.Causes) == 0 {
							got.Causes, want.Causes = nil, nil
						}
						if !reflect.DeepEqual(got, want) {
							rt.Fatalf("%s %s device %q at %s:\n got %+v\nwant %+v", a, view, device, now, got, want)
						}
						other := holdfast.CheckRequest{Account: "other", Action: a, View: view, Device: device}
						if d := e.CheckInto(&other, nil); d.Effect != holdfast.Allow || len(d.Causes) != 0 {
							rt.Fatalf("another account was answered %+v", d)
						}
					}
				}
			}
		}
	})
	if inline == 0 || inline == total {
		t.Fatalf("%d of %d accounts inline: both paths must be exercised", inline, total)
	}
}

// A slot names its account by hash and fingerprint: holding one account's
// rules under another's hash, it does not answer for the other, inline or
// not.
func TestInlineSlotChecksTheAccount(t *testing.T) {
	now := time.Now()
	e := slotTestEngine(&slotTestClock{now: now})
	for _, n := range []int{1, 3} {
		var rules []rule
		for j := range n {
			ru := testRule(fmt.Sprintf("r%d", j), time.Time{})
			ru.kp = e.policy().Kind(ru.kind)
			rules = append(rules, ru)
		}
		h := maphashOf(e.index, "b")
		w, m := bit(h)
		e.index.present[w].Or(m)
		sh := e.index.shard(h)
		sh.t.Store(sh.t.Load().with(h, newEntry("a", 1, rules, now.UnixNano(), nil)))
		if s := sh.t.Load().slot(h); (s.n > 0) != (n <= entryRules) {
			t.Fatalf("%d rules: %d inline", n, s.n)
		}
		req := holdfast.CheckRequest{Account: "b", Action: holdfast.ActionTrade}
		if d := e.CheckInto(&req, nil); d.Effect != holdfast.Allow {
			t.Fatalf("%d rules: b was answered with a's rules: %+v", n, d)
		}
	}
}

// Rules that do not fit a slot leave it to the entry: a device scope, or
// an effect the 2-bit packing cannot hold.
func TestHotRuleFits(t *testing.T) {
	ru := testRule("r", time.Time{})
	ru.kp = &holdfast.KindPolicy{}
	if _, ok := hotRuleOf(&ru); !ok {
		t.Fatal("a plain rule must fit")
	}
	dev := ru
	dev.device = "d1"
	if _, ok := hotRuleOf(&dev); ok {
		t.Fatal("a device-scoped rule must not fit")
	}
	big := ru
	big.fx[0] = 4
	if _, ok := hotRuleOf(&big); ok {
		t.Fatal("an effect over 3 must not fit")
	}
}
