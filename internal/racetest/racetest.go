// Package racetest is the race between a panic lock and a flood of
// withdrawals, run by every store: on one node, and on several sharing a
// database.
package racetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
)

// PanicLockRace floods an account with withdrawal authorizations spread
// over nodes while its holder hits the panic button on the first, and
// checks that every approval committed before the lock and every
// authorization after it was denied.
func PanicLockRace(t *testing.T, nodes ...*engine.Engine) {
	t.Helper()
	eng := nodes[0]
	ctx := context.Background()
	const workers = 16
	var (
		wg      sync.WaitGroup
		stop    atomic.Bool
		mu      sync.Mutex
		results []*holdfast.Withdrawal
		n       atomic.Int64
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				res, err := nodes[w%len(nodes)].AuthorizeWithdrawal(ctx, holdfast.WithdrawalRequest{
					Account: "victim", ID: fmt.Sprintf("w-%d-%d", w, i), Asset: "USDT", Amount: "100", Address: "thief",
				})
				if err != nil {
					t.Error(err)
					return
				}
				n.Add(1)
				mu.Lock()
				results = append(results, res)
				mu.Unlock()
			}
		}()
	}
	for n.Load() < 200 {
		time.Sleep(time.Millisecond)
	}
	lock, err := eng.PanicLock(ctx, "victim", 0, holdfast.User("victim"))
	if err != nil {
		t.Fatal(err)
	}
	after := n.Load()
	for n.Load() < after+200 {
		time.Sleep(time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()

	history, err := eng.History(ctx, "victim", holdfast.System)
	if err != nil {
		t.Fatal(err)
	}
	var lockSeq int64
	for _, e := range history {
		if e.Action == holdfast.AuditApply && e.Restriction == lock.ID {
			lockSeq = e.Seq
		}
	}
	if lockSeq == 0 {
		t.Fatal("panic lock not in the audit log")
	}
	var approvedBefore, deniedAfter int
	for _, w := range results {
		switch {
		case w.Outcome == holdfast.Approve && w.Seq > lockSeq:
			t.Fatalf("withdrawal %s approved at seq %d, after the panic lock committed at seq %d", w.ID, w.Seq, lockSeq)
		case w.Seq > lockSeq && w.Outcome != holdfast.DenyOutcome:
			t.Fatalf("withdrawal %s after the lock got %s", w.ID, w.Outcome)
		case w.Seq < lockSeq && w.Outcome != holdfast.Approve:
			t.Fatalf("withdrawal %s before the lock got %s", w.ID, w.Outcome)
		case w.Seq > lockSeq:
			deniedAfter++
		default:
			approvedBefore++
		}
	}
	if approvedBefore < 200 || deniedAfter < 200 {
		t.Fatalf("race not exercised: %d approved before, %d denied after", approvedBefore, deniedAfter)
	}
	report, err := eng.VerifyAudit(ctx, "victim")
	if err != nil || !report.OK() {
		t.Fatalf("audit chain: %+v %v", report, err)
	}
}
