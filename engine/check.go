package engine

import (
	"context"
	"time"

	"github.com/holdfast/holdfast"
)

// Check answers from the in-memory index. It is safe for concurrent use and
// takes no lock.
func (e *Engine) Check(ctx context.Context, req holdfast.CheckRequest) (holdfast.Decision, error) {
	if err := req.Validate(); err != nil {
		return holdfast.Decision{}, err
	}
	return e.CheckInto(&req, nil), nil
}

// CheckInto is Check for a request the caller has validated, appending the
// causes to buf (which may be nil) so that a hot loop can reuse one buffer
// and allocate nothing.
func (e *Engine) CheckInto(req *holdfast.CheckRequest, buf []holdfast.Cause) holdfast.Decision {
	ent := e.index.get(req.Account)
	if ent == nil {
		return holdfast.Decision{Effect: holdfast.Allow, Causes: buf[:0]}
	}
	return e.decide(ent.rules, req, e.clock.Now(), buf[:0])
}

// decide computes the decision over rules at now. It is the one place that
// turns restrictions into an answer, for the index and for the linearizable
// withdrawal path alike.
func (e *Engine) decide(rules []rule, req *holdfast.CheckRequest, now time.Time, causes []holdfast.Cause) holdfast.Decision {
	ai := req.Action.Index()
	holder := req.View == holdfast.ViewHolder
	effect := holdfast.Allow
	hidden := false // a non-disclosable restriction shapes the holder's answer
	for i := range rules {
		ru := &rules[i]
		if !covers(ru, ai, req.Device) {
			continue
		}
		if !ru.r.ActiveAt(now) {
			continue
		}
		fx := ru.fx[ai]
		effect = max(effect, fx)
		if holder && !ru.r.Disclose {
			if !hidden {
				causes = append(causes, holdfast.Cause{
					Effect:     fx,
					Message:    e.policy.Undisclosed.Message,
					Resolution: e.policy.Undisclosed.Resolution,
				})
				hidden = true
			} else {
				// One generic cause stands for every hidden restriction.
				for j := range causes {
					if causes[j].ID == "" {
						causes[j].Effect = max(causes[j].Effect, fx)
					}
				}
			}
			continue
		}
		causes = append(causes, e.cause(ru, fx))
	}
	d := holdfast.Decision{Effect: effect, Causes: causes}
	if !hidden {
		d.RetryAfter = retryAfter(rules, ai, req.Device, now, effect)
	}
	return d
}

// covers reports whether the rule has any effect on the action for the
// device asked about. A device-scoped restriction also applies when the
// check names no device: without one we cannot tell it is another device,
// and failing closed is the safe answer.
func covers(ru *rule, ai int, device string) bool {
	if ru.fx[ai] == holdfast.Allow {
		return false
	}
	return ru.r.Device == "" || device == "" || ru.r.Device == device
}

func (e *Engine) cause(ru *rule, fx holdfast.Effect) holdfast.Cause {
	kp := ru.kp
	return holdfast.Cause{
		ID:         ru.r.ID,
		Kind:       ru.r.Kind,
		Level:      kp.Level,
		Effect:     fx,
		Message:    kp.Holder.Message,
		StartsAt:   ru.r.StartsAt,
		EndsAt:     ru.r.EndsAt,
		Resolution: kp.Holder.Resolution,
	}
}

// retryAfter is the earliest start or end after now at which the effect on
// the action differs from the current one; zero when time alone will not
// change it. Accounts hold a handful of restrictions, so the quadratic scan
// beats sorting and allocates nothing.
func retryAfter(rules []rule, ai int, device string, now time.Time, current holdfast.Effect) time.Time {
	var best time.Time
	consider := func(t time.Time) {
		if !t.After(now) || (!best.IsZero() && !t.Before(best)) {
			return
		}
		if effectAt(rules, ai, device, t) != current {
			best = t
		}
	}
	for i := range rules {
		ru := &rules[i]
		if !covers(ru, ai, device) || !ru.r.LiftedAt.IsZero() {
			continue
		}
		consider(ru.r.StartsAt)
		if !ru.r.EndsAt.IsZero() {
			consider(ru.r.EndsAt)
		}
	}
	return best
}

func effectAt(rules []rule, ai int, device string, t time.Time) holdfast.Effect {
	effect := holdfast.Allow
	for i := range rules {
		ru := &rules[i]
		if covers(ru, ai, device) && ru.r.ActiveAt(t) {
			effect = max(effect, ru.fx[ai])
		}
	}
	return effect
}
