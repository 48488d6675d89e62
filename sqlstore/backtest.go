package sqlstore

import (
	"context"
	"fmt"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/column"
)

// Policy backtests (migration 021): one row per pushed version, written by
// the node that runs it as it goes. Outside every audit chain.

const backtestCols = `version, baseline, state, since, events, capped, started_at, updated_at, finished_at, error, report`

func backtestFields(b *holdfast.PolicyBacktest) []any {
	return []any{&b.Version, &b.Baseline, &b.State, column.Nanos{T: &b.Since}, &b.Events, &b.Capped,
		column.Nanos{T: &b.StartedAt}, column.Nanos{T: &b.UpdatedAt}, column.Nanos{T: &b.FinishedAt}, &b.Error, column.RawJSON{B: &b.Report}}
}

// StartPolicyBacktest stores b.
func (s *Store) StartPolicyBacktest(ctx context.Context, b *holdfast.PolicyBacktest) error {
	return s.conn.Write(ctx, func(q Querier) error {
		_, err := q.Exec(ctx, `INSERT INTO policy_backtests (`+backtestCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			b.Version, b.Baseline, string(b.State), column.NanosArg(b.Since), b.Events, b.Capped,
			column.NanosArg(b.StartedAt), column.NanosArg(b.UpdatedAt), column.NanosArg(b.FinishedAt), b.Error, column.RawJSON{B: &b.Report})
		if s.d.IsUnique(err) {
			return holdfast.Errorf(holdfast.Conflict, "version", "policy version %s has a backtest already", b.Version)
		}
		if err != nil {
			return fmt.Errorf("%s: start backtest: %w", s.d.Name, err)
		}
		return nil
	})
}

// UpdatePolicyBacktest writes b's progress or outcome.
func (s *Store) UpdatePolicyBacktest(ctx context.Context, b *holdfast.PolicyBacktest) error {
	return s.conn.Write(ctx, func(q Querier) error {
		n, err := q.Exec(ctx, `UPDATE policy_backtests SET state = ?, events = ?, capped = ?, updated_at = ?, finished_at = ?, error = ?, report = ? WHERE version = ?`,
			string(b.State), b.Events, b.Capped, column.NanosArg(b.UpdatedAt), column.NanosArg(b.FinishedAt), b.Error, column.RawJSON{B: &b.Report}, b.Version)
		if err != nil {
			return fmt.Errorf("%s: update backtest: %w", s.d.Name, err)
		}
		if n == 0 {
			return holdfast.Errorf(holdfast.NotFound, "version", "policy version %s has no backtest", b.Version)
		}
		return nil
	})
}

// PolicyBacktest returns version's backtest.
func (s *Store) PolicyBacktest(ctx context.Context, version string) (*holdfast.PolicyBacktest, error) {
	return byID(ctx, s, "version", "backtest of policy version", scanWith(backtestFields), `SELECT `+backtestCols+` FROM policy_backtests WHERE version = ?`, version)
}
