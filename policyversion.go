package holdfast

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// PolicyAccount is the audit chain that records every policy change (a
// version pushed, an activation asked for, approved or rejected, a shadow
// started or stopped), beside the accounts' and the staff chain;
// `holdfast audit verify` checks it with them.
const PolicyAccount = "holdfast:policy"

// Audit actions on the policy chain.
const (
	AuditPolicyPushed             = "policy_pushed"
	AuditPolicyActivationAsked    = "policy_activation_requested"
	AuditPolicyActivated          = "policy_activated"
	AuditPolicyActivationRejected = "policy_activation_rejected"
	AuditPolicyShadowed           = "policy_shadowed"
	AuditPolicyShadowStopped      = "policy_shadow_stopped"
)

// PolicyState is where a version is in its life: draft → shadow → active
// → retired. A draft or retired version may be shadowed or activated
// again (a rollback activates a retired one).
type PolicyState string

const (
	PolicyDraft   PolicyState = "draft"
	PolicyShadow  PolicyState = "shadow"
	PolicyActive  PolicyState = "active"
	PolicyRetired PolicyState = "retired"
)

// PolicyVersion is one stored policy: its YAML exactly as pushed, named by
// the SHA-256 of those bytes.
type PolicyVersion struct {
	Hash      string      `json:"hash"`
	YAML      []byte      `json:"-"`
	Comment   string      `json:"comment"`
	Author    string      `json:"author"`
	CreatedAt time.Time   `json:"created_at"`
	State     PolicyState `json:"state"`
	// ActivatedAt, RequestedBy and ApprovedBy are the latest activation's.
	ActivatedAt time.Time `json:"activated_at,omitzero"`
	RequestedBy string    `json:"requested_by,omitempty"`
	ApprovedBy  string    `json:"approved_by,omitempty"`
}

// PolicyHash names policy bytes: hex SHA-256.
func PolicyHash(yaml []byte) string {
	h := sha256.Sum256(yaml)
	return hex.EncodeToString(h[:])
}

// ActivationState is where a request to activate a version stands.
type ActivationState string

const (
	ActivationPending  ActivationState = "pending"
	ActivationApproved ActivationState = "approved"
	ActivationRejected ActivationState = "rejected"
)

// PolicyActivation is a four-eyes request to make a version the active
// one: asked by one staff member, decided by another.
type PolicyActivation struct {
	ID          string          `json:"id"`
	Hash        string          `json:"hash"`
	Rollback    bool            `json:"rollback,omitempty"`
	Reason      string          `json:"reason"`
	RequestedBy string          `json:"requested_by"`
	RequestedAt time.Time       `json:"requested_at"`
	State       ActivationState `json:"state"`
	DecidedBy   string          `json:"decided_by,omitempty"`
	DecidedAt   time.Time       `json:"decided_at,omitzero"`
}

// PolicyEntry is e, an entry of the policy chain with action, and the
// version or activation it is about as its after-image (never the YAML:
// the version's hash names it).
func PolicyEntry(e AuditEntry, action string, after any) *AuditEntry {
	e.Account, e.Action = PolicyAccount, action
	if after != nil {
		e.After, _ = json.Marshal(after)
	}
	return &e
}

// PolicyStore keeps policy versions and their activations. Every write
// appends its entry (made with PolicyEntry) to the PolicyAccount chain in
// the same transaction.
type PolicyStore interface {
	// PushPolicy stores v, a new draft. Errors: conflict when a version
	// with v's hash exists (the error names its state).
	PushPolicy(ctx context.Context, v *PolicyVersion, e *AuditEntry) error
	// PolicyVersion returns a version by its hash or a unique prefix of
	// at least 8 hex digits. Errors: not_found; invalid_argument for a
	// prefix shorter than 8 or shared by several versions.
	PolicyVersion(ctx context.Context, hash string) (*PolicyVersion, error)
	// PolicyVersions lists every version, newest first.
	PolicyVersions(ctx context.Context) ([]*PolicyVersion, error)
	// ActivePolicy returns the active version. Errors: not_found when
	// none is (a store that never had one).
	ActivePolicy(ctx context.Context) (*PolicyVersion, error)
	// ShadowPolicy returns the version being shadowed, or nil.
	ShadowPolicy(ctx context.Context) (*PolicyVersion, error)
	// PolicyHeads returns the hashes of the active and the shadowed
	// version ("" when there is none), in one query: what a node polls
	// to learn of a change made on another node.
	PolicyHeads(ctx context.Context) (active, shadow string, err error)
	// SetPolicyShadow makes hash the one shadowed version (the previous
	// shadow goes back to draft), or stops shadowing when hash is empty.
	// Errors: not_found; failed_precondition for the active version.
	SetPolicyShadow(ctx context.Context, hash string, e *AuditEntry) error
	// RequestPolicyActivation stores a pending activation. Errors:
	// not_found (the version); failed_precondition when it is already
	// active or another activation is pending.
	RequestPolicyActivation(ctx context.Context, a *PolicyActivation, e *AuditEntry) error
	// PolicyActivation returns an activation by id. Errors: not_found.
	PolicyActivation(ctx context.Context, id string) (*PolicyActivation, error)
	// PolicyActivations lists activations, newest first; pending only
	// when pendingOnly.
	PolicyActivations(ctx context.Context, pendingOnly bool) ([]*PolicyActivation, error)
	// DecidePolicyActivation approves or rejects a pending activation as
	// by, at e.At. Approving makes its version the active one (the
	// previous active version retires; a shadowed version that becomes
	// active stops being shadowed) and returns it. Errors: not_found;
	// conflict when the activation is no longer pending.
	DecidePolicyActivation(ctx context.Context, id string, approve bool, by string, e *AuditEntry) (*PolicyVersion, error)
	// InstallPolicy makes v the active version at once, unaudited by
	// four eyes: only for a store with no active version (the policy a
	// server first starts with). Errors: failed_precondition when a
	// version is active.
	InstallPolicy(ctx context.Context, v *PolicyVersion, e *AuditEntry) error
}

// ShadowOutcome is where a shadowed version's rule would have judged a
// live event otherwise than the active version: it would have applied
// (or changed) what the active one did not, or not applied what the
// active one did. Kept to report on, never enforced or notified.
type ShadowOutcome struct {
	Version   string    `json:"version"`
	Rule      string    `json:"rule"`
	Outcome   string    `json:"outcome"` // ShadowWouldApply or ShadowWouldNotApply
	Event     string    `json:"event"`
	EventType EventType `json:"event_type"`
	Account   string    `json:"account"`
	At        time.Time `json:"at"`
	// Then is what the rule does in the version that matched, as written.
	Then string `json:"then"`
}

// The outcomes of a shadow run.
const (
	ShadowWouldApply    = "would_apply"
	ShadowWouldNotApply = "would_not_apply"
)

// ShadowCount is how often a rule had one outcome.
type ShadowCount struct {
	Rule    string `json:"rule"`
	Outcome string `json:"outcome"`
	Events  int64  `json:"events"`
}

// ShadowStore keeps shadow outcomes: records of what did not happen, so
// outside every audit chain.
type ShadowStore interface {
	// RecordShadowOutcomes stores os.
	RecordShadowOutcomes(ctx context.Context, os []*ShadowOutcome) error
	// ShadowReport counts version's outcomes at or after since, by rule
	// and outcome, and returns up to examples of the newest outcomes.
	ShadowReport(ctx context.Context, version string, since time.Time, examples int) ([]ShadowCount, []*ShadowOutcome, error)
}

// BacktestState is where a version's backtest stands.
type BacktestState string

const (
	BacktestRunning BacktestState = "running"
	BacktestDone    BacktestState = "done"
	BacktestFailed  BacktestState = "failed"
)

// Why a backtest replayed fewer events than its window held.
const (
	BacktestCappedTime = "time"
	BacktestCappedSize = "size"
)

// PolicyBacktest is the backtest a push starts: the version's policy
// replayed, beside the active version's, over the events recorded since
// Since. Not audited: a backtest changes nothing.
type PolicyBacktest struct {
	// Version is the pushed (candidate) version; Baseline the version
	// active when it was pushed.
	Version  string        `json:"version"`
	Baseline string        `json:"baseline"`
	State    BacktestState `json:"state"`
	// Since is where the window of recorded events starts.
	Since time.Time `json:"since"`
	// Events counts the events read so far (all of them once done).
	Events int64 `json:"events"`
	// Capped is BacktestCappedTime or BacktestCappedSize when the run
	// stopped reading before the window's end: the report covers only
	// the Events first events.
	Capped     string    `json:"capped,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Error      string    `json:"error,omitempty"`
	// Report is the backtest.Report as JSON, once done.
	Report json.RawMessage `json:"report,omitempty"`
}

// BacktestStore keeps the backtests of policy versions, one per version,
// outside every audit chain. Progress is written to it as a run goes, so
// that every node can show it.
type BacktestStore interface {
	// StartPolicyBacktest stores b, a run just started. Errors: conflict
	// when the version has one already.
	StartPolicyBacktest(ctx context.Context, b *PolicyBacktest) error
	// UpdatePolicyBacktest replaces the state, events, capped, updated,
	// finished, error and report of b.Version's backtest. Errors:
	// not_found.
	UpdatePolicyBacktest(ctx context.Context, b *PolicyBacktest) error
	// PolicyBacktest returns the backtest of version (a whole hash).
	// Errors: not_found.
	PolicyBacktest(ctx context.Context, version string) (*PolicyBacktest, error)
}
