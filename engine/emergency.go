package engine

import (
	"context"
	"slices"
	"time"

	"github.com/holdfast/holdfast"
)

// The emergency freeze of a holder who cannot sign in. The Security
// Center checks the one-time code (or the exchange's identity service
// vouches for the holder); the engine records each request and refused
// code on the account, and secures the account as the holder's own
// button does, with a reason that says how they got there.

// EmergencyRecord is one request or refused code of the signed-out path,
// as the account's audit entry keeps it (never the code).
type EmergencyRecord struct {
	// Challenge names the code asked for or tried.
	Challenge string `json:"challenge"`
	// Channel is where the code went ("email", "phone"; "none" when the
	// account has no contact on file and nothing was sent).
	Channel string `json:"channel,omitempty"`
	// Client is the address the request came from.
	Client    string    `json:"client,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Attempt and MaxAttempts count a refused code.
	Attempt     int `json:"attempt,omitempty"`
	MaxAttempts int `json:"max_attempts,omitempty"`
}

// RecordEmergency appends an emergency_code_sent or
// emergency_code_refused entry to an account Holdfast knows. An unknown
// account is not created: it is not_found, and nothing is stored.
func (e *Engine) RecordEmergency(ctx context.Context, account, action string, rec EmergencyRecord, reason string) error {
	if err := holdfast.ValidateID("account", account); err != nil {
		return err
	}
	if !slices.Contains([]string{holdfast.AuditEmergencyCodeSent, holdfast.AuditEmergencyCodeRefused}, action) {
		return holdfast.Errorf(holdfast.InvalidArgument, "action", "%q is not an emergency action", action)
	}
	return e.update(ctx, account, func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		if tx.Account().AuditSeq == 0 {
			// A stored account has at least the entry that created it.
			return false, holdfast.Errorf(holdfast.NotFound, "account", "account %s not found", account)
		}
		return false, tx.Append(&holdfast.AuditEntry{Account: account, At: now, Actor: holdfast.System.String(), Action: action, After: mustJSON(rec), Reason: reason})
	})
}

// SecureAccountFrom is SecureAccount pressed from somewhere other than
// the signed-in Security Center: source says where ("signed out, with a
// code sent to the holder's email"), and the freeze's reason keeps it.
func (e *Engine) SecureAccountFrom(ctx context.Context, account string, actor holdfast.Actor, source string) (*holdfast.SecureResult, error) {
	if source == "" {
		return e.SecureAccount(ctx, account, actor)
	}
	return e.secureAccount(ctx, account, actor, secureReason+" ("+source+")")
}
