// Package holdfast is the domain of the Holdfast account-restriction engine:
// the actions an account can be asked about, the effects a decision can
// have, the kinds of restriction that cause them, the actors that change
// them and the error codes every surface reports. It imports only the
// standard library; storage, transport and policy parsing live in adapter
// packages that import it.
//
// The vocabulary is fixed by docs/design.md and spelled exactly so in JSON, YAML,
// the CLI and logs.
package holdfast

import "slices"

// Action is something an account can be asked about.
type Action string

const (
	ActionLogin                  Action = "login"
	ActionView                   Action = "view"
	ActionTrade                  Action = "trade"
	ActionReducePosition         Action = "reduce_position"
	ActionWithdraw               Action = "withdraw"
	ActionInternalTransfer       Action = "internal_transfer"
	ActionP2PTrade               Action = "p2p_trade"
	ActionAddWithdrawalAddress   Action = "add_withdrawal_address"
	ActionCreateAPIKey           Action = "create_api_key"
	ActionAPIAccess              Action = "api_access"
	ActionDeposit                Action = "deposit"
	ActionChangeSecuritySettings Action = "change_security_settings"
)

// Actions lists every action in docs/design.md order.
var Actions = []Action{
	ActionLogin, ActionView, ActionTrade, ActionReducePosition, ActionWithdraw,
	ActionInternalTransfer, ActionP2PTrade, ActionAddWithdrawalAddress,
	ActionCreateAPIKey, ActionAPIAccess, ActionDeposit, ActionChangeSecuritySettings,
}

// Valid reports whether a is one of the fixed actions.
func (a Action) Valid() bool { return slices.Contains(Actions, a) }

// Index returns a's position in Actions, or -1. Decision tables use it to
// keep per-action effects in fixed-size arrays. It is on the hot path of
// every check, hence a switch rather than a search.
func (a Action) Index() int {
	switch a {
	case ActionLogin:
		return 0
	case ActionView:
		return 1
	case ActionTrade:
		return 2
	case ActionReducePosition:
		return 3
	case ActionWithdraw:
		return 4
	case ActionInternalTransfer:
		return 5
	case ActionP2PTrade:
		return 6
	case ActionAddWithdrawalAddress:
		return 7
	case ActionCreateAPIKey:
		return 8
	case ActionAPIAccess:
		return 9
	case ActionDeposit:
		return 10
	case ActionChangeSecuritySettings:
		return 11
	}
	return -1
}

// IsMoneyOut reports whether a moves value out of the account. These actions
// are authorized linearizably against the store, never from the index alone.
func (a Action) IsMoneyOut() bool {
	return a == ActionWithdraw || a == ActionInternalTransfer || a == ActionP2PTrade
}

// NumActions is the number of actions, for fixed-size per-action tables.
const NumActions = 12

// Effect is the answer for one action. Effects are ordered: the decision is
// the strongest effect of every active restriction that covers the action.
type Effect uint8

const (
	Allow Effect = iota
	Review
	Deny
)

var effectNames = [...]string{"allow", "review", "deny"}

func (e Effect) String() string {
	if int(e) < len(effectNames) {
		return effectNames[e]
	}
	return "unknown"
}

// ParseEffect parses "allow", "review" or "deny".
func ParseEffect(s string) (Effect, bool) {
	i := slices.Index(effectNames[:], s)
	return Effect(max(i, 0)), i >= 0
}

// MarshalText implements encoding.TextMarshaler.
func (e Effect) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (e *Effect) UnmarshalText(b []byte) error {
	v, ok := ParseEffect(string(b))
	if !ok {
		return Errorf(InvalidArgument, "effect", "unknown effect %q (want allow, review or deny)", b)
	}
	*e = v
	return nil
}

// Tag marks an account for rules and reviews.
type Tag string

const (
	TagPreviouslyCompromised Tag = "previously_compromised"
	TagHighRisk              Tag = "high_risk"
	TagDormant               Tag = "dormant"
)

// Tags lists every tag.
var Tags = []Tag{TagPreviouslyCompromised, TagHighRisk, TagDormant}

// Valid reports whether t is a known tag.
func (t Tag) Valid() bool { return slices.Contains(Tags, t) }

// Factor is a verification factor bound to an account.
type Factor string

const (
	FactorEmail Factor = "email"
	FactorSMS   Factor = "sms"
	FactorTOTP  Factor = "totp"
)

// Factors lists every factor.
var Factors = []Factor{FactorEmail, FactorSMS, FactorTOTP}

// Valid reports whether f is a known factor.
func (f Factor) Valid() bool { return slices.Contains(Factors, f) }
