package policy

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"github.com/holdfast/holdfast"
)

// checker makes the semantic checks on a decoded policy. Each problem names
// the YAML path of the field at fault; its line is that field's, or for a
// missing field the line of the nearest enclosing field that is present.
type checker struct {
	lines  map[string]int
	issues []issue
	policy *holdfast.Policy
}

func (c *checker) errorf(path, format string, args ...any) {
	c.issues = append(c.issues, issue{line: c.line(path), field: path, msg: fmt.Sprintf(format, args...)})
}

func (c *checker) has(path string) bool { _, ok := c.lines[path]; return ok }

func (c *checker) line(path string) int {
	for {
		if l, ok := c.lines[path]; ok {
			return l
		}
		if path == "" {
			return 1
		}
		path = parent(path)
	}
}

// parent strips the last element of a path: "a.b[2]" → "a.b" → "a" → "".
func parent(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

func check(p *holdfast.Policy, lines map[string]int) []issue {
	c := &checker{lines: lines, policy: p}
	switch {
	case !c.has("version"):
		c.errorf("version", "version is required (1)")
	case p.Version != 1:
		c.errorf("version", "version %d is not supported; this build reads version 1", p.Version)
	}
	c.span("four_eyes_expiry", p.FourEyesExpiry, true)
	// Required: leaving it out would quietly turn dormancy checks off.
	c.span("dormant_after", p.DormantAfter, true)
	if len(p.StepUpFactors) == 0 {
		c.errorf("step_up_factors", "step_up_factors needs at least one factor, or a step-up on an account without bound factors could never end")
	}
	for i, f := range p.StepUpFactors {
		path := fmt.Sprintf("step_up_factors[%d]", i)
		switch {
		case !f.Valid():
			c.errorf(path, "unknown factor %q (want %s)", f, list(holdfast.Factors))
		case slices.Index(p.StepUpFactors, f) < i:
			c.errorf(path, "%s is listed twice", f)
		}
	}
	c.kinds(p)
	c.undisclosed(p)
	c.selfService(p)
	c.triggers(p)
	c.security(p)
	c.cases(p)
	c.gateway(p)
	return c.issues
}

func (c *checker) kinds(p *holdfast.Policy) {
	for _, k := range holdfast.Kinds {
		if _, ok := p.Kinds[k]; !ok {
			c.errorf("kinds."+string(k), "kind %s is missing; every kind needs its settings", k)
		}
	}
	keys := make([]holdfast.Kind, 0, len(p.Kinds))
	for k := range p.Kinds {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		path := "kinds." + string(k)
		if !k.Valid() {
			c.errorf(path, "unknown kind %q", k)
			continue
		}
		c.kind(path, k, p.Kinds[k], p)
	}
}

func (c *checker) kind(path string, k holdfast.Kind, kp *holdfast.KindPolicy, p *holdfast.Policy) {
	if kp == nil {
		c.errorf(path, "%s has no settings", k)
		return
	}
	if kp.Level != "" && !slices.Contains(levels, kp.Level) {
		c.errorf(path+".level", "unknown level %q (want one of %s, or leave it out)", kp.Level, strings.Join(levels, ", "))
	}
	c.blocks(path+".blocks", kp.Blocks)
	// A forgotten disclose would silently hide the restriction from its
	// holder, so it must be written out.
	if !c.has(path + ".disclose") {
		c.errorf(path+".disclose", "disclose is required: true, or false to hide the restriction from its holder")
	}
	c.holderText(path+".holder", kp.Holder)
	c.durations(path, kp)
	c.roles(path+".apply", kp.Apply)
	c.lift(path+".lift", k, kp.Lift)
	c.roles(path+".see_reason", kp.SeeReason)
	if kp.OnLift != nil {
		c.onLift(path+".on_lift", kp.OnLift, p)
	}
}

// undisclosed checks the cover of non-disclosable restrictions: a holder
// must not be able to tell a hidden restriction from a real one of that
// kind by anything it shows or does.
func (c *checker) undisclosed(p *holdfast.Policy) {
	const path = "undisclosed.as"
	k, kp := p.Cover()
	switch {
	case k == "":
		c.errorf(path, "as is required: the kind a restriction hidden from its holder is shown as (terms_violation)")
		return
	case !k.Valid():
		c.errorf(path, "unknown kind %q", k)
		return
	case kp == nil:
		return // reported with the kinds
	case !kp.Disclose:
		c.errorf(path, "%s is itself hidden; the cover must be a kind holders are shown", k)
	case kp.DefaultDuration != 0 && kp.DefaultDuration != holdfast.Permanent:
		c.errorf(path, "%s has a default_duration: a real one would show an end that a hidden one cannot", k)
	case kp.ExtendByHolder:
		c.errorf(path, "%s may be extended by its holder, who could then tell a hidden one apart", k)
	case k == holdfast.KindStepUpVerification:
		c.errorf(path, "%s is device-scoped; the cover must cover the whole account", k)
	}
	for _, t := range holdfast.CaseTypes {
		if tp := p.Cases.Types[t]; tp != nil && slices.Contains(tp.Ends, k) {
			c.errorf(path, "a %s case can end %s, which a holder could open for a real one but not a hidden one", t, k)
		}
	}
	// A hidden restriction blocks what its cover blocks as well (the
	// engine adds it), so it can block no more than the cover only if the
	// cover blocks, at least as strongly, everything any kind blocks.
	cover := kp.Blocks.Table()
	for _, other := range slices.Sorted(maps.Keys(p.Kinds)) {
		if okp := p.Kinds[other]; okp != nil && other.Valid() {
			t := okp.Blocks.Table()
			for i, a := range holdfast.Actions {
				if t[i] > cover[i] {
					c.errorf(path, "%s is %s for %s and %s is not: a restriction of that kind hidden behind it could be told apart (the cover must block everything any kind blocks)", other, t[i], a, k)
				}
			}
		}
	}
}

var levels = []string{"L0", "L1", "L2", "L3", "L4", "L5"}

func (c *checker) blocks(path string, b holdfast.Blocks) {
	c.actions(path+".deny", b.Deny)
	c.actions(path+".deny_all_except", b.DenyAllExcept)
	c.actions(path+".review", b.Review)
	if len(b.Deny) == 0 && len(b.Review) == 0 && b.DenyAllExcept == nil {
		c.errorf(path, "the kind blocks nothing: list actions under deny, deny_all_except or review")
	}
	// Overlaps are resolved by Compile (deny wins), but they almost always
	// mean the author meant something else.
	for i, a := range b.Deny {
		if slices.Contains(b.DenyAllExcept, a) {
			c.errorf(fmt.Sprintf("%s.deny[%d]", path, i), "%s is both denied and excepted in deny_all_except", a)
		}
	}
	for i, a := range b.Review {
		p := fmt.Sprintf("%s.review[%d]", path, i)
		switch {
		case slices.Contains(b.Deny, a):
			c.errorf(p, "%s is both denied and reviewed; list it under one effect", a)
		case b.DenyAllExcept != nil && !slices.Contains(b.DenyAllExcept, a):
			c.errorf(p, "reviewing %s has no effect: deny_all_except already denies it", a)
		}
	}
}

func (c *checker) actions(path string, as []holdfast.Action) {
	for i, a := range as {
		p := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case !a.Valid():
			c.errorf(p, "unknown action %q (want %s)", a, list(holdfast.Actions))
		case slices.Index(as, a) < i:
			c.errorf(p, "%s is listed twice", a)
		}
	}
}

func (c *checker) roles(path string, rs []holdfast.Role) {
	for i, r := range rs {
		p := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case !r.Valid():
			c.errorf(p, "unknown role %q (want %s)", r, list(holdfast.Roles))
		case slices.Index(rs, r) < i:
			c.errorf(p, "%s is listed twice", r)
		}
	}
}

func (c *checker) holderText(path string, h holdfast.HolderText) {
	if strings.TrimSpace(h.Message) == "" {
		c.errorf(path+".message", "a message is required: it is what the holder is shown")
	}
	for i, s := range h.Resolution {
		if strings.TrimSpace(s) == "" {
			c.errorf(fmt.Sprintf("%s.resolution[%d]", path, i), "a resolution step is empty")
		}
	}
}

// span checks a duration that must be a positive span (not permanent).
func (c *checker) span(path string, d holdfast.Duration, required bool) {
	switch {
	case d == holdfast.Permanent:
		c.errorf(path, "%s cannot be permanent", last(path))
	case d == 0 && c.has(path):
		c.errorf(path, "%s must be longer than zero", last(path))
	case d == 0 && required:
		c.errorf(path, "%s is required", last(path))
	}
}

// spanOrPermanent checks a duration that may also be permanent.
func (c *checker) spanOrPermanent(path string, d holdfast.Duration, required bool) {
	if d != holdfast.Permanent {
		c.span(path, d, required)
	}
}

func (c *checker) durations(path string, kp *holdfast.KindPolicy) {
	c.span(path+".min_duration", kp.MinDuration, false)
	c.span(path+".max_duration", kp.MaxDuration, false)
	if kp.MinDuration > 0 && kp.MaxDuration > 0 && kp.MinDuration > kp.MaxDuration {
		c.errorf(path+".min_duration", "min_duration %s is longer than max_duration %s", kp.MinDuration, kp.MaxDuration)
	}
	if kp.Durations != nil && len(kp.Durations) == 0 {
		c.errorf(path+".durations", "durations, when given, must list at least one duration")
	}
	for i, d := range kp.Durations {
		p := fmt.Sprintf("%s.durations[%d]", path, i)
		c.spanOrPermanent(p, d, true)
		if d == 0 {
			continue
		}
		if slices.Index(kp.Durations, d) < i {
			c.errorf(p, "%s is listed twice", d)
		} else if why := fits(kp, d); why != "" {
			c.errorf(p, "%s %s", d, why)
		}
	}
	c.spanOrPermanent(path+".default_duration", kp.DefaultDuration, false)
	if d := kp.DefaultDuration; d != 0 {
		if why := fits(kp, d); why != "" {
			c.errorf(path+".default_duration", "default_duration %s %s", d, why)
		}
	}
}

// fits says why kp does not allow a request for d ("" if it does): the test
// the engine makes when a restriction of the kind is applied.
func fits(kp *holdfast.KindPolicy, d holdfast.Duration) string {
	switch {
	case len(kp.Durations) > 0 && !slices.Contains(kp.Durations, d):
		return fmt.Sprintf("is not one of the kind's durations %v", kp.Durations)
	case d == holdfast.Permanent && kp.MaxDuration > 0:
		return fmt.Sprintf("cannot be permanent: the kind's max_duration is %s", kp.MaxDuration)
	case d == holdfast.Permanent:
		return ""
	case kp.MinDuration > 0 && d < kp.MinDuration:
		return fmt.Sprintf("is shorter than the kind's min_duration %s", kp.MinDuration)
	case kp.MaxDuration > 0 && d > kp.MaxDuration:
		return fmt.Sprintf("is longer than the kind's max_duration %s", kp.MaxDuration)
	}
	return ""
}

// liftFields says which lift fields each mode uses; any other field present
// is a mistake (an immutable kind with roles was probably meant otherwise).
var liftFields = map[holdfast.LiftMode][]string{
	holdfast.LiftDirect:         {"roles", "requires"},
	holdfast.LiftFourEyes:       {"ask", "approve", "distinct_roles"},
	holdfast.LiftImmutable:      nil,
	holdfast.LiftByCase:         nil,
	holdfast.LiftByVerification: nil,
}

func (c *checker) lift(path string, k holdfast.Kind, r holdfast.LiftRule) {
	allowed, ok := liftFields[r.Mode]
	switch {
	case r.Mode == "":
		c.errorf(path+".mode", "lift.mode is required (direct, four_eyes, immutable, case or verification)")
		return
	case !ok:
		c.errorf(path+".mode", "unknown lift mode %q (want direct, four_eyes, immutable, case or verification)", r.Mode)
		return
	case k == holdfast.KindPanicLock && r.Mode != holdfast.LiftImmutable:
		// docs/design.md: nobody, not even an admin, may end a panic lock early;
		// that is what makes it worth nothing to an attacker.
		c.errorf(path+".mode", "panic_lock must be immutable: nobody may end it early")
	}
	for _, f := range []string{"roles", "requires", "ask", "approve", "distinct_roles"} {
		if c.has(path+"."+f) && !slices.Contains(allowed, f) {
			c.errorf(path+"."+f, "%s does not apply to a %s lift", f, r.Mode)
		}
	}
	switch r.Mode {
	case holdfast.LiftDirect:
		if len(r.Roles) == 0 {
			c.errorf(path+".roles", "a direct lift needs the roles that may lift")
		}
		c.roles(path+".roles", r.Roles)
		c.requires(path+".requires", r)
	case holdfast.LiftFourEyes:
		if len(r.Ask) == 0 {
			c.errorf(path+".ask", "a four_eyes lift needs the roles that may ask")
		}
		if len(r.Approve) == 0 {
			c.errorf(path+".approve", "a four_eyes lift needs the roles that may approve")
		}
		c.roles(path+".ask", r.Ask)
		c.roles(path+".approve", r.Approve)
		if r.DistinctRoles {
			union := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(r.Ask), r.Approve...))))
			if len(union) < 2 {
				c.errorf(path+".distinct_roles", "distinct_roles needs at least two roles among ask and approve")
			}
		}
	}
}

func (c *checker) requires(path string, r holdfast.LiftRule) {
	roles := make([]holdfast.Role, 0, len(r.Requires))
	for role := range r.Requires {
		roles = append(roles, role)
	}
	slices.Sort(roles)
	for _, role := range roles {
		p := path + "." + string(role)
		switch {
		case !role.Valid():
			c.errorf(p, "unknown role %q (want %s)", role, list(holdfast.Roles))
		case !slices.Contains(r.Roles, role):
			c.errorf(p, "%s is not among lift.roles, so its preconditions would never apply", role)
		}
		for i, pre := range r.Requires[role] {
			if !slices.Contains(preconditions, pre) {
				c.errorf(fmt.Sprintf("%s[%d]", p, i), "unknown precondition %q (want %s)", pre, list(preconditions))
			}
		}
	}
}

var preconditions = []holdfast.Precondition{holdfast.UnfreezeRequested, holdfast.IdentityReverified}

func (c *checker) onLift(path string, o *holdfast.OnLift, p *holdfast.Policy) {
	if o.Tag == "" && o.Apply == "" {
		c.errorf(path, "on_lift needs a tag, a kind to apply, or both")
	}
	if o.Tag != "" && !o.Tag.Valid() {
		c.errorf(path+".tag", "unknown tag %q (want %s)", o.Tag, list(holdfast.Tags))
	}
	if o.Apply != "" && !o.Apply.Valid() {
		c.errorf(path+".apply", "unknown kind %q", o.Apply)
	}
	if o.For == 0 && !c.has(path+".for") {
		return // the applied kind's default_duration
	}
	if o.Apply == "" {
		c.errorf(path+".for", "for is the duration of the applied kind; it needs apply")
		return
	}
	c.spanOrPermanent(path+".for", o.For, false)
	if kp := p.Kinds[o.Apply]; kp != nil && o.For != 0 {
		if why := fits(kp, o.For); why != "" {
			c.errorf(path+".for", "%s %s (%s)", o.For, why, o.Apply)
		}
	}
}

func (c *checker) selfService(p *holdfast.Policy) {
	const path = "self_service"
	ss := p.SelfService
	freeze, panicLock := p.Kinds[holdfast.KindSelfFreeze], p.Kinds[holdfast.KindPanicLock]

	if len(ss.FreezeDurations) == 0 {
		c.errorf(path+".freeze_durations", "freeze_durations needs at least one duration a holder can choose")
	}
	for i, d := range ss.FreezeDurations {
		fp := fmt.Sprintf("%s.freeze_durations[%d]", path, i)
		c.spanOrPermanent(fp, d, true)
		switch {
		case d == 0:
		case slices.Index(ss.FreezeDurations, d) < i:
			c.errorf(fp, "%s is listed twice", d)
		case freeze != nil && fits(freeze, d) != "":
			c.errorf(fp, "%s %s (kinds.self_freeze)", d, fits(freeze, d))
		}
	}
	c.spanOrPermanent(path+".secure_account_freeze", ss.SecureAccountFreeze, true)
	if d := ss.SecureAccountFreeze; d != 0 && freeze != nil && fits(freeze, d) != "" {
		c.errorf(path+".secure_account_freeze", "%s %s (kinds.self_freeze)", d, fits(freeze, d))
	}

	c.span(path+".panic_lock_min", ss.PanicLockMin, true)
	c.span(path+".panic_lock_max", ss.PanicLockMax, true)
	c.span(path+".panic_lock_default", ss.PanicLockDefault, true)
	c.span(path+".panic_lock_max_total", ss.PanicLockMaxTotal, true)
	c.roles(path+".panic_lock_extension_approve", ss.PanicLockExtensionApprove)
	if len(ss.PanicLockExtensionApprove) == 0 {
		c.errorf(path+".panic_lock_extension_approve", "panic_lock_extension_approve needs at least one staff role to approve extensions past panic_lock_max_total")
	}
	lo, hi, def := ss.PanicLockMin, ss.PanicLockMax, ss.PanicLockDefault
	if lo <= 0 || hi <= 0 || def <= 0 {
		return
	}
	if lo > hi {
		c.errorf(path+".panic_lock_min", "panic_lock_min %s is longer than panic_lock_max %s", lo, hi)
	} else if def < lo || def > hi {
		c.errorf(path+".panic_lock_default", "panic_lock_default %s is outside %s–%s", def, lo, hi)
	}
	if total := ss.PanicLockMaxTotal; total > 0 && total < hi {
		c.errorf(path+".panic_lock_max_total", "panic_lock_max_total %s is shorter than panic_lock_max %s: a single press could pass it", total, hi)
	}
	if panicLock == nil {
		return
	}
	for _, b := range []struct {
		field string
		d     holdfast.Duration
	}{{"panic_lock_min", lo}, {"panic_lock_max", hi}, {"panic_lock_default", def}} {
		if why := fits(panicLock, b.d); why != "" {
			c.errorf(path+"."+b.field, "%s %s (kinds.panic_lock)", b.d, why)
		}
	}
}

// last is a path's final element, for messages.
func last(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}

func list[T ~string](vs []T) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

func (c *checker) security(p *holdfast.Policy) {
	const path = "security"
	s := p.Security
	for _, n := range []struct {
		field string
		v     int
	}{{"max_sessions", s.MaxSessions}, {"max_trusted_contacts", s.MaxTrustedContacts}, {"max_whitelist_addresses", s.MaxWhitelistAddresses}, {"notify_limit", s.NotifyLimit}, {"self_service_limit", s.SelfServiceLimit}} {
		if n.v <= 0 {
			c.errorf(path+"."+n.field, "%s must be a positive number", n.field)
		}
	}
	for _, d := range []struct {
		field string
		v     holdfast.Duration
	}{
		{"whitelist_delay", s.WhitelistDelay}, {"security_change_cooling_off", s.SecurityChangeCoolingOff},
		{"settings_unlock_delay_min", s.SettingsUnlockDelayMin}, {"settings_unlock_delay_max", s.SettingsUnlockDelayMax},
		{"notify_window", s.NotifyWindow}, {"expiring_notice", s.ExpiringNotice}, {"self_service_window", s.SelfServiceWindow},
		{"checkup.new_device_window", s.Checkup.NewDeviceWindow}, {"checkup.key_unused_after", s.Checkup.KeyUnusedAfter},
		{"checkup.address_unused_after", s.Checkup.AddressUnusedAfter}, {"checkup.recent_restriction_within", s.Checkup.RecentRestrictionWithin},
	} {
		c.span(path+"."+d.field, d.v, true)
	}
	c.networks(path+".whitelist_networks", s.WhitelistNetworks)
	if lo, hi := s.SettingsUnlockDelayMin, s.SettingsUnlockDelayMax; lo > 0 && hi > 0 && lo > hi {
		c.errorf(path+".settings_unlock_delay_min", "settings_unlock_delay_min %s is longer than settings_unlock_delay_max %s", lo, hi)
	}
	if co := p.Kinds[holdfast.KindCoolingOff]; co != nil && s.SecurityChangeCoolingOff > 0 {
		if why := fits(co, s.SecurityChangeCoolingOff); why != "" {
			c.errorf(path+".security_change_cooling_off", "%s %s (kinds.cooling_off)", s.SecurityChangeCoolingOff, why)
		}
	}
	// A kind whose own bounds are broken is reported there.
	if sl := p.Kinds[holdfast.KindSettingsLock]; sl != nil && (sl.MinDuration == 0 || sl.MaxDuration == 0 || sl.MinDuration <= sl.MaxDuration) {
		for _, d := range []struct {
			field string
			v     holdfast.Duration
		}{{"settings_unlock_delay_min", s.SettingsUnlockDelayMin}, {"settings_unlock_delay_max", s.SettingsUnlockDelayMax}} {
			if why := fits(sl, d.v); d.v > 0 && why != "" {
				c.errorf(path+"."+d.field, "%s %s (kinds.settings_lock)", d.v, why)
			}
		}
	}
	if len(s.KeyPermissions) == 0 {
		c.errorf(path+".key_permissions", "key_permissions must say what read, trade and withdraw keys may do")
	}
	for perm, actions := range s.KeyPermissions {
		pp := path + ".key_permissions." + string(perm)
		if perm != holdfast.PermRead && perm != holdfast.PermTrade && perm != holdfast.PermWithdraw {
			c.errorf(pp, "unknown permission %q (want read, trade or withdraw)", perm)
		}
		for i, a := range actions {
			if !a.Valid() {
				c.errorf(fmt.Sprintf("%s[%d]", pp, i), "unknown action %q", a)
			}
		}
	}
}

func (c *checker) cases(p *holdfast.Policy) {
	const path = "cases"
	for _, t := range holdfast.CaseTypes {
		tp := p.Cases.Types[t]
		pp := path + ".types." + string(t)
		if tp == nil {
			c.errorf(pp, "case type %s is missing; every type needs its settings", t)
			continue
		}
		c.span(pp+".due", tp.Due, true)
		if len(tp.Ends) == 0 {
			c.errorf(pp+".ends", "ends must name the kinds a %s case can end", t)
		}
		for i, k := range tp.Ends {
			kp := p.Kinds[k]
			switch {
			case !k.Valid():
				c.errorf(fmt.Sprintf("%s.ends[%d]", pp, i), "unknown kind %q", k)
			case kp == nil:
			case kp.Lift.Mode == holdfast.LiftImmutable || kp.Lift.Mode == holdfast.LiftByVerification:
				c.errorf(fmt.Sprintf("%s.ends[%d]", pp, i), "no case can end %s (its lift mode is %s)", k, kp.Lift.Mode)
			case len(kp.DecideCases) == 0:
				c.errorf(fmt.Sprintf("%s.ends[%d]", pp, i), "%s needs decide_cases: the roles that may decide a case that ends it", k)
			}
		}
	}
	for t := range p.Cases.Types {
		if !t.Valid() {
			c.errorf(path+".types."+string(t), "unknown case type %q", t)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.Cases.Templates)) {
		tpl := p.Cases.Templates[name]
		pp := path + ".templates." + name
		for i, t := range tpl.Types {
			if !t.Valid() {
				c.errorf(fmt.Sprintf("%s.types[%d]", pp, i), "unknown case type %q", t)
			}
		}
		if _, err := template.New(name).Option("missingkey=error").Parse(tpl.Text); err != nil || strings.TrimSpace(tpl.Text) == "" {
			c.errorf(pp+".text", "text must be a Go text/template: %v", err)
		}
	}
}

// networks checks the whitelist's networks: at least one, each a short
// upper-case code as a holder picks it ("BTC", "ETH", "ARB-NOVA"), none
// twice.
func (c *checker) networks(path string, ns []string) {
	if len(ns) == 0 {
		c.errorf(path, "list at least one network (BTC, ETH, ...)")
	}
	for i, n := range ns {
		if !networkCode.MatchString(n) {
			c.errorf(fmt.Sprintf("%s[%d]", path, i), "network %q must be 1 to 16 upper-case letters, digits, - or _, starting with a letter or digit", n)
		}
		if slices.Index(ns, n) < i {
			c.errorf(fmt.Sprintf("%s[%d]", path, i), "network %s is listed twice", n)
		}
	}
}

var networkCode = regexp.MustCompile(`^[A-Z0-9][A-Z0-9_-]{0,15}$`)
