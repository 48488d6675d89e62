package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/internal/racetest"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/sqlite"
)

func newEngine(t testing.TB, dir string) (*engine.Engine, *sqlite.DB) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	eng, err := engine.New(context.Background(), engine.Config{Store: db, Policy: policy.Default()})
	if err != nil {
		t.Fatal(err)
	}
	return eng, db
}

// TestPanicLockRacesWithdrawals floods an account with withdrawal
// authorizations while its holder hits the panic button, and checks that
// every approval committed before the lock and every authorization after
// it was denied (the PostgreSQL store runs the same race over three nodes).
func TestPanicLockRacesWithdrawals(t *testing.T) {
	eng, _ := newEngine(t, t.TempDir())
	racetest.PanicLockRace(t, eng)
}

// TestRestartKeepsDecisions closes and reopens the store: the index is
// rebuilt and every decision is what it was.
func TestRestartKeepsDecisions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Freeze(ctx, "u1", holdfast.Duration(48*time.Hour), holdfast.User("u1")); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Apply(ctx, holdfast.ApplyRequest{Account: "u2", Kind: holdfast.KindLawEnforcementHold, Actor: holdfast.Staff("dan", holdfast.RoleLELiaison)}); err != nil {
		t.Fatal(err)
	}
	before := decisions(t, eng)
	db.Close()

	eng2, _ := newEngine(t, dir)
	if after := decisions(t, eng2); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("decisions changed across restart:\nbefore %v\nafter  %v", before, after)
	}
	if accounts, restrictions := eng2.IndexStats(); accounts != 2 || restrictions != 2 {
		t.Fatalf("index holds %d accounts, %d restrictions; want 2, 2", accounts, restrictions)
	}
}

func decisions(t *testing.T, eng *engine.Engine) []string {
	var out []string
	for _, acct := range []string{"u1", "u2", "u3"} {
		for _, a := range holdfast.Actions {
			for _, view := range []holdfast.View{holdfast.ViewStaff, holdfast.ViewHolder} {
				d, err := eng.Check(context.Background(), holdfast.CheckRequest{Account: acct, Action: a, View: view})
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, fmt.Sprintf("%s/%s/%s=%s/%d", acct, a, view, d.Effect, len(d.Causes)))
			}
		}
	}
	return out
}

// TestHolderViewLeaksNothing compares the holder's answers for an account
// under a law-enforcement hold with those for an account under a disclosed
// hold of the same reach: apart from the cover cause, nothing differs.
func TestHolderViewLeaksNothing(t *testing.T) {
	ctx := context.Background()
	eng, _ := newEngine(t, t.TempDir())
	dan := holdfast.Staff("dan", holdfast.RoleLELiaison)
	hold, err := eng.Apply(ctx, holdfast.ApplyRequest{Account: "u1", Kind: holdfast.KindLawEnforcementHold, Actor: dan, Reason: "secret order", Duration: holdfast.Duration(30 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	coverKind, cover := policy.Default().Cover()
	// Shown as a restriction of the cover kind under review: an opaque id,
	// the start, no end.
	shownAs := func(c holdfast.Cause) bool {
		return c.ID != "" && c.ID != hold.ID && c.Kind == coverKind && c.Level == cover.Level && c.EndsAt.IsZero() && c.StartsAt.Equal(hold.StartsAt) && c.Message == cover.Holder.Message
	}
	for _, a := range holdfast.Actions {
		d, err := eng.Check(ctx, holdfast.CheckRequest{Account: "u1", Action: a, View: holdfast.ViewHolder})
		if err != nil {
			t.Fatal(err)
		}
		if !d.RetryAfter.IsZero() {
			t.Errorf("%s: retry_after %v reveals the hold's end", a, d.RetryAfter)
		}
		for _, c := range d.Causes {
			if !shownAs(c) {
				t.Errorf("%s: holder cause leaks %+v", a, c)
			}
		}
	}
	st, err := eng.Status(ctx, "u1", holdfast.ViewStaff, holdfast.User("u1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Causes {
		if !shownAs(c.Cause) {
			t.Errorf("status leaks %+v", c)
		}
	}
	if _, err := eng.Extend(ctx, holdfast.ExtendRequest{Target: holdfast.Target{Account: "u1", Kind: holdfast.KindLawEnforcementHold}, By: holdfast.Duration(time.Hour), Actor: holdfast.User("u1")}); holdfast.ErrorCode(err) != holdfast.NotFound {
		t.Errorf("holder extending a hidden hold: %v, want not_found like any absent restriction", err)
	}
	support := holdfast.Staff("sue", holdfast.RoleSupport)
	rs, err := eng.List(ctx, holdfast.RestrictionFilter{Account: "u1"}, support)
	if err != nil || len(rs) != 1 || rs[0].Reason != "" {
		t.Errorf("support sees the hold's reason: %+v %v", rs, err)
	}
	rs, err = eng.List(ctx, holdfast.RestrictionFilter{Account: "u1"}, dan)
	if err != nil || len(rs) != 1 || rs[0].Reason != "secret order" {
		t.Errorf("liaison cannot see the reason: %+v %v", rs, err)
	}
}

// TestBadInputWritesNothing sends invalid requests and checks that the
// audit log is unchanged.
func TestBadInputWritesNothing(t *testing.T) {
	ctx := context.Background()
	eng, _ := newEngine(t, t.TempDir())
	alice := holdfast.Staff("alice", holdfast.RoleSupport)
	if _, err := eng.Apply(ctx, holdfast.ApplyRequest{Account: "u1", Kind: holdfast.KindReduceOnly, Actor: alice}); err != nil {
		t.Fatal(err)
	}
	before, _ := eng.History(ctx, "u1", holdfast.System)
	bad := []struct {
		name  string
		field string
		call  func() error
	}{
		{"unknown kind", "kind", func() error {
			_, err := eng.Apply(ctx, holdfast.ApplyRequest{Account: "u1", Kind: "moon", Actor: alice})
			return err
		}},
		{"too long", "duration", func() error {
			_, err := eng.PanicLock(ctx, "u1", holdfast.Duration(30*24*time.Hour), holdfast.User("u1"))
			return err
		}},
		{"bad account", "account", func() error {
			_, err := eng.Freeze(ctx, "u 1", holdfast.Duration(24*time.Hour), holdfast.User("u 1"))
			return err
		}},
		{"bad amount", "amount", func() error {
			_, err := eng.AuthorizeWithdrawal(ctx, holdfast.WithdrawalRequest{Account: "u1", ID: "w", Asset: "BTC", Amount: "1e9", Address: "a"})
			return err
		}},
		{"unknown action", "action", func() error {
			_, err := eng.Check(ctx, holdfast.CheckRequest{Account: "u1", Action: "fly"})
			return err
		}},
		{"extend without amount", "by", func() error {
			_, err := eng.Extend(ctx, holdfast.ExtendRequest{Target: holdfast.Target{Account: "u1", Kind: holdfast.KindReduceOnly}, Actor: alice})
			return err
		}},
	}
	for _, b := range bad {
		err := b.call()
		if holdfast.ErrorCode(err) != holdfast.InvalidArgument || holdfast.ErrorField(err) != b.field {
			t.Errorf("%s: got %v, want invalid_argument on %s", b.name, err, b.field)
		}
	}
	after, _ := eng.History(ctx, "u1", holdfast.System)
	if len(after) != len(before) {
		t.Fatalf("bad input wrote %d audit entries", len(after)-len(before))
	}
}

// TestPruneKeepsDecisions: pruning ended restrictions from the index frees
// memory and changes no answer.
func TestPruneKeepsDecisions(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	clk := &fixedClock{now: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)}
	eng, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default(), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Freeze(ctx, "u1", holdfast.Duration(24*time.Hour), holdfast.User("u1")); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Freeze(ctx, "u2", holdfast.Permanent, holdfast.User("u2")); err != nil {
		t.Fatal(err)
	}
	clk.now = clk.now.Add(25 * time.Hour)
	before := decisions(t, eng)
	if n := eng.Prune(); n != 1 {
		t.Fatalf("pruned %d restrictions, want 1", n)
	}
	if accounts, restrictions := eng.IndexStats(); accounts != 1 || restrictions != 1 {
		t.Fatalf("index holds %d accounts, %d restrictions after pruning; want 1, 1", accounts, restrictions)
	}
	if after := decisions(t, eng); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("pruning changed decisions:\nbefore %v\nafter  %v", before, after)
	}
}

type fixedClock struct{ now time.Time }

func (c *fixedClock) Now() time.Time { return c.now }

// TestRuleExplainsItself: a rule-applied restriction names its rule, event
// and evidence to staff, and the holder sees the message and steps only.
func TestRuleExplainsItself(t *testing.T) {
	ctx := context.Background()
	eng, _ := newEngine(t, t.TempDir())
	opm := 250.0
	res, err := eng.Ingest(ctx, holdfast.Event{ID: "ev-1", Type: holdfast.EventAPIActivity, Account: "u1", OrdersPerMinute: &opm})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != 1 || len(res.Commands) != 1 || res.Commands[0] != string(holdfast.CommandCancelSpotOrders) {
		t.Fatalf("ingest result %+v", res)
	}
	staff, _ := eng.Check(ctx, holdfast.CheckRequest{Account: "u1", Action: holdfast.ActionTrade})
	if len(staff.Causes) != 1 || staff.Causes[0].Origin == nil {
		t.Fatalf("staff cause lacks its origin: %+v", staff.Causes)
	}
	o := staff.Causes[0].Origin
	if o.Rule != "api_burst" || o.Event != "ev-1" || o.Evidence["event.orders_per_minute"] != "250" {
		t.Errorf("origin %+v", o)
	}
	holder, _ := eng.Check(ctx, holdfast.CheckRequest{Account: "u1", Action: holdfast.ActionTrade, View: holdfast.ViewHolder})
	if len(holder.Causes) != 1 || holder.Causes[0].Origin != nil || len(holder.Causes[0].Resolution) == 0 {
		t.Errorf("holder cause %+v", holder.Causes)
	}
	again, err := eng.Ingest(ctx, holdfast.Event{ID: "ev-1", Type: holdfast.EventAPIActivity, Account: "u1", OrdersPerMinute: &opm})
	if err != nil || !again.Duplicate || len(again.Applied) != 0 {
		t.Fatalf("replay: %+v %v", again, err)
	}
	h1, _ := eng.History(ctx, "u1", holdfast.System)
	if _, err := eng.Ingest(ctx, holdfast.Event{ID: "ev-1", Type: holdfast.EventAPIActivity, Account: "u1", OrdersPerMinute: &opm}); err != nil {
		t.Fatal(err)
	}
	if h2, _ := eng.History(ctx, "u1", holdfast.System); len(h2) != len(h1) {
		t.Errorf("a replayed event wrote %d audit entries", len(h2)-len(h1))
	}
}

// TestLawEnforcementCaseStaysWithLiaisons: the case reference of a
// law-enforcement request reaches only le_liaison and admin — not through
// a check's causes, a listing's origin, nor the event's audit entry.
func TestLawEnforcementCaseStaysWithLiaisons(t *testing.T) {
	ctx := context.Background()
	eng, _ := newEngine(t, t.TempDir())
	if _, err := eng.Ingest(ctx, holdfast.Event{ID: "le-1", Type: holdfast.EventLawEnforcementRequest, Account: "u1", CaseRef: "court-2026-114"}); err != nil {
		t.Fatal(err)
	}
	leaks := func(v any) bool {
		b, _ := json.Marshal(v)
		return strings.Contains(string(b), "court-2026-114")
	}
	d, _ := eng.Check(ctx, holdfast.CheckRequest{Account: "u1", Action: holdfast.ActionWithdraw})
	if d.Effect != holdfast.Deny || leaks(d.Causes) {
		t.Errorf("check leaks the case: %+v", d.Causes)
	}
	support := holdfast.Staff("sue", holdfast.RoleSupport)
	rs, _ := eng.List(ctx, holdfast.RestrictionFilter{Account: "u1"}, support)
	hist, _ := eng.History(ctx, "u1", support)
	for _, r := range rs {
		if leaks(r) {
			t.Errorf("support's listing leaks the case: %+v", r.Origin)
		}
	}
	for _, en := range hist {
		if leaks(string(en.After)) || leaks(string(en.Before)) || leaks(en.Reason) {
			t.Errorf("support's history leaks the case in %s entry %d", en.Action, en.Seq)
		}
	}
	dan := holdfast.Staff("dan", holdfast.RoleLELiaison)
	rs, _ = eng.List(ctx, holdfast.RestrictionFilter{Account: "u1"}, dan)
	if len(rs) != 1 || rs[0].Origin == nil || rs[0].Origin.Evidence["event.case_ref"] != "court-2026-114" {
		t.Errorf("the liaison cannot see the case: %+v", rs)
	}
}

// TestAnnounceExpiries: a restriction that ends by time is announced once
// through the outbox, however often the window is scanned; lifted ones
// are not, and a non-disclosable one is only told to its holder as the
// kind it is shown as, lifted.
func TestAnnounceExpiries(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	clk := &fixedClock{now: start}
	eng, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default(), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	alice := holdfast.Staff("alice", holdfast.RoleSupport)
	expiring, _ := eng.Apply(ctx, holdfast.ApplyRequest{Account: "u1", Kind: holdfast.KindCoolingOff, Actor: alice})
	lifted, _ := eng.Apply(ctx, holdfast.ApplyRequest{Account: "u1", Kind: holdfast.KindReduceOnly, Duration: holdfast.Duration(time.Hour), Actor: alice})
	if _, err := eng.Lift(ctx, holdfast.LiftRequest{Target: holdfast.Target{Restriction: lifted.ID}, Actor: alice}); err != nil {
		t.Fatal(err)
	}
	hidden := false
	hold, err := eng.Apply(ctx, holdfast.ApplyRequest{Account: "u2", Kind: holdfast.KindLawEnforcementHold, Duration: holdfast.Duration(time.Hour), Disclose: &hidden, Actor: holdfast.Staff("dan", holdfast.RoleLELiaison)})
	if err != nil {
		t.Fatal(err)
	}
	clk.now = start.Add(25 * time.Hour)
	for i, want := range []int{2, 0} {
		n, err := eng.AnnounceExpiries(ctx, start, clk.now)
		if err != nil || n != want {
			t.Fatalf("scan %d announced %d (%v), want %d", i, n, err, want)
		}
	}
	cmds, err := db.ListCommands(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var expired, told []string
	for _, d := range cmds {
		switch c := d.Command; {
		case c.Type == holdfast.CommandRestrictionExpired:
			expired = append(expired, c.Restriction)
		case c.Account == "u2" && c.Type == holdfast.CommandNotifyHolder:
			told = append(told, c.Notice+" "+c.Data["kind"]+" "+c.Restriction)
			if !regexp.MustCompile(`^ntf_[a-z2-7]{16}$`).MatchString(c.ID) || strings.Contains(c.ID, hold.ID) {
				told = append(told, "(an id unlike other notices' "+c.ID+")")
			}
		}
	}
	// Applied and ended, each as a terms_violation, naming no restriction.
	if want := []string{"restriction_lifted terms_violation ", "restriction_applied terms_violation "}; !slices.Equal(told, want) {
		t.Errorf("the hold's holder was told %q, want %q", told, want)
	}
	if len(expired) != 1 || expired[0] != expiring.ID {
		t.Fatalf("expired commands for %v, want only %s", expired, expiring.ID)
	}
}
