package sqlite

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/column"
)

func scanAccount(s scanner) (*holdfast.Account, error) {
	a := new(holdfast.Account)
	if err := s.Scan(column.AccountFields(a)...); err != nil {
		return nil, err
	}
	return a, nil
}

// loadAccount reads the account row, or starts a new unsaved account.
func (t *accountTx) loadAccount() error {
	a, err := scanAccount(t.w.queryRow(`SELECT `+column.AccountCols+` FROM accounts WHERE id = ?`, t.id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		t.acct = &holdfast.Account{
			ID: t.id, CreatedAt: t.now, LastActiveAt: t.now,
			Tags: []holdfast.Tag{}, Factors: []holdfast.Factor{},
			KnownDevices: []string{}, KnownCountries: []string{}, TrustedContacts: []string{},
		}
		return nil
	case err != nil:
		return t.fail(fmt.Errorf("sqlite: load account %s: %w", t.id, err))
	}
	t.acct, t.stored = a, true
	t.headSeq, t.headHash, t.savedSeq = a.AuditSeq, a.AuditHash, a.AuditSeq
	return nil
}

func (t *accountTx) Account() *holdfast.Account { return t.acct }

// SaveAccount inserts or updates the account row. The audit head it writes
// is the one Append keeps, whatever fn did to the Account's copy of it.
func (t *accountTx) SaveAccount() error {
	if err := t.check(); err != nil {
		return err
	}
	if t.acct.ID != t.id {
		return t.fail(fmt.Errorf("sqlite: account id changed from %s to %s inside its update", t.id, t.acct.ID))
	}
	t.acct.AuditSeq, t.acct.AuditHash = t.headSeq, t.headHash
	_, err := t.w.exec(`INSERT INTO accounts (`+column.AccountCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			created_at = excluded.created_at, last_active_at = excluded.last_active_at,
			tags = excluded.tags, factors = excluded.factors, known_devices = excluded.known_devices,
			known_countries = excluded.known_countries, trusted_contacts = excluded.trusted_contacts,
			unfreeze_requested_at = excluded.unfreeze_requested_at, verified_at = excluded.verified_at,
			audit_seq = excluded.audit_seq, audit_hash = excluded.audit_hash, activity = excluded.activity,
			security = excluded.security, holds = excluded.holds`,
		column.AccountFields(t.acct)...)
	if err != nil {
		return t.fail(fmt.Errorf("sqlite: save account %s: %w", t.id, err))
	}
	t.stored, t.savedSeq = true, t.headSeq
	return nil
}
