package engine

import (
	"cmp"
	"context"
	"github.com/holdfast/holdfast/internal/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"maps"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/holdfast/holdfast"
)

var _ holdfast.EventService = (*Engine)(nil)

// Ingest runs one event through the policy's rules and records it, all in
// one transaction on the event's account: the restrictions it applies, the
// commands it emits, what it teaches about the account, and the event
// itself. A replayed event id changes nothing.
func (e *Engine) Ingest(ctx context.Context, ev holdfast.Event) (*holdfast.IngestResult, error) {
	if err := ev.Validate(); err != nil {
		return nil, err
	}
	// One policy judges the whole event (see SwitchPolicy).
	e.switching.RLock()
	defer e.switching.RUnlock()
	if ev.Type == holdfast.EventDeposit || ev.Type == holdfast.EventWithdrawalRequested {
		// Rules compare the USD value: it must be known and sane.
		if _, err := e.policy().Amounts.USDValue(ev.Asset, ev.Amount, ev.USDValue); err != nil {
			return nil, err
		}
	}
	if ev.ID == "" {
		ev.ID = newID("evt")
	}
	var (
		res    *holdfast.IngestResult
		failed []holdfast.RuleMatch
		shadow []*holdfast.ShadowOutcome
		at     time.Time
	)
	err := e.update(ctx, ev.Account, func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		failed, shadow, at = nil, nil, now
		res = &holdfast.IngestResult{Event: ev.ID, Applied: []*holdfast.Restriction{}, Extended: []*holdfast.Restriction{}, Lifted: []*holdfast.Restriction{}, Tags: []holdfast.Tag{}, Commands: []string{}, Rules: []string{}}
		seen, err := tx.Event(ev.ID)
		if err != nil || seen {
			res.Duplicate = seen
			return false, err
		}
		if ev.At.IsZero() {
			ev.At = now
		}
		in := &holdfast.RuleInput{Event: &ev, Account: tx.Account().Clone(), Now: now}
		if in.Features, err = e.features(tx, now); err != nil {
			return false, err
		}
		var matches []holdfast.RuleMatch
		if e.policy().Evaluator != nil {
			_, span := telemetry.Tracer().Start(ctx, "rules.evaluate", trace.WithAttributes(attribute.String("holdfast.event.type", string(ev.Type))))
			matches, err = e.policy().Evaluator.Match(in)
			span.SetAttributes(attribute.Int("holdfast.rules.matched", len(matches)))
			telemetry.End(span, err)
			if err != nil {
				return false, err
			}
		}
		shadow = e.shadowOutcomes(in, matches)
		for _, m := range matches {
			if m.Err != nil {
				// A rule that fails stops neither the others nor the event;
				// failing closed, it applies its restrictions and nothing
				// else (a lift on an error would be failing open).
				failed = append(failed, m)
				// The message names no rule: RuleError.Rule does.
				msg := strings.TrimPrefix(m.Err.Error(), "rule "+m.Rule.ID+": ")
				res.RuleErrors = append(res.RuleErrors, holdfast.RuleError{Rule: m.Rule.ID, Message: msg})
				if !e.policy().FailsClosed(m.Rule) {
					continue
				}
			}
			res.Rules = append(res.Rules, m.Rule.ID)
			for _, a := range m.Rule.Then {
				if m.Err != nil && a.Apply == nil {
					continue
				}
				if err := e.ruleAction(tx, now, &ev, m, a, res); err != nil {
					return false, err
				}
			}
		}
		if err := e.learn(tx, now, &ev, res); err != nil {
			return false, err
		}
		if err := tx.SaveEvent(&ev); err != nil {
			return false, err
		}
		return len(res.Applied)+len(res.Extended)+len(res.Lifted) > 0, nil
	})
	e.ruleFailed(at, &ev, failed)
	if err != nil {
		return nil, err
	}
	if !res.Duplicate {
		e.recordShadow(ctx, shadow)
	}
	return res, nil
}

// features computes what rules compare, as the account stood before the
// event.
func (e *Engine) features(tx holdfast.AccountTx, now time.Time) (holdfast.Features, error) {
	a := tx.Account()
	f := holdfast.Features{
		InactiveDays: now.Sub(a.LastActiveAt).Hours() / 24,
		DepositCount: a.Activity.DepositCount,
	}
	if f.DepositCount > 0 {
		f.DepositAvgUSD = a.Activity.DepositTotalUSD / float64(f.DepositCount)
	}
	since := now.Add(-e.policy().HighRisk.Window.Std())
	for _, t := range a.Activity.RuleRestrictions {
		if !t.Before(since) {
			f.RuleRestrictions++
		}
	}
	sum, err := e.withdrawn(tx, now)
	f.Withdrawn24hUSD, _ = sum.Float64()
	return f, err
}

// withdrawn sums the USD value of the approved and in-review withdrawals in
// the review policy's daily window.
func (e *Engine) withdrawn(tx holdfast.AccountTx, now time.Time) (*big.Rat, error) {
	return tx.WithdrawnSince(e.dailySince(now))
}

// dailySince is where the daily limit's window starts for a withdrawal
// decided at now.
func (e *Engine) dailySince(now time.Time) time.Time {
	return now.Add(-e.policy().WithdrawalReview.DailyWindow.Std())
}

// usdValue is a withdrawal's or deposit's USD value: usd_value, or the
// amount when the caller gave none, which intake allows only for a
// USD-pegged asset.
func usdValue(amount, usd string) *big.Rat {
	s := usd
	if s == "" {
		s = amount
	}
	v, ok := new(big.Rat).SetString(s)
	if !ok {
		return new(big.Rat) // validated on intake
	}
	return v
}

// ruleAction does one action of a matched rule.
func (e *Engine) ruleAction(tx holdfast.AccountTx, now time.Time, ev *holdfast.Event, m holdfast.RuleMatch, a holdfast.RuleAction, res *holdfast.IngestResult) error {
	actor := holdfast.Actor{Type: holdfast.ActorRule, ID: m.Rule.ID}
	acct := tx.Account()
	switch {
	case a.Apply != nil:
		return e.ruleApply(tx, now, ev, m, a.Apply, res)
	case a.Lift != "":
		for _, r := range slices.Clone(tx.Restrictions()) {
			if r.Kind != a.Lift {
				continue
			}
			lifted, err := e.lift(tx, now, r, actor, "rule "+m.Rule.ID+" on event "+ev.ID)
			if err != nil {
				return err
			}
			res.Lifted = append(res.Lifted, lifted.Clone())
		}
	case a.Tag != "":
		if !acct.HasTag(a.Tag) {
			acct.AddTag(a.Tag)
			res.Tags = append(res.Tags, a.Tag)
		}
	case a.Command != "":
		if slices.Contains(res.Commands, string(a.Command)) {
			return nil // two rules on one event send one command
		}
		res.Commands = append(res.Commands, string(a.Command))
		if a.Command == holdfast.CommandNotifyHolder {
			return e.notifyHolder(tx, now, cmp.Or(a.Notice, "generic"), ruleNoticeData(ev, res))
		}
		return tx.Enqueue(&holdfast.Command{ID: newID("cmd"), Account: acct.ID, Type: a.Command, Event: ev.ID, CreatedAt: now})
	}
	return nil
}

// ruleApply applies a restriction for a rule. While one of the kind (on
// the same device) is in force or to come, the rule never leaves less
// protection than it asks for: the one in force is made at least as
// strong (its end moved later, its start earlier), never weaker, and no
// second one is added.
func (e *Engine) ruleApply(tx holdfast.AccountTx, now time.Time, ev *holdfast.Event, m holdfast.RuleMatch, ap *holdfast.RuleApply, res *holdfast.IngestResult) error {
	actor := holdfast.Actor{Type: holdfast.ActorRule, ID: m.Rule.ID}
	device := ""
	if ap.Kind.IsDeviceScoped() {
		device = ev.Device
	}
	d, err := e.duration(ap.Kind, ap.Duration)
	if err != nil {
		return err
	}
	delay := ap.Delay
	if ev.NoticePeriod > 0 {
		delay = ev.NoticePeriod
	}
	start := now.Add(delay.Std())
	end := time.Time{} // until lifted
	if d != 0 && d != holdfast.Permanent {
		end = start.Add(d.Std())
	}
	reason := "rule " + m.Rule.ID + " on " + string(ev.Type) + " event " + ev.ID
	var cur *holdfast.Restriction
	for _, r := range tx.Restrictions() {
		if r.Kind != ap.Kind || r.Device != device || r.Over(now) {
			continue
		}
		if !r.StartsAt.After(start) && !endsLater(end, r.EndsAt) {
			return nil // one in force already covers what the rule asks
		}
		if cur == nil || endsLater(r.EndsAt, cur.EndsAt) {
			cur = r
		}
	}
	if cur != nil {
		if err := strengthen(tx, now, cur, start, end, actor, reason); err != nil {
			return err
		}
		res.Extended = append(res.Extended, cur.Clone())
		return nil
	}
	if m.Err != nil {
		reason += " (its condition failed to evaluate; the rule fails closed)"
	}
	req := holdfast.ApplyRequest{
		Account: ev.Account, Kind: ap.Kind, Device: device, Actor: actor, Delay: delay,
		Reason: reason,
		Origin: &holdfast.Origin{Rule: m.Rule.ID, Event: ev.ID, EventType: ev.Type, Evidence: m.Evidence, Policy: e.policy().Hash},
	}
	if ev.Disclose != nil {
		req.Disclose = ev.Disclose
	}
	if e.policy().Kind(ap.Kind).RequireReference {
		req.Reference = ev.CaseRef
	}
	if ap.Silent {
		// Nothing a watcher of the holder's screen could read: the holder
		// view shows it only as the policy's cover kind.
		hidden := false
		req.Disclose = &hidden
	}
	r, err := e.newRestriction(tx, now, req, d, true)
	if err != nil {
		return err
	}
	res.Applied = append(res.Applied, r.Clone())
	e.countRuleRestriction(tx.Account(), now, res)
	return nil
}

// countRuleRestriction keeps the high-risk window's count and tags the
// account high_risk when it reaches the policy's count.
func (e *Engine) countRuleRestriction(a *holdfast.Account, now time.Time, res *holdfast.IngestResult) {
	since := now.Add(-e.policy().HighRisk.Window.Std())
	a.Activity.RuleRestrictions = append(slices.DeleteFunc(a.Activity.RuleRestrictions, func(t time.Time) bool { return t.Before(since) }), now)
	if len(a.Activity.RuleRestrictions) >= e.policy().HighRisk.Count && !a.HasTag(holdfast.TagHighRisk) {
		a.AddTag(holdfast.TagHighRisk)
		res.Tags = append(res.Tags, holdfast.TagHighRisk)
	}
}

// learn updates what the account's history says after the rules have seen
// the event, and records the event in the audit chain.
func (e *Engine) learn(tx holdfast.AccountTx, now time.Time, ev *holdfast.Event, res *holdfast.IngestResult) error {
	a := tx.Account()
	act := &a.Activity
	switch ev.Type {
	case holdfast.EventLogin:
		if e.dormant(a, now) {
			act.ReturnedAt = now
		}
		// A device is news to the holder unless it was known, or it is
		// the account's very first.
		news := !slices.Contains(a.KnownDevices, ev.Device) && a.Security.Devices[ev.Device] == nil &&
			(len(a.KnownDevices) > 0 || len(a.Security.Devices) > 0)
		pending := slices.ContainsFunc(tx.Restrictions(), func(r *holdfast.Restriction) bool {
			return r.Kind == holdfast.KindStepUpVerification && ev.Device != "" && r.Device == ev.Device
		})
		if pending {
			if act.PendingDevices == nil {
				act.PendingDevices = map[string]string{}
			}
			act.PendingDevices[ev.Device] = ev.Country
		} else {
			knowDevice(a, ev.Device, ev.Country)
		}
		if err := e.signIn(tx, now, ev, news); err != nil {
			return err
		}
	case holdfast.EventAPIKeyCreated:
		sec := &a.Security
		if sec.APIKeys == nil {
			sec.APIKeys = map[string]*holdfast.APIKey{}
		}
		perms := make([]holdfast.Permission, len(ev.Permissions))
		for i, p := range ev.Permissions {
			perms[i] = holdfast.Permission(p)
		}
		sec.APIKeys[ev.APIKey] = &holdfast.APIKey{Permissions: perms, IPWhitelist: slices.Clone(ev.IPWhitelist), CreatedAt: now}
		sec.Rev++
	case holdfast.EventAPIKeyRevoked:
		sec := &a.Security
		k := sec.APIKeys[ev.APIKey]
		if k == nil {
			// Revoked before we heard of it: remember it as revoked.
			if sec.APIKeys == nil {
				sec.APIKeys = map[string]*holdfast.APIKey{}
			}
			k = &holdfast.APIKey{Permissions: []holdfast.Permission{}, CreatedAt: now}
			sec.APIKeys[ev.APIKey] = k
		}
		if k.RevokedAt.IsZero() {
			k.RevokedAt = now
			sec.Rev++
		}
	case holdfast.EventEmailChanged:
		if ev.Email != "" {
			a.Security.Email = ev.Email
		}
	case holdfast.EventPhoneChanged:
		if ev.Phone != "" {
			a.Security.Phone = ev.Phone
		}
	case holdfast.EventAPIActivity:
		if k := a.Security.APIKeys[ev.APIKey]; k != nil {
			k.LastUsedAt = now
		}
	case holdfast.EventVerificationCompleted:
		ended, err := e.verifyTx(tx, now, holdfast.VerifyRequest{Account: ev.Account, Device: ev.Device, Factors: ev.Factors, Actor: holdfast.System})
		if err != nil {
			return err
		}
		res.Lifted = append(res.Lifted, ended...)
		if country, ok := act.PendingDevices[ev.Device]; ok && len(ended) > 0 {
			knowDevice(a, ev.Device, country)
			delete(act.PendingDevices, ev.Device)
		}
	case holdfast.EventDeposit:
		usd, _ := usdValue(ev.Amount, ev.USDValue).Float64()
		act.DepositCount++
		act.DepositTotalUSD += usd
	case holdfast.EventWithdrawalAddressAdded:
		if act.AddressBook == nil {
			act.AddressBook = map[string]time.Time{}
		}
		act.AddressBook[ev.Address] = now
	}
	if activeEvents[ev.Type] {
		a.LastActiveAt = now
	}
	// The entry first: saving the account afterwards writes the moved chain
	// head with it, one statement instead of two.
	if err := tx.Append(&holdfast.AuditEntry{Account: a.ID, At: now, Actor: holdfast.System.String(), Action: holdfast.AuditEvent, After: mustJSON(ev)}); err != nil {
		return err
	}
	return tx.SaveAccount()
}

// activeEvents are the holder's own doings: they end dormancy.
var activeEvents = map[holdfast.EventType]bool{
	holdfast.EventLogin: true, holdfast.EventPasswordChanged: true, holdfast.EventPasswordReset: true,
	holdfast.EventTwoFactorChanged: true, holdfast.EventEmailChanged: true, holdfast.EventPhoneChanged: true,
	holdfast.EventWithdrawalAddressAdded: true, holdfast.EventWithdrawalRequested: true,
	holdfast.EventAPIActivity: true, holdfast.EventAPIKeyCreated: true, holdfast.EventAPIKeyRevoked: true,
}

func knowDevice(a *holdfast.Account, device, country string) {
	if device != "" && !slices.Contains(a.KnownDevices, device) {
		a.KnownDevices = append(a.KnownDevices, device)
	}
	if country != "" && !slices.Contains(a.KnownCountries, country) {
		a.KnownCountries = append(a.KnownCountries, country)
	}
}

// signIn records a login's session and device, keeping the newest
// max_sessions sessions, and tells the holder about a new device.
func (e *Engine) signIn(tx holdfast.AccountTx, now time.Time, ev *holdfast.Event, newDevice bool) error {
	a := tx.Account()
	sec := &a.Security
	if ev.Session != "" {
		if sec.Sessions == nil {
			sec.Sessions = map[string]*holdfast.Session{}
		}
		sec.Sessions[ev.Session] = &holdfast.Session{Device: ev.Device, IP: ev.IP, Country: ev.Country, StartedAt: now}
		if over := len(sec.Sessions) - e.policy().Security.MaxSessions; over > 0 {
			ids := slices.Sorted(maps.Keys(sec.Sessions))
			slices.SortStableFunc(ids, func(x, y string) int { return sec.Sessions[x].StartedAt.Compare(sec.Sessions[y].StartedAt) })
			for _, id := range ids[:over] {
				delete(sec.Sessions, id)
			}
		}
		sec.Rev++
	}
	if ev.Device == "" {
		return nil
	}
	d := sec.Devices[ev.Device]
	if d != nil {
		d.LastSeen, d.Country, d.IP = now, ev.Country, ev.IP
		return nil
	}
	if sec.Devices == nil {
		sec.Devices = map[string]*holdfast.Device{}
	}
	sec.Devices[ev.Device] = &holdfast.Device{FirstSeen: now, LastSeen: now, Country: ev.Country, IP: ev.IP}
	if !newDevice {
		return nil
	}
	return e.notifyHolder(tx, now, noticeNewDevice, map[string]string{"device": ev.Device, "country": ev.Country, "ip": ev.IP})
}

// ruleNoticeData fills a rule's holder notice with the disclosable
// restriction the event applied, if any (a sanctions notice names when the
// restriction starts).
func ruleNoticeData(ev *holdfast.Event, res *holdfast.IngestResult) map[string]string {
	d := map[string]string{"event": string(ev.Type)}
	for _, r := range slices.Backward(res.Applied) {
		if r.Disclose {
			d["kind"], d["starts_at"] = string(r.Kind), r.StartsAt.UTC().Format(time.RFC3339)
			break
		}
	}
	return d
}

// strengthen makes r cover at least [start, end) (zero end: until
// lifted): its end moves later and a start still to come moves earlier,
// never the other way. It is an extension in the audit log.
func strengthen(tx holdfast.AccountTx, now time.Time, r *holdfast.Restriction, start, end time.Time, actor holdfast.Actor, reason string) error {
	before := r.Clone()
	if start.Before(r.StartsAt) {
		r.StartsAt = start
	}
	if endsLater(end, r.EndsAt) {
		r.EndsAt = end
	}
	if err := tx.SaveRestriction(r); err != nil {
		return err
	}
	return audit(tx, now, actor, holdfast.AuditExtend, before, r, reason)
}

// moveEndLater moves r's end to end if that is later (a rolling window),
// with its audit entry, and reports whether it moved.
func moveEndLater(tx holdfast.AccountTx, now time.Time, r *holdfast.Restriction, end time.Time, actor holdfast.Actor, reason string) (bool, error) {
	if !end.After(r.EndsAt) {
		return false, nil
	}
	before := r.Clone()
	r.EndsAt = end
	if err := tx.SaveRestriction(r); err != nil {
		return false, err
	}
	return true, audit(tx, now, actor, holdfast.AuditExtend, before, r, reason)
}
