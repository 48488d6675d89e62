package holdfast

import "time"

// The holder's security history: the account's audit log as its holder
// may read it. Each item is one audit entry the holder may know of, said
// as what happened and who did it, never as the entry itself: no reason,
// no staff member, and a restriction hidden from the holder only ever as
// its cover kind.

// HistoryWhat is what a history item says happened.
type HistoryWhat string

const (
	// Reported by the exchange (events): where they came from is in
	// Device, Country and IP.
	HistorySignIn            HistoryWhat = "sign_in"
	HistoryDeviceVerified    HistoryWhat = "device_verified"
	HistoryPasswordChanged   HistoryWhat = "password_changed"
	HistoryPasswordReset     HistoryWhat = "password_reset"
	HistoryTwoFactorChanged  HistoryWhat = "two_factor_changed"
	HistoryEmailChanged      HistoryWhat = "email_changed"
	HistoryPhoneChanged      HistoryWhat = "phone_changed"
	HistoryAddressBookAdded  HistoryWhat = "withdrawal_address_added"
	HistoryAPIKeyCreated     HistoryWhat = "api_key_created"
	HistoryAPIKeyRevoked     HistoryWhat = "api_key_revoked"
	HistoryAPIKeyIPWhitelist HistoryWhat = "api_key_ip_whitelist_changed"

	// The holder's protections (Subject names the address, key).
	HistoryAccountSecured     HistoryWhat = "account_secured"
	HistorySessionLoggedOut   HistoryWhat = "session_logged_out"
	HistoryWhitelistAdded     HistoryWhat = "whitelist_address_added"
	HistoryWhitelistRemoved   HistoryWhat = "whitelist_address_removed"
	HistoryWhitelistOn        HistoryWhat = "whitelist_enabled"
	HistoryWhitelistOff       HistoryWhat = "whitelist_disabled"
	HistoryAntiPhishingSet    HistoryWhat = "anti_phishing_code_set"
	HistorySettingsLocked     HistoryWhat = "settings_locked"
	HistoryUnlockRequested    HistoryWhat = "settings_unlock_requested"
	HistoryUnlockCancelled    HistoryWhat = "settings_unlock_cancelled"
	HistoryContactAdded       HistoryWhat = "trusted_contact_added"
	HistoryContactRemoved     HistoryWhat = "trusted_contact_removed"
	HistoryUnfreezeRequested  HistoryWhat = "unfreeze_requested"
	HistoryEmergencyCodeSent  HistoryWhat = "emergency_code_sent"
	HistoryEmergencyCodeWrong HistoryWhat = "emergency_code_refused"

	// Restrictions (Kind is the one the holder is shown). Ended: it ran
	// to its end; lifted: someone ended it early.
	HistoryRestrictionApplied  HistoryWhat = "restriction_applied"
	HistoryRestrictionExtended HistoryWhat = "restriction_extended"
	HistoryRestrictionLifted   HistoryWhat = "restriction_lifted"
	HistoryRestrictionEnded    HistoryWhat = "restriction_ended"
)

// HistoryBy says who made a change, in the holder's terms.
type HistoryBy string

const (
	// HistoryByHolder: the holder, in the Security Center or the app.
	HistoryByHolder HistoryBy = "holder"
	// HistoryByTrustedContact: one of the holder's trusted contacts.
	HistoryByTrustedContact HistoryBy = "trusted_contact"
	// HistoryByStaff: the exchange's staff, never named.
	HistoryByStaff HistoryBy = "staff"
	// HistoryByAutomatic: a rule or the engine itself.
	HistoryByAutomatic HistoryBy = "automatic"
	// An event the exchange reported (a sign-in, a password change) has
	// no By: who it was is what the holder judges from where it came.
)

// HistoryItem is one line of the holder's security history: an audit
// entry, or a restriction running to its end (which time does, with no
// entry).
type HistoryItem struct {
	At   time.Time   `json:"at"`
	What HistoryWhat `json:"what"`
	By   HistoryBy   `json:"by,omitempty"`
	// Kind and Restriction: the restriction as the holder is shown it
	// (a hidden one as the cover kind, by its alias).
	Kind        Kind   `json:"kind,omitempty"`
	Restriction string `json:"restriction,omitempty"`
	// Subject is the whitelisted address or the API key concerned; Network
	// the whitelisted address's network.
	Subject string `json:"subject,omitempty"`
	Network string `json:"network,omitempty"`
	// Channel is where an emergency freeze code went (email, phone, none).
	Channel string `json:"channel,omitempty"`
	// Where it came from, as the exchange reported it.
	Device  string `json:"device,omitempty"`
	Country string `json:"country,omitempty"`
	IP      string `json:"ip,omitempty"`
	// Receipt is the number of the entry whose receipt proves the change,
	// for the holder's own freezes (0: none).
	Receipt int64 `json:"receipt,omitempty"`
}

// HistoryPage is one page of the history, newest first: at most limit
// entries' items, and the ends by time among them.
type HistoryPage struct {
	Account string        `json:"account"`
	Items   []HistoryItem `json:"items"`
	// Next is the before of the next (older) page, an entry number; 0
	// when this is the last.
	Next int64 `json:"next,omitempty"`
}

// History page sizes.
const (
	DefaultHistoryLimit = 50
	MaxHistoryLimit     = 200
)
