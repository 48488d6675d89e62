package postgres

import (
	"errors"
	"fmt"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/column"
	"github.com/jackc/pgx/v5"
)

func scanAccount(s scanner) (*holdfast.Account, error) {
	a := new(holdfast.Account)
	if err := s.Scan(column.AccountFields(a)...); err != nil {
		return nil, err
	}
	return a, nil
}

// lockAccount takes the account row's lock and reads it. A missing account
// gets a placeholder row first, so that it has a row to lock (a concurrent
// update of the same new account waits on the insert); the placeholder is
// never committed (finish deletes it, or the transaction rolls back), and
// the transaction sees a new, unsaved account as package sqlite does.
func (t *accountTx) lockAccount() error {
	for range 3 {
		a, err := scanAccount(t.queryRow(`SELECT `+column.AccountCols+` FROM accounts WHERE id = $1 FOR UPDATE`, t.id))
		if err == nil {
			t.acct, t.stored = a, true
			t.headSeq, t.headHash, t.savedSeq = a.AuditSeq, a.AuditHash, a.AuditSeq
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return t.fail(fmt.Errorf("postgres: load account %s: %w", t.id, err))
		}
		// The insert waits for a concurrent transaction that inserted the
		// same id; if that one committed the account, it inserts nothing
		// and the loop locks the committed row.
		tag, err := t.exec(`INSERT INTO accounts (id, created_at) VALUES ($1, 0) ON CONFLICT (id) DO NOTHING`, t.id)
		if err != nil {
			return t.fail(fmt.Errorf("postgres: lock new account %s: %w", t.id, err))
		}
		if tag.RowsAffected() == 1 {
			t.acct = &holdfast.Account{
				ID: t.id, CreatedAt: t.now, LastActiveAt: t.now,
				Tags: []holdfast.Tag{}, Factors: []holdfast.Factor{},
				KnownDevices: []string{}, KnownCountries: []string{}, TrustedContacts: []string{},
			}
			return nil
		}
	}
	return t.fail(fmt.Errorf("postgres: lock account %s: its row keeps appearing and vanishing", t.id))
}

func (t *accountTx) Account() *holdfast.Account { return t.acct }

// SaveAccount writes the account row. The audit head it writes is the one
// Append keeps, whatever fn did to the Account's copy of it.
func (t *accountTx) SaveAccount() error {
	if err := t.check(); err != nil {
		return err
	}
	if t.acct.ID != t.id {
		return t.fail(fmt.Errorf("postgres: account id changed from %s to %s inside its update", t.id, t.acct.ID))
	}
	t.acct.AuditSeq, t.acct.AuditHash = t.headSeq, t.headHash
	_, err := t.exec(`INSERT INTO accounts (`+column.AccountCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		ON CONFLICT (id) DO UPDATE SET
			created_at = excluded.created_at, last_active_at = excluded.last_active_at,
			tags = excluded.tags, factors = excluded.factors, known_devices = excluded.known_devices,
			known_countries = excluded.known_countries, trusted_contacts = excluded.trusted_contacts,
			unfreeze_requested_at = excluded.unfreeze_requested_at, verified_at = excluded.verified_at,
			audit_seq = excluded.audit_seq, audit_hash = excluded.audit_hash, activity = excluded.activity,
			security = excluded.security, holds = excluded.holds`,
		column.AccountFields(t.acct)...)
	if err != nil {
		return t.fail(fmt.Errorf("postgres: save account %s: %w", t.id, err))
	}
	t.stored, t.savedSeq = true, t.headSeq
	return nil
}
