// Package backtest replays a recorded event history through two policies
// and reports, per restriction kind, which accounts each would restrict, so
// a policy change is judged on real traffic before it ships (issue 3, item
// 6; `holdfast backtest`).
//
// Each policy runs on the real engine over a fresh embedded store in a
// temporary directory (removed afterwards), with a virtual clock set to each
// event's `at` before the event is ingested, exactly as `holdfast simulate`
// runs a scenario. The replay starts from nothing: every account is new at
// its first event (no known devices, deposits or tags from before the file).
//
// Memory stays bounded by streaming: both replays consume the file in one
// pass, side by side (a line is decoded once and handed to both engines,
// each in its own goroutine), so the file is never held in memory, is read
// once and may be a pipe. What memory holds is the set of account ids (for
// the count), each engine's index of restrictions in force (pruned as the
// virtual clock moves on), and at the end the restricted accounts per kind;
// the history itself lives in the temporary stores. Each event is committed
// to both stores: about 1,100–1,400 events/s on 2 cores, and a third more
// with TMPDIR on a memory file system (BenchmarkRun).
package backtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/sqlite"
)

// Report is what a backtest found. Its JSON form is `holdfast backtest
// --json`.
type Report struct {
	// Events counts the valid lines replayed (an id repeated on the same
	// account counts, though the engine ignores it as in production).
	Events int64 `json:"events"`
	// Accounts counts the distinct accounts of those events.
	Accounts int `json:"accounts"`
	// OutOfOrder counts events whose `at` was before an earlier line's: they
	// are replayed at that earlier time, since virtual time never runs
	// backwards.
	OutOfOrder int64 `json:"out_of_order,omitempty"`
	// Kinds has one entry per kind that either policy applied to at least
	// one account, in docs/design.md order.
	Kinds []KindReport `json:"kinds"`
	// Invalid lists the lines that were skipped (the first MaxInvalid of
	// them, by line); InvalidCount counts them all.
	Invalid      []Invalid `json:"invalid"`
	InvalidCount int64     `json:"invalid_count"`
	// RuleErrors lists, per policy, the rules whose condition failed to
	// evaluate during the replay (each failed closed or open, as its
	// on_error says): a policy with any is one to fix before it ships.
	RuleErrors []RuleError `json:"rule_errors"`
}

// RuleError is a rule that failed to evaluate, with how often.
type RuleError struct {
	Policy      string `json:"policy"`
	Rule        string `json:"rule"`
	Count       uint64 `json:"count"`
	FailsClosed bool   `json:"fails_closed"`
	LastError   string `json:"last_error"`
}

// KindReport compares one kind: how many accounts each policy restricted
// with it at any time during the replay, and which accounts only one of
// them did (sorted).
type KindReport struct {
	Kind          holdfast.Kind `json:"kind"`
	Baseline      int           `json:"baseline"`
	Candidate     int           `json:"candidate"`
	OnlyBaseline  []string      `json:"only_baseline"`
	OnlyCandidate []string      `json:"only_candidate"`
}

// Differs reports whether the two policies restricted different accounts.
func (k *KindReport) Differs() bool { return len(k.OnlyBaseline)+len(k.OnlyCandidate) > 0 }

// Invalid is a skipped line: not JSON, an unknown field, an event that
// fails validation, one without `at`, or (with Policy set) an event that
// policy's engine refused.
type Invalid struct {
	Line   int64  `json:"line"`
	Policy string `json:"policy,omitempty"`
	Error  string `json:"error"`
}

const (
	// MaxInvalid bounds the invalid lines a report lists, so that a wrong
	// file does not make a report as large as itself.
	MaxInvalid = 1000
	// MaxLineBytes is the longest line read; longer lines are invalid.
	MaxLineBytes = 1 << 20

	baselineName  = "baseline"
	candidateName = "candidate"
	// pruneEvery is how often (in events) a replica drops ended
	// restrictions from its engine's index, to bound its memory.
	pruneEvery = 4096
)

// Run replays the JSONL events (holdfast.Event, one per line, in time
// order) through the candidate and the baseline policy (nil: the embedded
// default) and compares what they restricted. Bad lines are reported in the
// Report and skipped; the error is for I/O, the store and ctx.
func Run(ctx context.Context, events io.Reader, candidate, baseline *holdfast.Policy) (rep *Report, err error) {
	if candidate == nil {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "policy", "a backtest needs a candidate policy")
	}
	if baseline == nil {
		baseline = policy.Default()
	}
	dir, err := os.MkdirTemp("", "holdfast-backtest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var all []*replica // baseline, candidate
	defer func() {
		for _, r := range all {
			err = errors.Join(err, r.store.Close())
		}
		if err != nil {
			rep = nil
		}
	}()
	for i, p := range [2]*holdfast.Policy{baseline, candidate} {
		name := [2]string{baselineName, candidateName}[i]
		r, err := newReplica(ctx, filepath.Join(dir, name), name, p)
		if err != nil {
			return nil, err
		}
		all = append(all, r)
	}

	var wg sync.WaitGroup
	for _, r := range all {
		wg.Go(func() { r.run(ctx, cancel) })
	}
	rd := &reader{invalid: []Invalid{}}
	readErr := rd.read(ctx, events, func(it *item) error {
		for _, r := range all {
			select {
			case r.in <- it:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		return nil
	})
	for _, r := range all {
		close(r.in)
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err // a replica failed, or the caller gave up
	}
	if readErr != nil {
		return nil, readErr
	}

	rep = &Report{Events: rd.events, Accounts: len(rd.accounts), OutOfOrder: rd.outOfOrder, Kinds: []KindReport{}, Invalid: rd.invalid, InvalidCount: rd.invalidCount, RuleErrors: []RuleError{}}
	for _, r := range all {
		rep.Invalid = append(rep.Invalid, r.invalid...)
		rep.InvalidCount += r.invalidCount
		for _, re := range r.eng.RuleErrors() {
			rep.RuleErrors = append(rep.RuleErrors, RuleError{Policy: r.name, Rule: re.Rule, Count: re.Count, FailsClosed: re.FailsClosed, LastError: re.LastError})
		}
	}
	slices.SortStableFunc(rep.Invalid, func(a, b Invalid) int {
		if a.Line != b.Line {
			return int(a.Line - b.Line)
		}
		return cmpString(a.Policy, b.Policy)
	})
	if len(rep.Invalid) > MaxInvalid {
		rep.Invalid = rep.Invalid[:MaxInvalid]
	}

	var restricted [2]map[holdfast.Kind]map[string]bool
	for i, r := range all {
		if restricted[i], err = r.restrictedAccounts(ctx); err != nil {
			return nil, err
		}
	}
	for _, k := range holdfast.Kinds {
		base, cand := restricted[0][k], restricted[1][k]
		if len(base) == 0 && len(cand) == 0 {
			continue
		}
		rep.Kinds = append(rep.Kinds, KindReport{
			Kind: k, Baseline: len(base), Candidate: len(cand),
			OnlyBaseline: missingFrom(base, cand), OnlyCandidate: missingFrom(cand, base),
		})
	}
	return rep, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// missingFrom returns the accounts of a not in b, sorted.
func missingFrom(a, b map[string]bool) []string {
	out := []string{}
	for acct := range a {
		if !b[acct] {
			out = append(out, acct)
		}
	}
	slices.Sort(out)
	return out
}

// restrictedAccounts lists, per kind, every account the replica's policy
// restricted at any time: the store keeps lifted and ended restrictions, so
// this is every restriction the replay applied, by a rule or by the engine
// itself (the recovery_cooldown that follows a compromise_lock, say).
func (r *replica) restrictedAccounts(ctx context.Context) (map[holdfast.Kind]map[string]bool, error) {
	out := map[holdfast.Kind]map[string]bool{}
	for _, k := range holdfast.Kinds {
		rs, err := r.store.Restrictions(ctx, holdfast.RestrictionFilter{Kind: k})
		if err != nil {
			return nil, fmt.Errorf("backtest: %s restrictions: %w", r.name, err)
		}
		for _, x := range rs {
			if out[k] == nil {
				out[k] = map[string]bool{}
			}
			out[k][x.Account] = true
		}
	}
	return out, nil
}

// item is one valid event on its way to the replicas.
type item struct {
	line int64
	// at is the time to replay it at: its own, or the latest time seen
	// before when it is out of order.
	at time.Time
	ev *holdfast.Event
}

// clock is a replica's virtual clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// replica is one engine on its own temporary store.
type replica struct {
	name         string
	store        *sqlite.DB
	eng          *engine.Engine
	clock        *clock
	in           chan *item
	invalid      []Invalid
	invalidCount int64
}

func newReplica(ctx context.Context, dir, name string, p *holdfast.Policy) (*replica, error) {
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		return nil, err
	}
	clk := &clock{}
	eng, err := engine.New(ctx, engine.Config{Store: st, Policy: p, Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		st.Close()
		return nil, err
	}
	return &replica{name: name, store: st, eng: eng, clock: clk, in: make(chan *item, 256)}, nil
}

// run ingests the replica's events in order. An event the engine refuses
// with a domain error (a policy whose rule asks for a duration its kind
// does not allow, say) is recorded against the line; anything else stops
// the whole run through cancel.
func (r *replica) run(ctx context.Context, cancel context.CancelCauseFunc) {
	var n int
	for it := range r.in {
		if ctx.Err() != nil {
			continue // drain, so the reader never blocks
		}
		r.clock.set(it.at)
		_, err := r.eng.Ingest(ctx, *it.ev)
		switch code := holdfast.ErrorCode(err); {
		case err == nil:
		case code != holdfast.Internal:
			r.invalidCount++
			if len(r.invalid) < MaxInvalid {
				r.invalid = append(r.invalid, Invalid{Line: it.line, Policy: r.name, Error: err.Error()})
			}
		default:
			cancel(fmt.Errorf("backtest: %s policy, line %d: %w", r.name, it.line, err))
			continue
		}
		if n++; n%pruneEvery == 0 {
			r.eng.Prune()
		}
	}
}

// reader reads the JSONL file line by line.
type reader struct {
	events       int64
	outOfOrder   int64
	accounts     map[string]struct{}
	invalid      []Invalid
	invalidCount int64
	latest       time.Time
}

func (rd *reader) bad(line int64, msg string) {
	rd.invalidCount++
	if len(rd.invalid) < MaxInvalid {
		rd.invalid = append(rd.invalid, Invalid{Line: line, Error: msg})
	}
}

// read decodes every line and hands each valid event to emit, in order.
// Blank lines are skipped silently.
func (rd *reader) read(ctx context.Context, r io.Reader, emit func(*item) error) error {
	rd.accounts = map[string]struct{}{}
	br := bufio.NewReaderSize(r, 64<<10)
	var line int64
	for {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		b, tooLong, err := readLine(br)
		if err != nil && err != io.EOF {
			return fmt.Errorf("backtest: read events: %w", err)
		}
		if len(b) > 0 || tooLong || err == nil {
			line++
		}
		switch {
		case tooLong:
			rd.bad(line, fmt.Sprintf("the line is longer than %d bytes", MaxLineBytes))
		case len(bytes.TrimSpace(b)) == 0:
		default:
			ev, at, msg := rd.decode(b)
			if msg != "" {
				rd.bad(line, msg)
				break
			}
			rd.events++
			rd.accounts[ev.Account] = struct{}{}
			if e := emit(&item{line: line, at: at, ev: ev}); e != nil {
				return e
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// decode reads one event strictly and picks the time to replay it at; msg
// says what is wrong with the line.
func (rd *reader) decode(b []byte) (ev *holdfast.Event, at time.Time, msg string) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	ev = new(holdfast.Event)
	if err := dec.Decode(ev); err != nil {
		return nil, at, "invalid JSON: " + err.Error()
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, at, "invalid JSON: more than one value on the line"
	}
	if err := ev.Validate(); err != nil {
		return nil, at, err.Error()
	}
	if ev.At.IsZero() {
		return nil, at, holdfast.Errorf(holdfast.InvalidArgument, "at", "a backtest replays each event at its time: at is required").Error()
	}
	at = ev.At.UTC()
	if at.Before(rd.latest) {
		rd.outOfOrder++
		at = rd.latest
	}
	rd.latest = at
	return ev, at, ""
}

// readLine returns the next line without its end ("\n" or "\r\n"). A line
// longer than MaxLineBytes is consumed and reported as tooLong. err is
// io.EOF with the file's last line (which may lack its newline).
func readLine(br *bufio.Reader) (b []byte, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > MaxLineBytes+2 {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if tooLong {
			return nil, true, err
		}
		buf = bytes.TrimSuffix(buf, []byte("\n"))
		buf = bytes.TrimSuffix(buf, []byte("\r"))
		return buf, false, err
	}
}
