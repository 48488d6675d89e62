package holdfast

import (
	"math/big"
	"slices"
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
	// Policy is the hash of the policy version whose thresholds decided it.
	Policy string `json:"policy,omitempty"`
}

// CountedUSD is what the authorization counts towards the daily
// withdrawal limit: its USD value (usd_value, or the amount of a
// USD-pegged asset, which intake allows to leave usd_value out) unless it
// was denied, since a denied withdrawal sends nothing.
func (w *Withdrawal) CountedUSD() *big.Rat {
	if w.Outcome == DenyOutcome {
		return new(big.Rat)
	}
	s := w.USDValue
	if s == "" {
		s = w.Amount
	}
	v, ok := new(big.Rat).SetString(s)
	if !ok {
		return new(big.Rat) // validated on intake
	}
	return v
}

// InView returns the authorization as view may see it: for the holder,
// the holder causes stand in for the staff ones.
func (w *Withdrawal) InView(v View) *Withdrawal {
	c := *w
	if v == ViewHolder {
		c.Causes, c.Policy = w.HolderCauses, ""
	}
	return &c
}

// AmountPolicy says which assets need no USD price and how large an
// amount or USD value may be: anything larger is a mistake, refused before
// it can count towards a daily total or an average.
type AmountPolicy struct {
	// USDPegged are the assets whose amount is its USD value; every other
	// asset must come with usd_value.
	USDPegged []string `yaml:"usd_pegged" json:"usd_pegged"`
	// MaxAmount bounds an amount (and an available balance) of any asset.
	MaxAmount float64 `yaml:"max_amount" json:"max_amount"`
	// MaxUSDValue bounds a USD value, a USD-pegged amount included.
	MaxUSDValue float64 `yaml:"max_usd_value" json:"max_usd_value"`
}

// USDValue checks an amount of asset and its USD value (each "" when not
// given) and returns the USD value reviews and rules compare: usd_value,
// or the amount itself for a USD-pegged asset. A missing value of any
// other asset is invalid_argument: it must never make a large amount look
// small.
func (p *AmountPolicy) USDValue(asset, amount, usd string) (*big.Rat, error) {
	var a *big.Rat
	if amount != "" {
		var err error
		if a, err = bounded("amount", amount, true, p.MaxAmount); err != nil {
			return nil, err
		}
	}
	if usd != "" {
		return bounded("usd_value", usd, true, p.MaxUSDValue)
	}
	if a == nil || !slices.Contains(p.USDPegged, asset) {
		return nil, Errorf(InvalidArgument, "usd_value", "usd_value is required: only the USD-pegged assets %v may leave it out", p.USDPegged)
	}
	return bounded("amount", amount, true, p.MaxUSDValue)
}

// Balance checks an available balance: zero or more, within MaxAmount.
func (p *AmountPolicy) Balance(field, s string) error {
	_, err := bounded(field, s, false, p.MaxAmount)
	return err
}

// bounded parses an amount no larger than limit (and above zero when
// positive is set).
func bounded(field, s string, positive bool, limit float64) (*big.Rat, error) {
	v, err := ParseAmount(field, s, positive)
	if err != nil {
		return nil, err
	}
	if top := new(big.Rat).SetFloat64(limit); v.Cmp(top) > 0 {
		return nil, Errorf(InvalidArgument, field, "%s %s is larger than the policy allows (%s)", field, s, top.FloatString(0))
	}
	return v, nil
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
