package rpc_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
)

// active lists the account's restrictions of kind in force, as staff see
// them.
func (e *env) active(account string, kind holdfast.Kind) []*holdfastv1.Restriction {
	e.t.Helper()
	res, err := e.as("admin").Restriction.List(context.Background(), connect.NewRequest(&holdfastv1.ListRequest{Account: account, Kind: string(kind), Active: true}))
	if err != nil {
		e.t.Fatal(err)
	}
	return res.Msg.Restrictions
}

// audited lists the actions of the account's audit entries, in order.
func (e *env) audited(account string) []string {
	e.t.Helper()
	res, err := e.as("admin").Restriction.History(context.Background(), connect.NewRequest(&holdfastv1.HistoryRequest{Account: account}))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, en := range res.Msg.Entries {
		out = append(out, en.Actor+" "+en.Action)
	}
	return out
}

// near reports whether t is within a minute of want.
func near(t, want time.Time) bool { return t.Sub(want).Abs() < time.Minute }

// TestDuressExtendsPanicLock: a duress signal during the holder's own 24 h
// panic lock leaves one lock that ends 7 d (the policy's maximum) after
// the signal, extended by the rule and audited as an extension.
func TestDuressExtendsPanicLock(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.as("self").Self.PanicLock(ctx, connect.NewRequest(&holdfastv1.PanicLockRequest{Account: "acct-d", Duration: "24h"})); err != nil {
		t.Fatal(err)
	}
	res := e.ingestJSON(`{"type":"duress_signal","account":"acct-d"}`)
	if got := kinds(t, res["extended"]); !slices.Equal(got, []string{"panic_lock"}) {
		t.Errorf("extended = %v, want [panic_lock]", got)
	}
	locks := e.active("acct-d", holdfast.KindPanicLock)
	if len(locks) != 1 {
		t.Fatalf("%d panic locks in force, want one: %v", len(locks), locks)
	}
	if end := locks[0].EndsAt.AsTime(); !near(end, time.Now().Add(7*24*time.Hour)) {
		t.Errorf("the panic lock ends at %s, want 7 d from now", end)
	}
	// Check answers with the new end at once.
	d := e.check(`{"account":"acct-d","action":"withdraw"}`)
	causes, _ := d["causes"].([]any)
	if d["effect"] != "deny" || len(causes) != 1 {
		t.Fatalf("check = %v, want deny by the one panic lock", d)
	}
	if end, err := time.Parse(time.RFC3339Nano, causes[0].(map[string]any)["ends_at"].(string)); err != nil || !end.Equal(locks[0].EndsAt.AsTime()) {
		t.Errorf("check's cause ends at %v (%v), want %s", end, err, locks[0].EndsAt.AsTime())
	}
	if h := e.audited("acct-d"); !slices.Contains(h, "rule:duress_signal extend") {
		t.Errorf("history %v has no extension by the duress rule", h)
	}
}

// TestBurstExtendsStaffReduceOnly: an API burst during a 1 h reduce_only
// set by staff leaves it in force 24 h from the burst.
func TestBurstExtendsStaffReduceOnly(t *testing.T) {
	e := newEnv(t)
	e.apply("alice", "acct-b", holdfast.KindReduceOnly, "1h")
	e.ingestJSON(`{"type":"api_activity","account":"acct-b","orders_per_minute":150}`)
	ros := e.active("acct-b", holdfast.KindReduceOnly)
	if len(ros) != 1 {
		t.Fatalf("%d reduce_only in force, want one: %v", len(ros), ros)
	}
	if end := ros[0].EndsAt.AsTime(); !near(end, time.Now().Add(24*time.Hour)) {
		t.Errorf("reduce_only ends at %s, want 24 h from now", end)
	}
}

// TestPanicLockExtensionFourEyes: a staff extension of a panic lock needs
// a reason; one past panic_lock_max_total (36500 d) only opens a request
// that the asker and an unqualified role cannot approve and a second
// compliance officer can; one within the bound applies at once.
func TestPanicLockExtensionFourEyes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	lock, err := e.as("self").Self.PanicLock(ctx, connect.NewRequest(&holdfastv1.PanicLockRequest{Account: "acct-p", Duration: "7d"}))
	if err != nil {
		t.Fatal(err)
	}
	id, end := lock.Msg.Restriction.Id, lock.Msg.Restriction.EndsAt.AsTime()
	extend := func(staff, by, reason string) (*holdfastv1.ExtendResponse, error) {
		res, err := e.as(staff).Restriction.Extend(ctx, connect.NewRequest(&holdfastv1.ExtendRequest{Restriction: id, By: by, Reason: reason}))
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	}

	_, err = extend("carol", "36500d", "")
	wantErr(t, err, holdfast.InvalidArgument, "reason")
	_, err = extend("carol", "1d", "  ")
	wantErr(t, err, holdfast.InvalidArgument, "reason")

	res, err := extend("carol", "36500d", "court order 17")
	if err != nil {
		t.Fatal(err)
	}
	p := res.Pending
	if res.Restriction != nil || p == nil || p.Op != "extend" || p.State != "pending" || p.AskedBy != "staff:carol" || p.GetReason() != "court order 17" ||
		!p.EndsAt.AsTime().Equal(end.Add(36500*24*time.Hour)) {
		t.Fatalf("extend past the bound = %v, want a pending extension request", res)
	}
	if got := e.active("acct-p", holdfast.KindPanicLock); len(got) != 1 || !got[0].EndsAt.AsTime().Equal(end) {
		t.Fatalf("the lock moved before a second person approved: %v", got)
	}
	// Asking again returns the same request.
	if again, err := extend("carol", "36500d", "court order 17"); err != nil || again.Pending.GetId() != p.Id {
		t.Fatalf("asking again = %v, %v; want request %s", again, err, p.Id)
	}

	_, err = e.as("carol").Restriction.Approve(ctx, connect.NewRequest(&holdfastv1.ApproveRequest{Request: p.Id}))
	wantErr(t, err, holdfast.PermissionDenied, "actor")
	_, err = e.as("alice").Restriction.Approve(ctx, connect.NewRequest(&holdfastv1.ApproveRequest{Request: p.Id}))
	wantErr(t, err, holdfast.PermissionDenied, "actor")

	list, err := e.as("dave").Restriction.ListApprovals(ctx, connect.NewRequest(&holdfastv1.ListApprovalsRequest{}))
	if err != nil || len(list.Msg.Approvals) != 1 || list.Msg.Approvals[0].Id != p.Id || list.Msg.Approvals[0].Op != "extend" {
		t.Fatalf("approvals = %v, %v", list, err)
	}
	approved, err := e.as("dave").Restriction.Approve(ctx, connect.NewRequest(&holdfastv1.ApproveRequest{Request: p.Id}))
	if err != nil {
		t.Fatal(err)
	}
	if r := approved.Msg.Restriction; r.Id != id || !r.EndsAt.AsTime().Equal(p.EndsAt.AsTime()) || r.LiftedAt != nil {
		t.Fatalf("approved = %v, want the lock ending at %s", r, p.EndsAt.AsTime())
	}
	h := e.audited("acct-p")
	for _, want := range []string{"staff:carol extend_requested", "staff:dave approve", "staff:dave extend"} {
		if !slices.Contains(h, want) {
			t.Errorf("history %v lacks %q", h, want)
		}
	}

	// Within the bound (a fresh lock): applied at once, reason kept.
	lock2, err := e.as("self").Self.PanicLock(ctx, connect.NewRequest(&holdfastv1.PanicLockRequest{Account: "acct-q", Duration: "7d"}))
	if err != nil {
		t.Fatal(err)
	}
	id = lock2.Msg.Restriction.Id
	res, err = extend("alice", "14d", "holder asked on the phone")
	if err != nil {
		t.Fatal(err)
	}
	if res.Pending != nil || !res.Restriction.EndsAt.AsTime().Equal(lock2.Msg.Restriction.EndsAt.AsTime().Add(14*24*time.Hour)) {
		t.Fatalf("extend within the bound = %v", res)
	}
}
