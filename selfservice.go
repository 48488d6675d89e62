package holdfast

import "context"

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
	// RequestUnfreeze records the holder's wish to end a self-freeze early;
	// support may then lift it once the holder has verified their identity.
	// Errors: failed_precondition (no active self_freeze), permission_denied.
	RequestUnfreeze(ctx context.Context, account string, actor Actor) error
	// Verify records completed factors. Errors: invalid_argument (factors).
	Verify(ctx context.Context, req VerifyRequest) ([]*Restriction, error)
	// Status returns the account's restrictions in the given view.
	Status(ctx context.Context, account string, view View, actor Actor) (*Status, error)
}
