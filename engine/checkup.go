package engine

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"time"

	"github.com/holdfast/holdfast"
)

// Security returns what the Security Center shows of the account's
// protections: never the anti-phishing code itself.
func (e *Engine) Security(ctx context.Context, account string, actor holdfast.Actor) (*holdfast.SecurityOverview, error) {
	a, now, err := e.readSecurity(ctx, account, actor)
	if err != nil {
		return nil, err
	}
	sec := &a.Security
	out := &holdfast.SecurityOverview{
		Account:         account,
		AntiPhishingSet: sec.AntiPhishingCode != "",
		Whitelist:       holdfast.WhitelistView{Enabled: sec.Whitelist.Enabled, Addresses: []holdfast.WhitelistEntryView{}},
		TrustedContacts: slices.Clone(a.TrustedContacts),
		Sessions:        []holdfast.SessionInfo{},
		Devices:         []holdfast.DeviceInfo{},
		APIKeys:         []holdfast.APIKeyInfo{},
	}
	if out.TrustedContacts == nil {
		out.TrustedContacts = []string{}
	}
	out.InvitedContacts = invites(sec.InvitedContacts)
	out.ContactInvitations = invites(sec.ContactInvitations)
	if sl := sec.SettingsLock; sl != nil {
		c := *sl
		out.SettingsLock = &c
	}
	for _, addr := range slices.Sorted(maps.Keys(sec.Whitelist.Addresses)) {
		w := sec.Whitelist.Addresses[addr]
		out.Whitelist.Addresses = append(out.Whitelist.Addresses, holdfast.WhitelistEntryView{Address: addr, WhitelistAddress: *w, Usable: !now.Before(w.UsableAt)})
	}
	for _, id := range slices.Sorted(maps.Keys(sec.Sessions)) {
		out.Sessions = append(out.Sessions, holdfast.SessionInfo{ID: id, Session: *sec.Sessions[id], Active: sec.SessionValid(id)})
	}
	slices.SortStableFunc(out.Sessions, func(x, y holdfast.SessionInfo) int { return y.StartedAt.Compare(x.StartedAt) })
	for _, id := range slices.Sorted(maps.Keys(sec.Devices)) {
		out.Devices = append(out.Devices, holdfast.DeviceInfo{ID: id, Device: *sec.Devices[id], Known: slices.Contains(a.KnownDevices, id)})
	}
	slices.SortStableFunc(out.Devices, func(x, y holdfast.DeviceInfo) int { return y.LastSeen.Compare(x.LastSeen) })
	for _, id := range slices.Sorted(maps.Keys(sec.APIKeys)) {
		k := sec.APIKeys[id]
		out.APIKeys = append(out.APIKeys, holdfast.APIKeyInfo{ID: id, APIKey: *k, Active: k.RevokedAt.IsZero()})
	}
	return out, nil
}

// invites lists invitations by account → time, oldest first.
func invites(m map[string]time.Time) []holdfast.ContactInvite {
	out := []holdfast.ContactInvite{}
	for _, id := range slices.Sorted(maps.Keys(m)) {
		out = append(out, holdfast.ContactInvite{Account: id, InvitedAt: m[id]})
	}
	slices.SortStableFunc(out, func(x, y holdfast.ContactInvite) int { return x.InvitedAt.Compare(y.InvitedAt) })
	return out
}

// readSecurity loads an account for the holder or staff; an unknown
// account reads as an empty one.
func (e *Engine) readSecurity(ctx context.Context, account string, actor holdfast.Actor) (*holdfast.Account, time.Time, error) {
	if err := holdfast.ValidateID("account", account); err != nil {
		return nil, time.Time{}, err
	}
	if err := mayRead(actor, account); err != nil {
		return nil, time.Time{}, err
	}
	now := e.clock.Now()
	a, err := e.store.Account(ctx, account)
	if holdfast.ErrorCode(err) == holdfast.NotFound {
		return &holdfast.Account{ID: account, CreatedAt: now, LastActiveAt: now}, now, nil
	}
	return a, now, err
}

// LoginHistory returns the account's most recent login events, newest
// first (at most limit; 0: 50).
func (e *Engine) LoginHistory(ctx context.Context, account string, limit int, actor holdfast.Actor) ([]*holdfast.Event, error) {
	if err := holdfast.ValidateID("account", account); err != nil {
		return nil, err
	}
	if err := mayRead(actor, account); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 50
	}
	logins := []*holdfast.Event{}
	err := e.store.Events(ctx, holdfast.EventFilter{Account: account, Type: holdfast.EventLogin, Newest: true, Limit: limit}, func(ev *holdfast.Event) error {
		logins = append(logins, ev)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return logins, nil
}

// SecurityCheckup reviews the account's protections and says what to fix,
// most severe first.
func (e *Engine) SecurityCheckup(ctx context.Context, account string, actor holdfast.Actor) (*holdfast.Checkup, error) {
	a, now, err := e.readSecurity(ctx, account, actor)
	if err != nil {
		return nil, err
	}
	cp := &e.policy().Security.Checkup
	sec := &a.Security
	out := &holdfast.Checkup{Account: account, At: now, Findings: []holdfast.Finding{}}
	add := func(code string, sev holdfast.Severity, subject, msg, fix string) {
		out.Findings = append(out.Findings, holdfast.Finding{Code: code, Severity: sev, Subject: subject, Message: msg, Fix: fix})
	}
	within := func(t time.Time, d holdfast.Duration) bool { return !t.IsZero() && now.Sub(t) <= d.Std() }

	switch {
	case len(a.Factors) == 1 && a.Factors[0] == holdfast.FactorSMS:
		add("sms_only", holdfast.SeverityHigh, "", "Your only second factor is SMS, which a SIM swap can take over.", "Add an authenticator app (TOTP).")
	case len(a.Factors) < 2:
		add("few_factors", holdfast.SeverityHigh, "", "Fewer than two verification factors protect your account.", "Add an authenticator app (TOTP) and keep your email verified.")
	}
	if sec.AntiPhishingCode == "" {
		add("no_anti_phishing_code", holdfast.SeverityMedium, "", "You have no anti-phishing code, so a fake email looks like ours.", "Set an anti-phishing code; every message from us will show it.")
	}
	if !sec.Whitelist.Enabled {
		add("whitelist_off", holdfast.SeverityMedium, "", "Withdrawals can go to any address.", "Turn on the withdrawal whitelist.")
	}
	for _, id := range slices.Sorted(maps.Keys(sec.Devices)) {
		d := sec.Devices[id]
		if !within(d.FirstSeen, cp.NewDeviceWindow) || d.FirstSeen.Equal(a.CreatedAt) {
			continue
		}
		if slices.Contains(a.KnownDevices, id) {
			add("new_device", holdfast.SeverityLow, id, "A new device signed in recently.", "If it was not you, press \"secure my account\".")
		} else {
			add("unverified_device", holdfast.SeverityHigh, id, "An unrecognised device signed in recently and has not completed verification.", "If it was not you, press \"secure my account\" now.")
		}
	}
	for _, id := range slices.Sorted(maps.Keys(sec.APIKeys)) {
		k := sec.APIKeys[id]
		if !k.RevokedAt.IsZero() {
			continue
		}
		if k.HasPermission(holdfast.PermWithdraw) {
			add("key_can_withdraw", holdfast.SeverityHigh, id, "This API key can withdraw funds.", "Remove the withdraw permission unless a program really needs it.")
		}
		if len(k.IPWhitelist) == 0 {
			add("key_without_ip_whitelist", holdfast.SeverityMedium, id, "This API key works from any IP address.", "Limit the key to your servers' IP addresses.")
		}
		if !within(cmp.Or(k.LastUsedAt, k.CreatedAt), cp.KeyUnusedAfter) {
			add("key_unused", holdfast.SeverityLow, id, "This API key has not been used for a long time.", "Delete keys you no longer use.")
		}
	}
	for _, addr := range slices.Sorted(maps.Keys(sec.Whitelist.Addresses)) {
		w := sec.Whitelist.Addresses[addr]
		if !within(cmp.Or(w.LastUsedAt, w.AddedAt), cp.AddressUnusedAfter) {
			add("address_unused", holdfast.SeverityLow, addr, "This whitelisted address has not been used for a long time.", "Remove addresses you no longer send to.")
		}
	}
	if e.dormant(a, now) {
		add("dormant", holdfast.SeverityMedium, "", "Your account has been inactive for a long time.", "Sign in and review your security settings; withdrawals are reviewed for a day after your return.")
	}
	recent, err := e.store.Restrictions(ctx, holdfast.RestrictionFilter{Account: account})
	if err != nil {
		return nil, err
	}
	for _, r := range recent {
		// The holder's own protections (a freeze, a settings lock) are no
		// warning sign.
		// A hidden one is told as its cover kind, like everywhere else.
		if k, _ := e.seenKind(actor, r); k != "" && within(r.CreatedAt, cp.RecentRestrictionWithin) && r.AppliedBy != holdfast.User(account).String() {
			add("recent_restriction", holdfast.SeverityLow, string(k), "Your account was restricted recently.", "Check the Security Center for what happened and what is still in force.")
		}
	}
	rank := map[holdfast.Severity]int{holdfast.SeverityHigh: 0, holdfast.SeverityMedium: 1, holdfast.SeverityLow: 2}
	slices.SortStableFunc(out.Findings, func(x, y holdfast.Finding) int { return rank[x.Severity] - rank[y.Severity] })
	return out, nil
}
