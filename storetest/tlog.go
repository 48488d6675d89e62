package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/tlog"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// logKey signs the suite's checkpoints.
func logKey(t *testing.T) (note.Signer, string) {
	t.Helper()
	skey, _, err := tlog.GenerateKey("holdfast.storetest")
	if err != nil {
		t.Fatal(err)
	}
	s, vkey, err := tlog.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s, vkey
}

// integrate logs everything queued, in batches of max.
func (h *harness) integrate(signer note.Signer, max int) *tlog.Signed {
	h.t.Helper()
	for {
		c, err := h.s.IntegrateLog(h.ctx, signer, t0, max)
		if err != nil {
			h.t.Fatalf("IntegrateLog: %v", err)
		}
		if c == nil {
			break
		}
	}
	c, err := h.s.Checkpoint(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// appendRounds appends one entry to each of accounts, rounds times, and
// integrates after every round: leaf round*accounts+a is entry round+1 of
// acct-a, and there is a checkpoint at the end of every round.
func (h *harness) appendRounds(signer note.Signer, accounts, from, rounds int, reason string) []tlog.Checkpoint {
	h.t.Helper()
	var out []tlog.Checkpoint
	for i := from; i < from+rounds; i++ {
		for a := range accounts {
			h.update(fmt.Sprintf("acct-%d", a), t0, func(tx holdfast.AccountTx) error {
				return tx.Append(&holdfast.AuditEntry{At: t0.Add(time.Duration(i) * time.Second), Actor: "system",
					Action: holdfast.AuditApply, Reason: fmt.Sprintf("%s %d", reason, i+1)})
			})
		}
		out = append(out, h.integrate(signer, 2).Checkpoint)
	}
	return out
}

// testTransparencyLog: entries appended by many accounts are logged in
// queue order; every checkpoint is signed, every entry's inclusion proof
// and every consistency proof between checkpoints verifies with the
// merkle and note libraries called directly; the log verifies.
func testTransparencyLog(t *testing.T, h *harness) {
	signer, vkey := logKey(t)
	if c, err := h.s.Checkpoint(h.ctx); err != nil || c != nil {
		t.Fatalf("Checkpoint of an empty log = %+v, %v; want none", c, err)
	}
	if c, err := h.s.IntegrateLog(h.ctx, signer, t0, 10); err != nil || c != nil {
		t.Fatalf("IntegrateLog of nothing = %+v, %v; want nil", c, err)
	}
	var cps []*tlog.Signed
	for round := range 4 {
		h.appendRounds(signer, 3, round, 1, "reason")
		c, err := h.s.Checkpoint(h.ctx)
		if err != nil {
			t.Fatal(err)
		}
		cps = append(cps, c)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	hasher := rfc6962.DefaultHasher
	for i, c := range cps {
		n, err := note.Open(c.Note, note.VerifierList(v))
		if err != nil {
			t.Fatalf("checkpoint %d: %v", i, err)
		}
		if want := c.Body(); n.Text != want || c.Size != uint64(3*(i+1)) {
			t.Fatalf("checkpoint %d: text %q, size %d", i, n.Text, c.Size)
		}
		for _, old := range cps[:i] {
			p, err := h.s.LogConsistency(h.ctx, old.Size, c.Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyConsistency(hasher, old.Size, c.Size, p, old.Root, c.Root); err != nil {
				t.Fatalf("consistency %d→%d: %v", old.Size, c.Size, err)
			}
		}
	}
	last := cps[len(cps)-1]
	for a := range 3 {
		account := fmt.Sprintf("acct-%d", a)
		for _, e := range h.history(account) {
			leaf, ok, err := h.s.LogLeaf(h.ctx, account, e.Seq)
			if err != nil || !ok || leaf != uint64((e.Seq-1)*3)+uint64(a) {
				t.Fatalf("LogLeaf(%s, %d) = %d, %v, %v; want %d", account, e.Seq, leaf, ok, err, (e.Seq-1)*3+int64(a))
			}
			got, err := h.s.LogEntry(h.ctx, leaf)
			if err != nil || got.Hash != e.Hash {
				t.Fatalf("LogEntry(%d) = %+v, %v", leaf, got, err)
			}
			p, err := h.s.LogInclusion(h.ctx, leaf, last.Size)
			if err != nil {
				t.Fatal(err)
			}
			raw := make([]byte, 32)
			fmt.Sscanf(e.Hash, "%x", &raw)
			if err := proof.VerifyInclusion(hasher, leaf, last.Size, hasher.HashLeaf(raw), p, last.Root); err != nil {
				t.Fatalf("inclusion of %s/%d: %v", account, e.Seq, err)
			}
		}
	}
	if _, err := h.s.LogInclusion(h.ctx, 0, last.Size+1); err == nil {
		t.Error("an inclusion proof in a tree larger than the log's")
	}
	if _, err := h.s.LogConsistency(h.ctx, 5, 3); err == nil {
		t.Error("a consistency proof backwards")
	}
	rep, err := h.s.VerifyLog(h.ctx, []tlog.Checkpoint{last.Checkpoint}, vkey)
	if err != nil || !rep.OK() || rep.Leaves != 12 || rep.Checkpoints != 8 {
		t.Fatalf("VerifyLog = %+v, %v; want OK, 12 leaves, 8 checkpoints (batches of 2)", rep, err)
	}
	// An entry appended and not yet integrated waits; it is no problem.
	h.update("acct-9", t0, func(tx holdfast.AccountTx) error {
		return tx.Append(&holdfast.AuditEntry{At: t0, Actor: "system", Action: holdfast.AuditApply})
	})
	if rep, err := h.s.VerifyLog(h.ctx, nil, vkey); err != nil || !rep.OK() || rep.Queued != 1 {
		t.Fatalf("VerifyLog with one queued = %+v, %v", rep, err)
	}
	// An entry rolled back with its update is never logged.
	boom := fmt.Errorf("boom")
	err = h.s.Update(h.ctx, "acct-9", t0, func(tx holdfast.AccountTx) error {
		if err := tx.Append(&holdfast.AuditEntry{At: t0, Actor: "system", Action: holdfast.AuditApply}); err != nil {
			return err
		}
		return boom
	})
	if err != boom {
		t.Fatal(err)
	}
	if c := h.integrate(signer, 100); c.Size != 13 {
		t.Fatalf("after a rolled-back append the log has %d leaves, want 13", c.Size)
	}
}

// tamperLog edits the log's tables behind the store's back, the way an
// insider with database access would hide what happened, and checks that
// VerifyLog against a checkpoint kept outside names the first leaf that
// no longer matches. Three accounts append five rounds: leaf r*3+a is
// entry r+1 of acct-a; acct-1's leaves are 1, 4, 7, 10 and 13.
func tamperLog(t *testing.T, open Opener, raw Raw) {
	const accounts, rounds = 3, 5
	// truncate drops every leaf from n on with its entry, node and later
	// checkpoints, and moves each account's head back to its last entry
	// left, so that every chain verifies.
	truncate := func(n int) []string {
		return []string{
			fmt.Sprintf(`DELETE FROM audit WHERE EXISTS (SELECT 1 FROM tlog_leaves l WHERE l.account = audit.account AND l.seq = audit.seq AND l.idx >= %d)`, n),
			fmt.Sprintf(`DELETE FROM tlog_leaves WHERE idx >= %d`, n),
			fmt.Sprintf(`DELETE FROM tlog_nodes WHERE (idx + 1) * (1 << level) > %d`, n),
			fmt.Sprintf(`DELETE FROM tlog_checkpoints WHERE size > %d`, n),
			`UPDATE accounts SET audit_seq = (SELECT count(*) FROM audit WHERE account = accounts.id),
				audit_hash = COALESCE((SELECT hash FROM audit WHERE account = accounts.id ORDER BY seq DESC LIMIT 1), '')`,
		}
	}
	for _, tc := range []struct {
		name     string
		tamper   func(h *harness) []string
		after    func(h *harness, signer note.Signer) // run after the tamper, as the store keeps working
		wantLeaf uint64
		chainsOK bool // the per-account chains still verify: only the log catches it
	}{
		{name: "tail truncated and heads moved back", tamper: func(*harness) []string { return truncate(13) }, wantLeaf: 13, chainsOK: true},
		{name: "one account's chain removed", wantLeaf: 1, chainsOK: true, tamper: func(*harness) []string {
			return []string{`DELETE FROM audit WHERE account = 'acct-1'`, `DELETE FROM accounts WHERE id = 'acct-1'`, `DELETE FROM tlog_leaves WHERE account = 'acct-1'`}
		}},
		{name: "one account's chain removed, its leaves left", wantLeaf: 1, chainsOK: true, tamper: func(*harness) []string {
			return []string{`DELETE FROM audit WHERE account = 'acct-1'`, `DELETE FROM accounts WHERE id = 'acct-1'`}
		}},
		{name: "chain replaced and re-hashed", wantLeaf: 1, chainsOK: true, tamper: rehashChain},
		{name: "entries reordered across accounts", wantLeaf: 1, chainsOK: true, tamper: func(*harness) []string {
			return []string{`UPDATE tlog_leaves SET idx = -1 WHERE idx = 1`, `UPDATE tlog_leaves SET idx = 1 WHERE idx = 2`, `UPDATE tlog_leaves SET idx = 2 WHERE idx = -1`}
		}},
		{name: "restored from an older copy", wantLeaf: 9, chainsOK: true, tamper: func(*harness) []string { return truncate(9) }},
		{name: "restored from an older copy, then appended to", wantLeaf: 9, chainsOK: true,
			tamper: func(*harness) []string { return truncate(9) },
			after:  func(h *harness, signer note.Signer) { h.appendRounds(signer, accounts, 3, 3, "after the restore") }},
		{name: "chain replaced, re-hashed and the whole tree rebuilt", wantLeaf: 0, chainsOK: true,
			tamper: func(h *harness) []string {
				return append(rehashChain(h), `DELETE FROM tlog_leaves`, `DELETE FROM tlog_nodes`, `DELETE FROM tlog_checkpoints`,
					`INSERT INTO tlog_queue (account, seq) SELECT account, seq FROM audit ORDER BY seq, account`)
			},
			after: func(h *harness, signer note.Signer) { h.integrate(signer, 100) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, open)
			signer, vkey := logKey(t)
			// Someone outside kept every round's checkpoint, as a witness
			// would.
			kept := h.appendRounds(signer, accounts, 0, rounds, "reason")
			if rep, err := h.s.VerifyLog(h.ctx, kept, vkey); err != nil || !rep.OK() {
				t.Fatalf("before tampering: VerifyLog = %+v, %v", rep, err)
			}
			raw(t, h.dir, tc.tamper(h)...)
			if tc.after != nil {
				tc.after(h, signer)
			}
			if tc.chainsOK {
				if rep, err := h.s.VerifyAudit(h.ctx, ""); err != nil || !rep.OK() {
					t.Fatalf("the tamper was meant to leave the chains consistent: %+v, %v", rep, err)
				}
			}
			rep, err := h.s.VerifyLog(h.ctx, kept, vkey)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() || rep.Problems[0].Leaf != tc.wantLeaf {
				t.Fatalf("VerifyLog = %+v; want a problem first at leaf %d", rep, tc.wantLeaf)
			}
			t.Logf("first problem: leaf %d: %s", rep.Problems[0].Leaf, rep.Problems[0].Problem)
		})
	}
}

// rehashChain rewrites every entry of acct-1 with another reason and
// re-chains it, head included, as someone who knows the hash format would.
func rehashChain(h *harness) []string {
	var stmts []string
	prev := holdfast.GenesisHash
	for _, e := range h.history("acct-1") {
		e.Reason = strings.Replace(e.Reason, "reason", "nothing to see", 1)
		e.PrevHash = prev
		e.Hash = e.ComputeHash()
		prev = e.Hash
		stmts = append(stmts, fmt.Sprintf(`UPDATE audit SET reason = '%s', prev_hash = '%s', hash = '%s' WHERE account = 'acct-1' AND seq = %d`, e.Reason, e.PrevHash, e.Hash, e.Seq))
	}
	return append(stmts, fmt.Sprintf(`UPDATE accounts SET audit_hash = '%s' WHERE id = 'acct-1'`, prev))
}
