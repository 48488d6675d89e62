package engine_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/sqlite"
)

// TestInvariants drives the engine on a real store with random sequences
// of applies, lifts, extends, panic locks, withdrawals, clock advances and
// restarts, and checks after every step, against a simple model of the
// restrictions:
//   - the decision for every action is the strongest effect of the
//     restrictions in force (so lifting one never lifts another);
//   - a panic lock is never lifted or shortened before its end;
//   - no withdrawal is approved while a restriction denying withdraw is in
//     force;
//   - a holder's view never names a non-disclosable restriction;
//   - the audit chain verifies, and a restart changes no decision.
func TestInvariants(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		dir := t.TempDir()
		clk := &fixedClock{now: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)}
		pol := policy.Default()
		open := func() (*engine.Engine, *sqlite.DB) {
			db, err := sqlite.Open(ctx, dir)
			if err != nil {
				rt.Fatal(err)
			}
			eng, err := engine.New(ctx, engine.Config{Store: db, Policy: pol, Clock: clk})
			if err != nil {
				rt.Fatal(err)
			}
			return eng, db
		}
		eng, db := open()
		defer func() { db.Close() }()
		admin := holdfast.Actor{Type: holdfast.ActorStaff, ID: "ada", Roles: []holdfast.Role{holdfast.RoleAdmin, holdfast.RoleCompliance, holdfast.RoleSupport, holdfast.RoleLELiaison}}
		const acct = "u1"
		// model: every restriction the engine confirmed, as the engine
		// returned it (lifts and extends update it).
		model := map[string]*holdfast.Restriction{}
		panicEnd := map[string]time.Time{}
		kinds := []holdfast.Kind{holdfast.KindReduceOnly, holdfast.KindWithdrawalFreeze, holdfast.KindScamProtection, holdfast.KindC2CFreeze, holdfast.KindLawEnforcementHold, holdfast.KindKYCRequired}
		n := 0

		check := func() {
			now := clk.now
			for _, a := range holdfast.Actions {
				want := holdfast.Allow
				for _, r := range model {
					if r.LiftedAt.IsZero() && r.ActiveAt(now) {
						want = max(want, pol.Effects(r.Kind)[a.Index()])
						if !r.Disclose {
							// A hidden one blocks what it is shown as, too.
							want = max(want, pol.Effects(pol.Undisclosed.As)[a.Index()])
						}
					}
				}
				d, err := eng.Check(ctx, holdfast.CheckRequest{Account: acct, Action: a})
				if err != nil {
					rt.Fatal(err)
				}
				if d.Effect != want {
					rt.Fatalf("%s: engine says %s, the restrictions in force say %s", a, d.Effect, want)
				}
				hd, _ := eng.Check(ctx, holdfast.CheckRequest{Account: acct, Action: a, View: holdfast.ViewHolder})
				for _, c := range hd.Causes {
					if r := model[c.ID]; r != nil && !r.Disclose {
						rt.Fatalf("the holder view names restriction %q", c.ID)
					}
					if c.Kind == holdfast.KindLawEnforcementHold {
						rt.Fatal("the holder view names a law-enforcement hold")
					}
				}
			}
			for id, end := range panicEnd {
				r, err := db.Restriction(ctx, id)
				if err != nil {
					rt.Fatal(err)
				}
				if !r.LiftedAt.IsZero() || r.EndsAt.Before(end) {
					rt.Fatalf("panic lock %s lifted or shortened: %+v (it was to end at %s)", id, r, end)
				}
			}
		}

		rt.Repeat(map[string]func(*rapid.T){
			"apply": func(rt *rapid.T) {
				k := rapid.SampledFrom(kinds).Draw(rt, "kind")
				hours := rapid.IntRange(0, 72).Draw(rt, "hours")
				req := holdfast.ApplyRequest{Account: acct, Kind: k, Actor: admin, Reason: "property"}
				if hours > 0 {
					req.Duration = holdfast.Duration(time.Duration(hours) * time.Hour)
				}
				if rapid.Bool().Draw(rt, "hidden") {
					no := false
					req.Disclose = &no
				}
				r, err := eng.Apply(ctx, req)
				if err == nil {
					model[r.ID] = r
				}
			},
			"panic": func(rt *rapid.T) {
				r, err := eng.PanicLock(ctx, acct, 0, holdfast.User(acct))
				switch holdfast.ErrorCode(err) {
				case holdfast.InvalidArgument:
					rt.Skip("a second press would pass panic_lock_max_total")
				case holdfast.Immutable:
					rt.Skip("the lock in force ends later than a new press would")
				}
				if err != nil {
					rt.Fatal(err)
				}
				model[r.ID], panicEnd[r.ID] = r, r.EndsAt
			},
			"lift": func(rt *rapid.T) {
				ids := activeIDs(model, clk.now)
				if len(ids) == 0 {
					rt.Skip("nothing to lift")
				}
				id := rapid.SampledFrom(ids).Draw(rt, "id")
				res, err := eng.Lift(ctx, holdfast.LiftRequest{Target: holdfast.Target{Restriction: id}, Actor: admin, Reason: "property"})
				if model[id].Kind == holdfast.KindPanicLock && holdfast.ErrorCode(err) != holdfast.Immutable {
					rt.Fatalf("lifting a panic lock: %v, want immutable", err)
				}
				if err == nil && res.Restriction != nil {
					model[id] = res.Restriction
				}
			},
			"shorten": func(rt *rapid.T) {
				ids := activeIDs(model, clk.now)
				if len(ids) == 0 {
					rt.Skip("nothing to shorten")
				}
				id := rapid.SampledFrom(ids).Draw(rt, "id")
				_, err := eng.Extend(ctx, holdfast.ExtendRequest{Target: holdfast.Target{Restriction: id}, Until: clk.now.Add(time.Minute), Actor: admin})
				if model[id].Kind == holdfast.KindPanicLock && holdfast.ErrorCode(err) != holdfast.Immutable {
					rt.Fatalf("shortening a panic lock: %v, want immutable", err)
				}
				if err == nil {
					r, _ := db.Restriction(ctx, id)
					model[id] = r
				}
			},
			"extend": func(rt *rapid.T) {
				ids := activeIDs(model, clk.now)
				if len(ids) == 0 {
					rt.Skip("nothing to extend")
				}
				id := rapid.SampledFrom(ids).Draw(rt, "id")
				res, err := eng.Extend(ctx, holdfast.ExtendRequest{Target: holdfast.Target{Restriction: id}, By: holdfast.Duration(time.Hour), Actor: admin, Reason: "property"})
				if err == nil && res.Restriction != nil {
					r := res.Restriction
					model[id] = r
					if _, ok := panicEnd[id]; ok {
						panicEnd[id] = r.EndsAt
					}
				}
			},
			"security_change": func(rt *rapid.T) {
				// A rolling cooling-off only ever moves later.
				before := map[string]time.Time{}
				for id, r := range model {
					if r.Kind == holdfast.KindCoolingOff {
						before[id] = r.EndsAt
					}
				}
				res, err := eng.Ingest(ctx, holdfast.Event{Type: holdfast.EventPasswordChanged, Account: acct})
				if err != nil {
					rt.Fatal(err)
				}
				for _, r := range append(res.Applied, res.Extended...) {
					if end, ok := before[r.ID]; ok && r.EndsAt.Before(end) {
						rt.Fatalf("a rolling window moved earlier: %s → %s", end, r.EndsAt)
					}
					model[r.ID] = r
				}
			},
			"four_eyes": func(rt *rapid.T) {
				// A four-eyes lift never completes with one person.
				bob := holdfast.Actor{Type: holdfast.ActorStaff, ID: "bob", Roles: []holdfast.Role{holdfast.RoleCompliance}}
				r, err := eng.Apply(ctx, holdfast.ApplyRequest{Account: acct, Kind: holdfast.KindFullRestriction, Actor: bob, Reason: "property"})
				if err != nil {
					rt.Fatal(err)
				}
				model[r.ID] = r
				res, err := eng.Lift(ctx, holdfast.LiftRequest{Target: holdfast.Target{Restriction: r.ID}, Actor: bob, Reason: "property"})
				if err != nil || res.Pending == nil {
					rt.Fatalf("a four-eyes lift did not wait for a second person: %+v %v", res, err)
				}
				if _, err := eng.Approve(ctx, res.Pending.ID, bob); holdfast.ErrorCode(err) != holdfast.PermissionDenied {
					rt.Fatalf("the asker approved their own request: %v", err)
				}
				if rapid.Bool().Draw(rt, "second person approves") {
					bea := holdfast.Actor{Type: holdfast.ActorStaff, ID: "bea", Roles: []holdfast.Role{holdfast.RoleCompliance}}
					lifted, err := eng.Approve(ctx, res.Pending.ID, bea)
					if err != nil {
						rt.Fatal(err)
					}
					model[r.ID] = lifted
				}
			},
			"withdraw": func(rt *rapid.T) {
				n++
				w, err := eng.AuthorizeWithdrawal(ctx, holdfast.WithdrawalRequest{Account: acct, ID: "w" + strconv.Itoa(n), Asset: "USDT", Amount: "10", Address: "a1"})
				if err != nil {
					rt.Fatal(err)
				}
				blocked := false
				for _, r := range model {
					if r.LiftedAt.IsZero() && r.ActiveAt(clk.now) && pol.Effects(r.Kind)[holdfast.ActionWithdraw.Index()] == holdfast.Deny {
						blocked = true
					}
				}
				if blocked && w.Outcome == holdfast.Approve {
					rt.Fatal("a withdrawal was approved while a restriction denies withdraw")
				}
			},
			"advance": func(rt *rapid.T) {
				clk.now = clk.now.Add(time.Duration(rapid.IntRange(1, 48*60).Draw(rt, "minutes")) * time.Minute)
			},
			"restart": func(rt *rapid.T) {
				before := decisions(t, eng)
				db.Close()
				eng, db = open()
				if after := decisions(t, eng); !slices.Equal(before, after) {
					rt.Fatalf("a restart changed decisions:\n%v\n%v", before, after)
				}
			},
			"": func(rt *rapid.T) {
				check()
				rep, err := db.VerifyAudit(ctx, "")
				if err != nil || !rep.OK() {
					rt.Fatalf("audit chain: %+v %v", rep, err)
				}
			},
		})
	})
}

func activeIDs(model map[string]*holdfast.Restriction, now time.Time) []string {
	var ids []string
	for id, r := range model {
		if r.LiftedAt.IsZero() && !r.Over(now) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}
