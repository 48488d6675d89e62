package holdfast

import (
	"context"
	"time"
)

// Status is an account's restrictions as its holder (or staff) sees them:
// each cause with what it blocks, and the resulting effect per action.
type Status struct {
	Account string            `json:"account"`
	Causes  []StatusCause     `json:"causes"`
	Effects map[Action]Effect `json:"effects"`
}

// StatusCause is a cause with the actions it blocks.
type StatusCause struct {
	Cause
	Blocks map[Action]Effect `json:"blocks"`
	// Device names the one device a device-scoped restriction
	// (step_up_verification) concerns; empty for the whole account.
	Device string `json:"device,omitempty"`
}

// Progress is what a holder waits for beyond their restrictions' own
// ends: an early unfreeze they asked for, and the amounts approved
// appeals keep held.
type Progress struct {
	Unfreeze *UnfreezeProgress `json:"unfreeze,omitempty"`
	Holds    []AmountHold      `json:"holds"`
}

// UnfreezeProgress is where the holder's request to end their
// self-freeze early stands: support may lift it once they have verified
// their identity after asking; otherwise it ends at its end.
type UnfreezeProgress struct {
	// Restrictions are the self_freezes in force that it asks to end.
	Restrictions []string  `json:"restrictions"`
	RequestedAt  time.Time `json:"requested_at"`
	// VerifiedAt is when the holder completed identity verification
	// after asking; zero until they have.
	VerifiedAt time.Time `json:"verified_at,omitzero"`
	// Case is the unlock_request case support decides it in, due at
	// DueAt ("" when there is none open: a request made before requests
	// opened one).
	Case  string    `json:"case,omitempty"`
	DueAt time.Time `json:"due_at,omitzero"`
}

// VerifyRequest reports factors the identity service saw completed
// (verification_completed): it ends step-ups they satisfy and counts as
// identity verification for an early unfreeze.
type VerifyRequest struct {
	Account string
	Device  string
	Factors []Factor
	Actor   Actor
}

// SelfService is what a holder may do on their own account.
type SelfService interface {
	// Freeze applies a self_freeze for one of the policy's durations
	// (24h, 48h, 7d, permanent). Errors: invalid_argument (duration),
	// permission_denied (actor is not the holder or allowed staff).
	Freeze(ctx context.Context, account string, d Duration, actor Actor) (*Restriction, error)
	// PanicLock applies a panic_lock within the policy's bounds (zero d:
	// the default). Errors: invalid_argument (duration), permission_denied.
	PanicLock(ctx context.Context, account string, d Duration, actor Actor) (*Restriction, error)
	// RequestUnfreeze records the holder's wish to end a self-freeze early
	// and opens an unlock_request case for it (or keeps the one open);
	// support may then lift it once the holder has verified their identity.
	// Errors: failed_precondition (no active self_freeze), permission_denied.
	RequestUnfreeze(ctx context.Context, account string, actor Actor) error
	// Verify records completed factors. Errors: invalid_argument (factors).
	Verify(ctx context.Context, req VerifyRequest) ([]*Restriction, error)
	// Status returns the account's restrictions in the given view.
	Status(ctx context.Context, account string, view View, actor Actor) (*Status, error)
}
