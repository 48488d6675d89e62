package postgres

import (
	"context"
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
		return t.fail(fmt.Errorf("postgres: audit entry for account %s appended to %s", e.Account, t.id))
	}
	if err := t.ensureAccount(); err != nil {
		return err
	}
	e.Chain(t.headSeq, t.headHash)
	if _, err := t.exec(`INSERT INTO audit (`+auditCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, auditFields(e)...); err != nil {
		return t.fail(fmt.Errorf("postgres: append audit %s/%d: %w", t.id, e.Seq, err))
	}
	t.headSeq, t.headHash = e.Seq, e.Hash
	t.acct.AuditSeq, t.acct.AuditHash = e.Seq, e.Hash
	return nil
}

// saveHead writes the audit chain's head to the account row, once per
// update however many entries it appended.
func (t *accountTx) saveHead() error {
	if !t.stored || t.headSeq == t.savedSeq {
		return nil
	}
	if _, err := t.exec(`UPDATE accounts SET audit_seq = $1, audit_hash = $2 WHERE id = $3`, t.headSeq, t.headHash, t.id); err != nil {
		return t.fail(fmt.Errorf("postgres: move audit head of %s: %w", t.id, err))
	}
	t.savedSeq = t.headSeq
	return nil
}

// History returns the account's entries in chain order.
func (db *DB) History(ctx context.Context, account string) ([]holdfast.AuditEntry, error) {
	out := []holdfast.AuditEntry{}
	err := db.each(ctx, `SELECT `+auditCols+` FROM audit WHERE account = $1 ORDER BY seq`, []any{account}, func(s scanner) error {
		var e holdfast.AuditEntry
		err := s.Scan(auditFields(&e)...)
		out = append(out, e)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: history of %s: %w", account, err)
	}
	return out, nil
}

// VerifyAudit checks one account's chain, or every chain when account is
// empty, against the heads the account rows record. Entries whose account
// row is missing are a break too. Heads and entries come from one
// statement, a full join ordered by account, so they share one snapshot
// (commits made meanwhile cannot look like tampering) and stream through
// while one chain at a time is held in memory.
func (db *DB) VerifyAudit(ctx context.Context, account string) (*holdfast.AuditReport, error) {
	heads, entries := `SELECT id, audit_seq, audit_hash FROM accounts`, `SELECT `+auditCols+` FROM audit`
	var params []any
	if account != "" {
		heads, entries, params = heads+` WHERE id = $1`, entries+` WHERE account = $1`, []any{account}
	}
	// has_head is false for entries without an account row; seq is NULL for
	// an account without entries.
	q := `SELECT coalesce(h.id, e.account), h.id IS NOT NULL, coalesce(h.audit_seq, 0), coalesce(h.audit_hash, ''),
			e.seq, e.at, coalesce(e.actor, ''), coalesce(e.action, ''), coalesce(e.restriction, ''),
			e.before, e.after, coalesce(e.reason, ''), coalesce(e.prev_hash, ''), coalesce(e.hash, '')
		FROM (` + heads + `) h FULL JOIN (` + entries + `) e ON e.account = h.id
		ORDER BY 1, e.seq`
	rep := &holdfast.AuditReport{Breaks: []holdfast.AuditBreak{}}
	var (
		cur     string // the account whose rows are being read
		started bool
		hasHead bool
		h       head
		chain   []holdfast.AuditEntry
	)
	flush := func() {
		var b *holdfast.AuditBreak
		if hasHead {
			b = holdfast.VerifyChain(cur, chain, h.seq, h.hash)
		} else {
			b = orphan(cur, chain)
		}
		rep.Accounts++
		rep.Entries += int64(len(chain))
		if b != nil {
			rep.Breaks = append(rep.Breaks, *b)
		}
	}
	err := db.each(ctx, q, params, func(s scanner) error {
		var (
			acct  string
			found bool
			hd    head
			seq   *int64
			e     holdfast.AuditEntry
		)
		if err := s.Scan(&acct, &found, &hd.seq, &hd.hash, &seq, nanos(&e.At), &e.Actor, &e.Action, &e.Restriction,
			rawJSON(&e.Before), rawJSON(&e.After), &e.Reason, &e.PrevHash, &e.Hash); err != nil {
			return err
		}
		if !started || acct != cur {
			if started {
				flush()
			}
			cur, started, hasHead, h, chain = acct, true, found, hd, chain[:0]
		}
		if seq != nil {
			e.Account, e.Seq = acct, *seq
			chain = append(chain, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: verify audit: %w", err)
	}
	if started {
		flush()
	}
	return rep, nil
}

// head is an account row's record of its chain.
type head struct {
	seq  int64
	hash string
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
