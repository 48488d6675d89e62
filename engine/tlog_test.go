package engine_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/sqlite"
	"github.com/holdfast/holdfast/tlog"
)

// Under a steady stream of writes, the log publishes a checkpoint once an
// interval, not one per integration: an integration that finds entries
// appended while it ran leaves them to the next tick. Publishing
// whenever anything waited kept the integrator on the single writer
// almost all the time, in batches of a few dozen entries, each with its
// own signed checkpoint.
func TestCheckpointsAtMostOncePerInterval(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	skey, _, err := tlog.GenerateKey("holdfast.test")
	if err != nil {
		t.Fatal(err)
	}
	cfg := engine.Config{Store: db, Policy: policy.Default()}
	if cfg.LogSigner, cfg.LogVerifierKey, err = tlog.NewSigner(skey); err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	const every, run = 200 * time.Millisecond, 1200 * time.Millisecond
	logCtx, stopLog := context.WithCancel(ctx)
	logDone := make(chan struct{})
	go func() { defer close(logDone); eng.RunLog(logCtx, every) }()

	var n atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(run)
	for range 8 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				i := n.Add(1)
				_, err := eng.AuthorizeWithdrawal(ctx, holdfast.WithdrawalRequest{
					Account: fmt.Sprintf("acct-%d", i%50), ID: fmt.Sprintf("w-%d", i), Asset: "USDT", Amount: "10", Address: "addr"})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	stopLog()
	<-logDone
	last, err := eng.PublishCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := db.VerifyLog(ctx, nil, cfg.LogVerifierKey)
	if err != nil || !rep.OK() || rep.Queued != 0 || rep.Leaves != last.Size {
		t.Fatalf("VerifyLog = %+v, %v; want every entry logged (%d)", rep, err, last.Size)
	}
	// One checkpoint per tick (a batch cap can split a tick's entries,
	// far beyond this test's rate), and the final one.
	if limit := int64(run/every) + 2; int64(rep.Checkpoints) > limit {
		t.Errorf("%d checkpoints published for %d withdrawals in %v at one per %v: want at most %d",
			rep.Checkpoints, n.Load(), run, every, limit)
	}
}
