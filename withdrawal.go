package holdfast

import (
	"math/big"
	"time"
)

// Outcome is a withdrawal authorization's answer.
type Outcome string

const (
	Approve       Outcome = "approve"
	ReviewOutcome Outcome = "review"
	DenyOutcome   Outcome = "deny"
)

// OutcomeOf maps a decision effect to a withdrawal outcome.
func OutcomeOf(e Effect) Outcome {
	switch e {
	case Deny:
		return DenyOutcome
	case Review:
		return ReviewOutcome
	}
	return Approve
}

// WithdrawalRequest asks to authorize one withdrawal. Amounts are decimal
// strings so that no value passes through a float.
type WithdrawalRequest struct {
	Account          string `json:"account"`
	ID               string `json:"id"`
	Asset            string `json:"asset"`
	Amount           string `json:"amount"`
	USDValue         string `json:"usd_value,omitempty"`
	Address          string `json:"address"`
	AvailableBalance string `json:"available_balance,omitempty"`
}

// Validate reports the first invalid field.
func (r *WithdrawalRequest) Validate() error {
	for _, f := range [...]struct{ name, v string }{{"account", r.Account}, {"id", r.ID}, {"asset", r.Asset}, {"address", r.Address}} {
		if err := ValidateID(f.name, f.v); err != nil {
			return err
		}
	}
	if _, err := ParseAmount("amount", r.Amount, true); err != nil {
		return err
	}
	for _, f := range [...]struct{ name, v string }{{"usd_value", r.USDValue}, {"available_balance", r.AvailableBalance}} {
		if f.v != "" {
			if _, err := ParseAmount(f.name, f.v, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// Same reports whether o is a retry of r: the same account, id, asset,
// destination and amounts (compared as numbers, so "1.0" repeats "1").
// The available balance is the caller's current view, not part of the
// withdrawal, so a retry may carry a fresher one.
func (r *WithdrawalRequest) Same(o *WithdrawalRequest) bool {
	return r.Account == o.Account && r.ID == o.ID && r.Asset == o.Asset && r.Address == o.Address &&
		sameAmount(r.Amount, o.Amount) && sameAmount(r.USDValue, o.USDValue)
}

func sameAmount(a, b string) bool {
	if a == b {
		return true
	}
	x, ok1 := new(big.Rat).SetString(a)
	y, ok2 := new(big.Rat).SetString(b)
	return ok1 && ok2 && x.Cmp(y) == 0
}

// Withdrawal is a recorded authorization. Repeating the same request returns
// it unchanged.
type Withdrawal struct {
	WithdrawalRequest
	Outcome Outcome `json:"outcome"`
	// Causes is the staff view; HolderCauses what the holder may be shown.
	Causes       []Cause   `json:"causes"`
	HolderCauses []Cause   `json:"holder_causes"`
	DecidedAt    time.Time `json:"decided_at"`
	// Seq is the authorization's position in the account's audit chain: an
	// approval with a lower Seq committed before any change with a higher one.
	Seq int64 `json:"seq"`
}

// InView returns the authorization as view may see it: for the holder,
// the holder causes stand in for the staff ones.
func (w *Withdrawal) InView(v View) *Withdrawal {
	c := *w
	if v == ViewHolder {
		c.Causes = w.HolderCauses
	}
	return &c
}

// ParseAmount parses a non-negative decimal amount ("150000", "0.25"),
// strictly positive when positive is set.
func ParseAmount(field, s string, positive bool) (*big.Rat, error) {
	if s == "" {
		return nil, Errorf(InvalidArgument, field, "%s is required", field)
	}
	if len(s) > 64 {
		return nil, Errorf(InvalidArgument, field, "%s is too long", field)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && c != '.' {
			return nil, Errorf(InvalidArgument, field, "%s must be a plain decimal number like 150000 or 0.25", field)
		}
	}
	v, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, Errorf(InvalidArgument, field, "%s must be a plain decimal number like 150000 or 0.25", field)
	}
	if positive && v.Sign() <= 0 {
		return nil, Errorf(InvalidArgument, field, "%s must be greater than zero", field)
	}
	return v, nil
}
