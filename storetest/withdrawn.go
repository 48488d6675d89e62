package storetest

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// WithdrawnSince is the sum of CountedUSD over Withdrawals(since), for
// any since, whatever order the withdrawals were decided and saved in
// (a node's clock behind another's saves one before the newest), within
// an update and after a reopen; a withdrawal saved twice counts once.
func testWithdrawnSince(t *testing.T, h *harness) {
	rng := rand.New(rand.NewPCG(7, 21))
	outcomes := []holdfast.Outcome{holdfast.Approve, holdfast.ReviewOutcome, holdfast.DenyOutcome}
	n := 0
	next := func() *holdfast.Withdrawal {
		n++
		w := &holdfast.Withdrawal{
			WithdrawalRequest: holdfast.WithdrawalRequest{Account: "a1", ID: fmt.Sprintf("w%03d", n), Asset: "USDT",
				Amount: fmt.Sprintf("%d.%02d", rng.IntN(100000), rng.IntN(100)), Address: "x"},
			Outcome: outcomes[rng.IntN(len(outcomes))], Causes: []holdfast.Cause{}, HolderCauses: []holdfast.Cause{},
			// Mostly forwards, sometimes back, sometimes the same instant.
			DecidedAt: t0.Add(time.Duration(rng.IntN(48*60)-6*60) * time.Minute),
			Seq:       int64(n),
		}
		if rng.IntN(3) == 0 {
			w.Asset, w.USDValue = "ETH", fmt.Sprintf("%d.%03d", rng.IntN(5000), rng.IntN(1000))
		}
		if rng.IntN(8) == 0 {
			w.DecidedAt = t0.Add(6 * time.Hour) // a tie on decided_at
		}
		return w
	}
	check := func(tx holdfast.AccountTx, when string) {
		t.Helper()
		for _, since := range []time.Time{t0.Add(-7 * time.Hour), t0, t0.Add(6 * time.Hour), t0.Add(12*time.Hour + time.Duration(rng.IntN(1e6))), t0.Add(-24 * time.Hour), t0.Add(100 * time.Hour)} {
			ws, err := tx.Withdrawals(since)
			if err != nil {
				t.Fatal(err)
			}
			want := new(big.Rat)
			for _, w := range ws {
				want.Add(want, w.CountedUSD())
			}
			got, err := tx.WithdrawnSince(since)
			if err != nil {
				t.Fatal(err)
			}
			if got.Cmp(want) != 0 {
				t.Errorf("%s: WithdrawnSince(%s) = %s, want %s over %d withdrawals", when, since.Format(time.RFC3339Nano), got.FloatString(3), want.FloatString(3), len(ws))
			}
		}
	}
	for round := range 12 {
		h.update("a1", t0, func(tx holdfast.AccountTx) error {
			if round%2 == 0 {
				check(tx, fmt.Sprintf("round %d, before saving", round))
			}
			for range 1 + rng.IntN(4) {
				if err := tx.SaveWithdrawal(next()); err != nil {
					return err
				}
			}
			check(tx, fmt.Sprintf("round %d, after saving", round))
			return nil
		})
		if round == 5 {
			h.reopen()
		}
	}
	// A second save of a recorded id fails and moves no total.
	h.update("a1", t0, func(tx holdfast.AccountTx) error {
		check(tx, "before the repeat")
		return nil
	})
	ws := []*holdfast.Withdrawal(nil)
	h.update("a1", t0, func(tx holdfast.AccountTx) error {
		var err error
		ws, err = tx.Withdrawals(t0.Add(-1000 * time.Hour))
		return err
	})
	again := *ws[len(ws)/2]
	again.Account = ""
	err := h.s.Update(h.ctx, "a1", t0, func(tx holdfast.AccountTx) error { return tx.SaveWithdrawal(&again) })
	wantCode(t, "saving "+again.ID+" again", err, holdfast.Conflict, "")
	h.update("a1", t0, func(tx holdfast.AccountTx) error {
		check(tx, "after the repeat")
		return nil
	})
	h.update("nobody", t0, func(tx holdfast.AccountTx) error {
		if got, err := tx.WithdrawnSince(t0); err != nil || got.Sign() != 0 {
			t.Errorf("WithdrawnSince of an account with none = %v, %v", got, err)
		}
		return nil
	})
}
