package holdfast

import (
	"context"
	"time"
)

// The emergency freeze for a holder who cannot sign in: from the
// signed-out Security Center they name their account, receive a one-time
// code through their notification channel, and enter it to secure the
// account (a freeze, every session and API key revoked). The store keeps
// each code's keyed hash (never the code) and the requests' rate limits,
// shared by every node.

// EmergencyCode is one code sent (or, for an account we cannot reach,
// pretended to be sent: a page must never tell whether an account exists).
type EmergencyCode struct {
	// ID names the challenge on the holder's page; it is random.
	ID string
	// Account is the account named, known or not.
	Account string
	// Hash is the keyed hash of the code (of a code nobody was sent when
	// the account is unknown).
	Hash      string
	CreatedAt time.Time
	ExpiresAt time.Time
	// Attempts counts the codes entered for it so far.
	Attempts int
	// UsedAt is when it froze the account (zero: not used).
	UsedAt time.Time
}

// EmergencyStore keeps emergency codes and the signed-out pages' rate
// limits.
type EmergencyStore interface {
	// PutEmergencyCode stores a new code and forgets those expired by
	// now.
	PutEmergencyCode(ctx context.Context, c *EmergencyCode, now time.Time) error
	// AttemptEmergencyCode counts one attempt at the code id at now,
	// atomically across nodes, and returns the code as it stands after.
	// Errors: not_found when no such code is live (never sent, expired or
	// used), resource_exhausted when max attempts were made already.
	AttemptEmergencyCode(ctx context.Context, id string, now time.Time, max int) (*EmergencyCode, error)
	// UseEmergencyCode marks the code used. Errors: failed_precondition
	// when it was used already (a second confirmation racing the first).
	UseEmergencyCode(ctx context.Context, id string, now time.Time) error
	// TakeLimit counts one request against key in a fixed window that
	// starts with the key's first request, and reports whether it stays
	// within max. Keys whose window has passed are forgotten.
	TakeLimit(ctx context.Context, key string, now time.Time, window time.Duration, max int) (bool, error)
}

// Audit actions of the signed-out emergency path. They record no
// restriction and no account record; the freeze itself is the
// secure_account entries that follow a code entered right.
const (
	// AuditEmergencyCodeSent: a code was asked for the account (After
	// says to which channel, and from which client address).
	AuditEmergencyCodeSent = "emergency_code_sent"
	// AuditEmergencyCodeRefused: a wrong code was entered.
	AuditEmergencyCodeRefused = "emergency_code_refused"
)

// NoticeEmergencyCode is the notification that carries the code.
const NoticeEmergencyCode = "emergency_freeze_code"
