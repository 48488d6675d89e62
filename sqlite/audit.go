package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/holdfast/holdfast"
)

const auditCols = `account, seq, at, actor, action, restriction, before, after, reason, prev_hash, hash`

// auditFields lists e's columns in auditCols order.
func auditFields(e *holdfast.AuditEntry) []any {
	return []any{
		&e.Account, &e.Seq, nanos(&e.At), &e.Actor, &e.Action, &e.Restriction,
		rawJSON(&e.Before), rawJSON(&e.After), &e.Reason, &e.PrevHash, &e.Hash,
	}
}

// Append chains e to the account's log and moves the head, in the entry's
// row and in the account's row alike.
func (t *accountTx) Append(e *holdfast.AuditEntry) error {
	if err := t.check(); err != nil {
		return err
	}
	if e.Account == "" {
		e.Account = t.id
	}
	if e.Account != t.id {
		return t.fail(fmt.Errorf("sqlite: audit entry for account %s appended to %s", e.Account, t.id))
	}
	if err := t.ensureAccount(); err != nil {
		return err
	}
	e.Chain(t.headSeq, t.headHash)
	if _, err := t.w.exec(`INSERT INTO audit (`+auditCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, auditFields(e)...); err != nil {
		return t.fail(fmt.Errorf("sqlite: append audit %s/%d: %w", t.id, e.Seq, err))
	}
	// The account row's head moves once, when the update ends (saveHead).
	t.headSeq, t.headHash = e.Seq, e.Hash
	t.acct.AuditSeq, t.acct.AuditHash = e.Seq, e.Hash
	return nil
}

// History returns the account's entries in chain order.
func (db *DB) History(ctx context.Context, account string) ([]holdfast.AuditEntry, error) {
	out := []holdfast.AuditEntry{}
	err := db.each(ctx, `SELECT `+auditCols+` FROM audit WHERE account = ? ORDER BY seq`, []any{account}, func(s scanner) error {
		var e holdfast.AuditEntry
		err := s.Scan(auditFields(&e)...)
		out = append(out, e)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: history of %s: %w", account, err)
	}
	return out, nil
}

// VerifyAudit checks one account's chain, or every chain when account is
// empty, against the heads the account rows record. Entries whose account
// row is missing are a break too. Heads and entries are read in one read
// transaction, so commits made meanwhile cannot look like tampering.
func (db *DB) VerifyAudit(ctx context.Context, account string) (*holdfast.AuditReport, error) {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite: verify audit: %w", err)
	}
	defer tx.Rollback()
	heads, entries := `SELECT id, audit_seq, audit_hash FROM accounts`, `SELECT `+auditCols+` FROM audit`
	var params []any
	if account != "" {
		heads, entries, params = heads+` WHERE id = ?`, entries+` WHERE account = ?`, []any{account}
	}
	// Both queries are ordered by account, so one pass merges them while
	// holding a single chain in memory.
	hs, err := tx.QueryContext(ctx, heads+` ORDER BY id`, params...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: verify audit: %w", err)
	}
	defer hs.Close()
	es, err := tx.QueryContext(ctx, entries+` ORDER BY account, seq`, params...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: verify audit: %w", err)
	}
	defer es.Close()
	rep, err := verify(hs, es)
	if err != nil {
		return nil, fmt.Errorf("sqlite: verify audit: %w", err)
	}
	return rep, nil
}

// head is an account row's record of its chain.
type head struct {
	account string
	seq     int64
	hash    string
}

// verify merges account heads and entries, both ordered by account, and
// checks each account's chain in turn.
func verify(hs, es *sql.Rows) (*holdfast.AuditReport, error) {
	rep := &holdfast.AuditReport{Breaks: []holdfast.AuditBreak{}}
	headFields := func(v *head) []any { return []any{&v.account, &v.seq, &v.hash} }
	var (
		h     cursor[head]
		e     cursor[holdfast.AuditEntry]
		chain []holdfast.AuditEntry
	)
	if err := h.next(hs, headFields); err != nil {
		return nil, err
	}
	if err := e.next(es, auditFields); err != nil {
		return nil, err
	}
	for h.ok || e.ok {
		account := h.v.account
		if !h.ok || (e.ok && e.v.Account < account) {
			account = e.v.Account
		}
		chain = chain[:0]
		for e.ok && e.v.Account == account {
			chain = append(chain, e.v)
			if err := e.next(es, auditFields); err != nil {
				return nil, err
			}
		}
		var b *holdfast.AuditBreak
		if h.ok && h.v.account == account {
			b = holdfast.VerifyChain(account, chain, h.v.seq, h.v.hash)
			if err := h.next(hs, headFields); err != nil {
				return nil, err
			}
		} else {
			b = orphan(account, chain)
		}
		rep.Accounts++
		rep.Entries += int64(len(chain))
		if b != nil {
			rep.Breaks = append(rep.Breaks, *b)
		}
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

// cursor holds the current row of a result set.
type cursor[T any] struct {
	v  T
	ok bool
}

// next scans the following row into c.v, or sets c.ok false at the end.
func (c *cursor[T]) next(rows *sql.Rows, fields func(*T) []any) error {
	c.ok = rows.Next()
	if !c.ok {
		return rows.Err()
	}
	var v T
	if err := rows.Scan(fields(&v)...); err != nil {
		return err
	}
	c.v = v
	return nil
}

// saveHead writes the audit chain's head to the account row, once per
// update however many entries it appended.
func (t *accountTx) saveHead() error {
	if !t.stored || t.headSeq == t.savedSeq {
		return nil
	}
	if _, err := t.w.exec(`UPDATE accounts SET audit_seq = ?, audit_hash = ? WHERE id = ?`, t.headSeq, t.headHash, t.id); err != nil {
		return t.fail(fmt.Errorf("sqlite: move audit head of %s: %w", t.id, err))
	}
	t.savedSeq = t.headSeq
	return nil
}
