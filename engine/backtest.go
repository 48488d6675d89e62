package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast/holdfast"
)

// BacktestFunc replays JSONL events (holdfast.Event, one per line, each
// with its at) through candidate and baseline and returns a report that
// encodes as JSON: backtest.Run, which the server passes in (package
// backtest builds engines, so this one cannot import it).
type BacktestFunc func(ctx context.Context, events io.Reader, candidate, baseline *holdfast.Policy) (report any, err error)

// Defaults of the backtest a push starts (Config.Backtest*).
const (
	DefaultBacktestWindow    = 30 * 24 * time.Hour
	DefaultBacktestTimeout   = 10 * time.Minute
	DefaultBacktestMaxEvents = 1_000_000
	DefaultBacktestProgress  = 2 * time.Second
	// backtestGrace is how long a run may take, after it stopped reading
	// at its time cap, to replay what it read and write its report.
	backtestGrace = time.Minute
)

// backtests is the engine's side of the backtests pushes start.
type backtests struct {
	run       BacktestFunc
	window    time.Duration
	timeout   time.Duration
	maxEvents int64
	progress  time.Duration
	// one lets a single backtest run at a time on this node: each holds a
	// read of the store open and both replays busy for its whole run.
	one chan struct{}
	// wg counts the runs in flight (WaitBacktests).
	wg sync.WaitGroup
}

func newBacktests(cfg Config) *backtests {
	b := &backtests{run: cfg.Backtest, window: cfg.BacktestWindow, timeout: cfg.BacktestTimeout, maxEvents: cfg.BacktestMaxEvents, progress: cfg.BacktestProgress, one: make(chan struct{}, 1)}
	if b.window <= 0 {
		b.window = DefaultBacktestWindow
	}
	if b.timeout <= 0 {
		b.timeout = DefaultBacktestTimeout
	}
	if b.maxEvents <= 0 {
		b.maxEvents = DefaultBacktestMaxEvents
	}
	if b.progress <= 0 {
		b.progress = DefaultBacktestProgress
	}
	return b
}

// startBacktest records a running backtest of the version p just pushed,
// against the policy in force, and runs it in the background. A failure to
// record it is logged: the push stands.
func (e *Engine) startBacktest(ctx context.Context, p *holdfast.Policy) {
	bt := e.bt
	if bt.run == nil {
		return
	}
	baseline := e.policy()
	now := e.clock.Now()
	b := &holdfast.PolicyBacktest{Version: p.Hash, Baseline: baseline.Hash, State: holdfast.BacktestRunning, Since: now.Add(-bt.window), StartedAt: now, UpdatedAt: now}
	if err := e.store.StartPolicyBacktest(ctx, b); err != nil {
		e.log.Error("recording the backtest of a pushed policy version", "version", p.Hash, "err", err)
		return
	}
	bt.wg.Go(func() { e.runBacktest(b, p, baseline) })
}

// errBacktestCap stops reading the window's events at a cap.
var errBacktestCap = errors.New("backtest capped")

// runBacktest streams the window's recorded events, as JSONL, to the
// backtest, writes its progress every bt.progress, and its outcome.
func (e *Engine) runBacktest(b *holdfast.PolicyBacktest, candidate, baseline *holdfast.Policy) {
	bt := e.bt
	var read atomic.Int64
	// Progress is written from the start, while the run waits its turn
	// too, so that no node takes a queued run for an abandoned one.
	stopProgress := make(chan struct{})
	progressed := make(chan struct{})
	go func() {
		defer close(progressed)
		t := time.NewTicker(bt.progress)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
			}
			p := *b
			p.Events, p.UpdatedAt = read.Load(), e.clock.Now()
			wctx, cancel := context.WithTimeout(context.Background(), bt.progress)
			if err := e.store.UpdatePolicyBacktest(wctx, &p); err != nil {
				e.log.Warn("writing a backtest's progress", "version", b.Version, "err", err)
			}
			cancel()
		}
	}()

	bt.one <- struct{}{}
	defer func() { <-bt.one }()
	ctx, cancel := context.WithTimeout(context.Background(), bt.timeout+backtestGrace)
	defer cancel()

	var capped atomic.Value // string
	capped.Store("")
	pr, pw := io.Pipe()
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		stopAt := time.Now().Add(bt.timeout)
		w := bufio.NewWriterSize(pw, 64<<10)
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		err := e.store.Events(ctx, holdfast.EventFilter{After: b.Since}, func(ev *holdfast.Event) error {
			switch {
			case read.Load() >= bt.maxEvents:
				capped.Store(holdfast.BacktestCappedSize)
				return errBacktestCap
			case !time.Now().Before(stopAt):
				capped.Store(holdfast.BacktestCappedTime)
				return errBacktestCap
			}
			if err := enc.Encode(ev); err != nil {
				return err
			}
			read.Add(1)
			return nil
		})
		if errors.Is(err, errBacktestCap) {
			err = nil
		}
		if err == nil {
			err = w.Flush()
		}
		pw.CloseWithError(err)
	}()

	rep, err := bt.run(ctx, pr, candidate, baseline)
	pr.CloseWithError(errors.New("the backtest stopped reading")) // unblocks the feed if the run ended early
	<-fed
	close(stopProgress)
	<-progressed

	done := *b
	done.Events, done.Capped = read.Load(), capped.Load().(string)
	done.UpdatedAt = e.clock.Now()
	done.FinishedAt = done.UpdatedAt
	if err == nil {
		done.Report, err = json.Marshal(rep)
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("the backtest ran out of its %s: %w", bt.timeout+backtestGrace, err)
		}
		done.State, done.Error, done.Report = holdfast.BacktestFailed, err.Error(), nil
		e.log.Warn("backtest of a pushed policy version failed", "version", b.Version, "err", err)
	} else {
		done.State = holdfast.BacktestDone
		e.log.Info("backtest of a pushed policy version done", "version", b.Version, "events", done.Events, "capped", done.Capped)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if err := e.store.UpdatePolicyBacktest(wctx, &done); err != nil {
		e.log.Error("writing a backtest's outcome", "version", b.Version, "err", err)
	}
}

// WaitBacktests waits for the backtests this engine is running to end.
func (e *Engine) WaitBacktests() { e.bt.wg.Wait() }

// PolicyBacktest returns the backtest of version ref (hash or unique
// prefix; "" is the active version) with the version. A run whose node
// stopped writing its progress long ago is reported failed. Errors:
// not_found (the version, or a version pushed with no backtest).
func (e *Engine) PolicyBacktest(ctx context.Context, ref string) (*holdfast.PolicyVersion, *holdfast.PolicyBacktest, error) {
	v, err := e.PolicyVersion(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	b, err := e.store.PolicyBacktest(ctx, v.Hash)
	if err != nil {
		return nil, nil, err
	}
	if stale := 10*e.bt.progress + time.Minute; b.State == holdfast.BacktestRunning && e.clock.Now().Sub(b.UpdatedAt) > stale {
		b.State = holdfast.BacktestFailed
		b.Error = fmt.Sprintf("no progress written since %s: the node running it stopped", b.UpdatedAt.UTC().Format(time.RFC3339))
	}
	return v, b, nil
}
