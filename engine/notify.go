package engine

import (
	"context"
	"time"

	"github.com/holdfast/holdfast"
)

// Holder notifications: the engine decides what to tell the holder and
// writes it to the outbox in the transaction of the change; package notify
// renders and sends it (email, push), at least once. A non-disclosable
// restriction (a law-enforcement hold, a duress lock) is told exactly as
// a restriction of the policy's cover kind would be.

// Notice names, each a template in notify/templates.
const (
	noticeApplied          = "restriction_applied"
	noticeLifted           = "restriction_lifted"
	noticeExpiring         = "restriction_expiring"
	noticeSecured          = "account_secured"
	noticeSettingsLocked   = "settings_locked"
	noticeUnlockRequested  = "settings_unlock_requested"
	noticeUnlockCancelled  = "settings_unlock_cancelled"
	noticeNewDevice        = "new_device"
	noticeContactAction    = "trusted_contact_action"
	noticeContactAdded     = "trusted_contact_added"
	noticeContactRemoved   = "trusted_contact_removed"
	noticeContactInvited   = "trusted_contact_invitation"
	noticeContactAccepted  = "trusted_contact_accepted"
	noticeContactDeclined  = "trusted_contact_declined"
	noticeAddressAdded     = "whitelist_address_added"
	noticeAddressRemoved   = "whitelist_address_removed"
	noticeWhitelistOn      = "whitelist_enabled"
	noticeWhitelistOff     = "whitelist_disabled"
	noticeAntiPhishing     = "anti_phishing_code_changed"
	noticeExpiringIDPrefix = "exping_"
)

// notifyHolder writes a notification to the outbox unless the account has
// reached the policy's notification limit for the window (a flood of
// unlock attempts must not flood the holder's mailbox). The window's count
// lives on the account; update saves it.
func (e *Engine) notifyHolder(tx holdfast.AccountTx, now time.Time, notice string, data map[string]string) error {
	a := tx.Account()
	sp := &e.policy().Security
	if !a.Security.Notices.Take(now, sp.NotifyWindow.Std(), sp.NotifyLimit) {
		e.log.Warn("holder notification over the rate limit: not sent", "account", a.ID, "notice", notice)
		return nil
	}
	return tx.Enqueue(&holdfast.Command{ID: newID("ntf"), Account: a.ID, Type: holdfast.CommandNotifyHolder, Notice: notice, Data: data, CreatedAt: now})
}

// restrictionData fills a restriction notice with what the holder may see:
// a hidden restriction as its cover kind, without an end.
func (e *Engine) restrictionData(r *holdfast.Restriction) map[string]string {
	k, kp := e.holderKind(r)
	d := map[string]string{"kind": string(k), "message": kp.Holder.Message}
	if r.Disclose && !r.EndsAt.IsZero() {
		d["ends_at"] = r.EndsAt.UTC().Format(time.RFC3339)
	}
	return d
}

// AnnounceExpiring tells holders whose disclosable restrictions end by time
// in (from, to] + the policy's expiring_notice that the end is near. Ids
// derive from the restriction, so overlapping windows and several servers
// tell each holder once. It returns how many it wrote.
func (e *Engine) AnnounceExpiring(ctx context.Context, from, to time.Time) (int, error) {
	lead := e.policy().Security.ExpiringNotice.Std()
	return e.enqueueForEnding(ctx, from.Add(lead), to.Add(lead), func(r *holdfast.Restriction) *holdfast.Command {
		if !r.Disclose {
			return nil // its holder knows of no end
		}
		return &holdfast.Command{
			ID: noticeExpiringIDPrefix + r.ID, Account: r.Account, Type: holdfast.CommandNotifyHolder,
			Notice: noticeExpiring, Restriction: r.ID, CreatedAt: e.clock.Now(),
			Data: map[string]string{"kind": string(r.Kind), "ends_at": r.EndsAt.UTC().Format(time.RFC3339)},
		}
	})
}
