package engine

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/holdfast/holdfast"
)

// Applied is a holder's change and the audit entry that records it, the
// one its receipt proves.
type Applied struct {
	Restriction *holdfast.Restriction
	// Entry is the entry's number in the account's chain; 0 when the call
	// appended none (a second panic press with the same end).
	Entry int64
}

func restrictionOf(a *Applied, err error) (*holdfast.Restriction, error) {
	if err != nil {
		return nil, err
	}
	return a.Restriction, nil
}

// lastEntry is the number of the entry tx appended last (Append moves the
// account's head).
func lastEntry(tx holdfast.AccountTx) int64 { return tx.Account().AuditSeq }

// receiptActions are the entries of a holder's protections a receipt
// proves: applied, extended, or asked to end early.
var receiptActions = []string{holdfast.AuditApply, holdfast.AuditExtend, holdfast.AuditUnfreezeRequested}

// receiptKinds are the holder's own protections, the changes a receipt
// is issued for.
var receiptKinds = []holdfast.Kind{holdfast.KindSelfFreeze, holdfast.KindPanicLock}

// Receipt proves to actor that entry seq of account is in the
// transparency log. Only a holder's freeze has one: an entry that applied
// or extended a self_freeze or panic_lock, made by the holder or one of
// their trusted contacts, that actor may read whole. The entry must be
// given as it was hashed, so one holding anything actor may not see (a
// restriction hidden from the holder, a reason or origin kept from them,
// an account record with staff-only fields) gets no receipt; it reads
// exactly like an entry that does not exist.
func (e *Engine) Receipt(ctx context.Context, account string, seq int64, actor holdfast.Actor) (*holdfast.Receipt, error) {
	if err := holdfast.ValidateID("account", account); err != nil {
		return nil, err
	}
	none := holdfast.Errorf(holdfast.NotFound, "entry", "account %s has no freeze receipt for entry %d", account, seq)
	if seq < 1 || !mayHaveReceipt(actor, account) {
		return nil, none
	}
	rc, err := e.EntryProof(ctx, account, seq)
	if holdfast.ErrorCode(err) == holdfast.NotFound {
		return nil, none
	}
	if err != nil {
		return nil, err
	}
	if !e.receiptable(&rc.Entry, account, actor) {
		return nil, none
	}
	return rc, nil
}

// mayHaveReceipt: the holder, or a trusted contact (who gets a receipt
// only of an entry they made, checked in receiptable).
func mayHaveReceipt(actor holdfast.Actor, account string) bool {
	return actor.IsHolder(account) || actor.Type == holdfast.ActorTrustedContact
}

// receiptable reports whether en may be shown to actor as it is.
func (e *Engine) receiptable(en *holdfast.AuditEntry, account string, actor holdfast.Actor) bool {
	if en.Account != account || !slices.Contains(receiptActions, en.Action) {
		return false
	}
	if !selfServed(en.Actor, account) || (!actor.IsHolder(account) && en.Actor != actor.String()) {
		return false
	}
	if len(en.After) == 0 {
		return false
	}
	for _, raw := range []json.RawMessage{en.Before, en.After} {
		if len(raw) > 0 && !e.wholeTo(raw, en, actor) {
			return false
		}
	}
	return true
}

// selfServed: the entry was made by the account's holder or a trusted
// contact, so its reason is the engine's fixed text, not staff's.
func selfServed(by, account string) bool {
	return by == holdfast.User(account).String() || strings.HasPrefix(by, string(holdfast.ActorTrustedContact)+":")
}

// wholeTo reports whether raw is a restriction of en's, of a receipt
// kind, that actor may see with nothing redacted.
func (e *Engine) wholeTo(raw json.RawMessage, en *holdfast.AuditEntry, actor holdfast.Actor) bool {
	var r holdfast.Restriction
	if json.Unmarshal(raw, &r) != nil || r.ID != en.Restriction || r.Account != en.Account {
		return false
	}
	return slices.Contains(receiptKinds, r.Kind) && r.Disclose && r.Origin == nil && r.Reference == "" && e.mayseeReason(actor, r.Kind)
}
