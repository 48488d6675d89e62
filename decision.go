package holdfast

import (
	"context"
	"net/netip"
	"time"
)

// View selects how much a decision may say.
type View string

const (
	// ViewStaff shows every cause with its id, kind and timing.
	ViewStaff View = "staff"
	// ViewHolder shows a non-disclosable restriction as one of the
	// policy's cover kind (undisclosed.as), under an opaque id, with no end.
	ViewHolder View = "holder"
)

// CheckRequest asks whether an account may do an action now.
type CheckRequest struct {
	Account string
	Action  Action
	Device  string
	Session string
	APIKey  string
	IP      string
	View    View
}

// Validate reports the first invalid field.
func (r *CheckRequest) Validate() error {
	if err := ValidateID("account", r.Account); err != nil {
		return err
	}
	if !r.Action.Valid() {
		return Errorf(InvalidArgument, "action", "unknown action %q", r.Action)
	}
	switch r.View {
	case "", ViewStaff, ViewHolder:
	default:
		return Errorf(InvalidArgument, "view", "unknown view %q (want staff or holder)", r.View)
	}
	if r.IP != "" {
		if _, err := netip.ParseAddr(r.IP); err != nil {
			return Errorf(InvalidArgument, "ip", "ip must be an IPv4 or IPv6 address, not %q", r.IP)
		}
	}
	for _, f := range [...]struct{ name, v string }{{"device", r.Device}, {"session", r.Session}, {"api_key", r.APIKey}} {
		if f.v != "" {
			if err := ValidateID(f.name, f.v); err != nil {
				return err
			}
		}
	}
	return nil
}

// Cause is one restriction behind a decision. In the holder view a
// non-disclosable restriction becomes a cause of the policy's cover kind.
type Cause struct {
	ID string `json:"id,omitempty"`
	// Review names a withdrawal-review rule (single_over_limit,
	// daily_over_limit, new_address, dormant_return) for a cause that is
	// not a restriction.
	Review string `json:"review,omitempty"`
	Kind   Kind   `json:"kind,omitempty"`
	// Code is set for a cause that is not a restriction but a credential
	// the check named: unauthenticated (a revoked or unknown session or
	// key) or permission_denied (a key without the permission, or used
	// from outside its IP whitelist).
	Code       Code      `json:"code,omitempty"`
	Level      string    `json:"level,omitempty"`
	Effect     Effect    `json:"effect"`
	Message    string    `json:"message"`
	StartsAt   time.Time `json:"starts_at,omitzero"`
	EndsAt     time.Time `json:"ends_at,omitzero"`
	Resolution []string  `json:"resolution,omitempty"`
	// Origin, in the staff view only, says which rule and event applied
	// the restriction and with what evidence.
	Origin *Origin `json:"origin,omitempty"`
}

// Decision answers a check: the strongest effect of every active
// restriction covering the action, each of them as a cause, and the
// earliest time the effect can change by time alone (zero: not by time).
type Decision struct {
	Effect     Effect    `json:"effect"`
	Causes     []Cause   `json:"causes"`
	RetryAfter time.Time `json:"retry_after,omitzero"`
}

// DecisionService answers "may account A do action X now?".
type DecisionService interface {
	// Check answers from the in-memory decision index. Errors:
	// invalid_argument.
	Check(ctx context.Context, req CheckRequest) (Decision, error)
	// AuthorizeWithdrawal decides a withdrawal linearizably against the
	// store and records the answer in the same transaction. Errors:
	// invalid_argument, conflict (same id, other fields).
	AuthorizeWithdrawal(ctx context.Context, req WithdrawalRequest) (*Withdrawal, error)
}
