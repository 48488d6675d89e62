package policy

import (
	"fmt"
	"math"
	"slices"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/rules"
)

// triggers checks the rules, restricted countries, withdrawal review and
// high-risk sections, and compiles the rules' CEL once; the compiled set
// becomes the policy's evaluator.
func (c *checker) triggers(p *holdfast.Policy) {
	for i, cc := range p.RestrictedCountries {
		if len(cc) != 2 || cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z' {
			c.errorf(fmt.Sprintf("restricted_countries[%d]", i), "%q is not an ISO 3166-1 alpha-2 code like US", cc)
		}
	}
	wr := p.WithdrawalReview
	for _, f := range []struct {
		name string
		v    float64
	}{{"single_usd", wr.SingleUSD}, {"single_usd_previously_compromised", wr.SingleUSDPreviouslyCompromised}, {"daily_usd", wr.DailyUSD}} {
		if f.v <= 0 {
			c.errorf("withdrawal_review."+f.name, "%s must be a positive amount in USD", f.name)
		}
	}
	c.span("withdrawal_review.daily_window", wr.DailyWindow, true)
	c.span("withdrawal_review.new_address_window", wr.NewAddressWindow, true)
	c.span("withdrawal_review.dormant_return_window", wr.DormantReturnWindow, true)
	c.amounts(&p.Amounts)
	if p.HighRisk.Count < 1 {
		c.errorf("high_risk.count", "count must be at least 1")
	}
	c.span("high_risk.window", p.HighRisk.Window, true)

	seen := map[string]int{}
	for i := range p.Rules {
		c.rule(fmt.Sprintf("rules[%d]", i), &p.Rules[i], seen, i)
	}
	if len(c.issues) > 0 {
		return
	}
	set, problems := rules.Compile(p)
	for _, pr := range problems {
		path := "rules"
		if pr.Index >= 0 {
			path = fmt.Sprintf("rules[%d].%s", pr.Index, pr.Field)
		}
		c.errorf(path, "%s", pr.Message)
	}
	if set != nil {
		p.Evaluator = set
	}
}

// defaultAmounts is the amounts section a policy file leaves out.
var defaultAmounts = holdfast.AmountPolicy{USDPegged: []string{"USDT", "USDC", "USD"}, MaxAmount: 1e18, MaxUSDValue: 1e10}

// amounts fills what the section leaves out with defaultAmounts and checks
// the rest.
func (c *checker) amounts(a *holdfast.AmountPolicy) {
	const path = "amounts"
	if !c.has(path + ".usd_pegged") {
		a.USDPegged = slices.Clone(defaultAmounts.USDPegged)
	}
	for i, asset := range a.USDPegged {
		p := fmt.Sprintf("%s.usd_pegged[%d]", path, i)
		if err := holdfast.ValidateID("usd_pegged", asset); err != nil {
			c.errorf(p, "%q is not an asset name", asset)
		} else if slices.Index(a.USDPegged, asset) < i {
			c.errorf(p, "%s is listed twice", asset)
		}
	}
	for _, f := range []struct {
		name string
		v    *float64
		def  float64
	}{{"max_amount", &a.MaxAmount, defaultAmounts.MaxAmount}, {"max_usd_value", &a.MaxUSDValue, defaultAmounts.MaxUSDValue}} {
		switch {
		case !c.has(path + "." + f.name):
			*f.v = f.def
		case !(*f.v > 0 && *f.v <= math.MaxFloat64):
			c.errorf(path+"."+f.name, "%s must be a positive, finite number", f.name)
		}
	}
}

// kindPolicy is the policy of kind k, when the file has it.
func (c *checker) kindPolicy(k holdfast.Kind) *holdfast.KindPolicy { return c.policy.Kinds[k] }

func (c *checker) rule(path string, r *holdfast.Rule, seen map[string]int, i int) {
	switch first, dup := seen[r.ID]; {
	case r.ID == "":
		c.errorf(path+".id", "every rule needs an id (it is recorded on what the rule applies)")
	case dup:
		c.errorf(path+".id", "rule id %s is used by rules[%d] too", r.ID, first)
	default:
		seen[r.ID] = i
	}
	if len(r.On) == 0 {
		c.errorf(path+".on", "on needs at least one event type")
	}
	for j, t := range r.On {
		if !t.Valid() {
			c.errorf(fmt.Sprintf("%s.on[%d]", path, j), "unknown event type %q", t)
		}
	}
	if len(r.Then) == 0 {
		c.errorf(path+".then", "then needs at least one action")
	}
	switch r.OnError {
	case "", holdfast.RuleOnErrorSkip:
	case holdfast.RuleOnErrorApply:
		if !slices.ContainsFunc(r.Then, func(a holdfast.RuleAction) bool { return a.Apply != nil }) {
			c.errorf(path+".on_error", "on_error: apply applies the rule's restrictions when its condition fails, and rule %s has no apply action", r.ID)
		}
	default:
		c.errorf(path+".on_error", "unknown on_error %q (want apply or skip)", r.OnError)
	}
	for j, a := range r.Then {
		ap := fmt.Sprintf("%s.then[%d]", path, j)
		n := 0
		for _, set := range []bool{a.Apply != nil, a.Lift != "", a.Tag != "", a.Command != ""} {
			if set {
				n++
			}
		}
		if n != 1 {
			c.errorf(ap, "an action is exactly one of apply, lift, tag, command")
			continue
		}
		switch {
		case a.Apply != nil:
			if !a.Apply.Kind.Valid() {
				c.errorf(ap+".apply.kind", "unknown kind %q", a.Apply.Kind)
			}
			if a.Apply.Rolling && a.Apply.Duration <= 0 {
				c.errorf(ap+".apply.duration", "a rolling window needs a duration")
			}
			if a.Apply.Duration < 0 && a.Apply.Duration != holdfast.Permanent {
				c.errorf(ap+".apply.duration", "duration must be positive")
			} else if kp := c.kindPolicy(a.Apply.Kind); kp != nil && a.Apply.Duration != 0 {
				// A duration the kind refuses would make every matching
				// event fail at intake.
				if why := fits(kp, a.Apply.Duration); why != "" {
					c.errorf(ap+".apply.duration", "%s %s (kinds.%s)", a.Apply.Duration, why, a.Apply.Kind)
				}
			}
		case a.Lift != "" && !a.Lift.Valid():
			c.errorf(ap+".lift", "unknown kind %q", a.Lift)
		case a.Tag != "" && !a.Tag.Valid():
			c.errorf(ap+".tag", "unknown tag %q", a.Tag)
		case a.Command != "" && !slices.Contains(holdfast.CommandTypes, a.Command):
			c.errorf(ap+".command", "unknown command %q (want %s)", a.Command, list(holdfast.CommandTypes))
		}
		if a.Notice != "" && a.Command != holdfast.CommandNotifyHolder {
			c.errorf(ap+".notice", "notice names a notify_holder command's template; it needs command: notify_holder")
		}
	}
}
