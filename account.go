package holdfast

import (
	"maps"
	"slices"
	"time"
)

// Account is what Holdfast knows of an account holder. Accounts come into
// being on first mention (a check needs none: an unknown account simply has
// no restrictions).
type Account struct {
	ID              string    `json:"id"`
	CreatedAt       time.Time `json:"created_at"`
	LastActiveAt    time.Time `json:"last_active_at"`
	Tags            []Tag     `json:"tags"`
	Factors         []Factor  `json:"factors"`
	KnownDevices    []string  `json:"known_devices"`
	KnownCountries  []string  `json:"known_countries"`
	TrustedContacts []string  `json:"trusted_contacts"`
	// UnfreezeRequestedAt is when the holder last asked to end a self-freeze
	// early; VerifiedAt is when they last completed every bound factor.
	// Support may end a self-freeze only when both are set and the
	// verification came after the request.
	UnfreezeRequestedAt time.Time `json:"unfreeze_requested_at,omitzero"`
	VerifiedAt          time.Time `json:"verified_at,omitzero"`
	// Holds are amounts approved appeals kept from leaving.
	Holds []AmountHold `json:"holds,omitempty"`
	// Activity feeds the rules' features.
	Activity Activity `json:"activity"`
	// Security is the account's credentials and the holder's protections.
	Security Security `json:"security"`
	// AuditSeq and AuditHash are the head of the account's audit chain.
	AuditSeq  int64  `json:"audit_seq"`
	AuditHash string `json:"audit_hash"`
}

// Activity is what the event stream taught about an account, beyond its
// profile: deposits, withdrawal destinations, rule-applied restrictions.
type Activity struct {
	DepositCount    int64                `json:"deposit_count,omitempty"`
	DepositTotalUSD float64              `json:"deposit_total_usd,omitempty"`
	AddressBook     map[string]time.Time `json:"address_book,omitempty"`
	// RuleRestrictions are the start times of rule-applied restrictions
	// within the high-risk window.
	RuleRestrictions []time.Time `json:"rule_restrictions,omitempty"`
	// ReturnedAt is when the account last came back from dormancy.
	ReturnedAt time.Time `json:"returned_at,omitzero"`
	// PendingDevices maps a device awaiting step-up to the country it
	// signed in from: both become known once verified.
	PendingDevices map[string]string `json:"pending_devices,omitempty"`
}

// HasTag reports whether the account carries t.
func (a *Account) HasTag(t Tag) bool { return slices.Contains(a.Tags, t) }

// AddTag adds t once.
func (a *Account) AddTag(t Tag) {
	if !a.HasTag(t) {
		a.Tags = append(a.Tags, t)
	}
}

// Clone returns a deep copy.
func (a *Account) Clone() *Account {
	c := *a
	c.Tags = slices.Clone(a.Tags)
	c.Factors = slices.Clone(a.Factors)
	c.KnownDevices = slices.Clone(a.KnownDevices)
	c.KnownCountries = slices.Clone(a.KnownCountries)
	c.TrustedContacts = slices.Clone(a.TrustedContacts)
	c.Activity.AddressBook = maps.Clone(a.Activity.AddressBook)
	c.Activity.RuleRestrictions = slices.Clone(a.Activity.RuleRestrictions)
	c.Activity.PendingDevices = maps.Clone(a.Activity.PendingDevices)
	c.Security = a.Security.Clone()
	c.Holds = slices.Clone(a.Holds)
	return &c
}
