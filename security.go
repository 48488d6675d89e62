package holdfast

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Security is what protects an account beyond its restrictions: the
// credentials checks enforce (sessions, API keys), the devices seen, and
// the protections the holder set up (withdrawal whitelist, anti-phishing
// code, settings lock, contact addresses for notifications).
type Security struct {
	// Rev counts changes to what checks read (sessions, keys), so that a
	// node republishes them only when they changed.
	Rev int64 `json:"rev,omitempty"`
	// SessionsValidAfter revokes, in one write, every session that started
	// before it.
	SessionsValidAfter time.Time           `json:"sessions_valid_after,omitzero"`
	Sessions           map[string]*Session `json:"sessions,omitempty"`
	APIKeys            map[string]*APIKey  `json:"api_keys,omitempty"`
	Devices            map[string]*Device  `json:"devices,omitempty"`
	Whitelist          Whitelist           `json:"whitelist"`
	// AntiPhishingCode is shown in every notification so the holder can
	// tell ours from a phisher's; it is never returned by the API.
	AntiPhishingCode string        `json:"anti_phishing_code,omitempty"`
	SettingsLock     *SettingsLock `json:"settings_lock,omitempty"`
	Email            string        `json:"email,omitempty"`
	Phone            string        `json:"phone,omitempty"`
	// InvitedContacts are the trusted contacts the holder invited who
	// have not accepted yet (contact's account → when invited): they
	// cannot act until they do. Account.TrustedContacts are the accepted
	// ones.
	InvitedContacts map[string]time.Time `json:"invited_contacts,omitempty"`
	// ContactInvitations ask this account's holder to be a trusted
	// contact of other accounts (inviting account → when invited).
	ContactInvitations map[string]time.Time `json:"contact_invitations,omitempty"`
	// Notices is the notification rate limit's current window.
	Notices NoticeWindow `json:"notices"`
	// Limits holds the self-service rate limit's windows, by operation.
	Limits map[string]*NoticeWindow `json:"limits,omitempty"`
}

// Session is a signed-in session reported by a login event.
type Session struct {
	Device    string    `json:"device,omitempty"`
	IP        string    `json:"ip,omitempty"`
	Country   string    `json:"country,omitempty"`
	StartedAt time.Time `json:"started_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Permission is what an API key may be used for.
type Permission string

const (
	PermRead     Permission = "read"
	PermTrade    Permission = "trade"
	PermWithdraw Permission = "withdraw"
)

// APIKey is a key reported by api_key_created.
type APIKey struct {
	Permissions []Permission `json:"permissions"`
	// IPWhitelist holds addresses or CIDR prefixes; empty: any address.
	IPWhitelist []string  `json:"ip_whitelist,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	RevokedAt   time.Time `json:"revoked_at,omitzero"`
	// LastUsedAt is the last api_activity event naming the key.
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
}

// Device is a device seen signing in.
type Device struct {
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Country   string    `json:"country,omitempty"`
	IP        string    `json:"ip,omitempty"`
}

// Whitelist restricts withdrawals to the holder's chosen addresses, each
// usable only after the policy's delay.
type Whitelist struct {
	Enabled   bool                         `json:"enabled"`
	Addresses map[string]*WhitelistAddress `json:"addresses,omitempty"`
}

// WhitelistAddress is one whitelisted destination.
type WhitelistAddress struct {
	// Network is the chain the address is on, one of the policy's
	// whitelist_networks ("BTC", "ETH", "TRX"); empty for an address
	// whitelisted before networks were asked for.
	Network string `json:"network,omitempty"`
	// Label is the holder's own name for it ("Cold wallet").
	Label      string    `json:"label,omitempty"`
	AddedAt    time.Time `json:"added_at"`
	UsableAt   time.Time `json:"usable_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
}

// NewWhitelistAddress is an address to whitelist, as the holder names it.
type NewWhitelistAddress struct {
	Address string `json:"address"`
	Network string `json:"network"`
	Label   string `json:"label,omitempty"`
}

// MaxLabelLength bounds a whitelist address's label, in characters.
const MaxLabelLength = 40

// ValidateLabel checks a label the holder gave something: at most
// MaxLabelLength characters of valid text without control characters
// (empty is fine: labels are optional).
func ValidateLabel(field, label string) error {
	if !utf8.ValidString(label) || utf8.RuneCountInString(label) > MaxLabelLength {
		return Errorf(InvalidArgument, field, "a %s is at most %d characters", field, MaxLabelLength)
	}
	for _, r := range label {
		if unicode.IsControl(r) {
			return Errorf(InvalidArgument, field, "a %s may not hold control characters", field)
		}
	}
	return nil
}

// SettingsLock is the holder's lock on their security settings, enforced
// by a settings_lock restriction that ends UnlockDelay after an unlock
// request.
type SettingsLock struct {
	Restriction       string    `json:"restriction"`
	UnlockDelay       Duration  `json:"unlock_delay"`
	LockedAt          time.Time `json:"locked_at"`
	UnlockRequestedAt time.Time `json:"unlock_requested_at,omitzero"`
	UnlockAttempts    int       `json:"unlock_attempts,omitempty"`
}

// NoticeWindow counts events in a fixed window, for rate limits.
type NoticeWindow struct {
	Start time.Time `json:"start,omitzero"`
	Count int       `json:"count,omitempty"`
}

// Take counts one more in the window of length w at now and reports
// whether it stays within limit.
func (n *NoticeWindow) Take(now time.Time, w time.Duration, limit int) bool {
	if n.Start.IsZero() || !now.Before(n.Start.Add(w)) {
		n.Start, n.Count = now, 0
	}
	if n.Count >= limit {
		return false
	}
	n.Count++
	return true
}

// Clone returns a deep copy.
func (s Security) Clone() Security {
	c := s
	c.Sessions = cloneMap(s.Sessions)
	c.APIKeys = make(map[string]*APIKey, len(s.APIKeys))
	for id, k := range s.APIKeys {
		kc := *k
		kc.Permissions, kc.IPWhitelist = slices.Clone(k.Permissions), slices.Clone(k.IPWhitelist)
		c.APIKeys[id] = &kc
	}
	c.Devices = cloneMap(s.Devices)
	c.Whitelist.Addresses = cloneMap(s.Whitelist.Addresses)
	if s.SettingsLock != nil {
		l := *s.SettingsLock
		c.SettingsLock = &l
	}
	c.Limits = cloneMap(s.Limits)
	c.InvitedContacts = maps.Clone(s.InvitedContacts)
	c.ContactInvitations = maps.Clone(s.ContactInvitations)
	return c
}

func cloneMap[V any](m map[string]*V) map[string]*V {
	if m == nil {
		return nil
	}
	c := make(map[string]*V, len(m))
	for k, v := range m {
		vc := *v
		c[k] = &vc
	}
	return c
}

// ActiveSessions lists the sessions not revoked at now, newest first.
func (s *Security) ActiveSessions() []string {
	ids := slices.Collect(maps.Keys(s.Sessions))
	ids = slices.DeleteFunc(ids, func(id string) bool { return !s.SessionValid(id) })
	slices.SortFunc(ids, func(a, b string) int { return s.Sessions[b].StartedAt.Compare(s.Sessions[a].StartedAt) })
	return ids
}

// SessionValid reports whether a known session is neither revoked on its
// own nor started before the valid-after mark.
func (s *Security) SessionValid(id string) bool {
	ss := s.Sessions[id]
	return ss != nil && ss.RevokedAt.IsZero() && !ss.StartedAt.Before(s.SessionsValidAfter)
}

// HasPermission reports whether k carries p.
func (k *APIKey) HasPermission(p Permission) bool { return slices.Contains(k.Permissions, p) }

// AllowsIP reports whether ip is within the key's whitelist (any address
// when it has none).
func (k *APIKey) AllowsIP(ip netip.Addr) bool {
	if len(k.IPWhitelist) == 0 {
		return true
	}
	for _, w := range k.IPWhitelist {
		if p, err := ParseIPPrefix(w); err == nil && p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// ParseIPPrefix reads an address ("203.0.113.7") or a CIDR prefix
// ("203.0.113.0/24") as a prefix.
func ParseIPPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// SecurityPolicy holds the numbers behind the holder's protections.
type SecurityPolicy struct {
	// MaxSessions bounds the sessions kept per account; the oldest go
	// first (a check naming a forgotten session is denied).
	MaxSessions int `yaml:"max_sessions" json:"max_sessions"`
	// KeyPermissions maps each API-key permission to the actions it
	// grants; an action no permission grants is never allowed by key.
	KeyPermissions map[Permission][]Action `yaml:"key_permissions" json:"key_permissions"`
	// WithdrawKeysNeedIPWhitelist refuses withdraw-permission actions to a
	// key without an IP whitelist.
	WithdrawKeysNeedIPWhitelist bool `yaml:"withdraw_keys_need_ip_whitelist" json:"withdraw_keys_need_ip_whitelist"`
	// WhitelistDelay is how long a new whitelist address waits before use.
	WhitelistDelay Duration `yaml:"whitelist_delay" json:"whitelist_delay"`
	// SecurityChangeCoolingOff is the cooling_off a holder's weakening
	// change starts (disabling the whitelist, changing the anti-phishing
	// code); rolling like the events' one.
	SecurityChangeCoolingOff Duration `yaml:"security_change_cooling_off" json:"security_change_cooling_off"`
	// SettingsUnlockDelayMin and Max bound the delay chosen at lock time.
	SettingsUnlockDelayMin Duration `yaml:"settings_unlock_delay_min" json:"settings_unlock_delay_min"`
	SettingsUnlockDelayMax Duration `yaml:"settings_unlock_delay_max" json:"settings_unlock_delay_max"`
	MaxTrustedContacts     int      `yaml:"max_trusted_contacts" json:"max_trusted_contacts"`
	MaxWhitelistAddresses  int      `yaml:"max_whitelist_addresses" json:"max_whitelist_addresses"`
	// WhitelistNetworks are the networks (chains) a whitelisted address
	// may be on; every address names one.
	WhitelistNetworks []string `yaml:"whitelist_networks" json:"whitelist_networks"`
	// Notifications: at most NotifyLimit per NotifyWindow per account.
	NotifyLimit  int      `yaml:"notify_limit" json:"notify_limit"`
	NotifyWindow Duration `yaml:"notify_window" json:"notify_window"`
	// ExpiringNotice is how long before its end a restriction's holder is
	// told it is about to end.
	ExpiringNotice Duration `yaml:"expiring_notice" json:"expiring_notice"`
	// SelfServiceLimit bounds each self-service operation per account per
	// SelfServiceWindow (resource_exhausted beyond).
	SelfServiceLimit  int           `yaml:"self_service_limit" json:"self_service_limit"`
	SelfServiceWindow Duration      `yaml:"self_service_window" json:"self_service_window"`
	Checkup           CheckupPolicy `yaml:"checkup" json:"checkup"`
}

// CheckupPolicy sets what the security checkup flags.
type CheckupPolicy struct {
	NewDeviceWindow         Duration `yaml:"new_device_window" json:"new_device_window"`
	KeyUnusedAfter          Duration `yaml:"key_unused_after" json:"key_unused_after"`
	AddressUnusedAfter      Duration `yaml:"address_unused_after" json:"address_unused_after"`
	RecentRestrictionWithin Duration `yaml:"recent_restriction_within" json:"recent_restriction_within"`
}

// Severity ranks a checkup finding.
type Severity string

const (
	SeverityHigh   Severity = "high"
	SeverityMedium Severity = "medium"
	SeverityLow    Severity = "low"
)

// Finding is one thing the security checkup advises on.
type Finding struct {
	Code     string   `json:"code"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	Fix      string   `json:"fix"`
	// Subject names the device, key, address or restriction concerned.
	Subject string `json:"subject,omitempty"`
}

// Checkup is the result of a security checkup, most severe first.
type Checkup struct {
	Account  string    `json:"account"`
	At       time.Time `json:"at"`
	Findings []Finding `json:"findings"`
}

// SecureResult is what secure_account did.
type SecureResult struct {
	Freeze *Restriction `json:"freeze"`
	// SessionsRevoked and KeysRevoked count what this call revoked.
	SessionsRevoked int `json:"sessions_revoked"`
	KeysRevoked     int `json:"keys_revoked"`
	// Repeat is set when an earlier secure_account's freeze was still in
	// force: nothing new was applied.
	Repeat bool `json:"repeat"`
	// Entry is the number of the freeze's apply entry in the account's
	// audit chain, the entry a receipt proves (0 on a repeat).
	Entry int64 `json:"entry,omitempty"`
}

// SessionInfo is a session as the holder sees it.
type SessionInfo struct {
	ID string `json:"id"`
	Session
	Active bool `json:"active"`
}

// DeviceInfo is a device as the holder sees it.
type DeviceInfo struct {
	ID string `json:"id"`
	Device
	Known bool `json:"known"`
}

// WhitelistView is the whitelist as the holder sees it.
type WhitelistView struct {
	Enabled   bool                 `json:"enabled"`
	Addresses []WhitelistEntryView `json:"addresses"`
}

// WhitelistEntryView is one whitelisted address.
type WhitelistEntryView struct {
	Address string `json:"address"`
	WhitelistAddress
	Usable bool `json:"usable"`
}

// SecurityOverview is everything the Security Center shows about an
// account's protections (never the anti-phishing code itself).
type SecurityOverview struct {
	Account         string        `json:"account"`
	AntiPhishingSet bool          `json:"anti_phishing_code_set"`
	Whitelist       WhitelistView `json:"whitelist"`
	SettingsLock    *SettingsLock `json:"settings_lock,omitempty"`
	// TrustedContacts have accepted and may act for the account.
	TrustedContacts []string `json:"trusted_contacts"`
	// InvitedContacts have not accepted yet, and cannot act; oldest
	// first.
	InvitedContacts []ContactInvite `json:"invited_contacts"`
	// ContactInvitations ask this account's holder to be a trusted
	// contact of other accounts; oldest first.
	ContactInvitations []ContactInvite `json:"contact_invitations"`
	Sessions           []SessionInfo   `json:"sessions"`
	Devices            []DeviceInfo    `json:"devices"`
	APIKeys            []APIKeyInfo    `json:"api_keys"`
}

// ContactInvite is a trusted-contact invitation: Account names the
// other side (the invited contact, or the account that invited).
type ContactInvite struct {
	Account   string    `json:"account"`
	InvitedAt time.Time `json:"invited_at"`
}

// APIKeyInfo is a key as the holder sees it.
type APIKeyInfo struct {
	ID string `json:"id"`
	APIKey
	Active bool `json:"active"`
}

// SecurityService is the holder's protections, on their own account. Every
// operation takes the acting holder (or, where it says so, a trusted
// contact); each weakening change is subject to the account's
// restrictions (failed_precondition with the holder-view causes) and
// every operation to the per-account rate limit (resource_exhausted).
type SecurityService interface {
	// SecureAccount freezes the account, revokes every session and API
	// key, tells the identity service and notifies the holder, atomically.
	SecureAccount(ctx context.Context, account string, actor Actor) (*SecureResult, error)
	RevokeSession(ctx context.Context, account, session string, actor Actor) error
	AddWhitelistAddress(ctx context.Context, account string, w NewWhitelistAddress, actor Actor) (*WhitelistEntryView, error)
	RemoveWhitelistAddress(ctx context.Context, account, address string, actor Actor) error
	SetWhitelist(ctx context.Context, account string, enabled bool, actor Actor) error
	SetAntiPhishingCode(ctx context.Context, account, code string, actor Actor) error
	LockSettings(ctx context.Context, account string, unlockDelay Duration, actor Actor) (*Restriction, error)
	RequestSettingsUnlock(ctx context.Context, account string, actor Actor) (*Restriction, error)
	CancelSettingsUnlock(ctx context.Context, account string, actor Actor) (*Restriction, error)
	// AddTrustedContact invites contact, an existing account other than
	// the holder's, to be a trusted contact: it may act once its holder
	// accepts (AcceptContactInvitation).
	AddTrustedContact(ctx context.Context, account, contact string, actor Actor) error
	RemoveTrustedContact(ctx context.Context, account, contact string, actor Actor) error
	// AcceptContactInvitation and DeclineContactInvitation answer, as the
	// holder of account, the invitation of inviter's holder.
	AcceptContactInvitation(ctx context.Context, account, inviter string, actor Actor) error
	DeclineContactInvitation(ctx context.Context, account, inviter string, actor Actor) error
	// RevokeAPIKey revokes one API key (protective: never blocked).
	RevokeAPIKey(ctx context.Context, account, key string, actor Actor) (*APIKeyInfo, error)
	// SetAPIKeyIPWhitelist replaces a key's IP whitelist (empty: any
	// address). Letting the key be used from an address it could not be
	// used from before is a security change.
	SetAPIKeyIPWhitelist(ctx context.Context, account, key string, ips []string, actor Actor) (*APIKeyInfo, error)
	Security(ctx context.Context, account string, actor Actor) (*SecurityOverview, error)
	LoginHistory(ctx context.Context, account string, limit int, actor Actor) ([]*Event, error)
	// SecurityHistory is the account's security history as its holder
	// sees it: a page of at most limit items before entry before (0: the
	// newest), newest first.
	SecurityHistory(ctx context.Context, account string, before int64, limit int, actor Actor) (*HistoryPage, error)
	SecurityCheckup(ctx context.Context, account string, actor Actor) (*Checkup, error)
}
