package holdfast

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Audit actions of the case workflow.
const (
	AuditCaseOpened  = "case_opened"
	AuditCaseEntry   = "case_entry"
	AuditCaseState   = "case_state"
	AuditCaseAssign  = "case_assigned"
	AuditCaseDecided = "case_decided"
)

// Audit actions of the holder's security operations. Each saves the
// account with its record; the two about the settings lock first write
// the lock's restriction under the same action.
const (
	AuditSecureAccount   = "secure_account"
	AuditRevokeSession   = "revoke_session"
	AuditWhitelistAdd    = "add_whitelist_address"
	AuditWhitelistRemove = "remove_whitelist_address"
	AuditWhitelistOn     = "enable_whitelist"
	AuditWhitelistOff    = "disable_whitelist"
	AuditAntiPhishing    = "set_anti_phishing_code"
	AuditLockSettings    = "lock_settings"
	AuditUnlockRequest   = "request_settings_unlock"
	AuditUnlockCancel    = "cancel_settings_unlock"
	AuditContactAdd      = "add_trusted_contact"
	AuditContactRemove   = "remove_trusted_contact"
	// A trusted-contact invitation also writes the invited account:
	// AuditContactInvited when it arrives there, AuditContactAccept or
	// AuditContactDecline on both accounts when it is answered (and
	// AuditContactRemove there when the holder withdraws it).
	AuditContactInvited = "trusted_contact_invited"
	AuditContactAccept  = "accept_trusted_contact"
	AuditContactDecline = "decline_trusted_contact"
	AuditKeyRevoke      = "revoke_api_key"
	AuditKeyIPWhitelist = "set_api_key_ip_whitelist"
)

// ApprovalActions are the actions whose entries name a restriction but
// record a four-eyes request (After; Before: a request it superseded).
// Every other entry naming a restriction records the restriction itself.
var ApprovalActions = []string{AuditLiftRequested, AuditExtendRequested, AuditApproved}

// WritesRestriction reports whether e records a restriction as it was
// saved (After is the restriction).
func (e *AuditEntry) WritesRestriction() bool {
	return e.Restriction != "" && !slices.Contains(ApprovalActions, e.Action)
}

// accountRecordActions are the actions whose entry's After is the account
// record (the engine's saveAccount), when the entry names no restriction.
var accountRecordActions = []string{
	AuditAccountCreated, AuditAccountUpdated, AuditUnfreezeRequest, AuditVerified,
	AuditSecureAccount, AuditRevokeSession, AuditWhitelistAdd, AuditWhitelistRemove, AuditWhitelistOn,
	AuditWhitelistOff, AuditAntiPhishing, AuditLockSettings, AuditUnlockRequest, AuditUnlockCancel,
	AuditContactAdd, AuditContactRemove, AuditContactInvited, AuditContactAccept, AuditContactDecline, AuditKeyRevoke, AuditKeyIPWhitelist,
}

var caseActions = []string{AuditCaseOpened, AuditCaseEntry, AuditCaseState, AuditCaseAssign, AuditCaseDecided}

// StateBreak is a row of the state tables that the audit log does not
// explain: Record names it ("restriction rst_…", "withdrawal w-1", "case
// case_…", "request apr_…", "account"), Field is the first field (by its
// JSON name) where the row and the log differ, empty when the row or the
// log's record is missing altogether.
type StateBreak struct {
	Account string `json:"account"`
	Record  string `json:"record"`
	Field   string `json:"field,omitempty"`
	Problem string `json:"problem"`
}

func (b StateBreak) String() string {
	if b.Field != "" {
		return fmt.Sprintf("%s %s: %s: %s", b.Account, b.Record, b.Field, b.Problem)
	}
	return fmt.Sprintf("%s %s: %s", b.Account, b.Record, b.Problem)
}

// StateReport is the result of comparing the state tables with the log.
type StateReport struct {
	Accounts int          `json:"accounts"`
	Entries  int64        `json:"entries"`
	Breaks   []StateBreak `json:"breaks"`
}

// OK reports whether every row was explained.
func (r *StateReport) OK() bool { return len(r.Breaks) == 0 }

// Projection is the state one account's audit entries imply: each record
// as its last entry wrote it. Entries are added in chain order, one at a
// time, so that it holds records, never the entries.
type Projection struct {
	Account      string
	Restrictions map[string]*Restriction
	Approvals    map[string]*Approval
	Withdrawals  map[string]*Withdrawal
	Cases        map[string]*Case
	// Record is the audited part of the account (nil before any record).
	Record *AccountAudited
	// Unreadable are entries whose record could not be decoded.
	Unreadable []StateBreak
	Entries    int64
}

// NewProjection starts the projection of account's log.
func NewProjection(account string) *Projection {
	return &Projection{Account: account, Restrictions: map[string]*Restriction{}, Approvals: map[string]*Approval{},
		Withdrawals: map[string]*Withdrawal{}, Cases: map[string]*Case{}}
}

// Add replays one entry.
func (p *Projection) Add(e *AuditEntry) {
	p.Entries++
	bad := func(what string, err error) {
		p.Unreadable = append(p.Unreadable, StateBreak{p.Account, fmt.Sprintf("entry %d", e.Seq), "", fmt.Sprintf("its %s cannot be read: %v", what, err)})
	}
	switch {
	case e.WritesRestriction():
		r, err := decode[Restriction](e.After)
		if err != nil {
			bad("restriction", err)
			return
		}
		p.Restrictions[r.ID] = r
		if r.Kind == KindSelfFreeze && !r.LiftedAt.IsZero() && p.Record != nil {
			// Lifting a self-freeze uses up the unfreeze request.
			p.Record.UnfreezeRequestedAt = time.Time{}
		}
	case e.Restriction != "": // a four-eyes request
		for _, b := range []json.RawMessage{e.Before, e.After} {
			if len(b) == 0 {
				continue
			}
			a, err := decode[Approval](b)
			if err != nil {
				bad("request", err)
				return
			}
			p.Approvals[a.ID] = a
		}
	case e.Action == AuditWithdrawal:
		w, err := decode[Withdrawal](e.After)
		if err != nil {
			bad("withdrawal", err)
			return
		}
		w.Seq = e.Seq // recorded after the entry was made
		p.Withdrawals[w.ID] = w
	case slices.Contains(caseActions, e.Action):
		c, err := decode[Case](e.After)
		if err != nil {
			bad("case", err)
			return
		}
		p.Cases[c.ID] = c
	case slices.Contains(accountRecordActions, e.Action):
		a, err := decode[Account](e.After)
		if err != nil {
			bad("account record", err)
			return
		}
		p.Record = Audited(a)
	}
}

func decode[T any](b json.RawMessage) (*T, error) {
	v := new(T)
	if len(b) == 0 {
		return nil, fmt.Errorf("empty")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, err
	}
	return v, nil
}

// DecodeRestriction reads a restriction entry's After.
func DecodeRestriction(after json.RawMessage) (*Restriction, error) {
	return decode[Restriction](after)
}

// AccountAudited is the part of an account that changes only with an
// entry carrying the account's record: credentials and protections a
// holder or staff set. Activity, devices, sessions, API keys and rate
// limits also change with events and checks, whose entries record the
// event, not the account, and are left out.
type AccountAudited struct {
	Factors             []Factor                    `json:"factors"`
	TrustedContacts     []string                    `json:"trusted_contacts"`
	Holds               []AmountHold                `json:"holds"`
	VerifiedAt          time.Time                   `json:"verified_at"`
	UnfreezeRequestedAt time.Time                   `json:"unfreeze_requested_at"`
	SessionsValidAfter  time.Time                   `json:"security.sessions_valid_after"`
	SettingsLock        *SettingsLock               `json:"security.settings_lock"`
	WhitelistEnabled    bool                        `json:"security.whitelist.enabled"`
	Whitelist           map[string]WhitelistAddress `json:"security.whitelist.addresses"`
	AntiPhishingSet     bool                        `json:"security.anti_phishing_code"`
	InvitedContacts     map[string]time.Time        `json:"security.invited_contacts"`
	ContactInvitations  map[string]time.Time        `json:"security.contact_invitations"`
}

// Audited returns the audited part of a (a stored account, or a record
// from the log).
func Audited(a *Account) *AccountAudited {
	out := &AccountAudited{
		Factors: a.Factors, TrustedContacts: a.TrustedContacts, Holds: a.Holds,
		VerifiedAt: a.VerifiedAt, UnfreezeRequestedAt: a.UnfreezeRequestedAt,
		SessionsValidAfter: a.Security.SessionsValidAfter, SettingsLock: a.Security.SettingsLock,
		WhitelistEnabled: a.Security.Whitelist.Enabled, AntiPhishingSet: a.Security.AntiPhishingCode != "",
		InvitedContacts: a.Security.InvitedContacts, ContactInvitations: a.Security.ContactInvitations,
	}
	if n := len(a.Security.Whitelist.Addresses); n > 0 {
		out.Whitelist = make(map[string]WhitelistAddress, n)
		for addr, w := range a.Security.Whitelist.Addresses {
			c := *w
			c.LastUsedAt = time.Time{} // moved by withdrawals, unaudited
			out.Whitelist[addr] = c
		}
	}
	return out
}

// CaseRow is a stored case: its document, and the copies of its fields
// that lists filter by (Columns: Type, State, Assignee, Account).
type CaseRow struct {
	Doc     *Case
	Columns Case
}

// State is what the store holds of one account, to compare with its
// projection.
type State struct {
	Account      *Account // nil: no account row
	Restrictions []*Restriction
	Approvals    []*Approval
	Withdrawals  []*Withdrawal
	// WithdrawalTotals are the running totals stored with the withdrawals
	// (by id; "" where none is stored yet).
	WithdrawalTotals map[string]string
	Cases            []CaseRow
}

// Compare reports every row of s the projection does not explain, and
// every record of the log s lacks, in a stable order.
func (p *Projection) Compare(s *State) []StateBreak {
	out := slices.Clone(p.Unreadable)
	add := func(record, field, problem string) {
		out = append(out, StateBreak{p.Account, record, field, problem})
	}
	CompareSet(p.Restrictions, s.Restrictions, func(r *Restriction) string { return r.ID }, "restriction", add)
	CompareSet(p.Approvals, s.Approvals, func(a *Approval) string { return a.ID }, "request", add)
	CompareSet(p.Withdrawals, s.Withdrawals, func(w *Withdrawal) string { return w.ID }, "withdrawal", add)
	compareTotals(p.Withdrawals, s.WithdrawalTotals, add)
	docs := make([]*Case, len(s.Cases))
	for i, c := range s.Cases {
		docs[i] = c.Doc
		if want := p.Cases[c.Doc.ID]; want != nil {
			cols := Case{ID: want.ID, Account: want.Account, Type: want.Type, State: want.State, Assignee: want.Assignee}
			if f := FirstDiff(&cols, &c.Columns); f != "" {
				add("case "+c.Doc.ID, f, "the case's table column differs from its last audit entry")
			}
		}
	}
	CompareSet(p.Cases, docs, func(c *Case) string { return c.ID }, "case", add)
	if s.Account != nil {
		want := p.Record
		if want == nil {
			// No record in the log: the account must still hold what a
			// new one holds.
			want = Audited(&Account{})
		}
		if f := FirstDiff(want, Audited(s.Account)); f != "" {
			add("account", f, "the account row differs from its last audited record")
		}
	}
	return out
}

// compareTotals checks the running totals the daily limit is judged on
// against the log: each is the sum of CountedUSD over the account's
// logged withdrawals up to and including it in (decided_at, seq, id)
// order, or none is stored yet (an account whose withdrawals predate
// them and has had none since). A row the log does not explain is
// reported by CompareSet, not here.
func compareTotals(logged map[string]*Withdrawal, totals map[string]string, add func(record, field, problem string)) {
	stored := 0
	for _, t := range totals {
		if t != "" {
			stored++
		}
	}
	if stored == 0 {
		return
	}
	ordered := slices.Collect(maps.Values(logged))
	slices.SortFunc(ordered, func(a, b *Withdrawal) int {
		if c := a.DecidedAt.Compare(b.DecidedAt); c != 0 {
			return c
		}
		if a.Seq != b.Seq {
			return cmp.Compare(a.Seq, b.Seq)
		}
		return strings.Compare(a.ID, b.ID)
	})
	sum := new(big.Rat)
	for _, w := range ordered {
		sum.Add(sum, w.CountedUSD())
		total, ok := totals[w.ID]
		if !ok {
			continue // deleted
		}
		if got, ok := new(big.Rat).SetString(total); !ok || got.Cmp(sum) != 0 {
			add("withdrawal "+w.ID, "total", "the running total differs from the sum of the withdrawals up to it: the daily limit would be judged on it")
		}
	}
}

// CompareSet compares rows with the log's records by id, calling add for
// each problem: a row differing, a row the log never wrote, a record
// whose row is missing (the state check of every table a chain explains).
func CompareSet[T any](log map[string]*T, rows []*T, id func(*T) string, noun string, add func(record, field, problem string)) {
	seen := make(map[string]bool, len(rows))
	for _, r := range rows {
		k := id(r)
		seen[k] = true
		want := log[k]
		switch {
		case want == nil:
			add(noun+" "+k, "", "the row has no audit entry: it was written behind the log's back")
		default:
			if f := FirstDiff(want, r); f != "" {
				add(noun+" "+k, f, "the row differs from its last audit entry")
			}
		}
	}
	ids := make([]string, 0, len(log))
	for k := range log {
		if !seen[k] {
			ids = append(ids, k)
		}
	}
	slices.Sort(ids)
	for _, k := range ids {
		add(noun+" "+k, "", "the log records it but its row is missing: it was deleted")
	}
}

var timeType = reflect.TypeFor[time.Time]()

// FirstDiff returns the JSON name of the first field where a and b (the
// same struct type, or pointers to it) differ, or "". Times compare as
// instants; an empty list, map, string or null equals any other empty
// value; embedded structs are compared field by field.
func FirstDiff(a, b any) string {
	if x, err := json.Marshal(a); err == nil {
		if y, err := json.Marshal(b); err == nil && bytes.Equal(x, y) {
			return "" // the common case, without walking the fields
		}
	}
	return firstDiff(reflect.Indirect(reflect.ValueOf(a)), reflect.Indirect(reflect.ValueOf(b)), "")
}

func firstDiff(a, b reflect.Value, prefix string) string {
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		x, y := a.Field(i), b.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			if d := firstDiff(x, y, prefix); d != "" {
				return d
			}
			continue
		}
		if !sameValue(x, y) {
			return prefix + name
		}
	}
	return ""
}

func sameValue(x, y reflect.Value) bool {
	if x.Type() == timeType {
		return x.Interface().(time.Time).Equal(y.Interface().(time.Time))
	}
	bx, errX := json.Marshal(x.Interface())
	by, errY := json.Marshal(y.Interface())
	if errX != nil || errY != nil {
		return false
	}
	if isEmptyJSON(bx) && isEmptyJSON(by) {
		return true
	}
	if bytes.Equal(bx, by) {
		return true
	}
	// Times inside nested values marshal with their zone: compare them
	// decoded, as instants.
	var vx, vy any
	return json.Unmarshal(bx, &vx) == nil && json.Unmarshal(by, &vy) == nil && sameInstants(vx, vy)
}

func isEmptyJSON(b []byte) bool {
	switch string(b) {
	case "null", "[]", "{}", `""`, "0", "false", `"0001-01-01T00:00:00Z"`:
		return true
	}
	return false
}

// sameInstants compares decoded JSON, taking strings that parse as times
// for the instants they name.
func sameInstants(x, y any) bool {
	switch vx := x.(type) {
	case map[string]any:
		vy, ok := y.(map[string]any)
		if !ok || len(vx) != len(vy) {
			return false
		}
		for k, v := range vx {
			if w, ok := vy[k]; !ok || !sameInstants(v, w) {
				return false
			}
		}
		return true
	case []any:
		vy, ok := y.([]any)
		if !ok || len(vx) != len(vy) {
			return false
		}
		for i := range vx {
			if !sameInstants(vx[i], vy[i]) {
				return false
			}
		}
		return true
	case string:
		vy, ok := y.(string)
		if !ok {
			return false
		}
		if vx == vy {
			return true
		}
		tx, err1 := time.Parse(time.RFC3339Nano, vx)
		ty, err2 := time.Parse(time.RFC3339Nano, vy)
		return err1 == nil && err2 == nil && tx.Equal(ty)
	}
	return reflect.DeepEqual(x, y)
}

// Explain returns the restriction to act on for a stored row, given the
// restriction as its last audit entry recorded it (nil when the log has no
// readable record of it): the row when the log agrees, or cannot say;
// otherwise the log's version made no looser by the row, in force
// whenever either is, and the first field that differs. A row tampered
// to end early, start late, be lifted or be of a weaker kind thus never
// loosens what the log says.
func Explain(row, logged *Restriction) (use *Restriction, field string) {
	if logged == nil || logged.ID != row.ID {
		return row, ""
	}
	field = FirstDiff(logged, row)
	if field == "" {
		return row, ""
	}
	use = logged.Clone()
	if row.StartsAt.Before(use.StartsAt) {
		use.StartsAt = row.StartsAt
	}
	if endsLater(row.EndsAt, use.EndsAt) {
		use.EndsAt = row.EndsAt
	}
	if row.LiftedAt.IsZero() {
		use.LiftedAt, use.LiftedBy, use.LiftReason = time.Time{}, "", ""
	}
	return use, field
}

// endsLater reports whether end a is later than end b (zero: never ends).
func endsLater(a, b time.Time) bool {
	return !b.IsZero() && (a.IsZero() || a.After(b))
}
