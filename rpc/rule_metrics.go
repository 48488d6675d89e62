package rpc

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdfast/holdfast/engine"
)

var ruleErrorsDesc = prometheus.NewDesc("holdfast_rule_errors_total", "Evaluations of a policy rule's condition that failed on this node (the event was still recorded; see the rule's on_error).", []string{"rule"}, nil)

// ruleErrorCollector exports the engine's count of failed rule
// evaluations, with a zero for every rule of the policy so that an alert
// on its increase works from the first failure.
type ruleErrorCollector struct{ e *engine.Engine }

func (c ruleErrorCollector) Describe(ch chan<- *prometheus.Desc) { ch <- ruleErrorsDesc }

func (c ruleErrorCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[string]uint64{}
	for _, r := range c.e.Policy().Rules {
		counts[r.ID] = 0
	}
	for _, r := range c.e.RuleErrors() {
		counts[r.Rule] = r.Count
	}
	for rule, n := range counts {
		ch <- prometheus.MustNewConstMetric(ruleErrorsDesc, prometheus.CounterValue, float64(n), rule)
	}
}

var shadowDesc = prometheus.NewDesc("holdfast_shadow_outcomes_total", "Live events on which the shadowed policy version's rule would have judged otherwise than the active version, on this node since it started, by version (short hash), rule and outcome (would_apply, would_not_apply).", []string{"version", "rule", "outcome"}, nil)

// shadowCollector exports the engine's shadow-run counts.
type shadowCollector struct{ e *engine.Engine }

func (c shadowCollector) Describe(ch chan<- *prometheus.Desc) { ch <- shadowDesc }

func (c shadowCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.e.ShadowCounts() {
		ch <- prometheus.MustNewConstMetric(shadowDesc, prometheus.CounterValue, float64(s.Events), s.Version[:min(12, len(s.Version))], s.Rule, s.Outcome)
	}
}
