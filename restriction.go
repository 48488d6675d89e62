package holdfast

import (
	"context"
	"time"
)

// Restriction is one reason an account may not do something. Time is data:
// a restriction is active from StartsAt until EndsAt (zero EndsAt: until
// lifted) unless LiftedAt is set; nothing has to run for it to expire.
type Restriction struct {
	ID      string `json:"id"`
	Account string `json:"account"`
	Kind    Kind   `json:"kind"`
	// Device scopes a device-scoped kind (step_up_verification) to one device.
	Device   string    `json:"device,omitempty"`
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at,omitzero"`
	Reason   string    `json:"reason,omitempty"`
	// Disclose is false for restrictions the holder must never learn about;
	// the holder view shows them only as the policy's cover kind.
	Disclose  bool      `json:"disclose"`
	AppliedBy string    `json:"applied_by"`
	CreatedAt time.Time `json:"created_at"`
	// Factors a step-up verification requires.
	Factors []Factor `json:"factors,omitempty"`
	// Origin says which rule and event applied it (nil for people).
	Origin *Origin `json:"origin,omitempty"`
	// Reference is the authority's reference (a law-enforcement case
	// number), for kinds that require one.
	Reference  string    `json:"reference,omitempty"`
	LiftedAt   time.Time `json:"lifted_at,omitzero"`
	LiftedBy   string    `json:"lifted_by,omitempty"`
	LiftReason string    `json:"lift_reason,omitempty"`
}

// ActiveAt reports whether r is in force at t.
func (r *Restriction) ActiveAt(t time.Time) bool {
	return r.LiftedAt.IsZero() && !t.Before(r.StartsAt) && (r.EndsAt.IsZero() || t.Before(r.EndsAt))
}

// Over reports whether r can no longer be in force at or after t.
func (r *Restriction) Over(t time.Time) bool {
	return !r.LiftedAt.IsZero() || (!r.EndsAt.IsZero() && !t.Before(r.EndsAt))
}

// Clone returns a copy that shares nothing mutable with r.
func (r *Restriction) Clone() *Restriction {
	c := *r
	c.Factors = append([]Factor(nil), r.Factors...)
	c.Origin = r.Origin.Clone()
	return &c
}

// ApplyRequest asks for a new restriction. Zero Duration: the kind's default
// from the policy, or until lifted when the kind has none.
type ApplyRequest struct {
	Account  string
	Kind     Kind
	Duration Duration
	Device   string
	Reason   string
	// Disclose overrides the kind's default when set.
	Disclose *bool
	Factors  []Factor
	Actor    Actor
	// Delay starts the restriction that much later (a sanctions notice
	// period); the duration counts from the start.
	Delay Duration
	// Origin, for rule-applied restrictions, names the rule and event.
	Origin *Origin
	// Reference is the authority's reference; required by kinds with
	// require_reference.
	Reference string
}

// Target names the restriction an operation is about: by ID, or the newest
// active restriction of Kind on Account.
type Target struct {
	Account     string
	Kind        Kind
	Restriction string
}

// LiftRequest asks to end a restriction early.
type LiftRequest struct {
	Target
	Reason string
	Actor  Actor
}

// ExtendRequest moves a restriction's end later: by adding By, or to Until.
// An Until before the current end is a shortening, which only an early end's
// rules can allow (and never for a panic lock).
type ExtendRequest struct {
	Target
	By    Duration
	Until time.Time
	// Reason is kept in the audit log; staff must give one to extend a
	// panic_lock.
	Reason string
	Actor  Actor
}

// ExtendResult is the outcome of an extension: the restriction with its
// new end, or the pending four-eyes request that will move it (a staff
// extension of a panic_lock beyond the policy's panic_lock_max_total).
type ExtendResult struct {
	Restriction *Restriction `json:"restriction,omitempty"`
	Pending     *Approval    `json:"pending,omitempty"`
}

// LiftResult is the outcome of a lift: the lifted restriction, or the pending
// four-eyes approval request that will lift it.
type LiftResult struct {
	Restriction *Restriction `json:"restriction,omitempty"`
	Pending     *Approval    `json:"pending,omitempty"`
}

// ApprovalState is the state of a four-eyes request.
type ApprovalState string

const (
	ApprovalPending  ApprovalState = "pending"
	ApprovalApproved ApprovalState = "approved"
	ApprovalExpired  ApprovalState = "expired"
)

// ApprovalOp is what a four-eyes request does once approved.
type ApprovalOp string

const (
	// ApprovalLift ends the restriction (the zero value reads as lift).
	ApprovalLift ApprovalOp = "lift"
	// ApprovalExtend moves the restriction's end to EndsAt.
	ApprovalExtend ApprovalOp = "extend"
)

// Approval is a four-eyes lift (or extension) waiting for a second,
// different staff member.
type Approval struct {
	ID          string     `json:"id"`
	Account     string     `json:"account"`
	Restriction string     `json:"restriction"`
	Kind        Kind       `json:"kind"`
	Op          ApprovalOp `json:"op"`
	// EndsAt is the end an extension asks for.
	EndsAt     time.Time     `json:"ends_at,omitzero"`
	AskedBy    string        `json:"asked_by"`
	AskedRoles []Role        `json:"asked_roles"`
	Reason     string        `json:"reason,omitempty"`
	CreatedAt  time.Time     `json:"created_at"`
	ExpiresAt  time.Time     `json:"expires_at"`
	State      ApprovalState `json:"state"`
	DecidedBy  string        `json:"decided_by,omitempty"`
	DecidedAt  time.Time     `json:"decided_at,omitzero"`
}

// Extends reports whether a is an extension request rather than a lift.
func (a *Approval) Extends() bool { return a.Op == ApprovalExtend }

// StateAt returns the approval's state at t (a pending request past its
// expiry is expired, with no job needed to mark it).
func (a *Approval) StateAt(t time.Time) ApprovalState {
	if a.State == ApprovalPending && !t.Before(a.ExpiresAt) {
		return ApprovalExpired
	}
	return a.State
}

// RestrictionFilter selects restrictions for listing.
type RestrictionFilter struct {
	Account string
	Kind    Kind
	// ActiveAt, when set, keeps only restrictions in force or still to come
	// at that time.
	ActiveAt time.Time
	Limit    int
}

// RestrictionService applies and ends restrictions. Every method enforces the
// policy's rules for the actor (docs/design.md "Who may end a restriction early")
// and records an audit entry in the same transaction as the change.
type RestrictionService interface {
	// Apply creates a restriction. Errors: invalid_argument (kind, duration,
	// account), permission_denied (actor may not apply the kind).
	Apply(ctx context.Context, req ApplyRequest) (*Restriction, error)
	// Lift ends a restriction early, or opens a four-eyes approval request.
	// Errors: not_found, immutable (panic_lock), permission_denied,
	// failed_precondition (e.g. no unfreeze request or verification yet).
	Lift(ctx context.Context, req LiftRequest) (*LiftResult, error)
	// Extend moves a restriction's end, or opens a four-eyes request for
	// a staff extension of a panic_lock beyond the policy's bound.
	// Errors: not_found, immutable (shortening a panic_lock),
	// permission_denied, invalid_argument (reason missing, a holder's
	// step or total beyond the policy), failed_precondition (no end).
	Extend(ctx context.Context, req ExtendRequest) (*ExtendResult, error)
	// Approve completes a four-eyes request: lifts its restriction, or
	// moves its end for an extension request. Errors: not_found,
	// permission_denied (own request or role does not qualify),
	// failed_precondition (expired or already decided).
	Approve(ctx context.Context, id string, actor Actor) (*Restriction, error)
	// Get returns a restriction as the actor may see it. Errors: not_found.
	Get(ctx context.Context, id string, actor Actor) (*Restriction, error)
	// List returns restrictions matching the filter, newest first.
	List(ctx context.Context, f RestrictionFilter, actor Actor) ([]*Restriction, error)
	// History returns the account's audit entries in order (staff only).
	History(ctx context.Context, account string, actor Actor) ([]AuditEntry, error)
	// Approvals lists the pending four-eyes requests the staff member may
	// approve or has asked for. Errors: permission_denied (not staff).
	Approvals(ctx context.Context, actor Actor) ([]*Approval, error)
}
