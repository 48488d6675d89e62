package engine

import (
	"context"
	"time"

	"github.com/holdfast/holdfast"
)

// AuthorizeWithdrawal decides a withdrawal against the restrictions read in
// the same store transaction that records the answer, so no approval can
// commit after a blocking restriction has.
func (e *Engine) AuthorizeWithdrawal(ctx context.Context, req holdfast.WithdrawalRequest) (*holdfast.Withdrawal, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	var out *holdfast.Withdrawal
	err := e.update(ctx, req.Account, func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		prev, err := tx.Withdrawal(req.ID)
		if err != nil {
			return false, err
		}
		if prev != nil {
			if !prev.Same(&req) {
				return false, holdfast.Errorf(holdfast.Conflict, "id", "withdrawal %s was already authorized with other fields", req.ID)
			}
			out = prev
			return false, nil
		}
		rules := e.rulesFor(tx.Restrictions(), now)
		check := holdfast.CheckRequest{Account: req.Account, Action: holdfast.ActionWithdraw}
		d := e.decide(rules, &check, now, []holdfast.Cause{})
		check.View = holdfast.ViewHolder
		w := &holdfast.Withdrawal{
			WithdrawalRequest: req, Outcome: holdfast.OutcomeOf(d.Effect), DecidedAt: now,
			Causes: d.Causes, HolderCauses: e.decide(rules, &check, now, []holdfast.Cause{}).Causes,
		}
		entry := &holdfast.AuditEntry{Account: req.Account, At: now, Actor: holdfast.System.String(), Action: holdfast.AuditWithdrawal, After: mustJSON(w)}
		if err := tx.Append(entry); err != nil {
			return false, err
		}
		w.Seq = entry.Seq
		if err := tx.SaveWithdrawal(w); err != nil {
			return false, err
		}
		out = w
		return false, nil
	})
	return out, err
}
