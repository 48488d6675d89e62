// Package rules compiles a policy's triggers (CEL conditions over an event
// and the account's features) once, at load, and evaluates them. It is
// pure: an event and the account's state in, matching rules out.
package rules

import (
	"fmt"
	"slices"
	"strconv"
	"sync"

	"cel.dev/cel-go/cel"

	"github.com/holdfast/holdfast"
)

// Set is a policy's compiled rules.
type Set struct {
	rules      []compiled
	restricted []string
}

var _ holdfast.RuleEvaluator = (*Set)(nil)

type compiled struct {
	rule     *holdfast.Rule
	when     cel.Program // nil: always
	evidence []cel.Program
}

// Problem is a rule that does not compile: Index is the rule's position in
// the policy, Field the part at fault ("when", "evidence[1]") and Message
// names the rule and the position in the expression.
type Problem struct {
	Index   int
	Field   string
	Message string
}

// env declares what a condition may read: the event's fields, the
// account's features and the policy's restricted countries.
func env() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("account", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("restricted_countries", cel.ListType(cel.StringType)),
		cel.CrossTypeNumericComparisons(true),
	)
}

// Compile compiles every rule of p. It returns the problems of the rules
// that do not compile (and no Set) or the Set.
func Compile(p *holdfast.Policy) (*Set, []Problem) {
	e, err := env()
	if err != nil {
		return nil, []Problem{{Index: -1, Message: err.Error()}}
	}
	s := &Set{restricted: slices.Clone(p.RestrictedCountries)}
	var problems []Problem
	for i := range p.Rules {
		r := &p.Rules[i]
		c := compiled{rule: r}
		if r.When != "" {
			prg, err := program(e, r.When, true)
			if err != nil {
				problems = append(problems, Problem{Index: i, Field: "when", Message: fmt.Sprintf("rule %s: %v", r.ID, err)})
			}
			c.when = prg
		}
		for j, ex := range r.Evidence {
			prg, err := program(e, ex, false)
			if err != nil {
				problems = append(problems, Problem{Index: i, Field: "evidence[" + strconv.Itoa(j) + "]", Message: fmt.Sprintf("rule %s: %v", r.ID, err)})
			}
			c.evidence = append(c.evidence, prg)
		}
		s.rules = append(s.rules, c)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return s, nil
}

func program(e *cel.Env, expr string, boolean bool) (cel.Program, error) {
	ast, iss := e.Compile(expr)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	if boolean && ast.OutputType() != cel.BoolType && ast.OutputType() != cel.DynType {
		return nil, fmt.Errorf("condition %q gives %s, not a bool", expr, ast.OutputType())
	}
	return e.Program(ast, cel.EvalOptions(cel.OptOptimize))
}

// Match returns the rules for the event's type whose condition holds, in
// policy order, with their evidence. A condition that fails to evaluate
// (a value of the wrong type at run time) is an error naming the rule.
func (s *Set) Match(in *holdfast.RuleInput) ([]holdfast.RuleMatch, error) {
	var act *activation
	defer func() {
		if act != nil {
			varMaps.Put(act)
		}
	}()
	var out []holdfast.RuleMatch
	for i := range s.rules {
		c := &s.rules[i]
		if !slices.Contains(c.rule.On, in.Event.Type) {
			continue
		}
		if act == nil {
			act = newActivation(in, s.restricted)
		}
		vars := act.vars
		if c.when != nil {
			v, _, err := c.when.Eval(vars)
			if err != nil {
				return nil, fmt.Errorf("rule %s: %w", c.rule.ID, err)
			}
			if held, ok := v.Value().(bool); !ok || !held {
				continue
			}
		}
		m := holdfast.RuleMatch{Rule: c.rule}
		for j, prg := range c.evidence {
			if m.Evidence == nil {
				m.Evidence = map[string]string{}
			}
			v, _, err := prg.Eval(vars)
			if err != nil {
				m.Evidence[c.rule.Evidence[j]] = "error: " + err.Error()
				continue
			}
			if s := fmt.Sprint(v.Value()); s != "" && s != "[]" {
				m.Evidence[c.rule.Evidence[j]] = s
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// activation is what a match's conditions read. Activations are reused
// across events: building fresh maps was half of a match's cost. Every
// key is set for every event, so nothing of the previous event remains,
// and nothing a match returns refers to them.
type activation struct {
	vars, event, account map[string]any
}

var varMaps = sync.Pool{New: func() any {
	return &activation{vars: make(map[string]any, 3), event: make(map[string]any, 32), account: make(map[string]any, 16)}
}}

func newActivation(in *holdfast.RuleInput, restricted []string) *activation {
	a := varMaps.Get().(*activation)
	eventVars(a.event, in.Event)
	accountVars(a.account, in)
	a.vars["event"], a.vars["account"], a.vars["restricted_countries"] = a.event, a.account, restricted
	return a
}

// eventVars exposes every event field, absent ones as zero values, so that
// conditions need no presence checks. Amounts are numbers; usd_value falls
// back to the amount (a stablecoin deposit needs no conversion).
func eventVars(m map[string]any, e *holdfast.Event) {
	amount := number(e.Amount)
	usd := amount
	if e.USDValue != "" {
		usd = number(e.USDValue)
	}
	var opm float64
	if e.OrdersPerMinute != nil {
		opm = *e.OrdersPerMinute
	}
	disclose := false
	if e.Disclose != nil {
		disclose = *e.Disclose
	}
	m["id"], m["type"], m["device"], m["country"], m["ip"] = e.ID, string(e.Type), e.Device, e.Country, e.IP
	m["session"], m["address"], m["asset"], m["amount"], m["usd_value"] = e.Session, e.Address, e.Asset, amount, usd
	m["source_address"], m["source_risk"], m["orders_per_minute"] = e.SourceAddress, e.SourceRisk, opm
	m["failure_rate"], m["other_accounts"] = e.FailureFraction(), strings(e.OtherAccounts)
	m["notice_period_hours"], m["severity"], m["status"] = e.NoticePeriod.Std().Hours(), e.Severity, e.Status
	m["case_ref"], m["disclose"], m["api_key"] = e.CaseRef, disclose, e.APIKey
	m["permissions"], m["ip_whitelist"] = strings(e.Permissions), strings(e.IPWhitelist)
	m["factors"] = factorNames(e.Factors)
}

func accountVars(m map[string]any, in *holdfast.RuleInput) {
	a := in.Account
	tags := make([]string, len(a.Tags))
	for i, t := range a.Tags {
		tags[i] = string(t)
	}
	m["id"], m["known_devices"], m["known_countries"] = a.ID, strings(a.KnownDevices), strings(a.KnownCountries)
	m["tags"], m["factors"] = tags, factorNames(a.Factors)
	m["inactive_days"], m["deposit_count"] = in.Features.InactiveDays, in.Features.DepositCount
	m["deposit_avg_usd"], m["withdrawn_24h_usd"] = in.Features.DepositAvgUSD, in.Features.Withdrawn24hUSD
	m["rule_restrictions_90d"] = in.Features.RuleRestrictions
}

func number(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64) // validated as a decimal on intake
	return f
}

func strings(vs []string) []string {
	if vs == nil {
		return []string{}
	}
	return vs
}

func factorNames(fs []holdfast.Factor) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f)
	}
	return out
}
