package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/policy"
)

// setClock is a clock the test moves.
type setClock struct{ now time.Time }

func (c *setClock) Now() time.Time { return c.now }

// MigratedWithdrawalTotals checks that withdrawals recorded before
// migration 022 still count towards the daily limit after it: open opens
// the store, downgrade takes the closed store back to schema 021 (without
// the running totals, as an older binary left it). The limit, a retry,
// the audit chains and the state check are the same as without the
// migration.
func MigratedWithdrawalTotals(t *testing.T, open func() holdfast.Store, downgrade func()) {
	ctx := t.Context()
	clock := &setClock{now: t0}
	start := func() (holdfast.Store, *engine.Engine) {
		t.Helper()
		s := open()
		eng, err := engine.New(ctx, engine.Config{Store: s, Policy: policy.Default(), Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		return s, eng
	}
	authorize := func(eng *engine.Engine, account, id, amount string, at time.Time) *holdfast.Withdrawal {
		t.Helper()
		clock.now = at
		w, err := eng.AuthorizeWithdrawal(ctx, holdfast.WithdrawalRequest{Account: account, ID: id, Asset: "USDT", Amount: amount, Address: "a1"})
		if err != nil {
			t.Fatalf("authorize %s/%s: %v", account, id, err)
		}
		return w
	}
	wantReviews := func(w *holdfast.Withdrawal, want ...string) {
		t.Helper()
		var got []string
		for _, c := range w.Causes {
			got = append(got, c.Review)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: causes %v (outcome %s), want %v", w.ID, got, w.Outcome, want)
		}
	}
	s, eng := start()
	// The window (24 h) before t0+1h holds 100,000 × 3 + 150,000 (in
	// review, which counts) = 450,000; w-old is outside it.
	wantReviews(authorize(eng, "m1", "w-old", "100000", t0.Add(-24*time.Hour)))
	for i := range 3 {
		wantReviews(authorize(eng, "m1", fmt.Sprintf("w%d", i), "100000", t0.Add(time.Duration(i)*time.Minute)))
	}
	wantReviews(authorize(eng, "m1", "w-big", "150000", t0.Add(10*time.Minute)), "single_over_limit")
	wantReviews(authorize(eng, "m2", "w-other", "100000", t0))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	downgrade()

	s, eng = start()
	at := t0.Add(time.Hour)
	over := authorize(eng, "m1", "w-over", "60000", at)
	wantReviews(over, "daily_over_limit")
	if again := authorize(eng, "m1", "w-over", "60000", at.Add(time.Second)); again.Seq != over.Seq || again.Outcome != over.Outcome {
		t.Errorf("retry = %+v, want %+v", again, over)
	}
	wantReviews(authorize(eng, "m2", "w-under", "60000", at))
	// 450,000 + 60,000, the retry counted once.
	wantReviews(authorize(eng, "m1", "w-after", "1", at.Add(time.Minute)), "daily_over_limit")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, eng = start()
	defer s.Close()
	wantReviews(authorize(eng, "m1", "w-later", "40000", t0.Add(24*time.Hour+time.Nanosecond)))
	// 450,001 in the window now; w1 (t0+1m) leaves it a minute later.
	wantReviews(authorize(eng, "m1", "w-later2", "50000", t0.Add(24*time.Hour+30*time.Second)), "daily_over_limit")
	wantReviews(authorize(eng, "m1", "w-later3", "50000", t0.Add(24*time.Hour+time.Minute+time.Nanosecond)))

	rep, err := s.VerifyAudit(context.WithoutCancel(ctx), "")
	if err != nil || len(rep.Breaks) != 0 {
		t.Errorf("VerifyAudit = %+v, %v", rep, err)
	}
	st, err := s.VerifyState(ctx, "")
	if err != nil || len(st.Breaks) != 0 {
		t.Errorf("VerifyState = %+v, %v", st, err)
	}
}
