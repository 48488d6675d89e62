package bench

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"

	"github.com/holdfast/holdfast"
)

// reference answers a question from the generated data directly: the
// strongest effect of the account's restrictions active now.
func reference(q question, now int64) holdfast.Effect {
	ds := dataSet()
	fx := holdfast.Allow
	for _, x := range ds.byAccount[q.Account] {
		if x.Start <= now && (x.End == 0 || now < x.End) {
			fx = max(fx, ds.effects[x.Kind][q.Action.Index()])
		}
	}
	return fx
}

// TestCrossCheck asks all three engines the same 10,000 random questions
// (half over every account, half over the restricted ones) and requires the
// same effect from each, and from a direct reading of the data.
func TestCrossCheck(t *testing.T) {
	h, o, c := holdfastEngine(t), opaFixture(t), casbinFixture(t)
	t.Logf("load: holdfast (SQLite fill + engine start) %v, OPA %v, Casbin %v", h.loadTime.Round(time.Millisecond), o.loadTime.Round(time.Millisecond), c.loadTime.Round(time.Millisecond))
	ctx := context.Background()
	qs := append(questions(5_000, false, 1), questions(5_000, true, 2)...)
	buf := make([]holdfast.Cause, 0, 8)
	var seen [3]int
	for _, q := range qs {
		want := reference(q, time.Now().Unix())
		hx := h.effect(q, buf)
		ox, err := o.effect(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		cx, err := c.effect(q)
		if err != nil {
			t.Fatal(err)
		}
		if hx != want || ox != want || cx != want {
			t.Fatalf("%s %s: data says %s, holdfast %s, OPA %s, Casbin %s", q.Account, q.Action, want, hx, ox, cx)
		}
		seen[want]++
	}
	t.Logf("%d questions agree: %d allow, %d review, %d deny", len(qs), seen[holdfast.Allow], seen[holdfast.Review], seen[holdfast.Deny])
	if seen[holdfast.Review] == 0 || seen[holdfast.Deny] == 0 {
		t.Fatal("the sample should hold every effect")
	}
}

// checkers returns one check function per engine (single-goroutine use:
// Holdfast's reuses one cause buffer).
func checkers(tb testing.TB) []struct {
	name string
	run  func(q question) holdfast.Effect
} {
	h, o, c := holdfastEngine(tb), opaFixture(tb), casbinFixture(tb)
	ctx := context.Background()
	buf := make([]holdfast.Cause, 0, 8)
	return []struct {
		name string
		run  func(q question) holdfast.Effect
	}{
		{"holdfast", func(q question) holdfast.Effect {
			req := holdfast.CheckRequest{Account: q.Account, Action: q.Action}
			return h.eng.CheckInto(&req, buf).Effect
		}},
		{"opa", func(q question) holdfast.Effect {
			fx, err := o.effect(ctx, q)
			if err != nil {
				panic(err)
			}
			return fx
		}},
		{"casbin", func(q question) holdfast.Effect {
			fx, err := c.effect(q)
			if err != nil {
				panic(err)
			}
			return fx
		}},
	}
}

// TestRatios times 100,000 checks with each engine in this one process,
// for both mixes of questions, and logs ns/check and the ratios.
func TestRatios(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about a minute")
	}
	cs := checkers(t)
	const n = 100_000
	for _, mix := range []struct {
		name       string
		restricted bool
	}{{"uniform", false}, {"restricted", true}} {
		qs := questions(n, mix.restricted, 3)
		ns := map[string]float64{}
		for _, c := range cs {
			for _, q := range qs[:1000] { // warm up
				c.run(q)
			}
			t0 := time.Now()
			for _, q := range qs {
				c.run(q)
			}
			ns[c.name] = float64(time.Since(t0).Nanoseconds()) / n
		}
		t.Logf("%-10s holdfast %8.0f ns/check  opa %8.0f ns/check  casbin %8.0f ns/check  OPA/Holdfast = %.0f×, Casbin/Holdfast = %.0f×",
			mix.name, ns["holdfast"], ns["opa"], ns["casbin"], ns["opa"]/ns["holdfast"], ns["casbin"]/ns["holdfast"])
	}
}

// BenchmarkCheck: 1,000,000 accounts, 100,000 restricted; each op checks one
// question, uniformly over every account or over the restricted ones. Holdfast
// is timed through CheckInto with a reused cause buffer, OPA through a
// prepared query with the in-memory store, Casbin through Enforce (one or
// two calls: deny, then review). The parent logs the ratios.
func BenchmarkCheck(b *testing.B) {
	cs := checkers(b)
	for _, mix := range []struct {
		name       string
		restricted bool
	}{{"uniform", false}, {"restricted", true}} {
		qs := questions(1<<16, mix.restricted, 4)
		ns := map[string]float64{}
		for _, c := range cs {
			b.Run(mix.name+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					c.run(qs[i&(len(qs)-1)])
					i++
				}
				ns[c.name] = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			})
		}
		if ns["holdfast"] > 0 && ns["opa"] > 0 && ns["casbin"] > 0 {
			msg := fmt.Sprintf("%s: OPA/Holdfast = %.0f×, Casbin/Holdfast = %.0f×", mix.name, ns["opa"]/ns["holdfast"], ns["casbin"]/ns["holdfast"])
			b.Log(msg)
			fmt.Println(msg) // b.Log of a parent benchmark is shown only with -v
		}
	}
}

// casbinRowsModel is the other obvious Casbin model: each restriction is a
// policy row (account, kind, start, end) tested by a custom time function,
// and the effect table is the role graph, kind → "effect:action".
// Casbin evaluates the matcher against every policy row on every Enforce,
// so each check costs a scan of all the restrictions.
const casbinRowsModel = `
[request_definition]
r = sub, want

[policy_definition]
p = sub, kind, start, end

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.sub == p.sub && g(p.kind, r.want) && timeActive(p.start, p.end)
`

// BenchmarkCasbinRowsModel measures casbinRowsModel over the same data,
// after checking it on 200 questions against the data.
func BenchmarkCasbinRowsModel(b *testing.B) {
	ds := dataSet()
	m, err := model.NewModelFromString(casbinRowsModel)
	if err != nil {
		b.Fatal(err)
	}
	e, err := casbin.NewEnforcer(m)
	if err != nil {
		b.Fatal(err)
	}
	e.AddFunction("timeActive", func(args ...any) (any, error) {
		ok, err := activeNow(args[0].(string), args[1].(string))
		return ok, err
	})
	rows := make([][]string, 0, len(ds.all))
	for _, x := range ds.all {
		end := "_"
		if x.End != 0 {
			end = strconv.FormatInt(x.End, 10)
		}
		rows = append(rows, []string{x.Account, string(x.Kind), strconv.FormatInt(x.Start, 10), end})
	}
	if _, err := e.AddPolicies(rows); err != nil {
		b.Fatal(err)
	}
	var links [][]string
	for k, t := range ds.effects {
		for i, fx := range t {
			if fx != holdfast.Allow {
				links = append(links, []string{string(k), fx.String() + ":" + string(holdfast.Actions[i])})
			}
		}
	}
	if _, err := e.AddGroupingPolicies(links); err != nil {
		b.Fatal(err)
	}
	check := func(q question) holdfast.Effect {
		for _, fx := range [...]holdfast.Effect{holdfast.Deny, holdfast.Review} {
			ok, err := e.Enforce(q.Account, fx.String()+":"+string(q.Action))
			if err != nil {
				b.Fatal(err)
			}
			if ok {
				return fx
			}
		}
		return holdfast.Allow
	}
	for _, q := range questions(200, true, 6) {
		if got, want := check(q), reference(q, time.Now().Unix()); got != want {
			b.Fatalf("%s %s: got %s, want %s", q.Account, q.Action, got, want)
		}
	}
	qs := questions(1<<10, false, 4)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		check(qs[i&(len(qs)-1)])
		i++
	}
}
