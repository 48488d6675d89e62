// Package rules compiles a policy's triggers (CEL conditions over an event
// and the account's features) once, at load, and evaluates them. It is
// pure: an event and the account's state in, matching rules out.
package rules

import (
	"fmt"
	"slices"
	"strconv"

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
	var vars map[string]any
	var out []holdfast.RuleMatch
	for i := range s.rules {
		c := &s.rules[i]
		if !slices.Contains(c.rule.On, in.Event.Type) {
			continue
		}
		if vars == nil {
			vars = map[string]any{"event": eventVars(in.Event), "account": accountVars(in), "restricted_countries": s.restricted}
		}
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

// eventVars exposes every event field, absent ones as zero values, so that
// conditions need no presence checks. Amounts are numbers; usd_value falls
// back to the amount (a stablecoin deposit needs no conversion).
func eventVars(e *holdfast.Event) map[string]any {
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
	return map[string]any{
		"id": e.ID, "type": string(e.Type), "device": e.Device, "country": e.Country, "ip": e.IP,
		"session": e.Session, "address": e.Address, "asset": e.Asset, "amount": amount, "usd_value": usd,
		"source_address": e.SourceAddress, "source_risk": e.SourceRisk, "orders_per_minute": opm,
		"failure_rate": e.FailureFraction(), "other_accounts": strings(e.OtherAccounts),
		"notice_period_hours": e.NoticePeriod.Std().Hours(), "severity": e.Severity, "status": e.Status,
		"case_ref": e.CaseRef, "disclose": disclose, "api_key": e.APIKey,
		"permissions": strings(e.Permissions), "ip_whitelist": strings(e.IPWhitelist),
		"factors": factorNames(e.Factors),
	}
}

func accountVars(in *holdfast.RuleInput) map[string]any {
	a := in.Account
	tags := make([]string, len(a.Tags))
	for i, t := range a.Tags {
		tags[i] = string(t)
	}
	return map[string]any{
		"id": a.ID, "known_devices": strings(a.KnownDevices), "known_countries": strings(a.KnownCountries),
		"tags": tags, "factors": factorNames(a.Factors),
		"inactive_days": in.Features.InactiveDays, "deposit_count": in.Features.DepositCount,
		"deposit_avg_usd": in.Features.DepositAvgUSD, "withdrawn_24h_usd": in.Features.Withdrawn24hUSD,
		"rule_restrictions_90d": in.Features.RuleRestrictions,
	}
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
