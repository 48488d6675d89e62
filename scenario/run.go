package scenario

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/sqlite"
)

// Result is the outcome of one file.
type Result struct {
	Name     string    `json:"name"`
	Passed   int       `json:"passed"`
	Failed   int       `json:"failed"`
	Failures []Failure `json:"failures"`
}

// Failure is one failed step, by its index in the file's steps.
type Failure struct {
	Step    int    `json:"step"`
	Message string `json:"message"`
}

// clock is the virtual clock a scenario advances step by step.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

// runner holds one file's engine and the ids stored with `as`.
type runner struct {
	f      *File
	eng    *engine.Engine
	clock  *clock
	staff  map[string][]holdfast.Role
	vars   map[string]string
	result Result
}

// Run plays one checked file against a fresh engine on a temporary
// embedded store.
func Run(ctx context.Context, f *File) (*Result, error) {
	yml := policy.DefaultYAML()
	if p := f.policyPath(); p != "" {
		var err error
		if yml, err = os.ReadFile(p); err != nil {
			return nil, &InvalidError{File: f.path, Step: -1, Field: "policy", Msg: "cannot read the policy file: " + err.Error()}
		}
	}
	pol, err := policy.Parse(yml)
	if err != nil {
		return nil, &InvalidError{File: f.path, Step: -1, Field: "policy", Msg: err.Error()}
	}
	dir, err := os.MkdirTemp("", "holdfast-scenario-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	clk := &clock{now: f.start}
	eng, err := engine.New(ctx, engine.Config{Store: store, Policy: pol, Clock: clk, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	// The file's policy is the store's first active version, as on a
	// server's first start, so that policy_* steps can release others.
	if _, err := eng.InstallPolicy(ctx); err != nil {
		return nil, err
	}
	r := &runner{f: f, eng: eng, clock: clk, staff: map[string][]holdfast.Role{}, vars: map[string]string{}, result: Result{Name: f.Name, Failures: []Failure{}}}
	for _, s := range f.Staff {
		r.staff[s.ID] = s.Roles
	}
	if err := r.setUpAccounts(ctx); err != nil {
		return nil, err
	}
	for i := range f.Steps {
		clk.now = f.start.Add(f.ats[i])
		r.step(ctx, i, &f.Steps[i])
	}
	if err := r.stateExplained(ctx, store); err != nil {
		return nil, err
	}
	return &r.result, nil
}

// stateExplained fails the run's last step for every row of the state
// the audit log does not explain: whatever a scenario does, the engine
// must record it in the log as it stores it.
func (r *runner) stateExplained(ctx context.Context, store holdfast.Store) error {
	rep, err := store.VerifyState(ctx, "")
	if err != nil {
		return err
	}
	for _, b := range rep.Breaks {
		r.fail(len(r.f.Steps)-1, "the audit log does not explain the state: %s", b)
	}
	return nil
}

func (r *runner) setUpAccounts(ctx context.Context) error {
	for _, a := range r.f.Accounts {
		created, _ := parseTime(a.CreatedAt)
		active, _ := parseTime(a.LastActiveAt)
		if active.IsZero() {
			active = r.f.start
		}
		if created.IsZero() {
			created = active
		}
		acct := &holdfast.Account{
			ID: a.ID, CreatedAt: created, LastActiveAt: active,
			Tags: a.Tags, Factors: a.Factors, KnownDevices: a.KnownDevices,
			KnownCountries: a.KnownCountries, TrustedContacts: a.TrustedContacts,
		}
		if err := r.eng.PutAccount(ctx, acct, holdfast.System); err != nil {
			return &InvalidError{File: r.f.path, Step: -1, Field: "accounts", Msg: err.Error()}
		}
	}
	return nil
}

// step runs one step and scores it.
func (r *runner) step(ctx context.Context, i int, s *Step) {
	var (
		mismatch string // an expectation that did not hold
		err      error
	)
	switch {
	case s.Event != nil:
		err = r.event(ctx, s.Event)
	case s.Do != nil:
		var id string
		id, err = r.do(ctx, s.Do)
		if err == nil && s.As != "" {
			r.vars[s.As] = id
		}
	case s.Expect != nil:
		mismatch, err = r.expect(ctx, s.Expect)
	case s.ExpectWithdrawal != nil:
		mismatch, err = r.expectWithdrawal(ctx, s.ExpectWithdrawal, s.Outcome)
	case s.ExpectTags != nil:
		mismatch, err = r.expectTags(ctx, s.ExpectTags)
	}
	switch {
	case s.ExpectError != "":
		got := holdfast.ErrorCode(err)
		if got == s.ExpectError {
			r.result.Passed++
			return
		}
		if err == nil {
			r.fail(i, "expected error %s, got success", s.ExpectError)
		} else {
			r.fail(i, "expected error %s, got %v", s.ExpectError, err)
		}
	case err != nil:
		r.fail(i, "unexpected error: %v", err)
	case mismatch != "":
		r.fail(i, "%s", mismatch)
	case s.counts():
		r.result.Passed++
	}
}

func (r *runner) fail(i int, format string, args ...any) {
	r.result.Failed++
	r.result.Failures = append(r.result.Failures, Failure{Step: i, Message: fmt.Sprintf(format, args...)})
}

// id substitutes a stored id for "$NAME".
func (r *runner) id(s string) string {
	if name, ok := strings.CutPrefix(s, "$"); ok {
		if v, ok := r.vars[name]; ok {
			return v
		}
	}
	return s
}

// actor parses an actor and gives staff the roles the file lists.
func (r *runner) actor(s string) (holdfast.Actor, error) {
	a, err := holdfast.ParseActor(s)
	if err != nil {
		return a, err
	}
	if a.Type == holdfast.ActorStaff {
		a.Roles = r.staff[a.ID]
	}
	return a, nil
}

func (r *runner) expect(ctx context.Context, x *Expect) (string, error) {
	d, err := r.eng.Check(ctx, holdfast.CheckRequest{
		Account: x.Account, Action: x.Action, Device: x.Device, Session: x.Session,
		APIKey: x.APIKey, IP: x.IP, View: x.View,
	})
	if err != nil {
		return "", err
	}
	var kinds []holdfast.Kind
	for _, c := range d.Causes {
		if c.Kind != "" {
			kinds = append(kinds, c.Kind)
		}
	}
	if want, _ := holdfast.ParseEffect(x.Effect); d.Effect != want {
		return fmt.Sprintf("expected %s %s → %s, got %s (causes %v)", x.Account, x.Action, x.Effect, d.Effect, kinds), nil
	}
	for _, k := range x.Kinds {
		if !slices.Contains(kinds, k) {
			return fmt.Sprintf("expected %s among the causes of %s %s, got %v", k, x.Account, x.Action, kinds), nil
		}
	}
	for _, k := range x.NotKinds {
		if slices.Contains(kinds, k) {
			return fmt.Sprintf("expected %s not among the causes of %s %s, got %v", k, x.Account, x.Action, kinds), nil
		}
	}
	return "", nil
}

func (r *runner) expectWithdrawal(ctx context.Context, x *ExpectWithdrawal, want holdfast.Outcome) (string, error) {
	w, err := r.eng.AuthorizeWithdrawal(ctx, holdfast.WithdrawalRequest{
		Account: x.Account, ID: x.ID, Asset: x.Asset, Amount: x.Amount, USDValue: x.USDValue,
		Address: x.Address, AvailableBalance: x.AvailableBalance,
	})
	if err != nil {
		return "", err
	}
	if want != "" && w.Outcome != want {
		var kinds []holdfast.Kind
		for _, c := range w.Causes {
			kinds = append(kinds, c.Kind)
		}
		return fmt.Sprintf("expected withdrawal %s → %s, got %s (causes %v)", x.ID, want, w.Outcome, kinds), nil
	}
	return "", nil
}

func (r *runner) expectTags(ctx context.Context, x *ExpectTags) (string, error) {
	tags, err := r.eng.Tags(ctx, x.Account)
	if err != nil {
		return "", err
	}
	for _, t := range x.Has {
		if !slices.Contains(tags, t) {
			return fmt.Sprintf("expected %s to have tag %s, has %v", x.Account, t, tags), nil
		}
	}
	for _, t := range x.Lacks {
		if slices.Contains(tags, t) {
			return fmt.Sprintf("expected %s to lack tag %s, has %v", x.Account, t, tags), nil
		}
	}
	return "", nil
}
