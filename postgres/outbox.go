package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/column"
	"github.com/jackc/pgx/v5"
)

// The outbox holds commands to other services. Enqueue writes one in the
// transaction of the change that caused it; a deliverer (package webhook,
// wired up in cmd/holdfast) then claims due commands for a lease, sends
// them, and settles each as delivered, failed (due again later) or dead.
// A claim is one statement that locks the due rows it takes with FOR
// UPDATE SKIP LOCKED and stamps their lease, so claimers on any number of
// connections and nodes never get the same command: a row another claim
// is stamping is skipped, and a row it has stamped is no longer due until
// its lease ends. The types and semantics are package sqlite's.

// The outbox's types are the domain's (holdfast.Delivery and friends), so
// that every store offers the same outbox; these names match package
// sqlite's.
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
	_, err := t.exec(`INSERT INTO outbox (id, account, type, restriction, event, notice, data, created_at, next_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		c.ID, t.id, string(c.Type), c.Restriction, c.Event, c.Notice, jsonMap(&c.Data), nanosArg(c.CreatedAt), nanosArg(c.CreatedAt))
	if isUnique(err) {
		return t.fail(holdfast.Errorf(holdfast.Conflict, "id", "command %s is already enqueued", c.ID))
	}
	if err != nil {
		return t.fail(fmt.Errorf("postgres: enqueue %s: %w", c.ID, err))
	}
	t.wrote = true
	return nil
}

// ClaimCommands leases up to limit pending commands due at now (and not
// leased by another claim) until now+lease, and returns them, earliest due
// first. The claim is committed before it returns. Until the lease ends no
// other claim sees them; a claimer that dies simply lets the lease run out.
func (db *DB) ClaimCommands(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Delivery, error) {
	return db.ClaimCommandsOf(ctx, TypeFilter{}, now, lease, limit)
}

// typeSQL is f as a condition on the outbox's type column, its arguments
// added to p.
func typeSQL(f TypeFilter, p *params) string {
	if len(f.Types) == 0 {
		return ""
	}
	ps := make([]string, len(f.Types))
	for i, t := range f.Types {
		ps[i] = p.add(string(t))
	}
	op := "IN"
	if f.Except {
		op = "NOT IN"
	}
	return " AND type " + op + " (" + strings.Join(ps, ", ") + ")"
}

// ClaimCommandsOf is ClaimCommands for the commands f selects. The inner
// SELECT locks the rows it picks and skips rows another claim holds
// (SKIP LOCKED); under READ COMMITTED a row another claim stamped and
// committed meanwhile is re-checked against the WHERE and dropped, as its
// lease is now in the future.
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
	var p params
	until, at := p.add(nanosArg(now.Add(lease))), p.add(nanosArg(now))
	cond := typeSQL(f, &p)
	q := `UPDATE outbox SET lease_until = ` + until + ` WHERE seq IN (
			SELECT seq FROM outbox
			WHERE state = 'pending' AND next_at <= ` + at + ` AND (lease_until IS NULL OR lease_until <= ` + at + `)` + cond + `
			ORDER BY next_at, seq LIMIT ` + p.add(limit) + `
			FOR UPDATE SKIP LOCKED)
		RETURNING seq, ` + column.OutboxCols
	var got []claimed
	err := db.each(ctx, q, p.args, func(s scanner) error {
		var c claimed
		if err := s.Scan(append([]any{&c.seq}, column.DeliveryFields(&c.d)...)...); err != nil {
			return err
		}
		got = append(got, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: claim commands: %w", err)
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
	return db.settle(ctx, "complete", id, `UPDATE outbox SET state = 'delivered', delivered_at = $1, last_attempt_at = $1, lease_until = NULL
			WHERE id = $2 AND state <> 'delivered'`, []any{nanosArg(at), id},
		func(CommandState) error { return nil })
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
	return db.settle(ctx, "fail", id, `UPDATE outbox SET attempts = attempts + 1, last_error = $1, last_attempt_at = $2, lease_until = NULL,
				state = CASE WHEN $3::BIGINT IS NULL THEN 'dead' ELSE 'pending' END, next_at = coalesce($3::BIGINT, next_at)
			WHERE id = $4 AND state = 'pending' AND lease_until = $5`,
		[]any{reason, nanosArg(at), nanosArg(retryAt), id, nanosArg(lease)},
		func(s CommandState) error {
			return holdfast.Errorf(holdfast.FailedPrecondition, "lease", "command %s is no longer held by this claim (state %s)", id, s)
		})
}

// RedriveCommand makes a command due again at at: a dead one becomes
// pending with a fresh count of attempts; a pending one, if due later, is
// due at at (its lease, if any, stands). Errors: not_found,
// failed_precondition (already delivered).
func (db *DB) RedriveCommand(ctx context.Context, id string, at time.Time) error {
	// SET expressions all see the row as it was, so state below is the old
	// state.
	return db.settle(ctx, "redrive", id, `UPDATE outbox SET state = 'pending',
				attempts = CASE WHEN state = 'dead' THEN 0 ELSE attempts END,
				next_at = CASE WHEN state = 'dead' THEN $1 ELSE least(next_at, $1) END
			WHERE id = $2 AND state <> 'delivered'`, []any{nanosArg(at), id},
		func(CommandState) error {
			return holdfast.Errorf(holdfast.FailedPrecondition, "id", "command %s is already delivered", id)
		})
}

// settle runs a one-row update of command id. When it changes no row, the
// command is missing (not_found) or in a state the update does not apply
// to, and unchanged says what to return then.
func (db *DB) settle(ctx context.Context, what, id, update string, args []any, unchanged func(CommandState) error) error {
	if id == "" {
		return holdfast.Errorf(holdfast.InvalidArgument, "id", "command id is required")
	}
	tag, err := db.pool.Exec(ctx, update, args...)
	if err != nil {
		return fmt.Errorf("postgres: %s command %s: %w", what, id, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var state CommandState
	err = db.pool.QueryRow(ctx, `SELECT state FROM outbox WHERE id = $1`, id).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return holdfast.Errorf(holdfast.NotFound, "id", "command %s not found", id)
	}
	if err != nil {
		return fmt.Errorf("postgres: %s command %s: %w", what, id, err)
	}
	return unchanged(state)
}

// Command returns one outbox command with its delivery state. Errors:
// not_found.
func (db *DB) Command(ctx context.Context, id string) (*Delivery, error) {
	var d Delivery
	err := db.pool.QueryRow(ctx, `SELECT `+column.OutboxCols+` FROM outbox WHERE id = $1`, id).Scan(column.DeliveryFields(&d)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, holdfast.Errorf(holdfast.NotFound, "id", "command %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: command %s: %w", id, err)
	}
	return &d, nil
}

// ListCommands lists outbox commands in state (every state when empty),
// newest first, at most limit of them (all when limit is 0): for staff to
// see what a failing receiver has not taken. Errors: invalid_argument.
func (db *DB) ListCommands(ctx context.Context, state CommandState, limit int) ([]Delivery, error) {
	q := `SELECT ` + column.OutboxCols + ` FROM outbox`
	var p params
	if state != "" {
		if !state.Valid() {
			return nil, holdfast.Errorf(holdfast.InvalidArgument, "state", "state must be pending, delivered or dead, not %q", state)
		}
		q += ` WHERE state = ` + p.add(string(state))
	}
	q += ` ORDER BY seq DESC`
	if limit > 0 {
		q += ` LIMIT ` + p.add(limit)
	}
	out := []Delivery{}
	err := db.each(ctx, q, p.args, func(s scanner) error {
		var d Delivery
		if err := s.Scan(column.DeliveryFields(&d)...); err != nil {
			return err
		}
		out = append(out, d)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list commands: %w", err)
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
