package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"math"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/column"
)

const auditCols = `account, seq, at, actor, action, restriction, before, after, reason, prev_hash, hash`

// auditFields lists e's columns in auditCols order.
func auditFields(e *holdfast.AuditEntry) []any {
	return []any{
		&e.Account, &e.Seq, column.Nanos{T: &e.At}, &e.Actor, &e.Action, &e.Restriction,
		column.RawJSON{B: &e.Before}, column.RawJSON{B: &e.After}, &e.Reason, &e.PrevHash, &e.Hash,
	}
}

// auditValues are auditFields of a copy of e, for a write sent later.
func auditValues(e *holdfast.AuditEntry) []any {
	c := *e
	return auditFields(&c)
}

// Append chains e to the account's log and moves the head; the account
// row's head moves once, when the update ends (saveHead).
func (t *accountTx) Append(e *holdfast.AuditEntry) error {
	if err := t.check(); err != nil {
		return err
	}
	if e.Account == "" {
		e.Account = t.id
	}
	if e.Account != t.id {
		return t.fail(fmt.Errorf("%s: audit entry for account %s appended to %s", t.s.d.Name, e.Account, t.id))
	}
	if err := t.ensureAccount(); err != nil {
		return err
	}
	e.Chain(t.headSeq, t.headHash)
	seq := e.Seq
	t.later(func(err error) error { return t.failf(err, "append audit %s/%d", t.id, seq) },
		t.s.appendAudit(), auditValues(e)...)
	t.headSeq, t.headHash = e.Seq, e.Hash
	t.acct.AuditSeq, t.acct.AuditHash = e.Seq, e.Hash
	return nil
}

// saveHead queues the write of the audit chain's head to the account
// row, once per update however many entries it appended.
func (t *accountTx) saveHead() {
	if !t.stored || t.headSeq == t.savedSeq {
		return
	}
	t.later(func(err error) error { return t.failf(err, "move audit head of %s", t.id) },
		`UPDATE accounts SET audit_seq = ?, audit_hash = ? WHERE id = ?`, t.headSeq, t.headHash, t.id)
	t.savedSeq = t.headSeq
}

// History returns the account's entries in chain order.
func (s *Store) History(ctx context.Context, account string) ([]holdfast.AuditEntry, error) {
	out := []holdfast.AuditEntry{}
	err := each(ctx, s.conn.Read(), `SELECT `+auditCols+` FROM audit WHERE account = ? ORDER BY seq`, []any{account}, func(r Row) error {
		var e holdfast.AuditEntry
		err := r.Scan(auditFields(&e)...)
		out = append(out, e)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: history of %s: %w", s.d.Name, account, err)
	}
	return out, nil
}

// HistoryBefore returns at most limit of the account's entries below
// before (0: all), newest first, down the (account, seq) key.
func (s *Store) HistoryBefore(ctx context.Context, account string, before int64, limit int) ([]holdfast.AuditEntry, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	out := []holdfast.AuditEntry{}
	err := each(ctx, s.conn.Read(), `SELECT `+auditCols+` FROM audit WHERE account = ? AND seq < ? ORDER BY seq DESC LIMIT ?`, []any{account, before, limit}, func(r Row) error {
		var e holdfast.AuditEntry
		err := r.Scan(auditFields(&e)...)
		out = append(out, e)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: history of %s before %d: %w", s.d.Name, account, before, err)
	}
	return out, nil
}

// VerifyAudit checks one account's chain, or every chain when account is
// empty, against the heads the account rows record. Entries whose account
// row is missing are a break too. Heads and entries come from one
// statement, a full join ordered by account, so they share one snapshot
// (commits made meanwhile cannot look like tampering) and stream through
// while one chain at a time is held in memory.
func (s *Store) VerifyAudit(ctx context.Context, account string) (*holdfast.AuditReport, error) {
	// One statement, one snapshot: each account's head (its row, seq NULL)
	// and then its entries, in the order of the two tables' keys, so that
	// the database merges two index scans instead of joining or sorting.
	// Entries whose account row is missing come without a head.
	heads, entries, args := ``, ``, []any(nil)
	if account != "" {
		heads, entries, args = ` WHERE id = ?`, ` WHERE account = ?`, []any{account, account}
	}
	// A head row is (id, NULL, audit_seq, ..., audit_hash in hash).
	q := `SELECT id, NULL, audit_seq, NULL, '', '', '', NULL, NULL, '', '', audit_hash FROM accounts` + heads + `
		UNION ALL
		SELECT account, seq, 0, at, actor, action, restriction, before, after, reason, prev_hash, hash FROM audit` + entries + `
		ORDER BY 1, 2 NULLS FIRST`
	rep := &holdfast.AuditReport{Breaks: []holdfast.AuditBreak{}}
	var (
		cur     string // the account whose rows are being read
		started bool
		hasHead bool
		head    holdfast.AuditEntry // cur's head: Seq and Hash
		chain   []holdfast.AuditEntry
	)
	flush := func() {
		var b *holdfast.AuditBreak
		if hasHead {
			b = holdfast.VerifyChain(cur, chain, head.Seq, head.Hash)
		} else {
			b = orphan(cur, chain)
		}
		rep.Accounts++
		rep.Entries += int64(len(chain))
		if b != nil {
			rep.Breaks = append(rep.Breaks, *b)
		}
	}
	err := each(ctx, s.conn.Read(), q, args, func(r Row) error {
		var (
			e       holdfast.AuditEntry
			seq     sql.NullInt64 // NULL on a head row
			headSeq int64
		)
		if err := r.Scan(&e.Account, &seq, &headSeq, column.Nanos{T: &e.At}, &e.Actor, &e.Action, &e.Restriction,
			column.RawJSON{B: &e.Before}, column.RawJSON{B: &e.After}, &e.Reason, &e.PrevHash, &e.Hash); err != nil {
			return err
		}
		if !started || e.Account != cur {
			if started {
				flush()
			}
			cur, started, hasHead, chain = e.Account, true, false, chain[:0]
		}
		if !seq.Valid {
			hasHead, head.Seq, head.Hash = true, headSeq, e.Hash
			return nil
		}
		e.Seq = seq.Int64
		chain = append(chain, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: verify audit: %w", s.d.Name, err)
	}
	if started {
		flush()
	}
	return rep, nil
}

// orphan reports a chain whose account row is missing: at its first broken
// link, or past its end where the row's head should have been.
func orphan(account string, chain []holdfast.AuditEntry) *holdfast.AuditBreak {
	if b := holdfast.VerifyChain(account, chain, 0, ""); b != nil && b.Seq <= int64(len(chain)) {
		return b
	}
	return &holdfast.AuditBreak{Account: account, Seq: int64(len(chain)) + 1,
		Problem: "audit entries exist but the account record is missing: it was deleted"}
}

// appendAudit inserts an entry, and where the log needs a queue
// (decision 117), queues it in the same statement.
func (s *Store) appendAudit() string {
	if s.d.RowidLog {
		return insertAudit
	}
	return insertAndQueueAudit
}

const (
	insertAudit         = `INSERT INTO audit (` + auditCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertAndQueueAudit = `WITH entry AS (` + insertAudit + ` RETURNING account, seq) INSERT INTO tlog_queue (account, seq) SELECT account, seq FROM entry`
)
