package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/rpc"
	"github.com/holdfast/holdfast/sqlite"
)

// The data set: numAccounts accounts, numRestricted of them holding one to
// three restrictions each. Every comparator is loaded from the same value.
const (
	numAccounts   = 1_000_000
	numRestricted = 100_000
	seed1, seed2  = 20260101, 42
)

// restr is one generated restriction. Times are whole Unix seconds so that
// every engine compares them exactly (OPA numbers, Casbin strings); end 0
// means "until lifted". No boundary lies within an hour of the generation
// time, so the answers cannot change while the tests run.
type restr struct {
	ID, Account string
	Kind        holdfast.Kind
	Start, End  int64
}

type dataset struct {
	now       time.Time
	all       []restr
	byAccount map[string][]restr
	// restricted lists the accounts that hold any restriction (active or
	// not), for questions aimed at the interesting part of the index.
	restricted []string
	// effects is policy.Default()'s table: kind → action → effect.
	effects map[holdfast.Kind]*holdfast.EffectTable
}

func accountID(i int) string { return "acct-" + strconv.Itoa(i) }

// dataSet is generated once per process, deterministically (fixed seed;
// times relative to the start of the process).
var dataSet = sync.OnceValue(func() *dataset {
	r := rand.New(rand.NewPCG(seed1, seed2))
	now := time.Now().Truncate(time.Second)
	ds := &dataset{now: now, byAccount: make(map[string][]restr, numRestricted), effects: map[holdfast.Kind]*holdfast.EffectTable{}}
	pol := policy.Default()
	for _, k := range holdfast.Kinds {
		ds.effects[k] = pol.Effects(k)
	}
	hours := func(lo, hi int) int64 { return int64(lo+r.IntN(hi-lo+1)) * 3600 }
	t0 := now.Unix()
	per := numAccounts / numRestricted
	for i := range numRestricted {
		acct := accountID(i*per + r.IntN(per))
		ds.restricted = append(ds.restricted, acct)
		n := 1
		switch p := r.IntN(10); {
		case p >= 9:
			n = 3
		case p >= 6:
			n = 2
		}
		for j := range n {
			x := restr{ID: fmt.Sprintf("r-%d-%d", i, j), Account: acct, Kind: holdfast.Kinds[r.IntN(len(holdfast.Kinds))]}
			switch p := r.IntN(100); {
			case p < 55: // active, ends
				x.Start, x.End = t0-hours(1, 720), t0+hours(1, 720)
			case p < 70: // active, until lifted
				x.Start = t0 - hours(1, 720)
			case p < 85: // already expired
				x.End = t0 - hours(1, 240)
				x.Start = x.End - hours(1, 720)
			default: // still to come, with or without an end
				x.Start = t0 + hours(1, 240)
				if r.IntN(2) == 0 {
					x.End = x.Start + hours(1, 720)
				}
			}
			ds.all = append(ds.all, x)
			ds.byAccount[acct] = append(ds.byAccount[acct], x)
		}
	}
	return ds
})

// question is one check: an account and an action.
type question struct {
	Account string
	Action  holdfast.Action
}

// questions returns n random questions: uniformly over all accounts, or
// (restricted) over the accounts holding restrictions. Each question owns
// a fresh copy of its account name, as a request decoded off the wire
// does: pointing into the data set instead would add a cache miss per
// question that no server pays, and only in the restricted mix.
func questions(n int, restricted bool, s uint64) []question {
	ds := dataSet()
	r := rand.New(rand.NewPCG(s, 7))
	qs := make([]question, n)
	for i := range qs {
		qs[i].Action = holdfast.Actions[r.IntN(holdfast.NumActions)]
		if restricted {
			qs[i].Account = strings.Clone(ds.restricted[r.IntN(len(ds.restricted))])
		} else {
			qs[i].Account = accountID(r.IntN(numAccounts))
		}
	}
	return qs
}

// tmpDir is where Holdfast's store is filled: a fresh directory that
// TestMain removes, or HOLDFAST_BENCH_DATA, which it keeps so that
// holdfast serve can serve the same fixture afterwards (bench/compare.sh).
var tmpDir string

func TestMain(m *testing.M) {
	keep := os.Getenv("HOLDFAST_BENCH_DATA")
	d := keep
	var err error
	if keep == "" {
		d, err = os.MkdirTemp("", "holdfast-bench-")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tmpDir = d
	code := m.Run()
	if h := hf.cleanup; h != nil {
		h()
	}
	if keep == "" {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

// ---- Holdfast ----------------------------------------------------------

// holdfastEnv is the real engine over a real SQLite store, built the way
// `holdfast serve` builds it (coarse millisecond clock, metrics-wrapped
// store), so that the API test can put rpc.Handler over the same engine.
type holdfastEnv struct {
	db       *sqlite.DB
	eng      *engine.Engine
	metrics  *rpc.Metrics
	loadTime time.Duration
	cleanup  func()
}

var (
	hf     holdfastEnv
	hfOnce sync.Once
	hfErr  error
)

// holdfastEngine fills a SQLite store through its exported write path
// (Store.Update → AccountTx.SaveRestriction + Append, the calls the engine's
// Apply makes), 256 writers at once so that group commit batches them, then
// starts the engine, which rebuilds its index from the store.
func holdfastEngine(tb testing.TB) *holdfastEnv {
	tb.Helper()
	hfOnce.Do(func() { hfErr = hf.load() })
	if hfErr != nil {
		tb.Fatal(hfErr)
	}
	return &hf
}

// fillStore writes every restriction of ds, with its audit entry, through
// the store's exported write path, 256 writers at once so that group commit
// batches them.
func fillStore(ctx context.Context, db *sqlite.DB, ds *dataset) error {
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
		work     = make(chan string)
		actor    = holdfast.System.String()
	)
	for range 256 {
		wg.Go(func() {
			for acct := range work {
				err := db.Update(ctx, acct, ds.now, func(tx holdfast.AccountTx) error {
					for _, x := range ds.byAccount[acct] {
						r := &holdfast.Restriction{
							ID: x.ID, Account: acct, Kind: x.Kind, StartsAt: time.Unix(x.Start, 0).UTC(),
							Disclose: true, AppliedBy: actor, CreatedAt: ds.now, Reason: "bench",
						}
						if x.End != 0 {
							r.EndsAt = time.Unix(x.End, 0).UTC()
						}
						if err := tx.SaveRestriction(r); err != nil {
							return err
						}
						after, _ := json.Marshal(r)
						if err := tx.Append(&holdfast.AuditEntry{At: ds.now, Actor: actor, Action: holdfast.AuditApply, Restriction: r.ID, After: after, Reason: "bench"}); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					errOnce.Do(func() { firstErr = err })
				}
			}
		})
	}
	for _, acct := range ds.restricted {
		work <- acct
	}
	close(work)
	wg.Wait()
	return firstErr
}

func (h *holdfastEnv) load() error {
	ctx := context.Background()
	t0 := time.Now()
	db, err := sqlite.Open(ctx, tmpDir)
	if err != nil {
		return err
	}
	if err := fillStore(ctx, db, dataSet()); err != nil {
		db.Close()
		return err
	}
	clk := holdfast.NewCoarseClock(time.Millisecond)
	m := rpc.NewMetrics()
	eng, err := engine.New(ctx, engine.Config{Store: m.Store(db), Policy: policy.Default(), Clock: clk, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		clk.Stop()
		db.Close()
		return err
	}
	*h = holdfastEnv{db: db, eng: eng, metrics: m, loadTime: time.Since(t0), cleanup: func() { clk.Stop(); db.Close() }}
	return nil
}

func (h *holdfastEnv) effect(q question, buf []holdfast.Cause) holdfast.Effect {
	req := holdfast.CheckRequest{Account: q.Account, Action: q.Action}
	return h.eng.CheckInto(&req, buf).Effect
}

// ---- OPA ---------------------------------------------------------------

// regoPolicy denies (or sends to review) an action when any restriction of
// the account that covers it is active at input.now; the kind → action
// table is data, exported from the Holdfast policy.
const regoPolicy = `package holdfast

default effect := "allow"

effect := "deny" if {
	"deny" in fx
} else := "review" if {
	"review" in fx
}

fx contains e if {
	some r in data.restrictions[input.account]
	r.start <= input.now
	not ended(r)
	e := data.effects[r.kind][input.action]
}

ended(r) if {
	r.end != 0
	r.end <= input.now
}
`

type opaEnv struct {
	pq       rego.PreparedEvalQuery
	loadTime time.Duration
}

// opaData is the data document every OPA fixture is loaded with:
// restrictions by account (kind, start and end in Unix seconds) and the
// kind → action → effect table, allow left out.
func opaData(ds *dataset) map[string]any {
	restrictions := make(map[string]any, len(ds.byAccount))
	for acct, xs := range ds.byAccount {
		list := make([]any, len(xs))
		for i, x := range xs {
			list[i] = map[string]any{"kind": string(x.Kind), "start": x.Start, "end": x.End}
		}
		restrictions[acct] = list
	}
	effects := map[string]any{}
	for k, t := range ds.effects {
		row := map[string]any{}
		for i, fx := range t {
			if fx != holdfast.Allow {
				row[string(holdfast.Actions[i])] = fx.String()
			}
		}
		effects[string(k)] = row
	}
	return map[string]any{"restrictions": restrictions, "effects": effects}
}

var opaEngine = sync.OnceValues(func() (*opaEnv, error) {
	t0 := time.Now()
	data := opaData(dataSet())
	pq, err := rego.New(
		rego.Query("data.holdfast.effect"),
		rego.Module("holdfast.rego", regoPolicy),
		rego.Store(inmem.NewFromObject(data)),
	).PrepareForEval(context.Background())
	if err != nil {
		return nil, err
	}
	return &opaEnv{pq: pq, loadTime: time.Since(t0)}, nil
})

func opaFixture(tb testing.TB) *opaEnv {
	tb.Helper()
	o, err := opaEngine()
	if err != nil {
		tb.Fatal(err)
	}
	return o
}

func (o *opaEnv) effect(ctx context.Context, q question) (holdfast.Effect, error) {
	rs, err := o.pq.Eval(ctx, rego.EvalInput(map[string]any{"account": q.Account, "action": string(q.Action), "now": time.Now().Unix()}))
	if err != nil {
		return 0, err
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return 0, fmt.Errorf("opa: unexpected result %v", rs)
	}
	s, _ := rs[0].Expressions[0].Value.(string)
	fx, ok := holdfast.ParseEffect(s)
	if !ok {
		return 0, fmt.Errorf("opa: unexpected effect %q", s)
	}
	return fx, nil
}

// ---- Casbin ------------------------------------------------------------

// casbinModel uses Casbin's own time-bounded roles: each restriction is a
// role link account → restriction id valid in [start, end) (checked by a
// link condition function), and restriction id → kind. The policy rows are
// the effect table: kind, action, effect. A check asks for "deny" first and
// then "review"; neither matching means allow.
//
// The other obvious model, restrictions as policy rows (account, kind,
// start, end) matched with a custom time function, makes Casbin scan every
// row on every Enforce (about 150,000 here); see BenchmarkCasbinRowsModel.
const casbinModel = `
[request_definition]
r = sub, act, fx

[policy_definition]
p = kind, act, fx

[role_definition]
g = _, _, (_, _)

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.act == p.act && r.fx == p.fx && g(r.sub, p.kind)
`

// activeNow is the link condition: params are start and end in Unix
// seconds ("_": no end).
func activeNow(args ...string) (bool, error) {
	if len(args) != 2 {
		return false, fmt.Errorf("activeNow: want 2 params, got %d", len(args))
	}
	now := time.Now().Unix()
	start, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil {
		return false, err
	}
	if now < start {
		return false, nil
	}
	if args[1] == "_" {
		return true, nil
	}
	end, err := strconv.ParseInt(args[1], 10, 64)
	if err != nil {
		return false, err
	}
	return now < end, nil
}

type casbinEnv struct {
	e        *casbin.Enforcer
	loadTime time.Duration
}

var casbinEngine = sync.OnceValues(func() (*casbinEnv, error) {
	ds := dataSet()
	t0 := time.Now()
	m, err := model.NewModelFromString(casbinModel)
	if err != nil {
		return nil, err
	}
	e, err := casbin.NewEnforcer(m)
	if err != nil {
		return nil, err
	}
	var rows [][]string
	for k, t := range ds.effects {
		for i, fx := range t {
			if fx != holdfast.Allow {
				rows = append(rows, []string{string(k), string(holdfast.Actions[i]), fx.String()})
			}
		}
	}
	if _, err := e.AddPolicies(rows); err != nil {
		return nil, err
	}
	links := make([][]string, 0, 2*len(ds.all))
	for _, x := range ds.all {
		end := "_"
		if x.End != 0 {
			end = strconv.FormatInt(x.End, 10)
		}
		links = append(links,
			[]string{x.Account, x.ID, strconv.FormatInt(x.Start, 10), end},
			[]string{x.ID, string(x.Kind), "_", "_"})
	}
	if _, err := e.AddGroupingPolicies(links); err != nil {
		return nil, err
	}
	for _, x := range ds.all {
		e.AddNamedLinkConditionFunc("g", x.Account, x.ID, activeNow)
	}
	return &casbinEnv{e: e, loadTime: time.Since(t0)}, nil
})

func casbinFixture(tb testing.TB) *casbinEnv {
	tb.Helper()
	c, err := casbinEngine()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func (c *casbinEnv) effect(q question) (holdfast.Effect, error) {
	for _, fx := range [...]holdfast.Effect{holdfast.Deny, holdfast.Review} {
		ok, err := c.e.Enforce(q.Account, string(q.Action), fx.String())
		if err != nil {
			return 0, err
		}
		if ok {
			return fx, nil
		}
	}
	return holdfast.Allow, nil
}
