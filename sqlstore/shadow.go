package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/column"
)

// Shadow outcomes (migration 019): what a shadowed policy version would
// have done otherwise, one row per version, event and rule. An event seen
// twice (a retry after a commit the caller did not hear of) records once.

const shadowCols = `version, rule, outcome, event, event_type, account, at, then_text`

func shadowFields(o *holdfast.ShadowOutcome) []any {
	return []any{&o.Version, &o.Rule, &o.Outcome, &o.Event, &o.EventType, &o.Account, column.Nanos{T: &o.At}, &o.Then}
}

// RecordShadowOutcomes stores os in one transaction.
func (s *Store) RecordShadowOutcomes(ctx context.Context, os []*holdfast.ShadowOutcome) error {
	if len(os) == 0 {
		return nil
	}
	return s.conn.Write(ctx, func(q Querier) error {
		for _, o := range os {
			if _, err := q.Exec(ctx, `INSERT INTO shadow_outcomes (`+shadowCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (version, event, rule) DO NOTHING`,
				o.Version, o.Rule, o.Outcome, o.Event, string(o.EventType), o.Account, column.NanosArg(o.At), o.Then); err != nil {
				return fmt.Errorf("%s: record shadow outcome: %w", s.d.Name, err)
			}
		}
		return nil
	})
}

// ShadowReport counts version's outcomes since since by rule and outcome,
// and returns up to examples of the newest.
func (s *Store) ShadowReport(ctx context.Context, version string, since time.Time, examples int) ([]holdfast.ShadowCount, []*holdfast.ShadowOutcome, error) {
	from := int64(0) // a zero since is every outcome (NanosArg would be NULL)
	if !since.IsZero() {
		from = since.UnixNano()
	}
	counts, err := list(ctx, s.conn.Read(), func(c *holdfast.ShadowCount) []any { return []any{&c.Rule, &c.Outcome, &c.Events} },
		`SELECT rule, outcome, COUNT(*) FROM shadow_outcomes WHERE version = ? AND at >= ? GROUP BY rule, outcome ORDER BY rule, outcome`,
		version, from)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: shadow report: %w", s.d.Name, err)
	}
	out := make([]holdfast.ShadowCount, len(counts))
	for i, c := range counts {
		out[i] = *c
	}
	recent, err := list(ctx, s.conn.Read(), shadowFields,
		`SELECT `+shadowCols+` FROM shadow_outcomes WHERE version = ? AND at >= ? ORDER BY at DESC, event DESC LIMIT ?`,
		version, from, examples)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: shadow outcomes: %w", s.d.Name, err)
	}
	return out, recent, nil
}
