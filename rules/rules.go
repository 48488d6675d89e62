// Package rules compiles a policy's triggers (CEL conditions over an event
// and the account's features) once, at load, and evaluates them. It is
// pure: an event and the account's state in, matching rules out.
package rules

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

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

// env declares what a condition may read, with its types: event and
// account are records whose fields (eventFields, accountFields) the checker
// knows, so a misspelt field or a comparison of the wrong type is refused
// when the policy loads rather than failing every event at run time.
func env() (*cel.Env, error) {
	base, err := types.NewRegistry()
	if err != nil {
		return nil, err
	}
	return cel.NewEnv(
		cel.CustomTypeProvider(&schema{Provider: base, records: map[string]map[string]*types.Type{
			eventType: declare(eventFields), accountType: declare(accountFields),
		}}),
		cel.Variable("event", cel.ObjectType(eventType)),
		cel.Variable("account", cel.ObjectType(accountType)),
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
			prg, err := program(e, r.When, "when", true)
			if err != nil {
				problems = append(problems, Problem{Index: i, Field: "when", Message: fmt.Sprintf("rule %s: %v", r.ID, err)})
			}
			c.when = prg
		}
		for j, ex := range r.Evidence {
			field := "evidence[" + strconv.Itoa(j) + "]"
			prg, err := program(e, ex, field, false)
			if err != nil {
				problems = append(problems, Problem{Index: i, Field: field, Message: fmt.Sprintf("rule %s: %v", r.ID, err)})
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

// program compiles one expression; field names it in error positions
// ("when:1:7").
func program(e *cel.Env, expr, field string, boolean bool) (cel.Program, error) {
	ast, iss := e.CompileSource(common.NewStringSource(expr, field))
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	if boolean && ast.OutputType() != cel.BoolType && ast.OutputType() != cel.DynType {
		return nil, fmt.Errorf("condition %q gives %s, not a bool", expr, ast.OutputType())
	}
	// The checker knows event and account as records; building one in an
	// expression would pass it and fail at every evaluation.
	if built := celast.MatchDescendants(celast.NavigateAST(ast.NativeRep()), celast.KindMatcher(celast.StructKind)); len(built) > 0 {
		loc := ast.NativeRep().SourceInfo().GetStartLocation(built[0].ID())
		return nil, fmt.Errorf("%s:%d:%d: an expression cannot create a record (%s)", field, loc.Line(), loc.Column()+1, built[0].AsStruct().TypeName())
	}
	return e.Program(ast, cel.EvalOptions(cel.OptOptimize))
}

// Match returns the rules for the event's type whose condition holds, in
// policy order, with their evidence. A condition that fails to evaluate (a
// division by zero, an index out of range) is a match with Err naming the
// rule, in its place; the other rules are evaluated all the same.
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
				err = fmt.Errorf("rule %s: %w", c.rule.ID, err)
				out = append(out, holdfast.RuleMatch{Rule: c.rule, Err: err, Evidence: map[string]string{"error": err.Error()}})
				continue
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
	fill(a.event, eventFields, in)
	fill(a.account, accountFields, in)
	a.vars["event"], a.vars["account"], a.vars["restricted_countries"] = a.event, a.account, restricted
	return a
}

// A field is one thing a condition reads from event or account. Its CEL
// type is the type of the Go value get returns, so that what the checker is
// told and what a condition reads at run time cannot drift apart.
type field struct {
	name string
	get  func(in *holdfast.RuleInput) any
}

// eventFields exposes every event field, absent ones as zero values, so
// that conditions need no presence checks. Amounts are numbers; usd_value
// falls back to the amount (a stablecoin deposit needs no conversion).
var eventFields = []field{
	{"id", func(in *holdfast.RuleInput) any { return in.Event.ID }},
	{"type", func(in *holdfast.RuleInput) any { return string(in.Event.Type) }},
	{"device", func(in *holdfast.RuleInput) any { return in.Event.Device }},
	{"country", func(in *holdfast.RuleInput) any { return in.Event.Country }},
	{"ip", func(in *holdfast.RuleInput) any { return in.Event.IP }},
	{"session", func(in *holdfast.RuleInput) any { return in.Event.Session }},
	{"address", func(in *holdfast.RuleInput) any { return in.Event.Address }},
	{"asset", func(in *holdfast.RuleInput) any { return in.Event.Asset }},
	{"amount", func(in *holdfast.RuleInput) any { return number(in.Event.Amount) }},
	{"usd_value", func(in *holdfast.RuleInput) any {
		if in.Event.USDValue != "" {
			return number(in.Event.USDValue)
		}
		return number(in.Event.Amount)
	}},
	{"source_address", func(in *holdfast.RuleInput) any { return in.Event.SourceAddress }},
	{"source_risk", func(in *holdfast.RuleInput) any { return in.Event.SourceRisk }},
	{"orders_per_minute", func(in *holdfast.RuleInput) any {
		if in.Event.OrdersPerMinute == nil {
			return 0.0
		}
		return *in.Event.OrdersPerMinute
	}},
	{"failure_rate", func(in *holdfast.RuleInput) any { return in.Event.FailureFraction() }},
	{"other_accounts", func(in *holdfast.RuleInput) any { return strings(in.Event.OtherAccounts) }},
	{"notice_period_hours", func(in *holdfast.RuleInput) any { return in.Event.NoticePeriod.Std().Hours() }},
	{"severity", func(in *holdfast.RuleInput) any { return in.Event.Severity }},
	{"status", func(in *holdfast.RuleInput) any { return in.Event.Status }},
	{"case_ref", func(in *holdfast.RuleInput) any { return in.Event.CaseRef }},
	{"disclose", func(in *holdfast.RuleInput) any { return in.Event.Disclose != nil && *in.Event.Disclose }},
	{"api_key", func(in *holdfast.RuleInput) any { return in.Event.APIKey }},
	{"permissions", func(in *holdfast.RuleInput) any { return strings(in.Event.Permissions) }},
	{"ip_whitelist", func(in *holdfast.RuleInput) any { return strings(in.Event.IPWhitelist) }},
	{"factors", func(in *holdfast.RuleInput) any { return factorNames(in.Event.Factors) }},
}

// accountFields are the account's history and features as they stood
// before the event.
var accountFields = []field{
	{"id", func(in *holdfast.RuleInput) any { return in.Account.ID }},
	{"known_devices", func(in *holdfast.RuleInput) any { return strings(in.Account.KnownDevices) }},
	{"known_countries", func(in *holdfast.RuleInput) any { return strings(in.Account.KnownCountries) }},
	{"tags", func(in *holdfast.RuleInput) any {
		tags := make([]string, len(in.Account.Tags))
		for i, t := range in.Account.Tags {
			tags[i] = string(t)
		}
		return tags
	}},
	{"factors", func(in *holdfast.RuleInput) any { return factorNames(in.Account.Factors) }},
	{"inactive_days", func(in *holdfast.RuleInput) any { return in.Features.InactiveDays }},
	{"deposit_count", func(in *holdfast.RuleInput) any { return in.Features.DepositCount }},
	{"deposit_avg_usd", func(in *holdfast.RuleInput) any { return in.Features.DepositAvgUSD }},
	{"withdrawn_24h_usd", func(in *holdfast.RuleInput) any { return in.Features.Withdrawn24hUSD }},
	{"rule_restrictions_90d", func(in *holdfast.RuleInput) any { return in.Features.RuleRestrictions }},
}

func fill(m map[string]any, fs []field, in *holdfast.RuleInput) {
	for _, f := range fs {
		m[f.name] = f.get(in)
	}
}

const (
	eventType   = "holdfast.Event"
	accountType = "holdfast.Account"
)

// declare gives each field the CEL type of the value it reads from an
// empty input. A Go type without a CEL counterpart here is a mistake in the
// tables above, caught by the package's tests (Compile fails).
func declare(fs []field) map[string]*types.Type {
	empty := &holdfast.RuleInput{Event: &holdfast.Event{}, Account: &holdfast.Account{}}
	out := make(map[string]*types.Type, len(fs))
	for _, f := range fs {
		switch f.get(empty).(type) {
		case string:
			out[f.name] = types.StringType
		case float64:
			out[f.name] = types.DoubleType
		case int64:
			out[f.name] = types.IntType
		case bool:
			out[f.name] = types.BoolType
		case []string:
			out[f.name] = types.NewListType(types.StringType)
		default:
			panic(fmt.Sprintf("rules: field %s reads a %T, which has no CEL type here", f.name, f.get(empty)))
		}
	}
	return out
}

// schema tells the checker the fields of event and account. It gives no
// way to read them (FieldType.GetFrom): at run time both are plain maps,
// which CEL reads by key.
type schema struct {
	types.Provider
	records map[string]map[string]*types.Type
}

func (s *schema) FindStructType(name string) (*types.Type, bool) {
	if _, ok := s.records[name]; ok {
		return types.NewTypeTypeWithParam(types.NewObjectType(name)), true
	}
	return s.Provider.FindStructType(name)
}

func (s *schema) FindStructFieldNames(name string) ([]string, bool) {
	if fs, ok := s.records[name]; ok {
		return slices.Sorted(maps.Keys(fs)), true
	}
	return s.Provider.FindStructFieldNames(name)
}

func (s *schema) FindStructFieldType(name, fieldName string) (*types.FieldType, bool) {
	if fs, ok := s.records[name]; ok {
		t, ok := fs[fieldName]
		if !ok {
			return nil, false
		}
		return &types.FieldType{Type: t}, true
	}
	return s.Provider.FindStructFieldType(name, fieldName)
}

// NewValue refuses to build an event or account inside a condition.
func (s *schema) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if _, ok := s.records[name]; ok {
		return types.NewErr("a condition cannot create a %s", name)
	}
	return s.Provider.NewValue(name, fields)
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
