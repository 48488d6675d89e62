package holdfast

import (
	"context"
	"slices"
	"time"
)

// CaseType is what a case asks for.
type CaseType string

const (
	CaseSourceOfFunds            CaseType = "source_of_funds"
	CaseAssociationClarification CaseType = "association_clarification"
	CaseC2CAppeal                CaseType = "c2c_appeal"
	CaseUnlockRequest            CaseType = "unlock_request"
	CaseJurisdictionVerification CaseType = "jurisdiction_verification"
	CaseKYCDocument              CaseType = "kyc_document"
)

// CaseTypes lists every case type.
var CaseTypes = []CaseType{CaseSourceOfFunds, CaseAssociationClarification, CaseC2CAppeal, CaseUnlockRequest, CaseJurisdictionVerification, CaseKYCDocument}

// Valid reports whether t is a known case type.
func (t CaseType) Valid() bool { return slices.Contains(CaseTypes, t) }

// CaseState is where a case is: open → awaiting_holder ⇄ under_review →
// approved | rejected, or withdrawn by the holder.
type CaseState string

const (
	CaseOpen           CaseState = "open"
	CaseAwaitingHolder CaseState = "awaiting_holder"
	CaseUnderReview    CaseState = "under_review"
	CaseApproved       CaseState = "approved"
	CaseRejected       CaseState = "rejected"
	CaseWithdrawn      CaseState = "withdrawn"
)

// CaseStates lists every state.
var CaseStates = []CaseState{CaseOpen, CaseAwaitingHolder, CaseUnderReview, CaseApproved, CaseRejected, CaseWithdrawn}

// Valid reports whether s is a known state.
func (s CaseState) Valid() bool { return slices.Contains(CaseStates, s) }

// Final reports whether nothing more can happen to a case in s.
func (s CaseState) Final() bool { return s == CaseApproved || s == CaseRejected || s == CaseWithdrawn }

// Case is a holder's appeal (or a staff-opened review) that can end the
// restrictions it is linked to.
type Case struct {
	ID      string    `json:"id"`
	Account string    `json:"account"`
	Type    CaseType  `json:"type"`
	State   CaseState `json:"state"`
	// Restrictions are the linked restrictions: approving the case ends
	// them under their kinds' lift rules.
	Restrictions []string  `json:"restrictions"`
	OpenedBy     string    `json:"opened_by"`
	Assignee     string    `json:"assignee,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	// DueAt is the policy's service level for the type.
	DueAt     time.Time `json:"due_at"`
	DecidedAt time.Time `json:"decided_at,omitzero"`
	DecidedBy string    `json:"decided_by,omitempty"`
	// Hold is the amount an approved source_of_funds case kept held.
	Hold *AmountHold `json:"hold,omitempty"`
	// Pending are four-eyes requests the approval opened for linked
	// restrictions that need a second person.
	Pending []string `json:"pending,omitempty"`
	// NextSteps tell the holder what to do after a rejection.
	NextSteps []string    `json:"next_steps,omitempty"`
	Entries   []CaseEntry `json:"entries"`
}

// Overdue reports whether the case is still undecided after its due time.
func (c *Case) Overdue(now time.Time) bool { return !c.State.Final() && now.After(c.DueAt) }

// Clone returns a deep copy.
func (c *Case) Clone() *Case {
	d := *c
	d.Restrictions = slices.Clone(c.Restrictions)
	d.Pending = slices.Clone(c.Pending)
	d.NextSteps = slices.Clone(c.NextSteps)
	d.Entries = slices.Clone(c.Entries)
	for i := range d.Entries {
		if e := d.Entries[i].Evidence; e != nil {
			ec := *e
			d.Entries[i].Evidence = &ec
		}
	}
	if c.Hold != nil {
		h := *c.Hold
		d.Hold = &h
	}
	return &d
}

// CaseEntryType is what an entry on a case's timeline records.
type CaseEntryType string

const (
	EntryStatement CaseEntryType = "statement"
	EntryTemplate  CaseEntryType = "template"
	EntryEvidence  CaseEntryType = "evidence"
	EntryState     CaseEntryType = "state"
	EntryAssign    CaseEntryType = "assign"
	EntryDecision  CaseEntryType = "decision"
	// EntryNote is a staff note the holder never sees.
	EntryNote CaseEntryType = "note"
)

// CaseEntry is one thing said or done on a case.
type CaseEntry struct {
	At    time.Time     `json:"at"`
	Actor string        `json:"actor"`
	Type  CaseEntryType `json:"type"`
	Text  string        `json:"text,omitempty"`
	// Template names the explanation template a template entry filled.
	Template string            `json:"template,omitempty"`
	Evidence *EvidenceRef      `json:"evidence,omitempty"`
	State    CaseState         `json:"state,omitempty"`
	Fields   map[string]string `json:"fields,omitempty"`
}

// EvidenceRef is a file attached to a case, kept content-addressed.
type EvidenceRef struct {
	SHA256      string `json:"sha256"`
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
}

// AmountHold keeps an amount of an asset from leaving: a withdrawal may not
// take the available balance below it.
type AmountHold struct {
	Asset     string    `json:"asset"`
	Amount    string    `json:"amount"`
	Case      string    `json:"case"`
	CreatedAt time.Time `json:"created_at"`
}

// OpenCaseRequest opens a case. Restriction or Kind narrows what it links;
// with neither it links every active restriction of the kinds the type can
// end.
type OpenCaseRequest struct {
	Account     string
	Type        CaseType
	Restriction string
	Kind        Kind
	Statement   string
	Actor       Actor
}

// CaseDecision is approve or reject.
type CaseDecision string

const (
	DecisionApprove CaseDecision = "approve"
	DecisionReject  CaseDecision = "reject"
)

// DecideCaseRequest decides a case.
type DecideCaseRequest struct {
	Case     string
	Decision CaseDecision
	Reason   string
	// KeepHeld, on approving a source_of_funds case, keeps that amount
	// held.
	KeepHeld *AmountHold
	// NextSteps, on a rejection, tell the holder what to do (default: the
	// policy's for the type).
	NextSteps []string
	Actor     Actor
}

// CaseEntryRequest adds a statement, a filled template or a file to a case.
type CaseEntryRequest struct {
	Case     string
	Type     CaseEntryType
	Text     string
	Template string
	Fields   map[string]string
	Evidence *EvidenceRef
	Actor    Actor
}

// CaseFilter selects cases. Lists put overdue cases first, then by due
// time.
type CaseFilter struct {
	Account  string
	State    CaseState
	Type     CaseType
	Assignee string
	// Open keeps only undecided cases.
	Open  bool
	Limit int
}

// CaseService is the appeal workflow.
type CaseService interface {
	OpenCase(ctx context.Context, req OpenCaseRequest) (*Case, error)
	AddCaseEntry(ctx context.Context, req CaseEntryRequest) (*Case, error)
	// SetCaseState moves a case to under_review or awaiting_holder
	// (staff), or withdrawn (the holder).
	SetCaseState(ctx context.Context, id string, state CaseState, reason string, actor Actor) (*Case, error)
	AssignCase(ctx context.Context, id, staff string, actor Actor) (*Case, error)
	DecideCase(ctx context.Context, req DecideCaseRequest) (*Case, error)
	Case(ctx context.Context, id string, actor Actor) (*Case, error)
	Cases(ctx context.Context, f CaseFilter, actor Actor) ([]*Case, error)
}

// CasePolicy configures the appeal workflow.
type CasePolicy struct {
	Types map[CaseType]*CaseTypePolicy `yaml:"types" json:"types"`
	// Templates are explanations a holder fills in, in our own words.
	Templates map[string]*CaseTemplate `yaml:"templates" json:"templates"`
}

// CaseTypePolicy is one case type's settings.
type CaseTypePolicy struct {
	// Ends lists the kinds a case of the type can end.
	Ends []Kind `yaml:"ends" json:"ends"`
	// Due is the service level: a case is overdue this long after opening.
	Due Duration `yaml:"due" json:"due"`
	// NextSteps tell the holder what to do after a rejection.
	NextSteps []string `yaml:"next_steps" json:"next_steps"`
}

// CaseTemplate is a fill-in explanation.
type CaseTemplate struct {
	Types  []CaseType `yaml:"types" json:"types"`
	Fields []string   `yaml:"fields" json:"fields"`
	// Text is a Go text/template over the fields.
	Text string `yaml:"text" json:"text"`
}

// AccountReport is everything staff may know of one account: its profile,
// every restriction, case and pending four-eyes request, and its audit
// chain with the result of verifying it.
type AccountReport struct {
	Account      *Account       `json:"account"`
	Restrictions []*Restriction `json:"restrictions"`
	Cases        []*Case        `json:"cases"`
	Approvals    []*Approval    `json:"approvals"`
	Audit        *AuditReport   `json:"audit"`
	History      []AuditEntry   `json:"history"`
}

// SeizureRequest records that an authority seized funds held on an account
// (Holdfast never moves funds; this is the record).
type SeizureRequest struct {
	Account   string
	Asset     string
	Amount    string
	Reference string
	Actor     Actor
}
