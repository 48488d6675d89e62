package storetest

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// Missing things are reported with the documented codes and fields.
func testNotFound(t *testing.T, h *harness) {
	_, err := h.s.Account(h.ctx, "nobody")
	wantCode(t, "Account", err, holdfast.NotFound, "account")
	_, err = h.s.Restriction(h.ctx, "nothing")
	wantCode(t, "Restriction", err, holdfast.NotFound, "restriction")
	_, err = h.s.Approval(h.ctx, "nothing")
	wantCode(t, "Approval", err, holdfast.NotFound, "request")
	_, err = h.s.Staff(h.ctx, "nobody")
	wantCode(t, "Staff", err, holdfast.NotFound, "")
	_, err = h.s.TokenByHash(h.ctx, "0000")
	wantCode(t, "TokenByHash", err, holdfast.Unauthenticated, "")
	if es, err := h.s.History(h.ctx, "nobody"); err != nil || len(es) != 0 {
		t.Errorf("History(nobody) = %v, %v; want empty", es, err)
	}
	h.verifyOK("nobody", 0, 0)
}

// Staff members and tokens are stored, replaced and read back.
func testStaffAndTokens(t *testing.T, h *harness) {
	s := &holdfast.StaffMember{ID: "s1", Roles: []holdfast.Role{holdfast.RoleSupport}, CreatedAt: t0}
	if err := h.s.PutStaff(h.ctx, s); err != nil {
		t.Fatal(err)
	}
	s.Roles = append(s.Roles, holdfast.RoleCompliance)
	if err := h.s.PutStaff(h.ctx, s); err != nil {
		t.Fatal(err)
	}
	got, err := h.s.Staff(h.ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "Staff", got, s)

	tok := &holdfast.Token{Hash: "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8", ID: "tok1",
		Scopes: []holdfast.Scope{holdfast.ScopeStaff, holdfast.ScopeCheck}, Staff: "s1", CreatedAt: t0.Add(time.Second)}
	service := &holdfast.Token{Hash: "ffff", ID: "tok2", Scopes: []holdfast.Scope{holdfast.ScopeCheck}, CreatedAt: t0}
	for _, tk := range []*holdfast.Token{tok, service} {
		if err := h.s.PutToken(h.ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []*holdfast.Token{tok, service} {
		got, err := h.s.TokenByHash(h.ctx, want.Hash)
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, "Token "+want.ID, got, want)
		if got.Hash != want.Hash {
			t.Errorf("Token %s hash = %q, want %q", want.ID, got.Hash, want.Hash)
		}
	}
	// Revoking one token leaves the other; the revoked one is kept, marked.
	if err := h.s.RevokeToken(h.ctx, tok.ID, sysEntry(t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	got2, err := h.s.TokenByHash(h.ctx, tok.Hash)
	if err != nil || !got2.RevokedAt.Equal(t0.Add(time.Hour)) || got2.State(t0.Add(2*time.Hour)) != "revoked" {
		t.Errorf("a revoked token: %+v %v, want it revoked at t0+1h", got2, err)
	}
	if got, err := h.s.TokenByHash(h.ctx, service.Hash); err != nil || !got.RevokedAt.IsZero() {
		t.Errorf("revoking tok1 took tok2 too: %+v %v", got, err)
	}
	wantCode(t, "revoking an unknown token", h.s.RevokeToken(h.ctx, "tok-nope", sysEntry(t0)), holdfast.NotFound, "id")
	wantCode(t, "revoking a token twice", h.s.RevokeToken(h.ctx, tok.ID, sysEntry(t0.Add(2*time.Hour))), holdfast.FailedPrecondition, "id")
	if got, _ := h.s.TokenByHash(h.ctx, tok.Hash); !got.RevokedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("a second revoke moved the revocation to %s", got.RevokedAt)
	}
	// Only the revoke that happened is audited.
	if es := h.history(holdfast.StaffAccount); len(es) != 1 || es[0].Action != holdfast.AuditTokenRevoked {
		t.Errorf("staff chain after one revoke and two refused: %+v", es)
	}
}

// sysEntry is an entry for a staff or token change by the system.
func sysEntry(at time.Time) *holdfast.AuditEntry {
	return &holdfast.AuditEntry{At: at, Actor: "system", Reason: "by a test"}
}

// Staff are listed, disabled and removed with an audit entry in the same
// transaction; removing revokes the member's tokens; tokens expire and
// keep their last use, which never moves back.
func testStaffLifecycle(t *testing.T, h *harness) {
	a := &holdfast.StaffMember{ID: "alice", Roles: []holdfast.Role{holdfast.RoleSupport}, CreatedAt: t0}
	b := &holdfast.StaffMember{ID: "bob", Roles: []holdfast.Role{holdfast.RoleAdmin}, CreatedAt: t0}
	for _, m := range []*holdfast.StaffMember{b, a} {
		if err := h.s.ChangeStaff(h.ctx, m, &holdfast.AuditEntry{At: t0, Actor: "system", Action: holdfast.AuditStaffAdded}); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := h.s.ListStaff(h.ctx)
	if err != nil || len(ms) != 2 || ms[0].ID != "alice" || ms[1].ID != "bob" {
		t.Fatalf("ListStaff = %+v, %v; want alice, bob", ms, err)
	}
	tokA := &holdfast.Token{Hash: "aaaa", ID: "tokA", Scopes: []holdfast.Scope{holdfast.ScopeStaff}, Staff: "alice", CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}
	tokB := &holdfast.Token{Hash: "bbbb", ID: "tokB", Scopes: []holdfast.Scope{holdfast.ScopeStaff}, Staff: "bob", CreatedAt: t0.Add(time.Second)}
	for _, tk := range []*holdfast.Token{tokA, tokB} {
		if err := h.s.CreateToken(h.ctx, tk, sysEntry(tk.CreatedAt)); err != nil {
			t.Fatal(err)
		}
	}
	// A token that cannot be stored (its id is taken) is not audited.
	if err := h.s.CreateToken(h.ctx, &holdfast.Token{Hash: "cccc", ID: "tokA", CreatedAt: t0}, sysEntry(t0)); err == nil {
		t.Error("CreateToken with a taken id succeeded")
	}
	if got, _ := h.s.TokenByHash(h.ctx, "aaaa"); got.State(t0) != "active" || got.State(t0.Add(24*time.Hour)) != "expired" {
		t.Errorf("token with an expiry: %+v", got)
	}
	// Last use moves forward only.
	for _, at := range []time.Time{t0.Add(time.Hour), t0.Add(time.Minute)} {
		if err := h.s.TouchToken(h.ctx, "tokA", at); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.s.TouchToken(h.ctx, "tok-nope", t0); err != nil {
		t.Errorf("touching an unknown token: %v", err)
	}

	disabled := *a
	disabled.DisabledAt = t0.Add(time.Minute)
	if err := h.s.ChangeStaff(h.ctx, &disabled, &holdfast.AuditEntry{At: t0.Add(time.Minute), Actor: "system", Action: holdfast.AuditStaffDisabled}); err != nil {
		t.Fatal(err)
	}
	got, err := h.s.Staff(h.ctx, "alice")
	if err != nil || got.Active() || !got.DisabledAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("disabled alice: %+v %v", got, err)
	}
	removed := *b
	removed.RemovedAt, removed.Roles = t0.Add(2*time.Minute), nil
	if err := h.s.ChangeStaff(h.ctx, &removed, &holdfast.AuditEntry{At: t0.Add(2 * time.Minute), Actor: "system", Action: holdfast.AuditStaffRemoved}); err != nil {
		t.Fatal(err)
	}
	if got, err := h.s.Staff(h.ctx, "bob"); err != nil || got.Active() || !got.RemovedAt.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("removed bob is kept, marked: %+v %v", got, err)
	}
	ts, err := h.s.Tokens(h.ctx)
	if err != nil || len(ts) != 2 || ts[0].ID != "tokA" || ts[1].ID != "tokB" {
		t.Fatalf("Tokens = %+v, %v", ts, err)
	}
	if !ts[0].LastUsedAt.Equal(t0.Add(time.Hour)) || !ts[0].RevokedAt.IsZero() || !ts[0].ExpiresAt.Equal(t0.Add(24*time.Hour)) {
		t.Errorf("alice's token (disabled, not removed): %+v", ts[0])
	}
	if !ts[1].RevokedAt.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("removing bob left his token %+v", ts[1])
	}
	// Every change is in the staff chain, and the chain verifies. Token
	// entries carry the token (id, scopes, staff, expiry), never its hash;
	// removing bob revoked his token with an entry of its own.
	var actions []string
	for _, e := range h.history(holdfast.StaffAccount) {
		actions = append(actions, e.Action)
		for _, raw := range []string{string(e.Before), string(e.After), e.Reason} {
			if strings.Contains(raw, "aaaa") || strings.Contains(raw, "bbbb") || strings.Contains(raw, "hash") {
				t.Errorf("entry %d (%s) holds a token hash: %s", e.Seq, e.Action, raw)
			}
		}
		if e.Actor != "system" {
			t.Errorf("entry %d (%s) names %q, want system", e.Seq, e.Action, e.Actor)
		}
		var tok holdfast.Token
		switch e.Action {
		case holdfast.AuditTokenCreated:
			if json.Unmarshal(e.After, &tok) != nil || len(e.Before) != 0 || (tok.ID == "tokA") != tok.ExpiresAt.Equal(tokA.ExpiresAt) || len(tok.Scopes) != 1 || tok.Staff == "" {
				t.Errorf("token_created entry: before %s after %s", e.Before, e.After)
			}
		case holdfast.AuditTokenRevoked:
			if json.Unmarshal(e.After, &tok) != nil || tok.ID != "tokB" || !tok.RevokedAt.Equal(t0.Add(2*time.Minute)) || !strings.Contains(e.Reason, "bob") {
				t.Errorf("token_revoked entry: after %s, reason %q", e.After, e.Reason)
			}
		}
	}
	if want := []string{"staff_added", "staff_added", "token_created", "token_created", "staff_disabled", "staff_removed", "token_revoked"}; !slices.Equal(actions, want) {
		t.Errorf("staff chain %v, want %v", actions, want)
	}
	h.verifyOK(holdfast.StaffAccount, 1, 7)

	// A change that cannot be audited is not made.
	bad := *a
	bad.Roles = []holdfast.Role{holdfast.RoleAdmin}
	if err := h.s.ChangeStaff(h.ctx, &bad, &holdfast.AuditEntry{Account: "someone-else", At: t0, Actor: "system", Action: holdfast.AuditStaffUpdated}); err == nil {
		t.Error("ChangeStaff with an entry for another chain succeeded")
	}
	if got, _ := h.s.Staff(h.ctx, "alice"); slices.Contains(got.Roles, holdfast.RoleAdmin) {
		t.Errorf("a failed ChangeStaff left its change: %+v", got)
	}
}

// A sign-in link is used once; links are forgotten once expired.
func testUseLink(t *testing.T, h *harness) {
	if err := h.s.UseLink(h.ctx, "link1", t0.Add(15*time.Minute), t0); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "a second use", h.s.UseLink(h.ctx, "link1", t0.Add(15*time.Minute), t0.Add(time.Minute)), holdfast.Unauthenticated, "token")
	if err := h.s.UseLink(h.ctx, "link2", t0.Add(15*time.Minute), t0.Add(time.Minute)); err != nil {
		t.Errorf("another link: %v", err)
	}
	// Concurrent uses of one link: exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if h.s.UseLink(h.ctx, "link3", t0.Add(15*time.Minute), t0) == nil {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d concurrent uses of one link succeeded, want 1", wins.Load())
	}
}

// Everything committed survives closing and reopening the store, and the
// chain goes on from where it was.
func testReopen(t *testing.T, h *harness) {
	r := restriction("r1", "a1", holdfast.KindSelfFreeze, t0, 7*24*time.Hour)
	h.save("a1", t0, r)
	ap := &holdfast.Approval{ID: "p1", Account: "a1", Restriction: "r1", Kind: r.Kind, AskedBy: "staff:s1",
		CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), State: holdfast.ApprovalPending,
		Op: holdfast.ApprovalExtend, EndsAt: t0.Add(60 * 24 * time.Hour)}
	h.update("a1", t0, func(tx holdfast.AccountTx) error { return tx.SaveApproval(ap) })
	if err := h.s.PutStaff(h.ctx, &holdfast.StaffMember{ID: "s1", Roles: []holdfast.Role{holdfast.RoleAdmin}, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := h.s.PutToken(h.ctx, &holdfast.Token{Hash: "abcd", ID: "tok1", Scopes: []holdfast.Scope{holdfast.ScopeStaff}, Staff: "s1", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	before := h.history("a1")

	h.reopen()

	got, err := h.s.Restriction(h.ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "restriction after reopen", got, r)
	if got, err := h.s.Approval(h.ctx, "p1"); err != nil {
		t.Errorf("Approval after reopen: %v", err)
	} else {
		sameJSON(t, "approval after reopen", got, ap)
	}
	if _, err := h.s.Staff(h.ctx, "s1"); err != nil {
		t.Errorf("Staff after reopen: %v", err)
	}
	if _, err := h.s.TokenByHash(h.ctx, "abcd"); err != nil {
		t.Errorf("TokenByHash after reopen: %v", err)
	}
	sameJSON(t, "history after reopen", h.history("a1"), before)
	h.update("a1", t0, func(tx holdfast.AccountTx) error {
		e := entry("a1", t0, holdfast.AuditAccountUpdated, "")
		if err := tx.Append(e); err != nil {
			return err
		}
		if e.Seq != int64(len(before))+1 {
			t.Errorf("first entry after reopen has seq %d, want %d", e.Seq, len(before)+1)
		}
		return nil
	})
	h.verifyOK("", 1, int64(len(before))+1)
}
