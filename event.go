package holdfast

import (
	"context"
	"math"
	"net/mail"
	"slices"
	"time"
)

// EventType is a signal another service reports.
type EventType string

const (
	EventLogin                  EventType = "login"
	EventPasswordChanged        EventType = "password_changed"
	EventPasswordReset          EventType = "password_reset"
	EventTwoFactorChanged       EventType = "two_factor_changed"
	EventEmailChanged           EventType = "email_changed"
	EventPhoneChanged           EventType = "phone_changed"
	EventWithdrawalAddressAdded EventType = "withdrawal_address_added"
	EventDeposit                EventType = "deposit"
	EventWithdrawalRequested    EventType = "withdrawal_requested"
	EventAPIActivity            EventType = "api_activity"
	EventC2CDisputeOpened       EventType = "c2c_dispute_opened"
	EventAssociationDetected    EventType = "association_detected"
	EventSanctionsMatch         EventType = "sanctions_match"
	EventAMLAlert               EventType = "aml_alert"
	EventCompromiseDetected     EventType = "compromise_detected"
	EventScamInteraction        EventType = "scam_interaction"
	EventKYCStatus              EventType = "kyc_status"
	EventViolationConfirmed     EventType = "violation_confirmed"
	EventLawEnforcementRequest  EventType = "law_enforcement_request"
	EventDuressSignal           EventType = "duress_signal"
	EventAPIKeyCreated          EventType = "api_key_created"
	EventAPIKeyRevoked          EventType = "api_key_revoked"
	EventVerificationCompleted  EventType = "verification_completed"
)

// EventTypes lists every event type in docs/design.md order.
var EventTypes = []EventType{
	EventLogin, EventPasswordChanged, EventPasswordReset, EventTwoFactorChanged,
	EventEmailChanged, EventPhoneChanged, EventWithdrawalAddressAdded, EventDeposit,
	EventWithdrawalRequested, EventAPIActivity, EventC2CDisputeOpened,
	EventAssociationDetected, EventSanctionsMatch, EventAMLAlert, EventCompromiseDetected,
	EventScamInteraction, EventKYCStatus, EventViolationConfirmed,
	EventLawEnforcementRequest, EventDuressSignal, EventAPIKeyCreated,
	EventAPIKeyRevoked, EventVerificationCompleted,
}

// Valid reports whether t is a known event type.
func (t EventType) Valid() bool { return slices.Contains(EventTypes, t) }

// Event is one reported signal, with the fields the event API takes. Which
// fields a type may carry is fixed (eventFields); ID makes intake
// idempotent: a replayed id changes nothing.
type Event struct {
	ID              string    `json:"id"`
	Type            EventType `json:"type"`
	Account         string    `json:"account"`
	At              time.Time `json:"at,omitzero"`
	Device          string    `json:"device,omitempty"`
	Country         string    `json:"country,omitempty"`
	IP              string    `json:"ip,omitempty"`
	Session         string    `json:"session,omitempty"`
	Address         string    `json:"address,omitempty"`
	Asset           string    `json:"asset,omitempty"`
	Amount          string    `json:"amount,omitempty"`
	USDValue        string    `json:"usd_value,omitempty"`
	SourceAddress   string    `json:"source_address,omitempty"`
	SourceRisk      string    `json:"source_risk,omitempty"`
	OrdersPerMinute *float64  `json:"orders_per_minute,omitempty"`
	FailureRate     *float64  `json:"failure_rate,omitempty"`
	OtherAccounts   []string  `json:"other_accounts,omitempty"`
	NoticePeriod    Duration  `json:"notice_period,omitempty"`
	Severity        string    `json:"severity,omitempty"`
	Status          string    `json:"status,omitempty"`
	CaseRef         string    `json:"case_ref,omitempty"`
	Disclose        *bool     `json:"disclose,omitempty"`
	APIKey          string    `json:"api_key,omitempty"`
	Permissions     []string  `json:"permissions,omitempty"`
	IPWhitelist     []string  `json:"ip_whitelist,omitempty"`
	Factors         []Factor  `json:"factors,omitempty"`
	// Email and Phone are the holder's new contact addresses
	// (email_changed, phone_changed): where notifications go.
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// eventFields lists, per type, the optional fields it may carry (id, type,
// account and at are always allowed).
var eventFields = map[EventType][]string{
	EventLogin:                  {"device", "country", "ip", "session"},
	EventPasswordChanged:        {"device", "ip"},
	EventPasswordReset:          {"device", "ip"},
	EventTwoFactorChanged:       {"device", "ip"},
	EventEmailChanged:           {"device", "ip", "email"},
	EventPhoneChanged:           {"device", "ip", "phone"},
	EventWithdrawalAddressAdded: {"address", "asset"},
	EventDeposit:                {"asset", "amount", "usd_value", "source_address", "source_risk"},
	EventWithdrawalRequested:    {"asset", "amount", "usd_value", "address"},
	EventAPIActivity:            {"api_key", "orders_per_minute", "failure_rate"},
	EventC2CDisputeOpened:       {"case_ref"},
	EventAssociationDetected:    {"other_accounts", "device", "ip"},
	EventSanctionsMatch:         {"notice_period", "case_ref"},
	EventAMLAlert:               {"severity", "case_ref"},
	EventCompromiseDetected:     {"device", "ip"},
	EventScamInteraction:        {"address", "case_ref"},
	EventKYCStatus:              {"status"},
	EventViolationConfirmed:     {"case_ref"},
	EventLawEnforcementRequest:  {"case_ref", "disclose"},
	EventDuressSignal:           {"device"},
	EventAPIKeyCreated:          {"api_key", "permissions", "ip_whitelist"},
	EventAPIKeyRevoked:          {"api_key"},
	EventVerificationCompleted:  {"device", "factors"},
}

// present lists the optional fields e sets, by their JSON names.
func (e *Event) present() []string {
	var out []string
	for _, f := range [...]struct {
		name string
		set  bool
	}{
		{"device", e.Device != ""}, {"country", e.Country != ""}, {"ip", e.IP != ""},
		{"session", e.Session != ""}, {"address", e.Address != ""}, {"asset", e.Asset != ""},
		{"amount", e.Amount != ""}, {"usd_value", e.USDValue != ""},
		{"source_address", e.SourceAddress != ""}, {"source_risk", e.SourceRisk != ""},
		{"orders_per_minute", e.OrdersPerMinute != nil}, {"failure_rate", e.FailureRate != nil},
		{"other_accounts", e.OtherAccounts != nil}, {"notice_period", e.NoticePeriod != 0},
		{"severity", e.Severity != ""}, {"status", e.Status != ""}, {"case_ref", e.CaseRef != ""},
		{"disclose", e.Disclose != nil}, {"api_key", e.APIKey != ""},
		{"permissions", e.Permissions != nil}, {"ip_whitelist", e.IPWhitelist != nil},
		{"factors", e.Factors != nil}, {"email", e.Email != ""}, {"phone", e.Phone != ""},
	} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// Validate checks the type, the fields it may carry and their values.
func (e *Event) Validate() error {
	if !e.Type.Valid() {
		return Errorf(InvalidArgument, "type", "unknown event type %q", e.Type)
	}
	if err := ValidateID("account", e.Account); err != nil {
		return err
	}
	if e.ID != "" {
		if err := ValidateID("id", e.ID); err != nil {
			return err
		}
	}
	allowed := eventFields[e.Type]
	for _, f := range e.present() {
		if !slices.Contains(allowed, f) {
			return Errorf(InvalidArgument, f, "%s events carry no %s (they take %v)", e.Type, f, allowed)
		}
	}
	for _, f := range [...]struct{ name, v string }{{"device", e.Device}, {"ip", e.IP}, {"session", e.Session}, {"address", e.Address}, {"asset", e.Asset}, {"source_address", e.SourceAddress}, {"api_key", e.APIKey}, {"case_ref", e.CaseRef}} {
		if f.v != "" {
			if err := ValidateID(f.name, f.v); err != nil {
				return err
			}
		}
	}
	if e.Country != "" && !validCountry(e.Country) {
		return Errorf(InvalidArgument, "country", "country must be an ISO 3166-1 alpha-2 code like DE, not %q", e.Country)
	}
	for _, f := range [...]struct{ name, v string }{{"amount", e.Amount}, {"usd_value", e.USDValue}} {
		if f.v != "" {
			if _, err := ParseAmount(f.name, f.v, false); err != nil {
				return err
			}
		}
	}
	if err := oneOf("source_risk", e.SourceRisk, "clean", "flagged", "mixer", "sanctioned"); err != nil {
		return err
	}
	if err := oneOf("severity", e.Severity, "low", "medium", "high"); err != nil {
		return err
	}
	if err := oneOf("status", e.Status, "missing", "expired", "ok"); err != nil {
		return err
	}
	for _, p := range e.Permissions {
		if err := oneOf("permissions", p, "read", "trade", "withdraw"); err != nil {
			return err
		}
	}
	if e.Email != "" {
		if a, err := mail.ParseAddress(e.Email); err != nil || a.Address != e.Email || a.Name != "" {
			return Errorf(InvalidArgument, "email", "email must be a plain address like holder@example.com")
		}
	}
	if e.Phone != "" && !validPhone(e.Phone) {
		return Errorf(InvalidArgument, "phone", "phone must be in E.164 form like +4915112345678")
	}
	for _, w := range e.IPWhitelist {
		if _, err := ParseIPPrefix(w); err != nil {
			return Errorf(InvalidArgument, "ip_whitelist", "ip_whitelist holds addresses or CIDR prefixes, not %q", w)
		}
	}
	for _, f := range e.Factors {
		if !f.Valid() {
			return Errorf(InvalidArgument, "factors", "unknown factor %q (want email, sms or totp)", f)
		}
	}
	if e.OrdersPerMinute != nil && !(*e.OrdersPerMinute >= 0 && *e.OrdersPerMinute <= math.MaxFloat64) {
		return Errorf(InvalidArgument, "orders_per_minute", "orders_per_minute must be a finite number, zero or more")
	}
	if e.FailureRate != nil && !(*e.FailureRate >= 0 && *e.FailureRate <= 100) {
		return Errorf(InvalidArgument, "failure_rate", "failure_rate is a fraction from 0 to 1 (or a percentage up to 100)")
	}
	if e.NoticePeriod < 0 {
		return Errorf(InvalidArgument, "notice_period", "notice_period must be a positive duration")
	}
	if e.NoticePeriod > MaxDuration {
		return Errorf(InvalidArgument, "notice_period", "notice_period is longer than %s (100 years), the longest Holdfast takes", MaxDuration)
	}
	if err := CheckTime("at", e.At); err != nil {
		return err
	}
	for _, a := range e.OtherAccounts {
		if err := ValidateID("other_accounts", a); err != nil {
			return err
		}
	}
	return nil
}

// FailureFraction is the failure rate as a fraction: rates above 1 are read
// as percentages, so both 0.6 and 60 mean 60 %.
func (e *Event) FailureFraction() float64 {
	if e.FailureRate == nil {
		return 0
	}
	if r := *e.FailureRate; r > 1 {
		return r / 100
	}
	return *e.FailureRate
}

// validPhone accepts E.164: a plus and 8 to 15 digits.
func validPhone(p string) bool {
	if len(p) < 9 || len(p) > 16 || p[0] != '+' {
		return false
	}
	for _, c := range p[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func validCountry(c string) bool {
	return len(c) == 2 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z'
}

func oneOf(field, v string, allowed ...string) error {
	if v == "" || slices.Contains(allowed, v) {
		return nil
	}
	return Errorf(InvalidArgument, field, "%s must be one of %v, not %q", field, allowed, v)
}

// IngestResult is what one event did.
type IngestResult struct {
	Event string `json:"event"`
	// Duplicate is set when the id was seen before: nothing changed.
	Duplicate bool           `json:"duplicate"`
	Applied   []*Restriction `json:"applied"`
	Extended  []*Restriction `json:"extended"`
	Lifted    []*Restriction `json:"lifted"`
	Tags      []Tag          `json:"tags"`
	Commands  []string       `json:"commands"`
	Rules     []string       `json:"rules"`
	// RuleErrors lists the rules whose condition failed to evaluate for
	// this event; those that fail closed are in Rules too.
	RuleErrors []RuleError `json:"rule_errors,omitempty"`
}

// RuleError is a rule whose condition failed to evaluate for an event, and
// why: the reporting service learns that screening did not happen as
// written.
type RuleError struct {
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// EventService takes events from other services.
type EventService interface {
	// Ingest runs one event through the policy's rules and records it.
	// Errors: invalid_argument (type, fields).
	Ingest(ctx context.Context, ev Event) (*IngestResult, error)
}
