package holdfast

import "slices"

// Policy is everything about restrictions that is a number or a choice
// rather than a rule of the product: what each kind blocks, how long it
// lasts, who may apply and end it. The default policy ships embedded
// (package policy); no threshold or duration lives in code.
type Policy struct {
	Version     int                  `yaml:"version" json:"version"`
	Kinds       map[Kind]*KindPolicy `yaml:"kinds" json:"kinds"`
	SelfService SelfServicePolicy    `yaml:"self_service" json:"self_service"`
	// FourEyesExpiry is how long a four-eyes lift request waits for its
	// second approver.
	FourEyesExpiry Duration `yaml:"four_eyes_expiry" json:"four_eyes_expiry"`
	// Undisclosed says how a restriction the holder must not learn of is
	// shown to them.
	Undisclosed UndisclosedPolicy `yaml:"undisclosed" json:"undisclosed"`
	// StepUpFactors are required by a step-up when the account has no bound
	// factors.
	StepUpFactors []Factor `yaml:"step_up_factors" json:"step_up_factors"`
	// DormantAfter is how long without activity makes an account dormant.
	DormantAfter Duration `yaml:"dormant_after" json:"dormant_after"`
	// RestrictedCountries (ISO 3166-1 alpha-2) are where access is refused.
	RestrictedCountries []string `yaml:"restricted_countries" json:"restricted_countries"`
	// WithdrawalReview is when a withdrawal goes to review.
	WithdrawalReview WithdrawalReviewPolicy `yaml:"withdrawal_review" json:"withdrawal_review"`
	// Amounts bounds the amounts of withdrawals and money events.
	Amounts AmountPolicy `yaml:"amounts" json:"amounts"`
	// HighRisk is when an account is tagged high_risk.
	HighRisk HighRiskPolicy `yaml:"high_risk" json:"high_risk"`
	// Cases configures the appeal workflow.
	Cases CasePolicy `yaml:"cases" json:"cases"`
	// Security holds the numbers behind the holder's protections.
	Security SecurityPolicy `yaml:"security" json:"security"`
	// Gateway maps the exchange's HTTP routes onto actions.
	Gateway GatewayPolicy `yaml:"gateway" json:"gateway"`
	// Rules are the triggers, in order.
	Rules []Rule `yaml:"rules" json:"rules"`

	// Evaluator runs the compiled rules; set by the policy loader.
	Evaluator RuleEvaluator `yaml:"-" json:"-"`
	// Source is the policy's self-contained YAML: the file it was parsed
	// from, or, for an overlay, the built-in default with the file's
	// settings merged in. Hash names it (PolicyHash). Both are set by the
	// policy loader.
	Source []byte `yaml:"-" json:"-"`
	Hash   string `yaml:"-" json:"-"`

	// effects is the per-kind, per-action effect table built by Compile.
	effects map[Kind]*EffectTable
}

// SelfServicePolicy bounds what holders may do on their own.
type SelfServicePolicy struct {
	FreezeDurations  []Duration `yaml:"freeze_durations" json:"freeze_durations"`
	PanicLockMin     Duration   `yaml:"panic_lock_min" json:"panic_lock_min"`
	PanicLockMax     Duration   `yaml:"panic_lock_max" json:"panic_lock_max"`
	PanicLockDefault Duration   `yaml:"panic_lock_default" json:"panic_lock_default"`
	// PanicLockMaxTotal bounds a panic lock's whole length, from its start
	// to its end after every extension. Holders may not extend past it;
	// staff need a second staff member with a role in
	// PanicLockExtensionApprove.
	PanicLockMaxTotal         Duration `yaml:"panic_lock_max_total" json:"panic_lock_max_total"`
	PanicLockExtensionApprove []Role   `yaml:"panic_lock_extension_approve" json:"panic_lock_extension_approve"`
	SecureAccountFreeze       Duration `yaml:"secure_account_freeze" json:"secure_account_freeze"`
}

// UndisclosedPolicy: a non-disclosable restriction is shown to its holder
// as a restriction of the kind As (terms_violation), with that kind's
// text, level and blocks, so that nothing tells the two apart.
type UndisclosedPolicy struct {
	As Kind `yaml:"as" json:"as"`
}

// Cover returns the kind a non-disclosable restriction is shown as and its
// policy.
func (p *Policy) Cover() (Kind, *KindPolicy) { return p.Undisclosed.As, p.Kinds[p.Undisclosed.As] }

// HolderText is what a holder is shown for a cause.
type HolderText struct {
	Message    string   `yaml:"message" json:"message"`
	Resolution []string `yaml:"resolution" json:"resolution"`
}

// KindPolicy is the policy of one restriction kind.
type KindPolicy struct {
	Level  string `yaml:"level,omitempty" json:"level,omitempty"`
	Blocks Blocks `yaml:"blocks" json:"blocks"`
	// Disclose is the default for new restrictions of the kind.
	Disclose bool       `yaml:"disclose" json:"disclose"`
	Holder   HolderText `yaml:"holder" json:"holder"`
	// DefaultDuration applies when a request names none; zero: until lifted.
	DefaultDuration Duration `yaml:"default_duration,omitempty" json:"default_duration,omitempty"`
	MinDuration     Duration `yaml:"min_duration,omitempty" json:"min_duration,omitempty"`
	MaxDuration     Duration `yaml:"max_duration,omitempty" json:"max_duration,omitempty"`
	// Durations, when set, is the only durations allowed.
	Durations []Duration `yaml:"durations,omitempty" json:"durations,omitempty"`
	// Apply lists the staff roles that may apply the kind. The system and
	// rules may apply any kind; holders only through self-service.
	Apply []Role `yaml:"apply" json:"apply"`
	// ExtendByHolder lets the account's own holder (and any staff member)
	// extend it; otherwise extending needs a role from Apply.
	ExtendByHolder bool     `yaml:"extend_by_holder,omitempty" json:"extend_by_holder,omitempty"`
	Lift           LiftRule `yaml:"lift" json:"lift"`
	// SeeReason, when set, limits which staff roles see the reason.
	SeeReason []Role `yaml:"see_reason,omitempty" json:"see_reason,omitempty"`
	// DecideCases are the staff roles that may decide a case linked to a
	// restriction of the kind (and see such a case).
	DecideCases []Role `yaml:"decide_cases,omitempty" json:"decide_cases,omitempty"`
	// RequireReference makes the API refuse to apply the kind without the
	// authority's reference (a law-enforcement case number). The engine
	// records a reference whenever one is given; scenarios, whose format
	// has no such field, may leave it out.
	RequireReference bool `yaml:"require_reference,omitempty" json:"require_reference,omitempty"`
	// OnLift runs when a restriction of the kind is lifted.
	OnLift *OnLift `yaml:"on_lift,omitempty" json:"on_lift,omitempty"`
}

// Blocks says which actions a kind covers and with what effect.
type Blocks struct {
	Deny []Action `yaml:"deny,omitempty" json:"deny,omitempty"`
	// DenyAllExcept denies every action but these.
	DenyAllExcept []Action `yaml:"deny_all_except,omitempty" json:"deny_all_except,omitempty"`
	Review        []Action `yaml:"review,omitempty" json:"review,omitempty"`
}

// OnLift is what follows the early end of a restriction.
type OnLift struct {
	Tag   Tag      `yaml:"tag,omitempty" json:"tag,omitempty"`
	Apply Kind     `yaml:"apply,omitempty" json:"apply,omitempty"`
	For   Duration `yaml:"for,omitempty" json:"for,omitempty"`
}

// LiftMode is how a kind may end early.
type LiftMode string

const (
	// LiftDirect: staff with one of Roles lift it at once (after the
	// role's preconditions hold).
	LiftDirect LiftMode = "direct"
	// LiftFourEyes: one of Ask asks, a different one of Approve approves.
	LiftFourEyes LiftMode = "four_eyes"
	// LiftImmutable: nobody ends it early; it may only be extended.
	LiftImmutable LiftMode = "immutable"
	// LiftByCase: only an approved case ends it.
	LiftByCase LiftMode = "case"
	// LiftByVerification: only completing the required factors ends it.
	LiftByVerification LiftMode = "verification"
)

// Precondition must hold before a role may lift directly.
type Precondition string

const (
	// UnfreezeRequested: the holder asked to end it (request_unfreeze) and
	// then completed an identity verification.
	UnfreezeRequested Precondition = "unfreeze_requested_and_verified"
	// IdentityReverified: the holder completed an identity verification
	// after the restriction started.
	IdentityReverified Precondition = "identity_reverified"
)

// LiftRule is one kind's early-end rule.
type LiftRule struct {
	Mode     LiftMode                `yaml:"mode" json:"mode"`
	Roles    []Role                  `yaml:"roles,omitempty" json:"roles,omitempty"`
	Requires map[Role][]Precondition `yaml:"requires,omitempty" json:"requires,omitempty"`
	Ask      []Role                  `yaml:"ask,omitempty" json:"ask,omitempty"`
	Approve  []Role                  `yaml:"approve,omitempty" json:"approve,omitempty"`
	// DistinctRoles requires the asker and approver to cover different
	// roles of Ask ∪ Approve (permanent_ban: an admin and a compliance).
	DistinctRoles bool `yaml:"distinct_roles,omitempty" json:"distinct_roles,omitempty"`
}

// EffectTable is a kind's effect for each action, by Action.Index.
type EffectTable [NumActions]Effect

// Compile builds the lookup tables the hot path uses. Call it once after
// loading; Validate should have passed.
func (p *Policy) Compile() {
	p.effects = make(map[Kind]*EffectTable, len(p.Kinds))
	for k, kp := range p.Kinds {
		t := kp.Blocks.Table()
		p.effects[k] = &t
	}
}

// Table is the effect of the blocks on each action (deny wins over
// review). Unknown actions, which Validate reports, are skipped.
func (b Blocks) Table() EffectTable {
	var t EffectTable
	if b.DenyAllExcept != nil {
		for i, a := range Actions {
			if !slices.Contains(b.DenyAllExcept, a) {
				t[i] = Deny
			}
		}
	}
	for _, a := range b.Review {
		if a.Valid() {
			t[a.Index()] = max(t[a.Index()], Review)
		}
	}
	for _, a := range b.Deny {
		if a.Valid() {
			t[a.Index()] = Deny
		}
	}
	return t
}

// Effects returns kind's effect table (all allow for an unknown kind).
func (p *Policy) Effects(k Kind) *EffectTable {
	if t := p.effects[k]; t != nil {
		return t
	}
	return &EffectTable{}
}

// Kind returns kind's policy, never nil for a kind that Validate accepted.
func (p *Policy) Kind(k Kind) *KindPolicy { return p.Kinds[k] }
