package rpc_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/internal/receipttest"
	"github.com/holdfast/holdfast/tlog"
)

// signedEnv is an env whose engine signs the transparency log; it returns
// the log's public key.
func signedEnv(t *testing.T) (*env, string) {
	t.Helper()
	skey, _, err := tlog.GenerateKey("holdfast.test")
	if err != nil {
		t.Fatal(err)
	}
	signer, vkey, err := tlog.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return newEnvWith(t, engine.Config{LogSigner: signer, LogVerifierKey: vkey}), vkey
}

// proved checks a receipt with the independent verifier (the two public
// libraries only) and that its summary fields say what it proves.
func proved(t *testing.T, rc *holdfastv1.Receipt, vkey, account, action, actor string, kind holdfast.Kind) *receipttest.Proved {
	t.Helper()
	if rc == nil {
		t.Fatalf("%s %s on %s: the answer carries no receipt", action, kind, account)
	}
	p, err := receipttest.Verify([]byte(rc.Document), vkey)
	if err != nil {
		t.Fatalf("%s %s on %s: the receipt does not verify: %v\n%s", action, kind, account, err, rc.Document)
	}
	e := p.Entry
	if e.Account != account || e.Action != action || e.Actor != actor || rc.Account != account || rc.Action != action || rc.Kind != string(kind) ||
		rc.Seq != e.Seq || rc.LeafIndex != p.LeafIndex || rc.TreeSize != p.TreeSize || rc.Restriction != e.Restriction || !rc.At.AsTime().Equal(e.At) {
		t.Fatalf("the receipt proves %s %s by %s on %s (summary %+v); want %s %s by %s on %s", e.Action, e.Restriction, e.Actor, e.Account, rc, action, kind, actor, account)
	}
	if !strings.Contains(string(e.After), `"kind":"`+string(kind)+`"`) {
		t.Fatalf("the receipt's entry records %s, want a %s", e.After, kind)
	}
	return p
}

// TestFreezeReceipts: a holder's freeze, panic lock, second press,
// unfreeze request and secure_account, and a trusted contact's panic lock, each answer with a
// receipt that the two public libraries verify, of the entry the change
// appended. Staff acting and a repeat get none.
func TestFreezeReceipts(t *testing.T) {
	e, vkey := signedEnv(t)
	ctx := context.Background()
	self := e.as("self").Self

	fr, err := self.Freeze(ctx, connect.NewRequest(&holdfastv1.FreezeRequest{Account: "u1", Duration: "24h"}))
	if err != nil {
		t.Fatal(err)
	}
	proved(t, fr.Msg.Receipt, vkey, "u1", "apply", "user:u1", holdfast.KindSelfFreeze)

	pl, err := self.PanicLock(ctx, connect.NewRequest(&holdfastv1.PanicLockRequest{Account: "u2", Duration: "24h"}))
	if err != nil {
		t.Fatal(err)
	}
	first := proved(t, pl.Msg.Receipt, vkey, "u2", "apply", "user:u2", holdfast.KindPanicLock)
	if pl.Msg.Receipt.EndsAt.AsTime() != pl.Msg.Restriction.EndsAt.AsTime() || pl.Msg.Receipt.Restriction != pl.Msg.Restriction.Id {
		t.Errorf("the receipt's lock %s ends %v; the answer's %s ends %v", pl.Msg.Receipt.Restriction, pl.Msg.Receipt.EndsAt.AsTime(), pl.Msg.Restriction.Id, pl.Msg.Restriction.EndsAt.AsTime())
	}
	again, err := self.PanicLock(ctx, connect.NewRequest(&holdfastv1.PanicLockRequest{Account: "u2", Duration: "48h"}))
	if err != nil {
		t.Fatal(err)
	}
	ext := proved(t, again.Msg.Receipt, vkey, "u2", "extend", "user:u2", holdfast.KindPanicLock)
	if ext.Entry.Seq <= first.Entry.Seq || ext.Entry.Restriction != first.Entry.Restriction || ext.LeafIndex <= first.LeafIndex {
		t.Errorf("the extension's receipt: entry %d leaf %d of %s, after entry %d leaf %d", ext.Entry.Seq, ext.LeafIndex, ext.Entry.Restriction, first.Entry.Seq, first.LeafIndex)
	}
	sec, err := self.SecureAccount(ctx, connect.NewRequest(&holdfastv1.SecureAccountRequest{Account: "u3"}))
	if err != nil {
		t.Fatal(err)
	}
	// The freeze's apply entry, not the secure_account entry after it
	// (which records the whole account).
	p := proved(t, sec.Msg.Receipt, vkey, "u3", "apply", "user:u3", holdfast.KindSelfFreeze)
	if e.history("u3") <= int(p.Entry.Seq) {
		t.Errorf("secure_account's receipt is of entry %d, the chain's last; want the freeze's, before the secure_account record", p.Entry.Seq)
	}
	// Asking to end the freeze early: the request's own entry, naming the
	// freeze as it stands (the account record before it holds staff-only
	// fields).
	un, err := self.RequestUnfreeze(ctx, connect.NewRequest(&holdfastv1.RequestUnfreezeRequest{Account: "u1"}))
	if err != nil {
		t.Fatal(err)
	}
	asked := proved(t, un.Msg.Receipt, vkey, "u1", holdfast.AuditUnfreezeRequested, "user:u1", holdfast.KindSelfFreeze)
	if asked.Entry.Restriction != fr.Msg.Restriction.Id || e.history("u1") != int(asked.Entry.Seq) {
		t.Errorf("the unfreeze request's receipt is of entry %d naming %s; want the chain's last, naming %s", asked.Entry.Seq, asked.Entry.Restriction, fr.Msg.Restriction.Id)
	}
	rep, err := self.SecureAccount(ctx, connect.NewRequest(&holdfastv1.SecureAccountRequest{Account: "u3"}))
	if err != nil || !rep.Msg.Repeat || rep.Msg.Receipt != nil {
		t.Errorf("secure_account again: repeat %v receipt %v err %v; want a repeat without a receipt", rep.Msg.GetRepeat(), rep.Msg.GetReceipt(), err)
	}

	e.contact("u4", "mum")
	byContact, err := self.PanicLock(ctx, connect.NewRequest(&holdfastv1.PanicLockRequest{Account: "u4", TrustedContact: "mum"}))
	if err != nil {
		t.Fatal(err)
	}
	proved(t, byContact.Msg.Receipt, vkey, "u4", "apply", "trusted_contact:mum", holdfast.KindPanicLock)

	// Staff acting on a holder's account get no receipt: it is the
	// holder's proof, and a staff entry's reason is staff's.
	staff, err := e.as("alice").Self.Freeze(ctx, connect.NewRequest(&holdfastv1.FreezeRequest{Account: "u5", Duration: "24h"}))
	if err != nil || staff.Msg.Receipt != nil {
		t.Errorf("a staff freeze: receipt %v, err %v", staff.Msg.GetReceipt(), err)
	}
}

// TestReceiptHidesWhatTheHolderMayNotSee: a holder under a law-enforcement
// hold presses the panic button; the receipt proves their own lock and
// holds nothing of the hold, and the hold's entry, an account record and
// a staff entry have no receipt: each reads as an entry that does not
// exist.
func TestReceiptHidesWhatTheHolderMayNotSee(t *testing.T) {
	e, vkey := signedEnv(t)
	ctx := context.Background()
	hold := e.apply("lee", "u1", holdfast.KindLawEnforcementHold, "")
	pl, err := e.as("self").Self.PanicLock(ctx, connect.NewRequest(&holdfastv1.PanicLockRequest{Account: "u1"}))
	if err != nil {
		t.Fatal(err)
	}
	proved(t, pl.Msg.Receipt, vkey, "u1", "apply", "user:u1", holdfast.KindPanicLock)
	for _, secret := range []string{hold, "law_enforcement", "ref-u1", "lee", "under_review"} {
		if strings.Contains(pl.Msg.Receipt.Document, secret) {
			t.Errorf("the holder's receipt shows %q:\n%s", secret, pl.Msg.Receipt.Document)
		}
	}
	sec, err := e.as("self").Self.SecureAccount(ctx, connect.NewRequest(&holdfastv1.SecureAccountRequest{Account: "u1"}))
	if err != nil {
		t.Fatal(err)
	}
	e.apply("carol", "u1", holdfast.KindWithdrawalFreeze, "")

	res, err := e.as("admin").Restriction.History(ctx, connect.NewRequest(&holdfastv1.HistoryRequest{Account: "u1"}))
	if err != nil {
		t.Fatal(err)
	}
	_, none := e.engine.Receipt(ctx, "u1", 999, holdfast.User("u1"))
	if holdfast.ErrorCode(none) != holdfast.NotFound {
		t.Fatalf("entry 999: %v", none)
	}
	issued := 0
	for _, en := range res.Msg.Entries {
		rc, err := e.engine.Receipt(ctx, "u1", en.Seq, holdfast.User("u1"))
		if err == nil {
			issued++
			if r := en.GetRestriction(); r != pl.Msg.Restriction.Id && r != sec.Msg.Freeze.Id {
				t.Errorf("entry %d (%s %s by %s) has a receipt", en.Seq, en.Action, en.GetRestriction(), en.Actor)
			}
			doc, _ := json.Marshal(rc)
			if _, err := receipttest.Verify(doc, vkey); err != nil {
				t.Errorf("entry %d: %v", en.Seq, err)
			}
			continue
		}
		// The same words as for an entry that does not exist, but its
		// number.
		if got, want := err.Error(), strings.Replace(none.Error(), "999", strconv.FormatInt(en.Seq, 10), 1); got != want {
			t.Errorf("entry %d (%s by %s): %q; want %q", en.Seq, en.Action, en.Actor, got, want)
		}
	}
	// The panic lock and secure_account's freeze.
	if issued != 2 {
		t.Errorf("%d of %d entries have a receipt; want the panic lock's and the freeze's", issued, len(res.Msg.Entries))
	}
	// Another holder never gets this account's receipts.
	if _, err := e.engine.Receipt(ctx, "u1", pl.Msg.Receipt.Seq, holdfast.User("u2")); holdfast.ErrorCode(err) != holdfast.NotFound {
		t.Errorf("u2 asking for u1's receipt: %v", err)
	}
}

// TestReceiptIsBestEffort: a server that signs no log still freezes; the
// answer has no receipt.
func TestReceiptIsBestEffort(t *testing.T) {
	e := newEnv(t)
	res, err := e.as("self").Self.PanicLock(context.Background(), connect.NewRequest(&holdfastv1.PanicLockRequest{Account: "u1"}))
	if err != nil || res.Msg.Restriction == nil || res.Msg.Receipt != nil {
		t.Fatalf("panic lock without a signing key: %v, receipt %v", err, res.Msg.GetReceipt())
	}
	d, err := e.engine.Check(context.Background(), holdfast.CheckRequest{Account: "u1", Action: holdfast.ActionWithdraw})
	if err != nil || d.Effect != holdfast.Deny {
		t.Errorf("withdraw after the lock: %+v %v", d, err)
	}
}
