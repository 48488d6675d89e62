package storetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// The pages' sessions: in force until their absolute end or their idle
// bound, whichever comes first; a use moves the idle bound; a sign-out,
// the account's secure_account transaction and a staff member's disabling
// end them.
func testPageSessions(t *testing.T, h *harness) {
	start := func(hash string, site holdfast.PageSite, subject string, idle, life time.Duration) {
		t.Helper()
		if err := h.s.StartPageSession(h.ctx, &holdfast.PageSession{Hash: hash, Site: site, Subject: subject, CreatedAt: t0, Idle: idle, ExpiresAt: t0.Add(life)}); err != nil {
			t.Fatal(err)
		}
	}
	in := func(hash string, at time.Time) *holdfast.PageSession {
		t.Helper()
		ps, err := h.s.PageSession(h.ctx, hash, at)
		if err != nil {
			t.Fatalf("session %s at +%s: %v", hash, at.Sub(t0), err)
		}
		return ps
	}
	out := func(hash string, at time.Time, why string) {
		t.Helper()
		_, err := h.s.PageSession(h.ctx, hash, at)
		wantCode(t, "session "+hash+" "+why, err, holdfast.Unauthenticated, "session")
	}

	start("h1", holdfast.SiteHolder, "u1", 0, 15*time.Minute)
	ps := in("h1", t0.Add(time.Minute))
	if ps.Site != holdfast.SiteHolder || ps.Subject != "u1" || !ps.CreatedAt.Equal(t0) || !ps.ExpiresAt.Equal(t0.Add(15*time.Minute)) || ps.Idle != 0 {
		t.Errorf("holder session read back as %+v", ps)
	}
	in("h1", t0.Add(15*time.Minute-time.Nanosecond))
	out("h1", t0.Add(15*time.Minute), "at its end")
	out("nope", t0, "never started")

	// Staff: 30 min idle within 8 h. Each use moves the idle bound.
	start("s1", holdfast.SiteStaff, "alice", 30*time.Minute, 8*time.Hour)
	in("s1", t0.Add(20*time.Minute))
	if ps := in("s1", t0.Add(40*time.Minute)); !ps.LastSeenAt.Equal(t0.Add(40 * time.Minute)) {
		t.Errorf("last use after a read at +40m: %s", ps.LastSeenAt)
	}
	out("s1", t0.Add(70*time.Minute), "idle for 30 min")
	// Busy to the end: the absolute bound holds.
	start("s2", holdfast.SiteStaff, "alice", 30*time.Minute, time.Hour)
	for m := 20; m < 60; m += 20 {
		in("s2", t0.Add(time.Duration(m)*time.Minute))
	}
	out("s2", t0.Add(time.Hour), "at its absolute end")

	// Sign-out.
	start("s3", holdfast.SiteStaff, "alice", 30*time.Minute, 8*time.Hour)
	if err := h.s.EndPageSession(h.ctx, "s3"); err != nil {
		t.Fatal(err)
	}
	out("s3", t0.Add(time.Second), "after its sign-out")
	if err := h.s.EndPageSession(h.ctx, "s3"); err != nil {
		t.Errorf("ending an ended session: %v", err)
	}

	// The account's transaction ends its holder sessions, not another
	// account's, not staff's; a rolled-back one ends none.
	start("h2", holdfast.SiteHolder, "u2", 0, time.Hour)
	start("h3", holdfast.SiteHolder, "u2", 0, time.Hour)
	start("h4", holdfast.SiteHolder, "u3", 0, time.Hour)
	start("s4", holdfast.SiteStaff, "u2", 30*time.Minute, time.Hour)
	err := h.s.Update(h.ctx, "u2", t0, func(tx holdfast.AccountTx) error {
		if err := tx.EndHolderSessions(); err != nil {
			return err
		}
		return holdfast.Errorf(holdfast.FailedPrecondition, "account", "changed my mind")
	})
	wantCode(t, "the failed update", err, holdfast.FailedPrecondition, "account")
	in("h2", t0.Add(time.Second))
	h.update("u2", t0, func(tx holdfast.AccountTx) error { return tx.EndHolderSessions() })
	out("h2", t0.Add(time.Second), "after the account ended them")
	out("h3", t0.Add(time.Second), "after the account ended them")
	in("h4", t0.Add(time.Second))
	in("s4", t0.Add(time.Second))

	// Disabling a staff member ends their Console sessions; enabling them
	// again brings none back.
	m := &holdfast.StaffMember{ID: "bob", Roles: []holdfast.Role{holdfast.RoleSupport}, CreatedAt: t0}
	if err := h.s.PutStaff(h.ctx, m); err != nil {
		t.Fatal(err)
	}
	start("s5", holdfast.SiteStaff, "bob", 30*time.Minute, time.Hour)
	start("h5", holdfast.SiteHolder, "bob", 0, time.Hour)
	disabled := *m
	disabled.DisabledAt = t0.Add(time.Second)
	if err := h.s.ChangeStaff(h.ctx, &disabled, &holdfast.AuditEntry{At: t0.Add(time.Second), Actor: "system", Action: holdfast.AuditStaffDisabled}); err != nil {
		t.Fatal(err)
	}
	if err := h.s.ChangeStaff(h.ctx, m, &holdfast.AuditEntry{At: t0.Add(2 * time.Second), Actor: "system", Action: holdfast.AuditStaffEnabled}); err != nil {
		t.Fatal(err)
	}
	out("s5", t0.Add(3*time.Second), "of a member disabled meanwhile")
	in("h5", t0.Add(3*time.Second)) // an account named like him is not him

	if err := h.s.StartPageSession(h.ctx, &holdfast.PageSession{Hash: "x", Site: "other", Subject: "u1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); holdfast.ErrorCode(err) != holdfast.InvalidArgument {
		t.Errorf("a session of an unknown site: %v", err)
	}
}

// A TOTP time step signs a member in once, on any handle; an older step
// never after a newer one.
func testTOTPStep(t *testing.T, h *harness) {
	for _, id := range []string{"alice", "bob"} {
		if err := h.s.PutStaff(h.ctx, &holdfast.StaffMember{ID: id, Roles: []holdfast.Role{holdfast.RoleSupport}, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	step := t0.Unix() / 30
	if err := h.s.UseTOTPStep(h.ctx, "alice", step); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "the same step again", h.s.UseTOTPStep(h.ctx, "alice", step), holdfast.Unauthenticated, "code")
	wantCode(t, "an older step", h.s.UseTOTPStep(h.ctx, "alice", step-1), holdfast.Unauthenticated, "code")
	if err := h.s.UseTOTPStep(h.ctx, "bob", step); err != nil {
		t.Errorf("another member's code of the same step: %v", err)
	}
	if err := h.s.UseTOTPStep(h.ctx, "alice", step+1); err != nil {
		t.Errorf("the next step: %v", err)
	}
	wantCode(t, "an unknown member", h.s.UseTOTPStep(h.ctx, "nobody", step), holdfast.NotFound, "staff")
	// Replacing the member (a new password) does not forget the step.
	if err := h.s.PutStaff(h.ctx, &holdfast.StaffMember{ID: "alice", Roles: []holdfast.Role{holdfast.RoleAdmin}, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "a used step after PutStaff", h.s.UseTOTPStep(h.ctx, "alice", step+1), holdfast.Unauthenticated, "code")

	// Concurrent uses of one step: exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if h.s.UseTOTPStep(h.ctx, "bob", step+5) == nil {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d concurrent uses of one step succeeded, want 1", wins.Load())
	}
}
