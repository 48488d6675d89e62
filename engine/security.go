package engine

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/holdfast/holdfast"
)

var _ holdfast.SecurityService = (*Engine)(nil)

// Audit actions of the holder's security operations (the root names
// them, since the log's projection reads them back).
const (
	auditSecureAccount   = holdfast.AuditSecureAccount
	auditRevokeSession   = holdfast.AuditRevokeSession
	auditWhitelistAdd    = holdfast.AuditWhitelistAdd
	auditWhitelistRemove = holdfast.AuditWhitelistRemove
	auditWhitelistOn     = holdfast.AuditWhitelistOn
	auditWhitelistOff    = holdfast.AuditWhitelistOff
	auditAntiPhishing    = holdfast.AuditAntiPhishing
	auditLockSettings    = holdfast.AuditLockSettings
	auditUnlockRequest   = holdfast.AuditUnlockRequest
	auditUnlockCancel    = holdfast.AuditUnlockCancel
	auditContactAdd      = holdfast.AuditContactAdd
	auditContactRemove   = holdfast.AuditContactRemove
)

// secureReason marks the self_freeze that secure_account applies, so that
// a repeated call finds it.
const secureReason = "holder secured the account"

// securityOp runs one of the holder's security operations on account in a
// transaction: only the holder may, within the per-account rate limit for
// op, and a change that weakens the account's protection (gate names the
// action it counts as; "" for protective ones, which are never blocked) must
// not be blocked by a restriction. fn reports whether restrictions changed;
// the account and its audit entry are saved after it.
func (e *Engine) securityOp(ctx context.Context, account string, actor holdfast.Actor, op string, gate holdfast.Action, fn txFunc) error {
	return e.securityOpOn(ctx, account, actor, op, "", gate, fn)
}

// securityOpOn is securityOp on one thing of the account's (a whitelisted
// address, an API key), which its audit entry names as its reason: the
// holder's history says which.
func (e *Engine) securityOpOn(ctx context.Context, account string, actor holdfast.Actor, op, subject string, gate holdfast.Action, fn txFunc) error {
	if err := holdfast.ValidateID("account", account); err != nil {
		return err
	}
	if !actor.IsHolder(account) {
		return holdfast.Errorf(holdfast.PermissionDenied, "actor", "only the holder may %s on their account", op)
	}
	return e.update(ctx, account, func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		if err := e.takeLimit(tx, now, op); err != nil {
			return false, err
		}
		if gate != "" {
			if err := e.gate(tx, now, gate); err != nil {
				return false, err
			}
		}
		changed, err := fn(tx, now)
		if err != nil {
			return false, err
		}
		return changed, saveAccountFor(tx, now, actor, op, subject)
	})
}

// takeLimit counts one op against the account's self-service rate limit.
// A refusal rolls the transaction back, so it costs nothing to store.
func (e *Engine) takeLimit(tx holdfast.AccountTx, now time.Time, op string) error {
	sec := &tx.Account().Security
	sp := &e.policy().Security
	if sec.Limits == nil {
		sec.Limits = map[string]*holdfast.NoticeWindow{}
	}
	w := sec.Limits[op]
	if w == nil {
		w = &holdfast.NoticeWindow{}
		sec.Limits[op] = w
	}
	if !w.Take(now, sp.SelfServiceWindow.Std(), sp.SelfServiceLimit) {
		return holdfast.Errorf(holdfast.ResourceExhausted, "account", "too many %s requests: at most %d per %s", op, sp.SelfServiceLimit, sp.SelfServiceWindow)
	}
	return nil
}

// gate refuses an operation that counts as action while a restriction
// blocks it, with the holder-view causes.
func (e *Engine) gate(tx holdfast.AccountTx, now time.Time, action holdfast.Action) error {
	req := holdfast.CheckRequest{Account: tx.Account().ID, Action: action, View: holdfast.ViewHolder}
	d := e.decide(e.rulesFor(tx.Restrictions(), now), &req, now, []holdfast.Cause{})
	if d.Effect == holdfast.Allow {
		return nil
	}
	err := holdfast.Errorf(holdfast.FailedPrecondition, "account", "%s is blocked on this account now", action)
	err.Causes = d.Causes
	return err
}

// SecureAccount is the hacked holder's one button: a self_freeze, every
// session and API key revoked (the Security Center's sessions ended), the
// identity service told to do the same, and the holder notified, in one
// transaction. Pressed again while its
// freeze lasts it applies nothing new, and revokes only what appeared
// since.
func (e *Engine) SecureAccount(ctx context.Context, account string, actor holdfast.Actor) (*holdfast.SecureResult, error) {
	return e.secureAccount(ctx, account, actor, secureReason)
}

// secureAccount is SecureAccount with the freeze's reason, which says
// where the holder pressed the button (it starts with secureReason).
func (e *Engine) secureAccount(ctx context.Context, account string, actor holdfast.Actor, reason string) (*holdfast.SecureResult, error) {
	res := &holdfast.SecureResult{}
	err := e.securityOp(ctx, account, actor, auditSecureAccount, "", func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		*res = holdfast.SecureResult{} // a retried transaction counts again
		a := tx.Account()
		sec := &a.Security
		for _, r := range tx.Restrictions() {
			if r.Kind == holdfast.KindSelfFreeze && strings.HasPrefix(r.Reason, secureReason) && r.ActiveAt(now) {
				res.Freeze, res.Repeat = r.Clone(), true
			}
		}
		res.SessionsRevoked = len(sec.ActiveSessions())
		for _, k := range sec.APIKeys {
			if k.RevokedAt.IsZero() {
				k.RevokedAt = now
				res.KeysRevoked++
			}
		}
		// One mark revokes them all; they stay listed (inactive) so the
		// holder sees what was signed out.
		sec.SessionsValidAfter = now
		sec.Rev++
		// The Security Center's own sessions end with the same commit, on
		// every node: an attacker signed in there is out too.
		if err := tx.EndHolderSessions(); err != nil {
			return false, err
		}
		if res.Repeat && res.SessionsRevoked == 0 && res.KeysRevoked == 0 {
			return false, nil
		}
		for _, c := range []holdfast.CommandType{holdfast.CommandRevokeSessions, holdfast.CommandRevokeAPIKeys} {
			if err := tx.Enqueue(&holdfast.Command{ID: newID("cmd"), Account: a.ID, Type: c, CreatedAt: now}); err != nil {
				return false, err
			}
		}
		if res.Repeat {
			return false, nil
		}
		req := holdfast.ApplyRequest{Account: a.ID, Kind: holdfast.KindSelfFreeze, Duration: e.policy().SelfService.SecureAccountFreeze, Actor: actor, Reason: reason}
		d, err := e.duration(req.Kind, req.Duration)
		if err != nil {
			return false, err
		}
		r, err := e.newRestriction(tx, now, req, d, false)
		if err != nil {
			return false, err
		}
		res.Freeze, res.Entry = r.Clone(), lastEntry(tx)
		return true, e.notifyHolder(tx, now, noticeSecured, e.restrictionData(r))
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// RevokeSession signs one session out (the holder's "log out this
// device").
func (e *Engine) RevokeSession(ctx context.Context, account, session string, actor holdfast.Actor) error {
	if err := holdfast.ValidateID("session", session); err != nil {
		return err
	}
	return e.securityOp(ctx, account, actor, auditRevokeSession, "", func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		sec := &tx.Account().Security
		s := sec.Sessions[session]
		if s == nil {
			return false, holdfast.Errorf(holdfast.NotFound, "session", "session %s not found", session)
		}
		if s.RevokedAt.IsZero() {
			s.RevokedAt = now
			sec.Rev++
		}
		return false, nil
	})
}

// AddWhitelistAddress whitelists a withdrawal address on one of the
// policy's networks, with the holder's label, usable after the policy's
// delay. It counts as adding a withdrawal address.
func (e *Engine) AddWhitelistAddress(ctx context.Context, account string, nw holdfast.NewWhitelistAddress, actor holdfast.Actor) (*holdfast.WhitelistEntryView, error) {
	address := nw.Address
	if err := holdfast.ValidateID("address", address); err != nil {
		return nil, err
	}
	network, err := e.whitelistNetwork(nw.Network)
	if err != nil {
		return nil, err
	}
	label := strings.TrimSpace(nw.Label)
	if err := holdfast.ValidateLabel("label", label); err != nil {
		return nil, err
	}
	var out *holdfast.WhitelistEntryView
	err = e.securityOpOn(ctx, account, actor, auditWhitelistAdd, address, holdfast.ActionAddWithdrawalAddress, func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		a := tx.Account()
		wl := &a.Security.Whitelist
		if w := wl.Addresses[address]; w != nil {
			if w.Network != "" && w.Network != network {
				return false, holdfast.Errorf(holdfast.Conflict, "network", "the address %s is already whitelisted on %s; remove it first to whitelist it on %s", address, w.Network, network)
			}
			if w.Network == "" {
				// Whitelisted before networks were asked for: named now.
				w.Network, w.Label = network, cmp.Or(w.Label, label)
			}
			out = &holdfast.WhitelistEntryView{Address: address, WhitelistAddress: *w, Usable: !now.Before(w.UsableAt)}
			return false, nil // already there: the delay is not restarted
		}
		if len(wl.Addresses) >= e.policy().Security.MaxWhitelistAddresses {
			return false, holdfast.Errorf(holdfast.ResourceExhausted, "address", "the whitelist holds at most %d addresses", e.policy().Security.MaxWhitelistAddresses)
		}
		if wl.Addresses == nil {
			wl.Addresses = map[string]*holdfast.WhitelistAddress{}
		}
		w := &holdfast.WhitelistAddress{Network: network, Label: label, AddedAt: now, UsableAt: now.Add(e.policy().Security.WhitelistDelay.Std())}
		wl.Addresses[address] = w
		// A new destination is also a new address for withdrawal review.
		if a.Activity.AddressBook == nil {
			a.Activity.AddressBook = map[string]time.Time{}
		}
		a.Activity.AddressBook[address] = now
		out = &holdfast.WhitelistEntryView{Address: address, WhitelistAddress: *w}
		return false, e.notifyHolder(tx, now, noticeAddressAdded, map[string]string{"address": address, "network": network, "usable_at": w.UsableAt.UTC().Format(time.RFC3339)})
	})
	return out, err
}

// whitelistNetwork reads a network as one of the policy's, in any case.
func (e *Engine) whitelistNetwork(network string) (string, error) {
	nets := e.policy().Security.WhitelistNetworks
	n := strings.ToUpper(strings.TrimSpace(network))
	if n == "" {
		return "", holdfast.Errorf(holdfast.InvalidArgument, "network", "network is required: the chain the address is on (%s)", strings.Join(nets, ", "))
	}
	if !slices.Contains(nets, n) {
		return "", holdfast.Errorf(holdfast.InvalidArgument, "network", "network must be one of %s, not %q", strings.Join(nets, ", "), network)
	}
	return n, nil
}

// RemoveWhitelistAddress takes an address off the whitelist.
func (e *Engine) RemoveWhitelistAddress(ctx context.Context, account, address string, actor holdfast.Actor) error {
	if err := holdfast.ValidateID("address", address); err != nil {
		return err
	}
	return e.securityOpOn(ctx, account, actor, auditWhitelistRemove, address, holdfast.ActionChangeSecuritySettings, func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		wl := &tx.Account().Security.Whitelist
		if wl.Addresses[address] == nil {
			return false, holdfast.Errorf(holdfast.NotFound, "address", "%s is not on the whitelist", address)
		}
		delete(wl.Addresses, address)
		return false, e.notifyHolder(tx, now, noticeAddressRemoved, map[string]string{"address": address})
	})
}

// SetWhitelist turns the withdrawal whitelist on (protective: always
// allowed) or off (a security change: blocked like one, and it starts a
// cooling_off).
func (e *Engine) SetWhitelist(ctx context.Context, account string, enabled bool, actor holdfast.Actor) error {
	op, gate, notice := auditWhitelistOn, holdfast.Action(""), noticeWhitelistOn
	if !enabled {
		op, gate, notice = auditWhitelistOff, holdfast.ActionChangeSecuritySettings, noticeWhitelistOff
	}
	return e.securityOp(ctx, account, actor, op, gate, func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		wl := &tx.Account().Security.Whitelist
		if wl.Enabled == enabled {
			return false, nil
		}
		wl.Enabled = enabled
		if err := e.notifyHolder(tx, now, notice, nil); err != nil {
			return false, err
		}
		if enabled {
			return false, nil
		}
		return true, e.securityChange(tx, now, actor, op)
	})
}

// securityChange starts (or, rolling, extends) the cooling_off that a
// holder's weakening change of their security settings brings.
func (e *Engine) securityChange(tx holdfast.AccountTx, now time.Time, actor holdfast.Actor, op string) error {
	d := e.policy().Security.SecurityChangeCoolingOff
	end := now.Add(d.Std())
	for _, r := range tx.Restrictions() {
		if r.Kind != holdfast.KindCoolingOff || r.Over(now) || r.EndsAt.IsZero() {
			continue
		}
		_, err := moveEndLater(tx, now, r, end, actor, "rolling window: "+op)
		return err
	}
	req := holdfast.ApplyRequest{Account: tx.Account().ID, Kind: holdfast.KindCoolingOff, Duration: d, Actor: holdfast.System, Reason: "security change: " + op}
	_, err := e.newRestriction(tx, now, req, d, true)
	return err
}

// Anti-phishing codes are short words the holder will recognise.
const (
	minCodeLen = 4
	maxCodeLen = 20
)

// SetAntiPhishingCode sets the code every notification carries. Setting
// the first one only adds protection; changing one is a security change.
func (e *Engine) SetAntiPhishingCode(ctx context.Context, account, code string, actor holdfast.Actor) error {
	if n := utf8.RuneCountInString(code); n < minCodeLen || n > maxCodeLen || !utf8.ValidString(code) {
		return holdfast.Errorf(holdfast.InvalidArgument, "code", "the anti-phishing code must be %d to %d characters", minCodeLen, maxCodeLen)
	}
	for _, r := range code {
		if r < ' ' || r == 0x7f {
			return holdfast.Errorf(holdfast.InvalidArgument, "code", "the anti-phishing code may not hold control characters")
		}
	}
	// Whether it is a change is read in the transaction: the first code
	// is never gated.
	return e.securityOp(ctx, account, actor, auditAntiPhishing, "", func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		sec := &tx.Account().Security
		prev := sec.AntiPhishingCode
		if prev != "" {
			if err := e.gate(tx, now, holdfast.ActionChangeSecuritySettings); err != nil {
				return false, err
			}
		}
		if prev == code {
			return false, nil
		}
		sec.AntiPhishingCode = code
		if err := e.notifyHolder(tx, now, noticeAntiPhishing, nil); err != nil {
			return false, err
		}
		if prev == "" {
			return false, nil
		}
		return true, e.securityChange(tx, now, actor, auditAntiPhishing)
	})
}

// LockSettings locks the holder's security settings behind a settings_lock
// that only an unlock request followed by unlockDelay ends.
func (e *Engine) LockSettings(ctx context.Context, account string, unlockDelay holdfast.Duration, actor holdfast.Actor) (*holdfast.Restriction, error) {
	sp := &e.policy().Security
	if unlockDelay < sp.SettingsUnlockDelayMin || unlockDelay > sp.SettingsUnlockDelayMax {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "unlock_delay", "the unlock delay must be from %s to %s, not %s", sp.SettingsUnlockDelayMin, sp.SettingsUnlockDelayMax, unlockDelay)
	}
	var out *holdfast.Restriction
	err := e.securityOp(ctx, account, actor, auditLockSettings, "", func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		if r := e.settingsLock(tx, now); r != nil {
			return false, holdfast.Errorf(holdfast.Conflict, "account", "the settings are already locked (restriction %s)", r.ID)
		}
		req := holdfast.ApplyRequest{Account: account, Kind: holdfast.KindSettingsLock, Actor: actor, Reason: "holder locked their security settings"}
		r, err := e.newRestriction(tx, now, req, 0, false)
		if err != nil {
			return false, err
		}
		tx.Account().Security.SettingsLock = &holdfast.SettingsLock{Restriction: r.ID, UnlockDelay: unlockDelay, LockedAt: now}
		out = r.Clone()
		return true, e.notifyHolder(tx, now, noticeSettingsLocked, map[string]string{"unlock_delay": unlockDelay.String()})
	})
	return out, err
}

// settingsLock returns the account's settings_lock in force (or pending
// its unlock delay), or nil.
func (e *Engine) settingsLock(tx holdfast.AccountTx, now time.Time) *holdfast.Restriction {
	sl := tx.Account().Security.SettingsLock
	if sl == nil {
		return nil
	}
	for _, r := range tx.Restrictions() {
		if r.ID == sl.Restriction && !r.Over(now) {
			return r
		}
	}
	return nil
}

// RequestSettingsUnlock starts the unlock delay; the lock ends when it has
// run. Every attempt is told to the holder, so that one they did not make
// can be cancelled in time. A repeated request does not restart the delay.
func (e *Engine) RequestSettingsUnlock(ctx context.Context, account string, actor holdfast.Actor) (*holdfast.Restriction, error) {
	var out *holdfast.Restriction
	err := e.securityOp(ctx, account, actor, auditUnlockRequest, "", func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		r := e.settingsLock(tx, now)
		if r == nil {
			return false, holdfast.Errorf(holdfast.FailedPrecondition, "account", "the settings are not locked")
		}
		sl := tx.Account().Security.SettingsLock
		sl.UnlockAttempts++
		changed := false
		if sl.UnlockRequestedAt.IsZero() {
			before := r.Clone()
			sl.UnlockRequestedAt = now
			r.EndsAt = now.Add(sl.UnlockDelay.Std())
			if err := tx.SaveRestriction(r); err != nil {
				return false, err
			}
			if err := audit(tx, now, actor, auditUnlockRequest, before, r, "unlock requested"); err != nil {
				return false, err
			}
			changed = true
		}
		out = r.Clone()
		return changed, e.notifyHolder(tx, now, noticeUnlockRequested, map[string]string{
			"unlocks_at": r.EndsAt.UTC().Format(time.RFC3339), "attempt": strconv.Itoa(sl.UnlockAttempts),
		})
	})
	return out, err
}

// CancelSettingsUnlock stops a pending unlock: the lock stays until a new
// request and a full delay.
func (e *Engine) CancelSettingsUnlock(ctx context.Context, account string, actor holdfast.Actor) (*holdfast.Restriction, error) {
	var out *holdfast.Restriction
	err := e.securityOp(ctx, account, actor, auditUnlockCancel, "", func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		r := e.settingsLock(tx, now)
		sl := tx.Account().Security.SettingsLock
		if r == nil || sl.UnlockRequestedAt.IsZero() {
			return false, holdfast.Errorf(holdfast.FailedPrecondition, "account", "no settings unlock is pending")
		}
		before := r.Clone()
		sl.UnlockRequestedAt = time.Time{}
		r.EndsAt = time.Time{}
		if err := tx.SaveRestriction(r); err != nil {
			return false, err
		}
		if err := audit(tx, now, actor, auditUnlockCancel, before, r, "unlock cancelled"); err != nil {
			return false, err
		}
		out = r.Clone()
		return true, e.notifyHolder(tx, now, noticeUnlockCancelled, nil)
	})
	return out, err
}

// AddTrustedContact invites contact, an existing account other than the
// holder's, to freeze or panic-lock the account for the holder. Who may
// stop your withdrawals is a security setting. The contact may act only
// once its own holder accepts (AcceptContactInvitation), so that nobody
// holds that power without knowing it and a mistyped id gives it to
// nobody. The invitation is written on the holder's account first, then
// on the contact's: a repeated call delivers it again if the second
// write failed.
func (e *Engine) AddTrustedContact(ctx context.Context, account, contact string, actor holdfast.Actor) error {
	if err := holdfast.ValidateID("contact", contact); err != nil {
		return err
	}
	if contact == account {
		return holdfast.Errorf(holdfast.InvalidArgument, "contact", "a trusted contact is someone else: name another account than your own")
	}
	// Read before the transaction, told after the holder's own checks
	// (locked settings say so first).
	unknown := e.knownAccount(ctx, contact)
	var invitedAt time.Time
	err := e.securityOp(ctx, account, actor, auditContactAdd, holdfast.ActionChangeSecuritySettings, func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		if unknown != nil {
			return false, unknown
		}
		a := tx.Account()
		sec := &a.Security
		if slices.Contains(a.TrustedContacts, contact) {
			return false, nil // accepted already
		}
		if at, ok := sec.InvitedContacts[contact]; ok {
			invitedAt = at
			return false, nil
		}
		if len(a.TrustedContacts)+len(sec.InvitedContacts) >= e.policy().Security.MaxTrustedContacts {
			return false, holdfast.Errorf(holdfast.ResourceExhausted, "contact", "at most %d trusted contacts, invited ones included", e.policy().Security.MaxTrustedContacts)
		}
		if sec.InvitedContacts == nil {
			sec.InvitedContacts = map[string]time.Time{}
		}
		sec.InvitedContacts[contact], invitedAt = now, now
		return false, e.notifyHolder(tx, now, noticeContactAdded, map[string]string{"contact": contact})
	})
	if err != nil || invitedAt.IsZero() {
		return err
	}
	return e.update(ctx, contact, func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		sec := &tx.Account().Security
		if _, ok := sec.ContactInvitations[account]; ok {
			return false, nil
		}
		if sec.ContactInvitations == nil {
			sec.ContactInvitations = map[string]time.Time{}
		}
		sec.ContactInvitations[account] = invitedAt
		if err := saveAccount(tx, now, actor, holdfast.AuditContactInvited); err != nil {
			return false, err
		}
		return false, e.notifyHolder(tx, now, noticeContactInvited, map[string]string{"inviter": account})
	})
}

// knownAccount refuses an id the store has no account for: a trusted
// contact must be someone who can accept.
func (e *Engine) knownAccount(ctx context.Context, id string) error {
	_, err := e.store.Account(ctx, id)
	if holdfast.ErrorCode(err) == holdfast.NotFound {
		return holdfast.Errorf(holdfast.NotFound, "contact", "there is no account %s: a trusted contact must have an account", id)
	}
	return err
}

// RemoveTrustedContact takes a contact's power away, or withdraws an
// invitation not yet answered (which then leaves the contact's list too).
func (e *Engine) RemoveTrustedContact(ctx context.Context, account, contact string, actor holdfast.Actor) error {
	if err := holdfast.ValidateID("contact", contact); err != nil {
		return err
	}
	invited := false
	err := e.securityOp(ctx, account, actor, auditContactRemove, holdfast.ActionChangeSecuritySettings, func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		a := tx.Account()
		if _, ok := a.Security.InvitedContacts[contact]; ok {
			delete(a.Security.InvitedContacts, contact)
			invited = true
		} else {
			i := slices.Index(a.TrustedContacts, contact)
			if i < 0 {
				return false, holdfast.Errorf(holdfast.NotFound, "contact", "%s is not a trusted contact", contact)
			}
			a.TrustedContacts = slices.Delete(a.TrustedContacts, i, i+1)
		}
		return false, e.notifyHolder(tx, now, noticeContactRemoved, map[string]string{"contact": contact})
	})
	if err != nil || !invited {
		return err
	}
	// The invitation is gone from the holder's account, which is what
	// counts; one left on the contact's (a failure here) is refused as
	// stale when answered, and removed then.
	if err := e.dropInvitation(ctx, contact, account, actor, auditContactRemove); err != nil {
		e.log.Warn("a withdrawn trusted-contact invitation stays listed on the contact's account", "account", account, "contact", contact, "err", err)
	}
	return nil
}

// dropInvitation removes inviter's invitation from account's list,
// recording action by actor; no invitation is no error.
func (e *Engine) dropInvitation(ctx context.Context, account, inviter string, actor holdfast.Actor, action string) error {
	return e.update(ctx, account, func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		sec := &tx.Account().Security
		if _, ok := sec.ContactInvitations[inviter]; !ok {
			return false, nil
		}
		delete(sec.ContactInvitations, inviter)
		return false, saveAccount(tx, now, actor, action)
	})
}

// AcceptContactInvitation makes the holder of account a trusted contact of
// inviter, as inviter's holder asked: from then on they may freeze or
// panic-lock it. Only the invited holder accepts. The inviting account is
// written first, then the invitation leaves this one's list: a repeated
// call finishes what a failure left.
func (e *Engine) AcceptContactInvitation(ctx context.Context, account, inviter string, actor holdfast.Actor) error {
	return e.answerInvitation(ctx, account, inviter, actor, true)
}

// DeclineContactInvitation refuses inviter's invitation: the inviting
// holder is told, and may invite again.
func (e *Engine) DeclineContactInvitation(ctx context.Context, account, inviter string, actor holdfast.Actor) error {
	return e.answerInvitation(ctx, account, inviter, actor, false)
}

func (e *Engine) answerInvitation(ctx context.Context, account, inviter string, actor holdfast.Actor, accept bool) error {
	if err := holdfast.ValidateID("account", account); err != nil {
		return err
	}
	if err := holdfast.ValidateID("inviter", inviter); err != nil {
		return err
	}
	action, notice := holdfast.AuditContactAccept, noticeContactAccepted
	if !accept {
		action, notice = holdfast.AuditContactDecline, noticeContactDeclined
	}
	if !actor.IsHolder(account) {
		return holdfast.Errorf(holdfast.PermissionDenied, "actor", "only the invited holder may answer an invitation to be a trusted contact")
	}
	// The invitation must be on this account's list (the inviting
	// account is written only to answer one that is), and the answer
	// counts against this account's rate limit.
	err := e.update(ctx, account, func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		if _, ok := tx.Account().Security.ContactInvitations[inviter]; !ok {
			return false, holdfast.Errorf(holdfast.NotFound, "inviter", "no invitation from %s to be a trusted contact", inviter)
		}
		if err := e.takeLimit(tx, now, action); err != nil {
			return false, err
		}
		return false, tx.SaveAccount()
	})
	if err != nil {
		return err
	}
	stale := false
	err = e.update(ctx, inviter, func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		in := tx.Account()
		_, invited := in.Security.InvitedContacts[account]
		stale = !invited && !(accept && slices.Contains(in.TrustedContacts, account))
		if !invited {
			// Accepted before (finish below), or withdrawn by the
			// inviting holder meanwhile.
			return false, nil
		}
		delete(in.Security.InvitedContacts, account)
		if accept && !slices.Contains(in.TrustedContacts, account) {
			in.TrustedContacts = append(in.TrustedContacts, account)
		}
		if err := saveAccount(tx, now, actor, action); err != nil {
			return false, err
		}
		return false, e.notifyHolder(tx, now, notice, map[string]string{"contact": account})
	})
	if err != nil {
		return err
	}
	if err := e.dropInvitation(ctx, account, inviter, actor, action); err != nil {
		return err
	}
	if stale {
		return holdfast.Errorf(holdfast.NotFound, "inviter", "%s withdrew the invitation", inviter)
	}
	return nil
}
