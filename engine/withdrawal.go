package engine

import (
	"context"
	"github.com/holdfast/holdfast/internal/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"math/big"
	"slices"
	"time"

	"github.com/holdfast/holdfast"
)

// AuthorizeWithdrawal decides a withdrawal against the restrictions read in
// the same store transaction that records the answer, so no approval can
// commit after a blocking restriction has.
func (e *Engine) AuthorizeWithdrawal(ctx context.Context, req holdfast.WithdrawalRequest) (w *holdfast.Withdrawal, err error) {
	ctx, span := telemetry.Tracer().Start(ctx, "engine.authorize_withdrawal")
	defer func() {
		if w != nil {
			span.SetAttributes(attribute.String("holdfast.outcome", string(w.Outcome)))
		}
		telemetry.End(span, err)
	}()
	if err := req.Validate(); err != nil {
		return nil, err
	}
	// One policy's thresholds decide the whole withdrawal.
	e.switching.RLock()
	defer e.switching.RUnlock()
	usd, err := e.policy().Amounts.USDValue(req.Asset, req.Amount, req.USDValue)
	if err != nil {
		return nil, err
	}
	if req.AvailableBalance != "" {
		if err := e.policy().Amounts.Balance("available_balance", req.AvailableBalance); err != nil {
			return nil, err
		}
	}
	var out *holdfast.Withdrawal
	err = e.update(ctx, req.Account, func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		if err := tx.PrefetchWithdrawal(req.ID, e.dailySince(now)); err != nil {
			return false, err
		}
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
		rules := e.rulesFor(committed(tx.Restrictions(), now), now)
		if e.broken {
			rules = nil
			if entry := e.index.get(req.Account); entry != nil {
				rules = entry.rules
			}
		}
		check := holdfast.CheckRequest{Account: req.Account, Action: holdfast.ActionWithdraw}
		d := e.decide(rules, &check, now, []holdfast.Cause{})
		check.View = holdfast.ViewHolder
		w := &holdfast.Withdrawal{
			WithdrawalRequest: req, Outcome: holdfast.OutcomeOf(d.Effect), DecidedAt: now, Policy: e.policy().Hash,
			Causes: d.Causes, HolderCauses: e.decide(rules, &check, now, []holdfast.Cause{}).Causes,
		}
		reviews, err := e.reviews(tx, now, &req, usd)
		if err != nil {
			return false, err
		}
		if len(reviews) > 0 {
			w.Outcome = holdfast.OutcomeOf(max(d.Effect, holdfast.Review))
			w.Causes = append(w.Causes, reviews...)
			w.HolderCauses = append(w.HolderCauses, reviews...)
		}
		if c, ok := holdCause(tx.Account(), &req); ok {
			w.Outcome = holdfast.DenyOutcome
			w.Causes = append(w.Causes, c)
			w.HolderCauses = append(w.HolderCauses, c)
		}
		if c, ok := whitelistCause(tx.Account(), req.Address, now); ok {
			w.Outcome = holdfast.DenyOutcome
			w.Causes = append(w.Causes, c)
			w.HolderCauses = append(w.HolderCauses, c)
		}
		if wa := tx.Account().Security.Whitelist.Addresses[req.Address]; wa != nil && w.Outcome != holdfast.DenyOutcome {
			wa.LastUsedAt = now // for the checkup's unused addresses
			if err := tx.SaveAccount(); err != nil {
				return false, err
			}
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

// reviews applies the policy's withdrawal-review rules to a withdrawal
// worth usd: each that holds is a cause with effect review.
func (e *Engine) reviews(tx holdfast.AccountTx, now time.Time, req *holdfast.WithdrawalRequest, usd *big.Rat) ([]holdfast.Cause, error) {
	wr := e.policy().WithdrawalReview
	a := tx.Account()
	var out []holdfast.Cause
	add := func(code string) { out = append(out, reviewCause(code)) }

	limit := wr.SingleUSD
	if a.HasTag(holdfast.TagPreviouslyCompromised) {
		limit = wr.SingleUSDPreviouslyCompromised
	}
	if usd.Cmp(rat(limit)) > 0 {
		add("single_over_limit")
	}
	sum, err := e.withdrawn(tx, now)
	if err != nil {
		return nil, err
	}
	if sum.Add(sum, usd).Cmp(rat(wr.DailyUSD)) > 0 {
		add("daily_over_limit")
	}
	if added, ok := a.Activity.AddressBook[req.Address]; ok && now.Sub(added) < wr.NewAddressWindow.Std() {
		add("new_address")
	}
	returned := !a.Activity.ReturnedAt.IsZero() && now.Sub(a.Activity.ReturnedAt) < wr.DormantReturnWindow.Std()
	if returned || e.dormant(a, now) {
		add("dormant_return")
	}
	return out, nil
}

func rat(f float64) *big.Rat { return new(big.Rat).SetFloat64(f) }

// reviewTexts tell the holder why a withdrawal waits for review.
var reviewTexts = map[string]string{
	"single_over_limit": "This withdrawal is larger than we send without a review. It is held for review for up to 24 hours.",
	"daily_over_limit":  "Your withdrawals in the last 24 hours add up to more than we send without a review. This one is held for review for up to 24 hours.",
	"new_address":       "The destination was added to your address book less than 24 hours ago. The withdrawal is held for review for up to 24 hours.",
	"dormant_return":    "Your account was inactive for a long time. Withdrawals in the first 24 hours after your return are reviewed before they are sent.",
}

func reviewCause(code string) holdfast.Cause {
	return holdfast.Cause{
		Review: code, Effect: holdfast.Review, Message: reviewTexts[code],
		Resolution: []string{"No action is needed; you can add documentation or complete enhanced verification in the Security Center to help the review."},
	}
}

// whitelistCause denies a withdrawal to an address the holder's enabled
// whitelist does not hold, or holds but not yet usable.
func whitelistCause(a *holdfast.Account, address string, now time.Time) (holdfast.Cause, bool) {
	wl := &a.Security.Whitelist
	if !wl.Enabled {
		return holdfast.Cause{}, false
	}
	w := wl.Addresses[address]
	switch {
	case w == nil:
		return holdfast.Cause{
			Review: "not_whitelisted", Effect: holdfast.Deny,
			Message:    "Your withdrawal whitelist is on and this address is not on it.",
			Resolution: []string{"Add the address to your whitelist in the Security Center; it becomes usable after the waiting period."},
		}, true
	case now.Before(w.UsableAt):
		return holdfast.Cause{
			Review: "whitelist_pending", Effect: holdfast.Deny, EndsAt: w.UsableAt,
			Message:    "This address was added to your whitelist recently and cannot be used yet.",
			Resolution: []string{"Wait until the address becomes usable, at " + w.UsableAt.UTC().Format(time.RFC3339) + "."},
		}, true
	}
	return holdfast.Cause{}, false
}

// holdCause denies a withdrawal that would take the available balance of
// an asset below what approved appeals keep held (or that does not say
// what the balance is, so the hold cannot be checked).
func holdCause(a *holdfast.Account, req *holdfast.WithdrawalRequest) (holdfast.Cause, bool) {
	held := new(big.Rat)
	for _, h := range a.Holds {
		if h.Asset == req.Asset {
			v, _ := new(big.Rat).SetString(h.Amount)
			held.Add(held, v)
		}
	}
	if held.Sign() == 0 {
		return holdfast.Cause{}, false
	}
	c := holdfast.Cause{
		Review: "amount_hold", Effect: holdfast.Deny,
		Message:    "Part of your " + req.Asset + " balance (" + held.FloatString(8) + ") stays held after your source-of-funds review; this withdrawal would take your balance below it.",
		Resolution: []string{"Withdraw no more than your balance above the held amount.", "Contact support if you believe the hold should end."},
	}
	if req.AvailableBalance == "" {
		c.Message = "Part of your " + req.Asset + " balance stays held after your source-of-funds review, and this request does not say your available balance."
		return c, true
	}
	avail, _ := new(big.Rat).SetString(req.AvailableBalance)
	amount, _ := new(big.Rat).SetString(req.Amount)
	if avail.Sub(avail, amount).Cmp(held) < 0 {
		return c, true
	}
	return holdfast.Cause{}, false
}

// committed returns the restrictions a linearizable decision at now must
// honour: a restriction that took effect when it was committed counts even
// if the committing node's clock ran ahead of this one's (its start is
// after now only by clock skew), because its commit came first. Delayed
// restrictions (a sanctions notice period) still start when they say.
func committed(rs []*holdfast.Restriction, now time.Time) []*holdfast.Restriction {
	out, cloned := rs, false
	for i, r := range rs {
		if r.StartsAt.After(now) && !r.StartsAt.After(r.CreatedAt) {
			if !cloned {
				out, cloned = slices.Clone(rs), true
			}
			c := r.Clone()
			c.StartsAt = now
			out[i] = c
		}
	}
	return out
}
