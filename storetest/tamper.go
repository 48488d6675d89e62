package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// Raw runs SQL statements straight on the database behind the store that
// the suite's Opener opened on dir, bypassing the store, with foreign keys
// not enforced: the way an attacker with database access would edit it.
type Raw func(t *testing.T, dir string, stmts ...string)

// Tamper edits the audit tables behind the store's back, one way per
// subtest: VerifyAudit must name exactly the tampered account and the
// first broken seq, whether it checks every chain or that one alone, and
// find the other chains intact.
func Tamper(t *testing.T, open Opener, raw Raw) {
	t.Run("log", func(t *testing.T) { tamperLog(t, open, raw) })
	const accounts, entries, victim = 3, 5, "acct-1"
	for _, tc := range []struct {
		name    string
		tamper  []string
		rehash  bool // edit seq 3's reason and give it a matching hash
		wantSeq int64
	}{
		{"edit a middle entry", []string{`UPDATE audit SET reason = 'nothing happened' WHERE account = 'acct-1' AND seq = 3`}, false, 3},
		{"delete a middle entry", []string{`DELETE FROM audit WHERE account = 'acct-1' AND seq = 3`}, false, 3},
		{"delete the last entry", []string{`DELETE FROM audit WHERE account = 'acct-1' AND seq = 5`}, false, 5},
		{"swap two entries", []string{
			`UPDATE audit SET seq = -2 WHERE account = 'acct-1' AND seq = 2`,
			`UPDATE audit SET seq = 2 WHERE account = 'acct-1' AND seq = 3`,
			`UPDATE audit SET seq = 3 WHERE account = 'acct-1' AND seq = -2`,
		}, false, 2},
		{"edit an entry and rehash it", nil, true, 4},
		{"delete the account row", []string{`DELETE FROM accounts WHERE id = 'acct-1'`}, false, entries + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, open)
			for a := range accounts {
				account := fmt.Sprintf("acct-%d", a)
				for i := range entries {
					h.update(account, t0, func(tx holdfast.AccountTx) error {
						return tx.Append(&holdfast.AuditEntry{At: t0.Add(time.Duration(i) * time.Second),
							Actor: "system", Action: holdfast.AuditApply, Reason: fmt.Sprintf("reason %d", i+1)})
					})
				}
			}
			stmts := tc.tamper
			if tc.rehash {
				e := h.history(victim)[2]
				e.Reason = "nothing happened"
				stmts = []string{fmt.Sprintf(`UPDATE audit SET reason = '%s', hash = '%s' WHERE account = 'acct-1' AND seq = 3`, e.Reason, e.ComputeHash())}
			}
			raw(t, h.dir, stmts...)
			for _, scope := range []string{"", victim} {
				rep, err := h.s.VerifyAudit(h.ctx, scope)
				if err != nil {
					t.Fatal(err)
				}
				if len(rep.Breaks) != 1 || rep.Breaks[0].Account != victim || rep.Breaks[0].Seq != tc.wantSeq {
					t.Errorf("VerifyAudit(%q) breaks = %+v, want one in %s at seq %d", scope, rep.Breaks, victim, tc.wantSeq)
				}
				if scope == "" && rep.Accounts != accounts {
					t.Errorf("VerifyAudit() checked %d accounts, want %d", rep.Accounts, accounts)
				}
			}
			for _, other := range []string{"acct-0", "acct-2"} {
				if rep, err := h.s.VerifyAudit(h.ctx, other); err != nil || !rep.OK() {
					t.Errorf("VerifyAudit(%s) = %+v, %v; want OK", other, rep, err)
				}
			}
		})
	}
}
