package rpc

import (
	"cmp"
	"encoding/json"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
)

// This file converts between the domain's types and the API's messages.
// Requests are converted in the handlers, next to their validation.

// pbTime leaves a zero time unset: "none" (no end, not lifted).
func pbTime(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// opt leaves an empty string unset, so that JSON omits it.
func opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func strs[T ~string](in []T) []string {
	out := make([]string, len(in))
	for i, v := range in {
		out[i] = string(v)
	}
	return out
}

func pbCause(c *holdfast.Cause) *holdfastv1.Cause {
	return &holdfastv1.Cause{
		Id:         opt(c.ID),
		Kind:       opt(string(c.Kind)),
		Level:      opt(c.Level),
		Code:       opt(string(c.Code)),
		Effect:     c.Effect.String(),
		Message:    c.Message,
		StartsAt:   pbTime(c.StartsAt),
		EndsAt:     pbTime(c.EndsAt),
		Resolution: c.Resolution,
		Review:     opt(c.Review),
		Origin:     pbOrigin(c.Origin),
	}
}

func pbOrigin(o *holdfast.Origin) *holdfastv1.Origin {
	if o == nil {
		return nil
	}
	return &holdfastv1.Origin{Rule: o.Rule, Event: o.Event, EventType: string(o.EventType), Evidence: o.Evidence, Policy: o.Policy}
}

func pbCauses(cs []holdfast.Cause) []*holdfastv1.Cause {
	out := make([]*holdfastv1.Cause, len(cs))
	for i := range cs {
		out[i] = pbCause(&cs[i])
	}
	return out
}

func pbDecision(d *holdfast.Decision) *holdfastv1.CheckResponse {
	return &holdfastv1.CheckResponse{Effect: d.Effect.String(), Causes: pbCauses(d.Causes), RetryAfter: pbTime(d.RetryAfter)}
}

func pbRestriction(r *holdfast.Restriction) *holdfastv1.Restriction {
	if r == nil {
		return nil
	}
	return &holdfastv1.Restriction{
		Id:         r.ID,
		Account:    r.Account,
		Kind:       string(r.Kind),
		Device:     opt(r.Device),
		StartsAt:   pbTime(r.StartsAt),
		EndsAt:     pbTime(r.EndsAt),
		Reason:     opt(r.Reason),
		Disclose:   r.Disclose,
		AppliedBy:  r.AppliedBy,
		Origin:     pbOrigin(r.Origin),
		CreatedAt:  pbTime(r.CreatedAt),
		Factors:    strs(r.Factors),
		LiftedAt:   pbTime(r.LiftedAt),
		LiftedBy:   opt(r.LiftedBy),
		LiftReason: opt(r.LiftReason),
		Reference:  opt(r.Reference),
	}
}

func pbRestrictions(rs []*holdfast.Restriction) []*holdfastv1.Restriction {
	out := make([]*holdfastv1.Restriction, len(rs))
	for i, r := range rs {
		out[i] = pbRestriction(r)
	}
	return out
}

func pbApproval(a *holdfast.Approval) *holdfastv1.Approval {
	if a == nil {
		return nil
	}
	return &holdfastv1.Approval{
		Id:          a.ID,
		Account:     a.Account,
		Restriction: a.Restriction,
		Kind:        string(a.Kind),
		AskedBy:     a.AskedBy,
		AskedRoles:  strs(a.AskedRoles),
		Reason:      opt(a.Reason),
		CreatedAt:   pbTime(a.CreatedAt),
		ExpiresAt:   pbTime(a.ExpiresAt),
		State:       string(a.State),
		DecidedBy:   opt(a.DecidedBy),
		DecidedAt:   pbTime(a.DecidedAt),
		Op:          string(cmp.Or(a.Op, holdfast.ApprovalLift)),
		EndsAt:      pbTime(a.EndsAt),
	}
}

func pbEntry(e *holdfast.AuditEntry) (*holdfastv1.AuditEntry, error) {
	before, err := pbStruct(e.Before)
	if err != nil {
		return nil, err
	}
	after, err := pbStruct(e.After)
	if err != nil {
		return nil, err
	}
	return &holdfastv1.AuditEntry{
		Account:     e.Account,
		Seq:         e.Seq,
		At:          pbTime(e.At),
		Actor:       e.Actor,
		Action:      e.Action,
		Restriction: opt(e.Restriction),
		Before:      before,
		After:       after,
		Reason:      opt(e.Reason),
		PrevHash:    e.PrevHash,
		Hash:        e.Hash,
	}, nil
}

// pbStruct shows an audit record as a JSON object rather than a string of
// JSON, so that staff tools can read it directly.
func pbStruct(raw json.RawMessage) (*structpb.Struct, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	return structpb.NewStruct(m)
}

func pbWithdrawal(w *holdfast.Withdrawal) *holdfastv1.AuthorizeWithdrawalResponse {
	return &holdfastv1.AuthorizeWithdrawalResponse{
		Account:          w.Account,
		Id:               w.ID,
		Asset:            w.Asset,
		Amount:           w.Amount,
		UsdValue:         opt(w.USDValue),
		Address:          w.Address,
		AvailableBalance: opt(w.AvailableBalance),
		Outcome:          string(w.Outcome),
		Causes:           pbCauses(w.Causes),
		DecidedAt:        pbTime(w.DecidedAt),
		Seq:              w.Seq,
		Policy:           w.Policy,
	}
}

func pbStatus(st *holdfast.Status) *holdfastv1.StatusResponse {
	out := &holdfastv1.StatusResponse{Account: st.Account, Causes: make([]*holdfastv1.StatusCause, len(st.Causes)), Effects: effectMap(st.Effects)}
	for i := range st.Causes {
		c := &st.Causes[i]
		out.Causes[i] = &holdfastv1.StatusCause{
			Id:         opt(c.ID),
			Kind:       opt(string(c.Kind)),
			Level:      opt(c.Level),
			Code:       opt(string(c.Code)),
			Effect:     c.Effect.String(),
			Message:    c.Message,
			StartsAt:   pbTime(c.StartsAt),
			EndsAt:     pbTime(c.EndsAt),
			Resolution: c.Resolution,
			Blocks:     effectMap(c.Blocks),
		}
	}
	return out
}

func effectMap(m map[holdfast.Action]holdfast.Effect) map[string]string {
	out := make(map[string]string, len(m))
	for a, e := range m {
		out[string(a)] = e.String()
	}
	return out
}

// Request fields.

// duration parses an optional duration field; "" is zero (the default).
func duration(field, s string) (holdfast.Duration, error) {
	if s == "" {
		return 0, nil
	}
	return holdfast.ParseDurationField(field, s)
}

func factors(in []string) []holdfast.Factor {
	out := make([]holdfast.Factor, len(in))
	for i, f := range in {
		out[i] = holdfast.Factor(f)
	}
	return out
}

// The holder's protections. Never the anti-phishing code: the overview
// only says whether one is set.

func pbSecure(r *holdfast.SecureResult) *holdfastv1.SecureAccountResponse {
	return &holdfastv1.SecureAccountResponse{
		Freeze:          pbRestriction(r.Freeze),
		SessionsRevoked: int32(r.SessionsRevoked),
		KeysRevoked:     int32(r.KeysRevoked),
		Repeat:          r.Repeat,
	}
}

func pbWhitelistEntry(w *holdfast.WhitelistEntryView) *holdfastv1.WhitelistEntry {
	return &holdfastv1.WhitelistEntry{
		Address:    w.Address,
		AddedAt:    pbTime(w.AddedAt),
		UsableAt:   pbTime(w.UsableAt),
		LastUsedAt: pbTime(w.LastUsedAt),
		Usable:     w.Usable,
		Network:    opt(w.Network),
		Label:      opt(w.Label),
	}
}

func pbAPIKey(k *holdfast.APIKeyInfo) *holdfastv1.ApiKeyInfo {
	return &holdfastv1.ApiKeyInfo{
		Id:          k.ID,
		Permissions: strs(k.Permissions),
		IpWhitelist: strs(k.IPWhitelist),
		CreatedAt:   pbTime(k.CreatedAt),
		RevokedAt:   pbTime(k.RevokedAt),
		LastUsedAt:  pbTime(k.LastUsedAt),
		Active:      k.Active,
	}
}

func pbSettingsLock(l *holdfast.SettingsLock) *holdfastv1.SettingsLock {
	if l == nil {
		return nil
	}
	return &holdfastv1.SettingsLock{
		Restriction:       l.Restriction,
		UnlockDelay:       l.UnlockDelay.String(),
		LockedAt:          pbTime(l.LockedAt),
		UnlockRequestedAt: pbTime(l.UnlockRequestedAt),
		UnlockAttempts:    int32(l.UnlockAttempts),
	}
}

func pbSecurity(o *holdfast.SecurityOverview) *holdfastv1.GetSecurityResponse {
	out := &holdfastv1.GetSecurityResponse{
		Account:             o.Account,
		AntiPhishingCodeSet: o.AntiPhishingSet,
		Whitelist:           &holdfastv1.Whitelist{Enabled: o.Whitelist.Enabled, Addresses: make([]*holdfastv1.WhitelistEntry, len(o.Whitelist.Addresses))},
		SettingsLock:        pbSettingsLock(o.SettingsLock),
		TrustedContacts:     o.TrustedContacts,
		Sessions:            make([]*holdfastv1.SessionInfo, len(o.Sessions)),
		Devices:             make([]*holdfastv1.DeviceInfo, len(o.Devices)),
		ApiKeys:             make([]*holdfastv1.ApiKeyInfo, len(o.APIKeys)),
	}
	if out.TrustedContacts == nil {
		out.TrustedContacts = []string{}
	}
	out.InvitedContacts, out.ContactInvitations = pbInvites(o.InvitedContacts), pbInvites(o.ContactInvitations)
	for i := range o.Whitelist.Addresses {
		out.Whitelist.Addresses[i] = pbWhitelistEntry(&o.Whitelist.Addresses[i])
	}
	for i, s := range o.Sessions {
		out.Sessions[i] = &holdfastv1.SessionInfo{
			Id:        s.ID,
			Device:    opt(s.Device),
			Ip:        opt(s.IP),
			Country:   opt(s.Country),
			StartedAt: pbTime(s.StartedAt),
			RevokedAt: pbTime(s.RevokedAt),
			Active:    s.Active,
		}
	}
	for i, d := range o.Devices {
		out.Devices[i] = &holdfastv1.DeviceInfo{
			Id:        d.ID,
			FirstSeen: pbTime(d.FirstSeen),
			LastSeen:  pbTime(d.LastSeen),
			Country:   opt(d.Country),
			Ip:        opt(d.IP),
			Known:     d.Known,
		}
	}
	for i := range o.APIKeys {
		out.ApiKeys[i] = pbAPIKey(&o.APIKeys[i])
	}
	return out
}

func pbHistory(p *holdfast.HistoryPage) *holdfastv1.SecurityHistoryResponse {
	out := &holdfastv1.SecurityHistoryResponse{Account: p.Account, Items: make([]*holdfastv1.HistoryItem, len(p.Items)), Next: p.Next}
	for i, it := range p.Items {
		out.Items[i] = &holdfastv1.HistoryItem{
			At:          pbTime(it.At),
			What:        string(it.What),
			By:          opt(string(it.By)),
			Kind:        opt(string(it.Kind)),
			Restriction: opt(it.Restriction),
			Subject:     opt(it.Subject),
			Network:     opt(it.Network),
			Channel:     opt(it.Channel),
			Device:      opt(it.Device),
			Country:     opt(it.Country),
			Ip:          opt(it.IP),
			Receipt:     it.Receipt,
		}
	}
	return out
}

func pbLogins(evs []*holdfast.Event) *holdfastv1.LoginHistoryResponse {
	out := &holdfastv1.LoginHistoryResponse{Logins: make([]*holdfastv1.Login, len(evs))}
	for i, ev := range evs {
		out.Logins[i] = &holdfastv1.Login{
			Id:      ev.ID,
			At:      pbTime(ev.At),
			Device:  opt(ev.Device),
			Country: opt(ev.Country),
			Ip:      opt(ev.IP),
			Session: opt(ev.Session),
		}
	}
	return out
}

func pbCheckup(c *holdfast.Checkup) *holdfastv1.SecurityCheckupResponse {
	out := &holdfastv1.SecurityCheckupResponse{Account: c.Account, At: pbTime(c.At), Findings: make([]*holdfastv1.Finding, len(c.Findings))}
	for i, f := range c.Findings {
		out.Findings[i] = &holdfastv1.Finding{Code: f.Code, Severity: string(f.Severity), Message: f.Message, Fix: f.Fix, Subject: opt(f.Subject)}
	}
	return out
}

// Cases.

func pbHold(h *holdfast.AmountHold) *holdfastv1.AmountHold {
	if h == nil {
		return nil
	}
	return &holdfastv1.AmountHold{Asset: h.Asset, Amount: h.Amount, Case: h.Case, CreatedAt: pbTime(h.CreatedAt)}
}

func pbEvidence(e *holdfast.EvidenceRef) *holdfastv1.Evidence {
	if e == nil {
		return nil
	}
	return &holdfastv1.Evidence{Sha256: e.SHA256, Name: e.Name, ContentType: e.ContentType, Size: e.Size}
}

// pbCase is c as answered at now (overdue is computed, not stored).
func pbCase(c *holdfast.Case, now time.Time) *holdfastv1.Case {
	if c == nil {
		return nil
	}
	out := &holdfastv1.Case{
		Id:           c.ID,
		Account:      c.Account,
		Type:         string(c.Type),
		State:        string(c.State),
		Restrictions: nonNil(c.Restrictions),
		OpenedBy:     c.OpenedBy,
		Assignee:     opt(c.Assignee),
		CreatedAt:    pbTime(c.CreatedAt),
		UpdatedAt:    pbTime(c.UpdatedAt),
		DueAt:        pbTime(c.DueAt),
		DecidedAt:    pbTime(c.DecidedAt),
		DecidedBy:    opt(c.DecidedBy),
		Hold:         pbHold(c.Hold),
		Pending:      nonNil(c.Pending),
		NextSteps:    nonNil(c.NextSteps),
		Entries:      make([]*holdfastv1.CaseEntry, len(c.Entries)),
		Overdue:      c.Overdue(now),
	}
	for i := range c.Entries {
		en := &c.Entries[i]
		out.Entries[i] = &holdfastv1.CaseEntry{
			At:       pbTime(en.At),
			Actor:    en.Actor,
			Type:     string(en.Type),
			Text:     opt(en.Text),
			Template: opt(en.Template),
			Evidence: pbEvidence(en.Evidence),
			State:    opt(string(en.State)),
			Fields:   en.Fields,
		}
	}
	return out
}

func pbCases(cs []*holdfast.Case, now time.Time) []*holdfastv1.Case {
	out := make([]*holdfastv1.Case, len(cs))
	for i, c := range cs {
		out[i] = pbCase(c, now)
	}
	return out
}

// pbReport is an account report as JSON-friendly messages: the profile
// without credentials or activity, and history as History shows it.
func pbReport(r *holdfast.AccountReport, now time.Time) (*holdfastv1.AccountReportResponse, error) {
	out := &holdfastv1.AccountReportResponse{
		Restrictions: pbRestrictions(r.Restrictions),
		Cases:        pbCases(r.Cases, now),
		Approvals:    make([]*holdfastv1.Approval, len(r.Approvals)),
		History:      make([]*holdfastv1.AuditEntry, len(r.History)),
	}
	if a := r.Account; a != nil {
		out.Account = &holdfastv1.AccountSummary{
			Id:           a.ID,
			CreatedAt:    pbTime(a.CreatedAt),
			LastActiveAt: pbTime(a.LastActiveAt),
			Tags:         strs(a.Tags),
			Holds:        make([]*holdfastv1.AmountHold, len(a.Holds)),
		}
		for i := range a.Holds {
			out.Account.Holds[i] = pbHold(&a.Holds[i])
		}
	}
	for i, ap := range r.Approvals {
		out.Approvals[i] = pbApproval(ap)
	}
	if a := r.Audit; a != nil {
		out.Audit = &holdfastv1.AuditStatus{Ok: a.OK(), Accounts: int64(a.Accounts), Entries: a.Entries, Breaks: make([]*holdfastv1.AuditBreak, len(a.Breaks))}
		for i, b := range a.Breaks {
			out.Audit.Breaks[i] = &holdfastv1.AuditBreak{Account: b.Account, Seq: b.Seq, Problem: b.Problem}
		}
	}
	for i := range r.History {
		var err error
		if out.History[i], err = pbEntry(&r.History[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// pbReceipt checks a receipt against the log's key before handing it out
// and says what it proves beside the document itself.
func pbReceipt(rc *holdfast.Receipt, vkey string) (*holdfastv1.Receipt, error) {
	cp, err := rc.Verify(vkey)
	if err != nil {
		return nil, err
	}
	r, err := rc.Restriction()
	if err != nil {
		return nil, err
	}
	doc, err := json.Marshal(rc)
	if err != nil {
		return nil, err
	}
	e := &rc.Entry
	return &holdfastv1.Receipt{
		Document: string(doc), Account: e.Account, Seq: e.Seq, Action: e.Action, Kind: string(r.Kind), Restriction: r.ID,
		At: pbTime(e.At), StartsAt: pbTime(r.StartsAt), EndsAt: pbTime(r.EndsAt), LeafIndex: rc.Leaf, TreeSize: cp.Size,
	}, nil
}

func pbInvites(in []holdfast.ContactInvite) []*holdfastv1.ContactInvite {
	out := make([]*holdfastv1.ContactInvite, len(in))
	for i, c := range in {
		out[i] = &holdfastv1.ContactInvite{Account: c.Account, InvitedAt: pbTime(c.InvitedAt)}
	}
	return out
}
