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
	d := e.CheckInto(&req, nil)
	if moneyOut(req.Action) && e.Stale() {
		// Behind the change feed, this node may not know of a lock.
		d.Causes = append(d.Causes, staleCause)
		d.Effect, d.RetryAfter = holdfast.Deny, time.Time{}
	}
	if req.Session == "" && req.APIKey == "" {
		return d, nil
	}
	ent, err := e.credentials(ctx, req.Account)
	if err != nil {
		return holdfast.Decision{}, err
	}
	if causes := credentialCauses(ent, &req, d.Causes); len(causes) > len(d.Causes) {
		d.Causes = causes
		d.Effect, d.RetryAfter = holdfast.Deny, time.Time{} // waiting will not mend a credential
	}
	return d, nil
}

// CheckInto is Check for a request the caller has validated, appending the
// causes to buf (which may be nil) so that a hot loop can reuse one buffer
// and allocate nothing.
func (e *Engine) CheckInto(req *holdfast.CheckRequest, buf []holdfast.Cause) holdfast.Decision {
	ai := req.Action.Index()
	s := e.index.slotFor(req.Account, ai)
	if s == nil {
		return holdfast.Decision{Effect: holdfast.Allow, Causes: buf[:0]}
	}
	if s.n > 0 {
		if s.fp != fingerprint(req.Account) {
			// Another account's hash: an inline slot holds one account.
			return holdfast.Decision{Effect: holdfast.Allow, Causes: buf[:0]}
		}
		return e.decideInline(s, req, ai, buf[:0])
	}
	ent := find(s.e, req.Account)
	if ent == nil || len(ent.rules) == 0 {
		return holdfast.Decision{Effect: holdfast.Allow, Causes: buf[:0]}
	}
	return e.decide(ent.rules, req, e.clock.Now(), buf[:0])
}

// decideInline is decide over the rules a slot holds inline. Only the
// rules that cover the action can change the answer, so only they are
// unpacked, on the stack; the entry is read only for an origin the answer
// shows, or a hidden restriction's alias.
func (e *Engine) decideInline(s *slot, req *holdfast.CheckRequest, ai int, causes []holdfast.Cause) holdfast.Decision {
	var rules [entryRules]rule
	n := 0
	for i := range s.n {
		hr := &s.hot[i]
		fx := hr.effect(ai)
		if fx == holdfast.Allow {
			continue
		}
		ru := &rules[n]
		n++
		ru.fx[ai] = fx
		ru.start, ru.end, ru.id, ru.kp = hr.start, hr.end, hr.id, hr.kp
		ru.kind = holdfast.Kinds[hr.kind]
		ru.disclose = hr.flags&hotDisclose != 0
		if hr.flags&hotOrigin != 0 {
			ru.origin = s.e.rules[i].origin
		}
		if !ru.disclose && req.View == holdfast.ViewHolder {
			ru.alias = s.e.rules[i].alias
		}
	}
	return e.decide(rules[:n], req, e.clock.Now(), causes)
}

// decide computes the decision over rules at now. It is the one place that
// turns restrictions into an answer, for the index and for the linearizable
// withdrawal path alike.
func (e *Engine) decide(rules []rule, req *holdfast.CheckRequest, now time.Time, causes []holdfast.Cause) holdfast.Decision {
	ai := req.Action.Index()
	at := now.UnixNano()
	holder := req.View == holdfast.ViewHolder
	effect := holdfast.Allow
	for i := range rules {
		ru := &rules[i]
		if !covers(ru, ai, req.Device) || !ru.activeAt(at) {
			continue
		}
		fx := ru.fx[ai]
		effect = max(effect, fx)
		switch {
		case holder && !ru.disclose:
			causes = append(causes, e.coverCause(ru, fx))
		case holder:
			c := cause(ru, fx)
			c.Origin = nil // thresholds and evidence are for staff
			causes = append(causes, c)
		default:
			causes = append(causes, cause(ru, fx))
		}
	}
	return holdfast.Decision{Effect: effect, Causes: causes, RetryAfter: retryAfter(rules, ai, req.Device, at, effect, holder)}
}

// covers reports whether the rule has any effect on the action for the
// device asked about. A device-scoped restriction also applies when the
// check names no device: without one we cannot tell it is another device,
// and failing closed is the safe answer.
func covers(ru *rule, ai int, device string) bool {
	if ru.fx[ai] == holdfast.Allow {
		return false
	}
	return ru.device == "" || device == "" || ru.device == device
}

func cause(ru *rule, fx holdfast.Effect) holdfast.Cause {
	return holdfast.Cause{
		ID:         ru.id,
		Kind:       ru.kind,
		Level:      ru.kp.Level,
		Effect:     fx,
		Message:    ru.kp.Holder.Message,
		StartsAt:   utc(ru.start),
		EndsAt:     utc(ru.end),
		Resolution: ru.kp.Holder.Resolution,
		Origin:     ru.origin,
	}
}

// retryAfter is the earliest start or end after now at which the effect on
// the action differs from the current one; zero when time alone will not
// change it. The holder view knows no end of a hidden restriction, so it
// is computed as if there were none: retry_after never reveals one.
// Accounts hold a handful of restrictions, so the quadratic scan beats
// sorting and allocates nothing.
func retryAfter(rules []rule, ai int, device string, now int64, current holdfast.Effect, holder bool) time.Time {
	var best int64
	for i := range rules {
		ru := &rules[i]
		if !covers(ru, ai, device) {
			continue
		}
		for _, t := range [2]int64{ru.start, ru.seenEnd(holder)} {
			if t > now && (best == 0 || t < best) && effectAt(rules, ai, device, t, holder) != current {
				best = t
			}
		}
	}
	return utc(best)
}

func effectAt(rules []rule, ai int, device string, t int64, holder bool) holdfast.Effect {
	effect := holdfast.Allow
	for i := range rules {
		ru := &rules[i]
		if end := ru.seenEnd(holder); covers(ru, ai, device) && t >= ru.start && (end == 0 || t < end) {
			effect = max(effect, ru.fx[ai])
		}
	}
	return effect
}

// utc turns a rule's Unix nanoseconds back into the restriction's time; 0
// (no end) is the zero time.
func utc(nanos int64) time.Time {
	if nanos == 0 {
		return time.Time{}
	}
	return time.Unix(0, nanos).UTC()
}
