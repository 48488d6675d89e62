package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/column"
	sqlite3 "modernc.org/sqlite/lib"
)

// The outbox holds commands to other services. Enqueue writes one in the
// transaction of the change that caused it; a deliverer (package webhook,
// wired up in cmd/holdfast) then claims due commands for a lease, sends
// them, and settles each as delivered, failed (due again later) or dead.
// Claims and settlements go through the single writer like every other
// write, so they are serial within a process and, through SQLite's write
// lock, across processes sharing the file: a claimed command is invisible
// to every other claimer until its lease ends.

// The outbox's types are the domain's (holdfast.Delivery and friends), so
// that every store offers the same outbox; these names keep this package's
// callers short.
type (
	CommandState = holdfast.CommandState
	Delivery     = holdfast.Delivery
	TypeFilter   = holdfast.TypeFilter
)

const (
	CommandPending   = holdfast.CommandPending
	CommandDelivered = holdfast.CommandDelivered
	CommandDead      = holdfast.CommandDead
)

// maxLastError bounds the failure reason kept per command.
const maxLastError = 1024

// Enqueue writes a command to the outbox in the update's transaction, due
// at once; a command without a creation time gets the update's now. A
// command id is recorded once: a second Enqueue of it is a conflict.
func (t *accountTx) Enqueue(c *holdfast.Command) error {
	if err := t.check(); err != nil {
		return err
	}
	if err := t.own("command", c.ID, &c.Account); err != nil {
		return err
	}
	if c.Type == "" {
		return t.fail(holdfast.Errorf(holdfast.InvalidArgument, "type", "command %s has no type", c.ID))
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = t.now
	}
	_, err := t.w.exec(`INSERT INTO outbox (id, account, type, restriction, event, notice, data, created_at, next_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, t.id, string(c.Type), c.Restriction, c.Event, c.Notice, jsonMap(&c.Data), nanosArg(c.CreatedAt), nanosArg(c.CreatedAt))
	if isConstraint(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE) {
		return t.fail(holdfast.Errorf(holdfast.Conflict, "id", "command %s is already enqueued", c.ID))
	}
	if err != nil {
		return t.fail(fmt.Errorf("sqlite: enqueue %s: %w", c.ID, err))
	}
	return nil
}

// ClaimCommands leases up to limit pending commands due at now (and not
// leased by another claim) until now+lease, and returns them, earliest due
// first. The claim is committed before it returns. Until the lease ends no
// other claim sees them; a claimer that dies simply lets the lease run out.
func (db *DB) ClaimCommands(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Delivery, error) {
	return db.ClaimCommandsOf(ctx, TypeFilter{}, now, lease, limit)
}

// typeSQL is f as a condition on the outbox's type column.
func typeSQL(f TypeFilter) (string, []any) {
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

// ClaimCommandsOf is ClaimCommands for the commands f selects.
func (db *DB) ClaimCommandsOf(ctx context.Context, f TypeFilter, now time.Time, lease time.Duration, limit int) ([]Delivery, error) {
	if lease <= 0 {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "lease", "lease must be positive")
	}
	if limit <= 0 {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "limit", "limit must be positive")
	}
	type claimed struct {
		seq int64
		d   Delivery
	}
	var got []claimed
	err := db.w.do(ctx, func(w *writer) error {
		got = got[:0]
		cond, args := typeSQL(f)
		rows, err := w.query(`UPDATE outbox SET lease_until = ? WHERE seq IN (
				SELECT seq FROM outbox
				WHERE state = 'pending' AND next_at <= ? AND (lease_until IS NULL OR lease_until <= ?)`+cond+`
				ORDER BY next_at, seq LIMIT ?)
			RETURNING seq, `+column.OutboxCols,
			append(append([]any{nanosArg(now.Add(lease)), nanosArg(now), nanosArg(now)}, args...), limit)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c claimed
			if err := rows.Scan(append([]any{&c.seq}, column.DeliveryFields(&c.d)...)...); err != nil {
				return err
			}
			got = append(got, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim commands: %w", err)
	}
	// RETURNING comes in no promised order.
	slices.SortFunc(got, func(a, b claimed) int {
		if c := a.d.NextAt.Compare(b.d.NextAt); c != 0 {
			return c
		}
		return int(a.seq - b.seq)
	})
	out := make([]Delivery, len(got))
	for i, c := range got {
		out[i] = c.d
	}
	return out, nil
}

// CompleteCommand records that the command was delivered at at. It needs
// no lease: a receiver that got the command got it, even if a claim ran
// late. Completing a delivered command changes nothing. Errors: not_found.
func (db *DB) CompleteCommand(ctx context.Context, id string, at time.Time) error {
	return db.settle(ctx, "complete", id, func(w *writer) (sql.Result, error) {
		return w.exec(`UPDATE outbox SET state = 'delivered', delivered_at = ?, last_attempt_at = ?, lease_until = NULL
			WHERE id = ? AND state <> 'delivered'`, nanosArg(at), nanosArg(at), id)
	}, func(CommandState) error { return nil })
}

// FailCommand records a failed attempt made at at under the claim whose
// lease ended at lease: one more attempt, the reason, and the command due
// again at retryAt, or dead when retryAt is zero (the caller's retry policy
// is exhausted). Errors: not_found; failed_precondition when the claim no
// longer holds the command (it was delivered, or claimed again after the
// lease ran out), in which case nothing changes.
func (db *DB) FailCommand(ctx context.Context, id string, lease, at time.Time, reason string, retryAt time.Time) error {
	if lease.IsZero() {
		return holdfast.Errorf(holdfast.InvalidArgument, "lease", "lease is the LeaseUntil of the claim that failed")
	}
	reason = truncate(reason, maxLastError)
	return db.settle(ctx, "fail", id, func(w *writer) (sql.Result, error) {
		return w.exec(`UPDATE outbox SET attempts = attempts + 1, last_error = ?, last_attempt_at = ?, lease_until = NULL,
				state = CASE WHEN ? IS NULL THEN 'dead' ELSE 'pending' END, next_at = coalesce(?, next_at)
			WHERE id = ? AND state = 'pending' AND lease_until = ?`,
			reason, nanosArg(at), nanosArg(retryAt), nanosArg(retryAt), id, nanosArg(lease))
	}, func(s CommandState) error {
		return holdfast.Errorf(holdfast.FailedPrecondition, "lease", "command %s is no longer held by this claim (state %s)", id, s)
	})
}

// RedriveCommand makes a command due again at at: a dead one becomes
// pending with a fresh count of attempts; a pending one, if due later, is
// due at at (its lease, if any, stands). Errors: not_found,
// failed_precondition (already delivered).
func (db *DB) RedriveCommand(ctx context.Context, id string, at time.Time) error {
	return db.settle(ctx, "redrive", id, func(w *writer) (sql.Result, error) {
		// SET expressions all see the row as it was, so state below is the
		// old state.
		return w.exec(`UPDATE outbox SET state = 'pending',
				attempts = CASE WHEN state = 'dead' THEN 0 ELSE attempts END,
				next_at = CASE WHEN state = 'dead' THEN ? ELSE min(next_at, ?) END
			WHERE id = ? AND state <> 'delivered'`, nanosArg(at), nanosArg(at), id)
	}, func(CommandState) error {
		return holdfast.Errorf(holdfast.FailedPrecondition, "id", "command %s is already delivered", id)
	})
}

// settle runs a one-row update of command id on the writer. When it changes
// no row, the command is missing (not_found) or in a state the update does
// not apply to, and unchanged says what to return then.
func (db *DB) settle(ctx context.Context, what, id string, update func(w *writer) (sql.Result, error), unchanged func(CommandState) error) error {
	if id == "" {
		return holdfast.Errorf(holdfast.InvalidArgument, "id", "command id is required")
	}
	return db.w.do(ctx, func(w *writer) error {
		res, err := update(w)
		if err != nil {
			return fmt.Errorf("sqlite: %s command %s: %w", what, id, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var state CommandState
		err = w.queryRow(`SELECT state FROM outbox WHERE id = ?`, id).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) {
			return holdfast.Errorf(holdfast.NotFound, "id", "command %s not found", id)
		}
		if err != nil {
			return fmt.Errorf("sqlite: %s command %s: %w", what, id, err)
		}
		return unchanged(state)
	})
}

// Command returns one outbox command with its delivery state. Errors:
// not_found.
func (db *DB) Command(ctx context.Context, id string) (*Delivery, error) {
	var d Delivery
	err := db.queryRow(ctx, `SELECT `+column.OutboxCols+` FROM outbox WHERE id = ?`, id).Scan(column.DeliveryFields(&d)...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, holdfast.Errorf(holdfast.NotFound, "id", "command %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: command %s: %w", id, err)
	}
	return &d, nil
}

// ListCommands lists outbox commands in state (every state when empty),
// newest first, at most limit of them (all when limit is 0): for staff to
// see what a failing receiver has not taken. Errors: invalid_argument.
func (db *DB) ListCommands(ctx context.Context, state CommandState, limit int) ([]Delivery, error) {
	q, params := `SELECT `+column.OutboxCols+` FROM outbox`, []any{}
	if state != "" {
		if !state.Valid() {
			return nil, holdfast.Errorf(holdfast.InvalidArgument, "state", "state must be pending, delivered or dead, not %q", state)
		}
		q, params = q+` WHERE state = ?`, append(params, string(state))
	}
	q += ` ORDER BY seq DESC`
	if limit > 0 {
		q, params = q+` LIMIT ?`, append(params, limit)
	}
	out := []Delivery{}
	err := db.each(ctx, q, params, func(s scanner) error {
		var d Delivery
		if err := s.Scan(column.DeliveryFields(&d)...); err != nil {
			return err
		}
		out = append(out, d)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: list commands: %w", err)
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
