package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// Append chains entries across updates; History returns them exactly as
// hashed (JSON bytes included) and VerifyAudit proves the chain.
func testAuditChain(t *testing.T, h *harness) {
	before := json.RawMessage(`{"kind":"cooling_off",  "ends_at": null}`) // odd spacing must survive
	var appended []holdfast.AuditEntry
	for u := range 3 {
		now := t0.Add(time.Duration(u) * time.Minute)
		h.update("a1", now, func(tx holdfast.AccountTx) error {
			for i := range 2 {
				e := entry("", now.Add(time.Duration(i)), holdfast.AuditExtend, "r1")
				e.Actor, e.Reason, e.Before, e.After = "staff:s1", "ünïcode reason", before, json.RawMessage(`{"n":1}`)
				if err := tx.Append(e); err != nil {
					return err
				}
				if e.Account != "a1" {
					t.Errorf("Append left Account %q, want a1", e.Account)
				}
				appended = append(appended, *e)
			}
			return nil
		})
	}
	es := h.history("a1")
	if len(es) != len(appended) {
		t.Fatalf("history has %d entries, want %d", len(es), len(appended))
	}
	prev := holdfast.GenesisHash
	for i, e := range es {
		if e.PrevHash != prev || e.Hash != e.ComputeHash() || e.Hash != appended[i].Hash {
			t.Errorf("entry %d: prev %s hash %s, want prev %s and the appended hash %s", e.Seq, e.PrevHash, e.Hash, prev, appended[i].Hash)
		}
		if string(e.Before) != string(before) || !e.At.Equal(appended[i].At) || e.Reason != "ünïcode reason" {
			t.Errorf("entry %d changed on the way: %+v", e.Seq, e)
		}
		prev = e.Hash
	}
	// Read from the end a page at a time, the same entries come back
	// newest first, each once.
	var back []holdfast.AuditEntry
	for before := int64(0); ; {
		page, err := h.s.HistoryBefore(h.ctx, "a1", before, 4)
		if err != nil {
			t.Fatal(err)
		}
		back = append(back, page...)
		if len(page) < 4 {
			break
		}
		before = page[len(page)-1].Seq
	}
	if len(back) != len(es) {
		t.Fatalf("HistoryBefore in pages of 4 read %d entries, want %d", len(back), len(es))
	}
	for i, e := range back {
		if want := es[len(es)-1-i]; e.Seq != want.Seq || e.Hash != want.Hash || string(e.Before) != string(want.Before) {
			t.Errorf("HistoryBefore's entry %d is %d (%s), want %d (%s)", i, e.Seq, e.Hash, want.Seq, want.Hash)
		}
	}
	if page, err := h.s.HistoryBefore(h.ctx, "a1", 1, 4); err != nil || len(page) != 0 {
		t.Errorf("HistoryBefore(a1, 1) = %v, %v; want nothing before the first entry", page, err)
	}
	if page, err := h.s.HistoryBefore(h.ctx, "nobody", 0, 4); err != nil || len(page) != 0 {
		t.Errorf("HistoryBefore(nobody) = %v, %v; want empty", page, err)
	}
	a, err := h.s.Account(h.ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	if a.AuditSeq != int64(len(es)) || a.AuditHash != prev {
		t.Errorf("account head = %d/%s, want %d/%s", a.AuditSeq, a.AuditHash, len(es), prev)
	}
	h.save("a2", t0, restriction("r2", "a2", holdfast.KindCoolingOff, t0, time.Hour))
	h.verifyOK("a1", 1, 6)
	h.verifyOK("", 2, 7)
	h.verifyOK("nobody", 0, 0)

	// fn changing the Account's copy of the head cannot move the chain.
	h.update("a1", t0, func(tx holdfast.AccountTx) error {
		tx.Account().AuditSeq, tx.Account().AuditHash = 99, "forged"
		if err := tx.SaveAccount(); err != nil {
			return err
		}
		return tx.Append(entry("a1", t0, holdfast.AuditAccountUpdated, ""))
	})
	h.verifyOK("a1", 1, 7)
}
