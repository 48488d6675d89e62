package engine

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/holdfast/holdfast"
)

// SecurityHistory is the holder's view of the account's audit log: the
// same entries staff read with History, each that the holder may know of
// said as a HistoryItem, newest first, a page at a time, with the
// restrictions that ran to their end among them. What the holder may not
// know of is left out whole: events that are not the holder's own doing
// (deposits, compliance signals, a duress signal), four-eyes requests,
// staff edits, cases (the appeals pages show them). A restriction hidden
// from the holder is told as its cover kind, applied and ended by staff,
// never extended, exactly as a real one of that kind is (which only staff
// apply and lift, and which has no end to extend).
func (e *Engine) SecurityHistory(ctx context.Context, account string, before int64, limit int, actor holdfast.Actor) (*holdfast.HistoryPage, error) {
	if err := holdfast.ValidateID("account", account); err != nil {
		return nil, err
	}
	if err := mayRead(actor, account); err != nil {
		return nil, err
	}
	if before < 0 {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "before", "before must be an entry number (0: the newest), not %d", before)
	}
	if limit < 0 || limit > holdfast.MaxHistoryLimit {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "limit", "limit must be from 0 (the default, %d) to %d, not %d", holdfast.DefaultHistoryLimit, holdfast.MaxHistoryLimit, limit)
	}
	if limit == 0 {
		limit = holdfast.DefaultHistoryLimit
	}
	now := e.clock.Now()
	page := &holdfast.HistoryPage{Account: account, Items: []holdfast.HistoryItem{}}
	// The page's entries span (from, upTo]: up to the entry the cursor
	// names (now on the first page), from its oldest entry when there is
	// a next page (the next page's upTo), else from the start.
	upTo := now
	if before > 0 {
		at, err := e.store.HistoryBefore(ctx, account, before+1, 1)
		if err != nil {
			return nil, err
		}
		if len(at) == 1 {
			upTo = at[0].At
		}
	}
	// Read from the end in chunks until one item past the page is found
	// (then there is a next page, from this page's oldest entry) or the
	// log's start is reached.
	const chunk = 256
	var (
		from    time.Time // zero: the page reaches the log's start
		lastSeq int64
		lastAt  time.Time
	)
read:
	for cursor := before; ; {
		entries, err := e.store.HistoryBefore(ctx, account, cursor, chunk)
		if err != nil {
			return nil, err
		}
		for i := range entries {
			en := &entries[i]
			it, ok := e.historyItem(en, account)
			if !ok {
				continue
			}
			if len(page.Items) == limit {
				page.Next, from = lastSeq, lastAt
				break read
			}
			page.Items = append(page.Items, it)
			lastSeq, lastAt = en.Seq, en.At
		}
		if len(entries) < chunk {
			break
		}
		cursor = entries[len(entries)-1].Seq
	}
	ended, err := e.endedItems(ctx, account, from, upTo)
	if err != nil {
		return nil, err
	}
	if len(ended) > 0 {
		page.Items = append(page.Items, ended...)
		slices.SortStableFunc(page.Items, func(x, y holdfast.HistoryItem) int { return y.At.Compare(x.At) })
	}
	return page, nil
}

// endedItems are the account's restrictions that ran to their end in
// (from, upTo]: a hidden one (and a real one of the cover kind) as lifted
// by staff, as its holder was told.
func (e *Engine) endedItems(ctx context.Context, account string, from, upTo time.Time) ([]holdfast.HistoryItem, error) {
	rs, err := e.store.Restrictions(ctx, holdfast.RestrictionFilter{Account: account})
	if err != nil {
		return nil, err
	}
	cover, _ := e.policy().Cover()
	var out []holdfast.HistoryItem
	for _, r := range rs {
		if !r.LiftedAt.IsZero() || r.EndsAt.IsZero() || !r.EndsAt.After(from) || r.EndsAt.After(upTo) {
			continue
		}
		it := holdfast.HistoryItem{At: r.EndsAt.UTC(), What: holdfast.HistoryRestrictionEnded, Restriction: r.ID}
		it.Kind, _ = e.holderKind(r)
		if !r.Disclose {
			it.Restriction = e.alias(r.ID)
		}
		if it.Kind == cover {
			it.What, it.By = holdfast.HistoryRestrictionLifted, holdfast.HistoryByStaff
		}
		out = append(out, it)
	}
	return out, nil
}

// historyEvents are the events the holder is shown: their own doings as
// the exchange reported them, with where they came from.
var historyEvents = map[holdfast.EventType]holdfast.HistoryWhat{
	holdfast.EventLogin:                  holdfast.HistorySignIn,
	holdfast.EventVerificationCompleted:  holdfast.HistoryDeviceVerified,
	holdfast.EventPasswordChanged:        holdfast.HistoryPasswordChanged,
	holdfast.EventPasswordReset:          holdfast.HistoryPasswordReset,
	holdfast.EventTwoFactorChanged:       holdfast.HistoryTwoFactorChanged,
	holdfast.EventEmailChanged:           holdfast.HistoryEmailChanged,
	holdfast.EventPhoneChanged:           holdfast.HistoryPhoneChanged,
	holdfast.EventWithdrawalAddressAdded: holdfast.HistoryAddressBookAdded,
	holdfast.EventAPIKeyCreated:          holdfast.HistoryAPIKeyCreated,
	holdfast.EventAPIKeyRevoked:          holdfast.HistoryAPIKeyRevoked,
}

// historyOps are the holder's security operations, whose entries carry
// the account's record (and, for an address or a key, its id as the
// reason).
var historyOps = map[string]holdfast.HistoryWhat{
	holdfast.AuditSecureAccount:   holdfast.HistoryAccountSecured,
	holdfast.AuditRevokeSession:   holdfast.HistorySessionLoggedOut,
	holdfast.AuditWhitelistAdd:    holdfast.HistoryWhitelistAdded,
	holdfast.AuditWhitelistRemove: holdfast.HistoryWhitelistRemoved,
	holdfast.AuditWhitelistOn:     holdfast.HistoryWhitelistOn,
	holdfast.AuditWhitelistOff:    holdfast.HistoryWhitelistOff,
	holdfast.AuditAntiPhishing:    holdfast.HistoryAntiPhishingSet,
	holdfast.AuditLockSettings:    holdfast.HistorySettingsLocked,
	holdfast.AuditUnlockRequest:   holdfast.HistoryUnlockRequested,
	holdfast.AuditUnlockCancel:    holdfast.HistoryUnlockCancelled,
	holdfast.AuditContactAdd:      holdfast.HistoryContactAdded,
	holdfast.AuditContactRemove:   holdfast.HistoryContactRemoved,
	holdfast.AuditKeyRevoke:       holdfast.HistoryAPIKeyRevoked,
	holdfast.AuditKeyIPWhitelist:  holdfast.HistoryAPIKeyIPWhitelist,
}

// historyRestrictionActions are the restriction entries told as
// restriction items; the others naming a restriction are four-eyes
// requests (staff's), or the settings lock's and the unfreeze request's
// own records, told by the entries beside them.
var historyRestrictionActions = map[string]holdfast.HistoryWhat{
	holdfast.AuditApply:             holdfast.HistoryRestrictionApplied,
	holdfast.AuditExtend:            holdfast.HistoryRestrictionExtended,
	holdfast.AuditLift:              holdfast.HistoryRestrictionLifted,
	holdfast.AuditUnfreezeRequested: holdfast.HistoryUnfreezeRequested,
}

// historyItem is en as the account's holder is told it, or false when
// it is not told.
func (e *Engine) historyItem(en *holdfast.AuditEntry, account string) (holdfast.HistoryItem, bool) {
	it := holdfast.HistoryItem{At: en.At.UTC()}
	switch {
	case en.Action == holdfast.AuditEvent:
		var ev holdfast.Event
		if json.Unmarshal(en.After, &ev) != nil {
			return it, false
		}
		what, ok := historyEvents[ev.Type]
		if !ok {
			return it, false
		}
		it.What, it.Device, it.Country, it.IP = what, ev.Device, ev.Country, ev.IP
		switch ev.Type {
		case holdfast.EventAPIKeyCreated, holdfast.EventAPIKeyRevoked:
			it.Subject = ev.APIKey
		case holdfast.EventWithdrawalAddressAdded:
			it.Subject = ev.Address
		}
		return it, true
	case en.WritesRestriction():
		return e.restrictionItem(en, account, it)
	case en.Action == holdfast.AuditEmergencyCodeSent || en.Action == holdfast.AuditEmergencyCodeRefused:
		var rec EmergencyRecord
		if json.Unmarshal(en.After, &rec) != nil {
			return it, false
		}
		it.What, it.IP = holdfast.HistoryEmergencyCodeSent, rec.Client
		if en.Action == holdfast.AuditEmergencyCodeRefused {
			it.What = holdfast.HistoryEmergencyCodeWrong
		} else {
			it.Channel = rec.Channel
		}
		return it, true
	case en.Restriction == "":
		what, ok := historyOps[en.Action]
		if !ok {
			return it, false
		}
		it.What, it.By = what, historyBy(en.Actor, account)
		switch what {
		case holdfast.HistoryWhitelistAdded, holdfast.HistoryWhitelistRemoved, holdfast.HistoryAPIKeyRevoked, holdfast.HistoryAPIKeyIPWhitelist:
			it.Subject = en.Reason
		}
		if what == holdfast.HistoryWhitelistAdded && it.Subject != "" {
			it.Network = recordedNetwork(en.After, it.Subject)
		}
		return it, true
	}
	return it, false
}

// restrictionItem tells a restriction entry: its kind as the holder is
// shown it, and who acted. A restriction shown as the cover kind, hidden
// or real, reads the same whatever is behind it: by staff (who alone
// apply the cover kind), never extended.
func (e *Engine) restrictionItem(en *holdfast.AuditEntry, account string, it holdfast.HistoryItem) (holdfast.HistoryItem, bool) {
	what, ok := historyRestrictionActions[en.Action]
	if !ok {
		return it, false
	}
	r, err := holdfast.DecodeRestriction(en.After)
	if err != nil || r.Account != account {
		return it, false
	}
	kind, _ := e.holderKind(r)
	cover, _ := e.policy().Cover()
	switch {
	case kind == holdfast.KindSettingsLock && what == holdfast.HistoryRestrictionApplied:
		return it, false // the settings_locked item says it
	case kind == cover && what == holdfast.HistoryRestrictionExtended:
		return it, false
	}
	it.What, it.Kind, it.Restriction, it.By = what, kind, r.ID, historyBy(en.Actor, account)
	if !r.Disclose {
		it.Restriction = e.alias(r.ID)
	}
	if kind == cover {
		it.By = holdfast.HistoryByStaff
	}
	if e.receiptable(en, account, holdfast.User(account)) {
		it.Receipt = en.Seq
	}
	return it, true
}

// historyBy says who an entry's actor is to the account's holder: never
// which staff member, rule or contact.
func historyBy(actor, account string) holdfast.HistoryBy {
	switch {
	case actor == holdfast.User(account).String():
		return holdfast.HistoryByHolder
	case strings.HasPrefix(actor, string(holdfast.ActorTrustedContact)+":"):
		return holdfast.HistoryByTrustedContact
	case strings.HasPrefix(actor, string(holdfast.ActorStaff)+":"):
		return holdfast.HistoryByStaff
	}
	return holdfast.HistoryByAutomatic
}

// recordedNetwork reads the network of a whitelisted address from an
// entry's account record.
func recordedNetwork(after json.RawMessage, address string) string {
	var a struct {
		Security struct {
			Whitelist struct {
				Addresses map[string]struct {
					Network string `json:"network"`
				} `json:"addresses"`
			} `json:"whitelist"`
		} `json:"security"`
	}
	if json.Unmarshal(after, &a) != nil {
		return ""
	}
	return a.Security.Whitelist.Addresses[address].Network
}
