package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/column"
)

// The outbox holds commands to other services. Enqueue writes one in the
// transaction of the change that caused it; a deliverer (package webhook,
// wired up in cmd/holdfast) then claims due commands for a lease, sends
// them, and settles each as delivered, failed (due again later) or dead.
// Claims and settlements are single writes (Conn.Write). On SQLite they
// go through the single writer, so they are serial within a process and,
// through SQLite's write lock, across processes sharing the file. On
// PostgreSQL a claim is one statement that locks the due rows it takes
// with the dialect's SkipLocked and stamps their lease, so claimers on any
// number of connections and nodes never get the same command. Either way
// a claimed command is invisible to every other claimer until its lease
// ends.

// maxLastError bounds the failure reason kept per command.
const maxLastError = 1024

// Enqueue writes c to the outbox in the update's transaction, due at once;
// a command without a creation time gets the update's now. A command id
// is recorded once: a second Enqueue of it is a conflict.
func (t *accountTx) Enqueue(c *holdfast.Command) error {
	if err := t.begin("command", c.ID, &c.Account); err != nil {
		return err
	}
	if c.Type == "" {
		return t.fail(holdfast.Errorf(holdfast.InvalidArgument, "type", "command %s has no type", c.ID))
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = t.now
	}
	// DO NOTHING, rather than the driver's unique violation, tells a
	// repeated id the same way on both databases.
	n, err := t.q.Exec(t.ctx, `INSERT INTO outbox (id, account, type, restriction, event, notice, data, created_at, next_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		c.ID, c.Account, string(c.Type), c.Restriction, c.Event, c.Notice, column.JSONMap{M: &c.Data},
		column.NanosArg(c.CreatedAt), column.NanosArg(c.CreatedAt))
	if err != nil {
		return t.failf(err, "enqueue %s", c.ID)
	}
	if n == 0 {
		return t.fail(holdfast.Errorf(holdfast.Conflict, "id", "command %s is already enqueued", c.ID))
	}
	t.wrote = true // the outbox row keeps the transaction worth committing
	return nil
}

// ClaimCommands leases up to limit pending commands due at now (and not
// leased by another claim) until now+lease, and returns them, earliest due
// first. The claim is committed before it returns. Until the lease ends no
// other claim sees them; a claimer that dies simply lets the lease run out.
func (s *Store) ClaimCommands(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]holdfast.Delivery, error) {
	return s.ClaimCommandsOf(ctx, holdfast.TypeFilter{}, now, lease, limit)
}

// typeSQL is f as a condition on the outbox's type column.
func typeSQL(f holdfast.TypeFilter) (string, []any) {
	if len(f.Types) == 0 {
		return "", nil
	}
	args := make([]any, len(f.Types))
	for i, t := range f.Types {
		args[i] = string(t)
	}
	op := "IN"
	if f.Except {
		op = "NOT IN"
	}
	return " AND type " + op + " (" + strings.Repeat("?, ", len(args)-1) + "?)", args
}

// ClaimCommandsOf is ClaimCommands for the commands f selects. On
// PostgreSQL the inner SELECT locks the rows it picks and skips rows
// another claim holds (SkipLocked); under READ COMMITTED a row another
// claim stamped and committed meanwhile is re-checked against the WHERE
// and dropped, as its lease is now in the future.
func (s *Store) ClaimCommandsOf(ctx context.Context, f holdfast.TypeFilter, now time.Time, lease time.Duration, limit int) ([]holdfast.Delivery, error) {
	if lease <= 0 {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "lease", "lease must be positive")
	}
	if limit <= 0 {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "limit", "limit must be positive")
	}
	type claimed struct {
		seq int64
		d   holdfast.Delivery
	}
	cond, types := typeSQL(f)
	q := `UPDATE outbox SET lease_until = ? WHERE seq IN (
			SELECT seq FROM outbox
			WHERE state = 'pending' AND next_at <= ? AND (lease_until IS NULL OR lease_until <= ?)` + cond + `
			ORDER BY next_at, seq LIMIT ?` + s.d.SkipLocked + `)
		RETURNING seq, ` + column.OutboxCols
	args := append(append([]any{column.NanosArg(now.Add(lease)), column.NanosArg(now), column.NanosArg(now)}, types...), limit)
	var got []claimed
	err := s.conn.Write(ctx, func(q2 Querier) error {
		got = got[:0] // SQLite's writer may run a job again
		return each(ctx, q2, q, args, func(r Row) error {
			var c claimed
			if err := r.Scan(append([]any{&c.seq}, column.DeliveryFields(&c.d)...)...); err != nil {
				return err
			}
			got = append(got, c)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("%s: claim commands: %w", s.d.Name, err)
	}
	// RETURNING comes in no promised order.
	slices.SortFunc(got, func(a, b claimed) int {
		if c := a.d.NextAt.Compare(b.d.NextAt); c != 0 {
			return c
		}
		return int(a.seq - b.seq)
	})
	out := make([]holdfast.Delivery, len(got))
	for i, c := range got {
		out[i] = c.d
	}
	return out, nil
}

// CompleteCommand records that the command was delivered at at. It needs
// no lease: a receiver that got the command got it, even if a claim ran
// late. Completing a delivered command changes nothing. Errors: not_found.
func (s *Store) CompleteCommand(ctx context.Context, id string, at time.Time) error {
	return s.settle(ctx, "complete", id, `UPDATE outbox SET state = 'delivered', delivered_at = ?, last_attempt_at = ?, lease_until = NULL
			WHERE id = ? AND state <> 'delivered'`, []any{column.NanosArg(at), column.NanosArg(at), id},
		func(holdfast.CommandState) error { return nil })
}

// FailCommand records a failed attempt made at at under the claim whose
// lease ended at lease: one more attempt, the reason, and the command due
// again at retryAt, or dead when retryAt is zero (the caller's retry policy
// is exhausted). Errors: not_found; failed_precondition when the claim no
// longer holds the command (it was delivered, or claimed again after the
// lease ran out), in which case nothing changes.
func (s *Store) FailCommand(ctx context.Context, id string, lease, at time.Time, reason string, retryAt time.Time) error {
	if lease.IsZero() {
		return holdfast.Errorf(holdfast.InvalidArgument, "lease", "lease is the LeaseUntil of the claim that failed")
	}
	reason = truncate(reason, maxLastError)
	// The CAST gives PostgreSQL the type of a parameter it cannot infer
	// from IS NULL.
	return s.settle(ctx, "fail", id, `UPDATE outbox SET attempts = attempts + 1, last_error = ?, last_attempt_at = ?, lease_until = NULL,
				state = CASE WHEN CAST(? AS BIGINT) IS NULL THEN 'dead' ELSE 'pending' END, next_at = coalesce(?, next_at)
			WHERE id = ? AND state = 'pending' AND lease_until = ?`,
		[]any{reason, column.NanosArg(at), column.NanosArg(retryAt), column.NanosArg(retryAt), id, column.NanosArg(lease)},
		func(st holdfast.CommandState) error {
			return holdfast.Errorf(holdfast.FailedPrecondition, "lease", "command %s is no longer held by this claim (state %s)", id, st)
		})
}

// RedriveCommand makes a command due again at at: a dead one becomes
// pending with a fresh count of attempts; a pending one, if due later, is
// due at at (its lease, if any, stands). Errors: not_found,
// failed_precondition (already delivered).
func (s *Store) RedriveCommand(ctx context.Context, id string, at time.Time) error {
	// SET expressions all see the row as it was, so state below is the old
	// state. The CASE on next_at is the smaller of next_at and at, written
	// so that both databases read it (SQLite's min is PostgreSQL's least).
	return s.settle(ctx, "redrive", id, `UPDATE outbox SET state = 'pending',
				attempts = CASE WHEN state = 'dead' THEN 0 ELSE attempts END,
				next_at = CASE WHEN state = 'dead' OR next_at > ? THEN ? ELSE next_at END
			WHERE id = ? AND state <> 'delivered'`, []any{column.NanosArg(at), column.NanosArg(at), id},
		func(holdfast.CommandState) error {
			return holdfast.Errorf(holdfast.FailedPrecondition, "id", "command %s is already delivered", id)
		})
}

// settle runs update, a one-row update of command id, as a single write.
// When it changes no row, the command is missing (not_found) or in a state
// the update does not apply to, and unchanged says what to return then.
func (s *Store) settle(ctx context.Context, what, id, update string, args []any, unchanged func(holdfast.CommandState) error) error {
	if id == "" {
		return holdfast.Errorf(holdfast.InvalidArgument, "id", "command id is required")
	}
	return s.conn.Write(ctx, func(q Querier) error {
		n, err := q.Exec(ctx, update, args...)
		if err != nil {
			return fmt.Errorf("%s: %s command %s: %w", s.d.Name, what, id, err)
		}
		if n == 1 {
			return nil
		}
		var state holdfast.CommandState
		err = q.QueryRow(ctx, `SELECT state FROM outbox WHERE id = ?`, id).Scan(&state)
		if errors.Is(err, ErrNoRows) {
			return holdfast.Errorf(holdfast.NotFound, "id", "command %s not found", id)
		}
		if err != nil {
			return fmt.Errorf("%s: %s command %s: %w", s.d.Name, what, id, err)
		}
		return unchanged(state)
	})
}

// Command returns one outbox command with its delivery state. Errors:
// not_found.
func (s *Store) Command(ctx context.Context, id string) (*holdfast.Delivery, error) {
	var d holdfast.Delivery
	err := s.conn.Read().QueryRow(ctx, `SELECT `+column.OutboxCols+` FROM outbox WHERE id = ?`, id).Scan(column.DeliveryFields(&d)...)
	if errors.Is(err, ErrNoRows) {
		return nil, holdfast.Errorf(holdfast.NotFound, "id", "command %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: command %s: %w", s.d.Name, id, err)
	}
	return &d, nil
}

// ListCommands lists outbox commands in state (every state when empty),
// newest first, at most limit of them (all when limit is 0): for staff to
// see what a failing receiver has not taken. Errors: invalid_argument.
func (s *Store) ListCommands(ctx context.Context, state holdfast.CommandState, limit int) ([]holdfast.Delivery, error) {
	q, args := `SELECT `+column.OutboxCols+` FROM outbox`, []any{}
	if state != "" {
		if !state.Valid() {
			return nil, holdfast.Errorf(holdfast.InvalidArgument, "state", "state must be pending, delivered or dead, not %q", state)
		}
		q, args = q+` WHERE state = ?`, append(args, string(state))
	}
	q += ` ORDER BY seq DESC`
	if limit > 0 {
		q, args = q+` LIMIT ?`, append(args, limit)
	}
	out := []holdfast.Delivery{}
	err := each(ctx, s.conn.Read(), q, args, func(r Row) error {
		var d holdfast.Delivery
		if err := r.Scan(column.DeliveryFields(&d)...); err != nil {
			return err
		}
		out = append(out, d)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: list commands: %w", s.d.Name, err)
	}
	return out, nil
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// OutboxStats counts by state on the index outbox_state (state, seq): the
// oldest pending command is the first of its state.
func (s *Store) OutboxStats(ctx context.Context) (holdfast.OutboxStats, error) {
	var st holdfast.OutboxStats
	q := s.conn.Read()
	for state, n := range map[holdfast.CommandState]*int{holdfast.CommandPending: &st.Pending, holdfast.CommandDead: &st.Dead} {
		if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM outbox WHERE state = ?`, string(state)).Scan(n); err != nil {
			return st, fmt.Errorf("%s: outbox stats: %w", s.d.Name, err)
		}
	}
	if st.Pending > 0 {
		err := q.QueryRow(ctx, `SELECT created_at FROM outbox WHERE state = ? ORDER BY seq LIMIT 1`, string(holdfast.CommandPending)).Scan(column.Nanos{T: &st.OldestPending})
		if err != nil && !errors.Is(err, ErrNoRows) {
			return st, fmt.Errorf("%s: outbox stats: %w", s.d.Name, err)
		}
	}
	return st, nil
}
