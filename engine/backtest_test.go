package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/backtest"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/sqlite"
)

func runBacktest(ctx context.Context, events io.Reader, candidate, baseline *holdfast.Policy) (any, error) {
	return backtest.Run(ctx, events, candidate, baseline)
}

// backtestEngine is an engine on a real store that backtests every push
// with cfg's caps, with five bursts of 80 orders a minute recorded.
func backtestEngine(t *testing.T, cfg engine.Config) *engine.Engine {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store, cfg.Policy = db, policy.Default()
	eng, err := engine.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.WaitBacktests(); db.Close() })
	if _, err := eng.InstallPolicy(ctx); err != nil {
		t.Fatal(err)
	}
	opm := 80.0
	for i := range 5 {
		if _, err := eng.Ingest(ctx, holdfast.Event{ID: fmt.Sprintf("ev-%d", i), Type: holdfast.EventAPIActivity, Account: fmt.Sprintf("bt-%d", i), OrdersPerMinute: &opm}); err != nil {
			t.Fatal(err)
		}
	}
	return eng
}

// pushStricter pushes api_burst at 50 instead of 100 orders a minute and
// waits for its backtest to end.
func pushStricter(t *testing.T, eng *engine.Engine) *holdfast.PolicyBacktest {
	t.Helper()
	ctx := context.Background()
	yml := bytes.Replace(policy.DefaultYAML(), []byte("event.orders_per_minute > 100.0"), []byte("event.orders_per_minute > 50.0"), 1)
	v, err := eng.PushPolicy(ctx, holdfast.Staff("ann", holdfast.RoleCompliance), yml, "stricter")
	if err != nil {
		t.Fatal(err)
	}
	if _, b, err := eng.PolicyBacktest(ctx, v.Hash); err != nil || b.Baseline != policy.Default().Hash {
		t.Fatalf("right after the push: %+v, %v (want a run against the default)", b, err)
	}
	eng.WaitBacktests()
	_, b, err := eng.PolicyBacktest(ctx, v.Hash[:10])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBacktestCapped: a run that reaches its size cap replays that many
// events and says it was capped; one that reaches its time cap at once
// replays none and says so; both still compare the policies.
func TestBacktestCapped(t *testing.T) {
	b := pushStricter(t, backtestEngine(t, engine.Config{Backtest: runBacktest, BacktestMaxEvents: 2}))
	if b.State != holdfast.BacktestDone || b.Events != 2 || b.Capped != holdfast.BacktestCappedSize || b.FinishedAt.IsZero() {
		t.Fatalf("size-capped backtest: %+v", b)
	}
	var rep backtest.Report
	if err := json.Unmarshal(b.Report, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Events != 2 || len(rep.Kinds) != 1 || rep.Kinds[0].Kind != "reduce_only" || fmt.Sprint(rep.Kinds[0].OnlyCandidate) != "[bt-0 bt-1]" {
		t.Errorf("size-capped report: %s", b.Report)
	}

	b = pushStricter(t, backtestEngine(t, engine.Config{Backtest: runBacktest, BacktestTimeout: time.Nanosecond}))
	if b.State != holdfast.BacktestDone || b.Events != 0 || b.Capped != holdfast.BacktestCappedTime {
		t.Fatalf("time-capped backtest: %+v", b)
	}

	// Uncapped: all five, not capped.
	b = pushStricter(t, backtestEngine(t, engine.Config{Backtest: runBacktest}))
	if b.State != holdfast.BacktestDone || b.Events != 5 || b.Capped != "" {
		t.Fatalf("backtest: %+v", b)
	}
}

// TestBacktestFailed: a run whose replay fails is failed, with why, and
// no report.
func TestBacktestFailed(t *testing.T) {
	broken := func(ctx context.Context, events io.Reader, candidate, baseline *holdfast.Policy) (any, error) {
		io.Copy(io.Discard, io.LimitReader(events, 10))
		return nil, errors.New("the replay's disk is full")
	}
	b := pushStricter(t, backtestEngine(t, engine.Config{Backtest: broken}))
	if b.State != holdfast.BacktestFailed || b.Error != "the replay's disk is full" || b.Report != nil {
		t.Fatalf("failed backtest: %+v", b)
	}
}

// TestBacktestProgress: while a run goes, the events it has read are
// written to the store, where any reader sees them.
func TestBacktestProgress(t *testing.T) {
	ctx := context.Background()
	release := make(chan struct{})
	slow := func(ctx context.Context, events io.Reader, candidate, baseline *holdfast.Policy) (any, error) {
		n, err := io.Copy(io.Discard, events)
		<-release
		return map[string]int64{"bytes": n}, err
	}
	eng := backtestEngine(t, engine.Config{Backtest: slow, BacktestProgress: 10 * time.Millisecond})
	yml := bytes.Replace(policy.DefaultYAML(), []byte("event.orders_per_minute > 100.0"), []byte("event.orders_per_minute > 50.0"), 1)
	v, err := eng.PushPolicy(ctx, holdfast.Staff("ann", holdfast.RoleCompliance), yml, "")
	if err != nil {
		t.Fatal(err)
	}
	var b *holdfast.PolicyBacktest
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if _, b, err = eng.PolicyBacktest(ctx, v.Hash); err != nil {
			t.Fatal(err)
		}
		if b.Events == 5 {
			break
		}
	}
	if b.State != holdfast.BacktestRunning || b.Events != 5 || !b.FinishedAt.IsZero() {
		t.Errorf("while running: %+v", b)
	}
	close(release)
	eng.WaitBacktests()
	if _, b, err = eng.PolicyBacktest(ctx, v.Hash); err != nil || b.State != holdfast.BacktestDone || b.Events != 5 || !strings.HasPrefix(string(b.Report), `{"bytes":`) {
		t.Errorf("done: %+v, %v", b, err)
	}
}
