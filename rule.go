package holdfast

import (
	"maps"
	"time"
)

// Rule is a trigger of the policy: on events of the listed types, when its
// CEL condition holds over the event and the account's features, it does
// its actions. Rules are pure: an event and the account's state in,
// proposed actions out (see RuleEvaluator).
type Rule struct {
	ID   string      `yaml:"id" json:"id"`
	On   []EventType `yaml:"on" json:"on"`
	When string      `yaml:"when,omitempty" json:"when,omitempty"`
	// Evidence lists CEL expressions whose values are recorded on what the
	// rule applies: the values that crossed its threshold.
	Evidence []string     `yaml:"evidence,omitempty" json:"evidence,omitempty"`
	Then     []RuleAction `yaml:"then" json:"then"`
	// OnError says what happens when the condition cannot be evaluated
	// for an event (a division by zero, say): apply does the rule's apply
	// actions as if it held, skip does nothing. Empty: see
	// Policy.FailsClosed.
	OnError RuleOnError `yaml:"on_error,omitempty" json:"on_error,omitempty"`
}

// RuleOnError is a rule's answer to a condition that fails to evaluate.
type RuleOnError string

const (
	// RuleOnErrorApply fails closed: the rule's restrictions are applied
	// (never its lifts, tags or commands).
	RuleOnErrorApply RuleOnError = "apply"
	// RuleOnErrorSkip fails open: the rule does nothing for the event.
	RuleOnErrorSkip RuleOnError = "skip"
)

// FailsClosed reports whether r applies its restrictions when its
// condition fails to evaluate: its on_error, or by default whether one of
// them blocks (denies or reviews) a money-out action, since a screening
// rule that stops silently is a way for money to leave.
func (p *Policy) FailsClosed(r *Rule) bool {
	switch r.OnError {
	case RuleOnErrorApply:
		return true
	case RuleOnErrorSkip:
		return false
	}
	for _, a := range r.Then {
		if a.Apply == nil {
			continue
		}
		t := p.Effects(a.Apply.Kind)
		for i, act := range Actions {
			if act.IsMoneyOut() && t[i] != Allow {
				return true
			}
		}
	}
	return false
}

// RuleAction is one thing a rule does. Exactly one field is set.
type RuleAction struct {
	Apply *RuleApply `yaml:"apply,omitempty" json:"apply,omitempty"`
	// Lift ends the account's restrictions of a kind (kyc accepted, say).
	Lift Kind `yaml:"lift,omitempty" json:"lift,omitempty"`
	Tag  Tag  `yaml:"tag,omitempty" json:"tag,omitempty"`
	// Command is sent to other services through the outbox.
	Command CommandType `yaml:"command,omitempty" json:"command,omitempty"`
	// Notice names the template of a notify_holder command (default:
	// generic).
	Notice string `yaml:"notice,omitempty" json:"notice,omitempty"`
}

// RuleApply applies a restriction.
type RuleApply struct {
	Kind Kind `yaml:"kind" json:"kind"`
	// Duration: zero means the kind's default (or until lifted).
	Duration Duration `yaml:"duration,omitempty" json:"duration,omitempty"`
	// Rolling: a qualifying event while one is in force moves its end to
	// event + duration, never earlier, instead of adding another. Every
	// rule now does so (never less protection than asked); the flag
	// documents a restarting window in policy files.
	Rolling bool `yaml:"rolling,omitempty" json:"rolling,omitempty"`
	// Delay starts the restriction later; an event's notice_period
	// overrides it (sanctions).
	Delay Duration `yaml:"delay,omitempty" json:"delay,omitempty"`
	// Silent sends the holder nothing about it (duress).
	Silent bool `yaml:"silent,omitempty" json:"silent,omitempty"`
}

// RuleInput is what a rule sees.
type RuleInput struct {
	Event    *Event
	Account  *Account
	Now      time.Time
	Features Features
}

// Features are the per-account numbers rules compare, computed at the
// event, before it is counted.
type Features struct {
	InactiveDays     float64 `json:"inactive_days"`
	DepositCount     int64   `json:"deposit_count"`
	DepositAvgUSD    float64 `json:"deposit_avg_usd"`
	Withdrawn24hUSD  float64 `json:"withdrawn_24h_usd"`
	RuleRestrictions int64   `json:"rule_restrictions_90d"`
}

// RuleMatch is a rule whose condition held, with its evidence, or one whose
// condition failed to evaluate (Err set; the rule's OnError decides).
type RuleMatch struct {
	Rule     *Rule
	Evidence map[string]string
	Err      error
}

// RuleEvaluator evaluates a policy's compiled rules. Implementations are
// pure and safe for concurrent use. A rule that fails to evaluate is a
// RuleMatch with Err, never an error of Match: it must not stop the other
// rules or the event.
type RuleEvaluator interface {
	Match(in *RuleInput) ([]RuleMatch, error)
}

// Origin records why a rule applied a restriction.
type Origin struct {
	Rule      string            `json:"rule"`
	Event     string            `json:"event"`
	EventType EventType         `json:"event_type"`
	Evidence  map[string]string `json:"evidence,omitempty"`
	// Policy is the hash of the policy version whose rule it was.
	Policy string `json:"policy,omitempty"`
}

// Clone returns a deep copy of o (nil for nil).
func (o *Origin) Clone() *Origin {
	if o == nil {
		return nil
	}
	c := *o
	c.Evidence = maps.Clone(o.Evidence)
	return &c
}

// WithdrawalReviewPolicy holds the thresholds that send a withdrawal to
// review (amounts in USD).
type WithdrawalReviewPolicy struct {
	SingleUSD                      float64  `yaml:"single_usd" json:"single_usd"`
	SingleUSDPreviouslyCompromised float64  `yaml:"single_usd_previously_compromised" json:"single_usd_previously_compromised"`
	DailyUSD                       float64  `yaml:"daily_usd" json:"daily_usd"`
	DailyWindow                    Duration `yaml:"daily_window" json:"daily_window"`
	NewAddressWindow               Duration `yaml:"new_address_window" json:"new_address_window"`
	DormantReturnWindow            Duration `yaml:"dormant_return_window" json:"dormant_return_window"`
}

// HighRiskPolicy tags an account high_risk after Count rule-triggered
// restrictions within Window.
type HighRiskPolicy struct {
	Count  int      `yaml:"count" json:"count"`
	Window Duration `yaml:"window" json:"window"`
}

// CommandType is an instruction to another service.
type CommandType string

const (
	CommandCancelSpotOrders   CommandType = "cancel_spot_orders"
	CommandCancelAllOrders    CommandType = "cancel_all_orders"
	CommandRevokeSessions     CommandType = "revoke_sessions"
	CommandRevokeAPIKeys      CommandType = "revoke_api_keys"
	CommandNotifyHolder       CommandType = "notify_holder"
	CommandRestrictionApplied CommandType = "restriction_applied"
	CommandRestrictionLifted  CommandType = "restriction_lifted"
	CommandRestrictionExpired CommandType = "restriction_expired"
	// CommandRevokeAPIKey revokes one key (Data: api_key), the holder's
	// choice in the Security Center.
	CommandRevokeAPIKey CommandType = "revoke_api_key"
	// CommandAPIKeyIPWhitelist tells the key's new IP whitelist (Data:
	// api_key, ip_whitelist comma-separated, empty for any address).
	CommandAPIKeyIPWhitelist CommandType = "api_key_ip_whitelist_changed"
	// CommandIndexChanged tells the other nodes of a cluster to reload an
	// account (the change feed); it never leaves Holdfast.
	CommandIndexChanged CommandType = "index_changed"
)

// CommandTypes lists the commands a rule may emit.
var CommandTypes = []CommandType{CommandCancelSpotOrders, CommandCancelAllOrders, CommandRevokeSessions, CommandRevokeAPIKeys, CommandNotifyHolder}

// Command is an outbox entry: written in the same transaction as the change
// that caused it, delivered at least once (webhook), identified by ID so a
// receiver can drop repeats.
type Command struct {
	ID      string      `json:"id"`
	Account string      `json:"account"`
	Type    CommandType `json:"type"`
	// Restriction is the restriction the command is about, if any.
	Restriction string `json:"restriction,omitempty"`
	Event       string `json:"event,omitempty"`
	// Notice names the holder notification's template (notify_holder only).
	Notice string `json:"notice,omitempty"`
	// Data fills the notification's template.
	Data      map[string]string `json:"data,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
}
