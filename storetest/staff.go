package storetest

import (
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
	// Revoking one token leaves the other.
	if err := h.s.RevokeToken(h.ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	_, err = h.s.TokenByHash(h.ctx, tok.Hash)
	wantCode(t, "a revoked token", err, holdfast.Unauthenticated, "")
	if _, err := h.s.TokenByHash(h.ctx, service.Hash); err != nil {
		t.Errorf("revoking tok1 took tok2 too: %v", err)
	}
	wantCode(t, "revoking an unknown token", h.s.RevokeToken(h.ctx, "tok-nope"), holdfast.NotFound, "id")
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
