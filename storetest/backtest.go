package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// testPolicyBacktest keeps a version's backtest: started running, its
// progress written and read back, finished with a report; one per
// version; outside every audit chain, and the state check stays clean.
func testPolicyBacktest(t *testing.T, h *harness) {
	ctx, s := h.ctx, h.s
	y := policyYAML("backtested")
	v := &holdfast.PolicyVersion{Hash: holdfast.PolicyHash(y), YAML: y, Author: "ann", CreatedAt: t0, State: holdfast.PolicyDraft}
	if err := s.PushPolicy(ctx, v, holdfast.PolicyEntry(holdfast.AuditEntry{At: t0, Actor: "staff:ann"}, holdfast.AuditPolicyPushed, v)); err != nil {
		t.Fatal(err)
	}
	_, err := s.PolicyBacktest(ctx, v.Hash)
	wantCode(t, "no backtest yet", err, holdfast.NotFound, "version")
	wantCode(t, "update a backtest never started", s.UpdatePolicyBacktest(ctx, &holdfast.PolicyBacktest{Version: v.Hash, State: holdfast.BacktestDone, UpdatedAt: t0}), holdfast.NotFound, "version")

	b := &holdfast.PolicyBacktest{Version: v.Hash, Baseline: "base", State: holdfast.BacktestRunning, Since: t0.Add(-30 * 24 * time.Hour), StartedAt: t0, UpdatedAt: t0}
	if err := s.StartPolicyBacktest(ctx, b); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "a second backtest of the version", s.StartPolicyBacktest(ctx, b), holdfast.Conflict, "version")
	check := func(step string, want *holdfast.PolicyBacktest) {
		t.Helper()
		got, err := s.PolicyBacktest(ctx, v.Hash)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		if string(gj) != string(wj) {
			t.Errorf("%s:\n got %s\nwant %s", step, gj, wj)
		}
	}
	check("started", b)

	// Progress, as a run writes it every few seconds.
	p := *b
	p.Events, p.UpdatedAt = 12345, t0.Add(3*time.Second)
	if err := s.UpdatePolicyBacktest(ctx, &p); err != nil {
		t.Fatal(err)
	}
	check("progress", &p)

	// Done, capped, with its report byte for byte.
	d := p
	d.State, d.Events, d.Capped, d.UpdatedAt, d.FinishedAt = holdfast.BacktestDone, 20000, holdfast.BacktestCappedSize, t0.Add(time.Minute), t0.Add(time.Minute)
	d.Report = json.RawMessage(`{"events":20000,"kinds":[{"kind":"reduce_only","baseline":0,"candidate":2}]}`)
	if err := s.UpdatePolicyBacktest(ctx, &d); err != nil {
		t.Fatal(err)
	}
	check("done", &d)
	h.reopen()
	s = h.s
	check("done, reopened", &d)

	// Failed, with why.
	f := d
	f.State, f.Error, f.Report = holdfast.BacktestFailed, "the store went away", nil
	if err := s.UpdatePolicyBacktest(ctx, &f); err != nil {
		t.Fatal(err)
	}
	check("failed", &f)

	// Not audited: the policy chain holds the push only, and the state
	// check finds nothing to say about the backtest's row.
	if hs := h.history(holdfast.PolicyAccount); len(hs) != 1 || hs[0].Action != holdfast.AuditPolicyPushed {
		t.Errorf("policy chain: %+v, want the push only", hs)
	}
	rep, err := s.VerifyState(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Breaks) != 0 {
		t.Errorf("VerifyState: %+v", rep.Breaks)
	}
}
