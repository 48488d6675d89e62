package engine

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/policy"
)

// shadowRun evaluates a shadowed policy version beside the active one on
// every live event and keeps where the two would differ: never enforced,
// never notified, never in an audit chain.
type shadowRun struct {
	p atomic.Pointer[holdfast.Policy] // nil: nothing is shadowed
	// counts: rule and outcome → *atomic.Int64, since this node started.
	counts sync.Map
	// queue, while RunShadow runs, takes outcomes to be written in
	// batches off the event's path; without it they are written at once.
	queue atomic.Pointer[chan *holdfast.ShadowOutcome]
	// dropped counts outcomes lost to a full queue.
	dropped atomic.Int64
}

// shadowBatch and shadowEvery bound how many outcomes one write keeps and
// how long an outcome waits for it; shadowQueue how many may wait.
const (
	shadowBatch = 500
	shadowEvery = 100 * time.Millisecond
	shadowQueue = 20_000
)

// RunShadow writes shadow outcomes in batches until ctx ends, so that an
// event's intake pays for a shadow run only its evaluation: a shadow
// outcome is a record of what did not happen, and losing the last
// fraction of a second of them in a crash loses nothing else. Outcomes
// beyond the queue's room are counted as dropped and logged.
func (e *Engine) RunShadow(ctx context.Context) {
	q := make(chan *holdfast.ShadowOutcome, shadowQueue)
	e.shadow.queue.Store(&q)
	defer e.shadow.queue.Store(nil)
	t := time.NewTicker(shadowEvery)
	defer t.Stop()
	batch := make([]*holdfast.ShadowOutcome, 0, shadowBatch)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if err := e.store.RecordShadowOutcomes(wctx, batch); err != nil {
			e.log.Warn("shadow outcomes not kept", "outcomes", len(batch), "err", err)
		}
		cancel()
		batch = batch[:0]
		if n := e.shadow.dropped.Swap(0); n > 0 {
			e.log.Warn("shadow outcomes dropped: the queue was full", "outcomes", n)
		}
	}
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case o := <-q:
					batch = append(batch, o)
				default:
					flush()
					return
				}
			}
		case o := <-q:
			if batch = append(batch, o); len(batch) == shadowBatch {
				flush()
			}
		case <-t.C:
			flush()
		}
	}
}

type shadowKey struct{ version, rule, outcome string }

// ShadowCount is a shadowed rule's outcome count on this node.
type ShadowCount struct {
	Version, Rule, Outcome string
	Events                 int64
}

// ShadowCounts reports this node's shadow outcomes since it started.
func (e *Engine) ShadowCounts() []ShadowCount {
	var out []ShadowCount
	e.shadow.counts.Range(func(k, v any) bool {
		key := k.(shadowKey)
		out = append(out, ShadowCount{Version: key.version, Rule: key.rule, Outcome: key.outcome, Events: v.(*atomic.Int64).Load()})
		return true
	})
	return out
}

// ShadowPolicy is the version being shadowed on this node, or nil.
func (e *Engine) ShadowPolicy() *holdfast.Policy { return e.shadow.p.Load() }

// loadShadow follows the store's shadowed version.
func (e *Engine) loadShadow(ctx context.Context) error {
	v, err := e.store.ShadowPolicy(ctx)
	if err != nil {
		return err
	}
	if v == nil {
		e.shadow.p.Store(nil)
		return nil
	}
	if cur := e.shadow.p.Load(); cur != nil && cur.Hash == v.Hash {
		return nil
	}
	p, err := policy.ParseVersion(v.YAML)
	if err != nil {
		return err
	}
	e.shadow.p.Store(p)
	return nil
}

// shadowOutcomes judges in by the shadowed version, if any, and returns
// where it differs from matches, the active version's judgement: a rule
// the shadow matches that the active version did not, or matched with
// other actions (would_apply), and one the active version matched that
// the shadow does not (would_not_apply). A rule failing to evaluate in
// the shadow counts as not matching.
func (e *Engine) shadowOutcomes(in *holdfast.RuleInput, matches []holdfast.RuleMatch) []*holdfast.ShadowOutcome {
	sp := e.shadow.p.Load()
	if sp == nil || sp.Evaluator == nil || sp.Hash == e.policy().Hash {
		return nil
	}
	sm, err := sp.Evaluator.Match(in)
	if err != nil {
		return nil
	}
	active, shadow := thens(matches), thens(sm)
	var out []*holdfast.ShadowOutcome
	add := func(rule, outcome, then string) {
		out = append(out, &holdfast.ShadowOutcome{Version: sp.Hash, Rule: rule, Outcome: outcome, Event: in.Event.ID, EventType: in.Event.Type,
			Account: in.Event.Account, At: in.Now, Then: then})
	}
	for _, m := range sm {
		if then, ok := shadow[m.Rule.ID]; ok {
			if a, ok := active[m.Rule.ID]; !ok || a != then {
				add(m.Rule.ID, holdfast.ShadowWouldApply, then)
			}
		}
	}
	for _, m := range matches {
		if then, ok := active[m.Rule.ID]; ok {
			if _, ok := shadow[m.Rule.ID]; !ok {
				add(m.Rule.ID, holdfast.ShadowWouldNotApply, then)
			}
		}
	}
	return out
}

// thens maps each rule that matched cleanly to its actions, as JSON.
func thens(ms []holdfast.RuleMatch) map[string]string {
	out := make(map[string]string, len(ms))
	for _, m := range ms {
		if m.Err == nil {
			b, _ := json.Marshal(m.Rule.Then)
			out[m.Rule.ID] = string(b)
		}
	}
	return out
}

// recordShadow keeps what an event's shadow run found, after the event
// committed: through RunShadow's queue when it runs, else at once. A
// failure to keep it is logged, never the event's.
func (e *Engine) recordShadow(ctx context.Context, os []*holdfast.ShadowOutcome) {
	if len(os) == 0 {
		return
	}
	for _, o := range os {
		k := shadowKey{o.Version, o.Rule, o.Outcome}
		v, _ := e.shadow.counts.LoadOrStore(k, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	if q := e.shadow.queue.Load(); q != nil {
		for _, o := range os {
			select {
			case *q <- o:
			default:
				e.shadow.dropped.Add(1)
			}
		}
		return
	}
	if err := e.store.RecordShadowOutcomes(ctx, os); err != nil {
		e.log.Warn("shadow outcomes not kept", "event", os[0].Event, "err", err)
	}
}

// ShadowReport is what the shadowed (or any) version would have done
// otherwise since since: counts by rule and outcome, and the newest
// outcomes as examples.
func (e *Engine) ShadowReport(ctx context.Context, ref string, since time.Time, examples int) (*holdfast.PolicyVersion, []holdfast.ShadowCount, []*holdfast.ShadowOutcome, error) {
	v, err := e.PolicyVersion(ctx, ref)
	if err != nil {
		return nil, nil, nil, err
	}
	counts, recent, err := e.store.ShadowReport(ctx, v.Hash, since, examples)
	return v, counts, recent, err
}
