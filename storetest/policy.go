package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// policyYAML is a distinct policy document per name.
func policyYAML(name string) []byte {
	return []byte("# policy " + name + "\nrules:\n  - name: " + name + "\n")
}

// collidingPolicies returns two documents whose hashes share at least
// their first 8 hex digits, and how many they share.
func collidingPolicies() (a, b []byte, shared int) {
	seen := map[string][]byte{}
	for i := 0; ; i++ {
		y := policyYAML(fmt.Sprintf("twin-%d", i))
		h := holdfast.PolicyHash(y)
		if o, ok := seen[h[:8]]; ok {
			oh := holdfast.PolicyHash(o)
			n := 0
			for n < len(h) && h[n] == oh[n] {
				n++
			}
			return o, y, n
		}
		seen[h[:8]] = y
	}
}

// testPolicy walks policy versions through their life: pushed, found by
// hash or prefix, installed, shadowed, activated by request and approval
// (or rejected), rolled back; every write is one entry of the policy
// chain, a refused one writes nothing, and the chain and the policy
// tables verify.
func testPolicy(t *testing.T, h *harness) {
	ctx, s := h.ctx, h.s
	at := func(d time.Duration) *holdfast.AuditEntry {
		return &holdfast.AuditEntry{At: t0.Add(d), Actor: "staff:ann", Reason: "because"}
	}
	var want []string // the chain's actions so far
	chain := func(step string, add ...string) {
		t.Helper()
		want = append(want, add...)
		var got []string
		for _, e := range h.history(holdfast.PolicyAccount) {
			got = append(got, e.Action)
			if e.Account != holdfast.PolicyAccount || strings.Contains(string(e.After)+string(e.Before), "rules:") {
				t.Errorf("%s: entry %d (%s) is on %s or holds the YAML: %s", step, e.Seq, e.Action, e.Account, e.After)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: policy chain %v, want %v", step, got, want)
		}
	}
	version := func(what, hash string, state holdfast.PolicyState) *holdfast.PolicyVersion {
		t.Helper()
		v, err := s.PolicyVersion(ctx, hash)
		if err != nil {
			t.Fatalf("%s: PolicyVersion(%s): %v", what, hash, err)
		}
		if v.State != state {
			t.Errorf("%s: version %s is %s, want %s", what, hash[:12], v.State, state)
		}
		return v
	}

	// An empty store: nothing active, nothing shadowed, nothing listed.
	_, err := s.ActivePolicy(ctx)
	wantCode(t, "ActivePolicy, empty", err, holdfast.NotFound, "")
	if v, err := s.ShadowPolicy(ctx); v != nil || err != nil {
		t.Errorf("ShadowPolicy, empty = %+v, %v", v, err)
	}
	if vs, err := s.PolicyVersions(ctx); err != nil || len(vs) != 0 {
		t.Errorf("PolicyVersions, empty = %v, %v", vs, err)
	}
	if as, err := s.PolicyActivations(ctx, false); err != nil || len(as) != 0 {
		t.Errorf("PolicyActivations, empty = %v, %v", as, err)
	}

	// Install the first policy; a second install is refused.
	y1 := policyYAML("one")
	v1 := &holdfast.PolicyVersion{YAML: y1, Comment: "first", Author: "staff:ann"}
	if err := s.InstallPolicy(ctx, v1, at(0)); err != nil {
		t.Fatal(err)
	}
	h1 := holdfast.PolicyHash(y1)
	chain("install", holdfast.AuditPolicyPushed, holdfast.AuditPolicyActivated)
	act, err := s.ActivePolicy(ctx)
	if err != nil || act.Hash != h1 || string(act.YAML) != string(y1) || !act.ActivatedAt.Equal(t0) || !act.CreatedAt.Equal(t0) || act.Comment != "first" {
		t.Fatalf("ActivePolicy after install = %+v, %v", act, err)
	}
	y2 := policyYAML("two")
	h2 := holdfast.PolicyHash(y2)
	err = s.InstallPolicy(ctx, &holdfast.PolicyVersion{YAML: y2}, at(time.Second))
	wantCode(t, "second InstallPolicy", err, holdfast.FailedPrecondition, "")
	_, err = s.PolicyVersion(ctx, h2)
	wantCode(t, "version of a refused install", err, holdfast.NotFound, "hash")
	chain("refused install")

	// Push: a new draft; the same bytes again are a conflict naming the
	// stored version's state; a wrong hash or no YAML is refused.
	v2 := &holdfast.PolicyVersion{YAML: y2, Comment: "second", Author: "staff:ann", CreatedAt: t0.Add(time.Minute)}
	if err := s.PushPolicy(ctx, v2, at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	chain("push", holdfast.AuditPolicyPushed)
	err = s.PushPolicy(ctx, &holdfast.PolicyVersion{YAML: y2, CreatedAt: t0.Add(2 * time.Minute)}, at(2*time.Minute))
	wantCode(t, "push twice", err, holdfast.Conflict, "")
	if err == nil || !strings.Contains(err.Error(), "draft") {
		t.Errorf("push twice: %v, want it to name the state (draft)", err)
	}
	err = s.PushPolicy(ctx, &holdfast.PolicyVersion{YAML: y1}, at(2*time.Minute))
	wantCode(t, "push the active version", err, holdfast.Conflict, "")
	if err == nil || !strings.Contains(err.Error(), "active") {
		t.Errorf("push the active version: %v, want it to name the state (active)", err)
	}
	err = s.PushPolicy(ctx, &holdfast.PolicyVersion{YAML: policyYAML("three"), Hash: h2}, at(2*time.Minute))
	wantCode(t, "push with a wrong hash", err, holdfast.InvalidArgument, "hash")
	err = s.PushPolicy(ctx, &holdfast.PolicyVersion{}, at(2*time.Minute))
	wantCode(t, "push nothing", err, holdfast.InvalidArgument, "")
	chain("refused pushes")

	// Found by its hash, or by a prefix of 8 or more hex digits (either
	// case); shorter, not hex, or shared by two versions is refused.
	got := version("by hash", h2, holdfast.PolicyDraft)
	sameJSON(t, "pushed version", got, &holdfast.PolicyVersion{Hash: h2, Comment: "second", Author: "staff:ann", CreatedAt: t0.Add(time.Minute), State: holdfast.PolicyDraft})
	if string(got.YAML) != string(y2) {
		t.Errorf("YAML = %q, want %q", got.YAML, y2)
	}
	version("by prefix", h2[:8], holdfast.PolicyDraft)
	version("by upper-case prefix", strings.ToUpper(h2[:10]), holdfast.PolicyDraft)
	_, err = s.PolicyVersion(ctx, h2[:7])
	wantCode(t, "7-digit prefix", err, holdfast.InvalidArgument, "hash")
	_, err = s.PolicyVersion(ctx, "zzzzzzzz")
	wantCode(t, "not hex", err, holdfast.InvalidArgument, "hash")
	unknown := "00000000"
	for strings.HasPrefix(h1, unknown) || strings.HasPrefix(h2, unknown) {
		unknown = "11111111"
	}
	_, err = s.PolicyVersion(ctx, unknown)
	wantCode(t, "unknown prefix", err, holdfast.NotFound, "hash")
	ya, yb, shared := collidingPolicies()
	for i, y := range [][]byte{ya, yb} {
		if err := s.PushPolicy(ctx, &holdfast.PolicyVersion{YAML: y, Comment: fmt.Sprintf("twin %d", i)}, at(time.Duration(3+i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	chain("push twins", holdfast.AuditPolicyPushed, holdfast.AuditPolicyPushed)
	ha, hb := holdfast.PolicyHash(ya), holdfast.PolicyHash(yb)
	_, err = s.PolicyVersion(ctx, ha[:shared])
	wantCode(t, "shared prefix", err, holdfast.InvalidArgument, "hash")
	if v, err := s.PolicyVersion(ctx, hb[:shared+1]); err != nil || v.Hash != hb {
		t.Errorf("PolicyVersion(%s) = %+v, %v; want %s", hb[:shared+1], v, err, hb)
	}

	// Listed newest first.
	vs, err := s.PolicyVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, v := range vs {
		listed = append(listed, v.Hash)
	}
	if want := []string{hb, ha, h2, h1}; !slices.Equal(listed, want) {
		t.Errorf("PolicyVersions = %v, want newest first %v", listed, want)
	}

	// Ask to activate v2 (by prefix): pending. While it is pending no
	// other request is taken; the active version cannot be asked for.
	a1 := &holdfast.PolicyActivation{ID: "pact-1", Hash: h2[:8], Reason: "ship it", RequestedBy: "staff:ann"}
	if err := s.RequestPolicyActivation(ctx, a1, at(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	chain("request", holdfast.AuditPolicyActivationAsked)
	got1, err := s.PolicyActivation(ctx, "pact-1")
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "pending activation", got1, &holdfast.PolicyActivation{ID: "pact-1", Hash: h2, Reason: "ship it", RequestedBy: "staff:ann",
		RequestedAt: t0.Add(10 * time.Minute), State: holdfast.ActivationPending})
	err = s.RequestPolicyActivation(ctx, &holdfast.PolicyActivation{ID: "pact-x", Hash: ha, RequestedBy: "staff:ann"}, at(11*time.Minute))
	wantCode(t, "second request while one is pending", err, holdfast.FailedPrecondition, "")
	err = s.RequestPolicyActivation(ctx, &holdfast.PolicyActivation{ID: "pact-y", Hash: h1, RequestedBy: "staff:ann"}, at(11*time.Minute))
	wantCode(t, "request for the active version", err, holdfast.FailedPrecondition, "")
	err = s.RequestPolicyActivation(ctx, &holdfast.PolicyActivation{ID: "pact-z", Hash: unknown, RequestedBy: "staff:ann"}, at(11*time.Minute))
	wantCode(t, "request for an unknown version", err, holdfast.NotFound, "")
	for _, id := range []string{"pact-x", "pact-y", "pact-z"} {
		_, err := s.PolicyActivation(ctx, id)
		wantCode(t, "refused request "+id, err, holdfast.NotFound, "id")
	}
	if as, err := s.PolicyActivations(ctx, true); err != nil || len(as) != 1 || as[0].ID != "pact-1" {
		t.Errorf("PolicyActivations(pending) = %v, %v", as, err)
	}
	chain("refused requests")

	// Shadow v2 while it waits; the active version cannot be shadowed.
	if err := s.SetPolicyShadow(ctx, h2, at(12*time.Minute)); err != nil {
		t.Fatal(err)
	}
	chain("shadow", holdfast.AuditPolicyShadowed)
	if v, err := s.ShadowPolicy(ctx); err != nil || v == nil || v.Hash != h2 || v.State != holdfast.PolicyShadow {
		t.Errorf("ShadowPolicy = %+v, %v; want %s", v, err, h2)
	}
	err = s.SetPolicyShadow(ctx, h1, at(13*time.Minute))
	wantCode(t, "shadow the active version", err, holdfast.FailedPrecondition, "")
	if err := s.SetPolicyShadow(ctx, h2[:8], at(13*time.Minute)); err != nil {
		t.Errorf("shadow the shadowed version again: %v", err)
	}
	chain("refused and repeated shadows")

	// Approve: v2 is active (no longer shadowed), v1 retired, the request
	// approved by bob; deciding it again is a conflict.
	dec := at(20 * time.Minute)
	dec.Actor = "staff:bob"
	v, err := s.DecidePolicyActivation(ctx, "pact-1", true, "staff:bob", dec)
	if err != nil {
		t.Fatal(err)
	}
	chain("approve", holdfast.AuditPolicyActivated)
	if v == nil || v.Hash != h2 || v.State != holdfast.PolicyActive || v.ApprovedBy != "staff:bob" || v.RequestedBy != "staff:ann" || !v.ActivatedAt.Equal(dec.At) {
		t.Errorf("DecidePolicyActivation returned %+v", v)
	}
	if act, err := s.ActivePolicy(ctx); err != nil || act.Hash != h2 {
		t.Errorf("ActivePolicy after approval = %+v, %v", act, err)
	}
	version("the previous active version", h1, holdfast.PolicyRetired)
	if v, err := s.ShadowPolicy(ctx); v != nil || err != nil {
		t.Errorf("ShadowPolicy after its version was activated = %+v, %v; want none", v, err)
	}
	got1, err = s.PolicyActivation(ctx, "pact-1")
	if err != nil || got1.State != holdfast.ActivationApproved || got1.DecidedBy != "staff:bob" || !got1.DecidedAt.Equal(dec.At) {
		t.Errorf("approved activation = %+v, %v", got1, err)
	}
	_, err = s.DecidePolicyActivation(ctx, "pact-1", false, "staff:carol", at(21*time.Minute))
	wantCode(t, "decide twice", err, holdfast.Conflict, "")
	_, err = s.DecidePolicyActivation(ctx, "pact-none", true, "staff:carol", at(21*time.Minute))
	wantCode(t, "decide an unknown activation", err, holdfast.NotFound, "")
	if g, _ := s.PolicyActivation(ctx, "pact-1"); g == nil || g.State != holdfast.ActivationApproved || g.DecidedBy != "staff:bob" {
		t.Errorf("a refused decision changed the activation: %+v", g)
	}
	err = s.RequestPolicyActivation(ctx, &holdfast.PolicyActivation{ID: "pact-1", Hash: ha, RequestedBy: "staff:ann"}, at(22*time.Minute))
	wantCode(t, "request with a used id", err, holdfast.Conflict, "")
	chain("refused decisions")

	// Reject: the version stays a draft, the active one stays.
	if err := s.RequestPolicyActivation(ctx, &holdfast.PolicyActivation{ID: "pact-2", Hash: ha, Reason: "try", RequestedBy: "staff:ann"}, at(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	v, err = s.DecidePolicyActivation(ctx, "pact-2", false, "staff:bob", at(31*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	chain("reject", holdfast.AuditPolicyActivationAsked, holdfast.AuditPolicyActivationRejected)
	if v == nil || v.Hash != ha || v.State != holdfast.PolicyDraft {
		t.Errorf("rejected: returned %+v", v)
	}
	if g, err := s.PolicyActivation(ctx, "pact-2"); err != nil || g.State != holdfast.ActivationRejected || g.DecidedBy != "staff:bob" || !g.DecidedAt.Equal(t0.Add(31*time.Minute)) {
		t.Errorf("rejected activation = %+v, %v", g, err)
	}
	version("rejected", ha, holdfast.PolicyDraft)
	if act, err := s.ActivePolicy(ctx); err != nil || act.Hash != h2 {
		t.Errorf("ActivePolicy after a rejection = %+v, %v", act, err)
	}

	// One shadow at a time: shadowing another sends the first back to
	// draft; stopping leaves none, and stopping again changes nothing.
	if err := s.SetPolicyShadow(ctx, ha, at(40*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPolicyShadow(ctx, hb, at(41*time.Minute)); err != nil {
		t.Fatal(err)
	}
	version("replaced shadow", ha, holdfast.PolicyDraft)
	version("new shadow", hb, holdfast.PolicyShadow)
	if err := s.SetPolicyShadow(ctx, "", at(42*time.Minute)); err != nil {
		t.Fatal(err)
	}
	version("stopped shadow", hb, holdfast.PolicyDraft)
	if err := s.SetPolicyShadow(ctx, "", at(43*time.Minute)); err != nil {
		t.Fatal(err)
	}
	chain("shadows", holdfast.AuditPolicyShadowed, holdfast.AuditPolicyShadowed, holdfast.AuditPolicyShadowStopped)

	// Roll back: activating the retired v1 is a rollback, and retires v2.
	a3 := &holdfast.PolicyActivation{ID: "pact-3", Hash: h1, Reason: "v2 misbehaves", RequestedBy: "staff:bob"}
	if err := s.RequestPolicyActivation(ctx, a3, at(50*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if !a3.Rollback {
		t.Error("activating a retired version is not marked a rollback")
	}
	if v, err = s.DecidePolicyActivation(ctx, "pact-3", true, "staff:ann", at(51*time.Minute)); err != nil || v.Hash != h1 || v.State != holdfast.PolicyActive {
		t.Fatalf("approve the rollback: %+v, %v", v, err)
	}
	chain("rollback", holdfast.AuditPolicyActivationAsked, holdfast.AuditPolicyActivated)
	if act, err := s.ActivePolicy(ctx); err != nil || act.Hash != h1 || act.RequestedBy != "staff:bob" || act.ApprovedBy != "staff:ann" || !act.ActivatedAt.Equal(t0.Add(51*time.Minute)) {
		t.Errorf("ActivePolicy after rollback = %+v, %v", act, err)
	}
	version("rolled back from", h2, holdfast.PolicyRetired)
	as, err := s.PolicyActivations(ctx, false)
	var order []string
	for _, a := range as {
		order = append(order, a.ID)
	}
	if err != nil || !slices.Equal(order, []string{"pact-3", "pact-2", "pact-1"}) {
		t.Errorf("PolicyActivations = %v, %v; want newest first", order, err)
	}
	if g, err := s.PolicyActivation(ctx, "pact-3"); err != nil || !g.Rollback {
		t.Errorf("stored rollback = %+v, %v", g, err)
	}

	// The chain verifies, and the policy tables are what it says.
	n := int64(len(want))
	h.verifyOK(holdfast.PolicyAccount, 1, n)
	for _, scope := range []string{"", holdfast.PolicyAccount} {
		rep, err := s.VerifyState(ctx, scope)
		if err != nil || !rep.OK() || rep.Accounts != 1 || rep.Entries != n {
			t.Errorf("VerifyState(%q) = %+v, %v; want OK over 1 chain of %d entries", scope, rep, err, n)
		}
	}

	// It all survives a reopen.
	h.reopen()
	if act, err := h.s.ActivePolicy(ctx); err != nil || act.Hash != h1 || string(act.YAML) != string(y1) {
		t.Errorf("ActivePolicy after reopen = %+v, %v", act, err)
	}
}
