package engine

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/holdfast/holdfast"
)

// RuleError is what this node knows of one rule's failed evaluations since
// it started: a rule that fails does not stop the event, so these counts
// are how an operator learns that screening is not working as written.
type RuleError struct {
	Rule  string `json:"rule"`
	Count uint64 `json:"count"`
	// FailsClosed: the rule applies its restrictions when it fails.
	FailsClosed bool      `json:"fails_closed"`
	Last        time.Time `json:"last"`
	LastEvent   string    `json:"last_event"`
	LastError   string    `json:"last_error"`
}

// ruleErrors counts failed evaluations per rule.
type ruleErrors struct {
	mu     sync.Mutex
	byRule map[string]*RuleError
}

func (t *ruleErrors) add(now time.Time, ev *holdfast.Event, m holdfast.RuleMatch, closed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byRule == nil {
		t.byRule = map[string]*RuleError{}
	}
	r := t.byRule[m.Rule.ID]
	if r == nil {
		r = &RuleError{Rule: m.Rule.ID}
		t.byRule[m.Rule.ID] = r
	}
	r.Count++
	r.FailsClosed, r.Last, r.LastEvent, r.LastError = closed, now, ev.ID, m.Err.Error()
}

// RuleErrors returns, by rule id, the rules whose condition failed to
// evaluate on this node since it started (none: an empty list).
func (e *Engine) RuleErrors() []RuleError {
	t := &e.ruleErrs
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]RuleError, 0, len(t.byRule))
	for _, r := range t.byRule {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b RuleError) int { return strings.Compare(a.Rule, b.Rule) })
	return out
}

// ruleFailed records the failed evaluations of one ingested event, once it
// is done (a retried transaction evaluates the rules again).
func (e *Engine) ruleFailed(now time.Time, ev *holdfast.Event, failed []holdfast.RuleMatch) {
	for _, m := range failed {
		closed := e.policy().FailsClosed(m.Rule)
		e.ruleErrs.add(now, ev, m, closed)
		onError := holdfast.RuleOnErrorSkip
		if closed {
			onError = holdfast.RuleOnErrorApply
		}
		// Conditions read no secret (nor the holder's email or phone), so
		// neither can CEL's reason.
		e.log.Warn("rule failed to evaluate", "rule", m.Rule.ID, "event", ev.ID, "event_type", ev.Type, "account", ev.Account, "on_error", onError, "err", m.Err)
	}
}
