package policy

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/holdfast/holdfast"
)

// The tables below are docs/design.md written out again, by hand and
// independently of default.yaml: they are the guard that the default policy
// behaves exactly as the design says. Change them only with docs/design.md.

// designEffects is docs/design.md's "blocks" column, one letter per action in
// holdfast.Actions order (login, view, trade, reduce_position, withdraw,
// internal_transfer, p2p_trade, add_withdrawal_address, create_api_key,
// api_access, deposit, change_security_settings): a = allow, r = review,
// d = deny. terms_violation is our choice (docs/policy.md): what a
// law-enforcement hold blocks, since hidden restrictions are shown as one.
var designEffects = map[holdfast.Kind]string{
	//                                    lg vw tr rp wd it p2 aa ak ap dp ss
	holdfast.KindStepUpVerification:    "a  a  d  d  d  d  d  d  d  d  d  d",
	holdfast.KindCoolingOff:            "a  a  a  a  d  a  a  d  d  a  a  a",
	holdfast.KindReduceOnly:            "a  a  d  a  a  a  a  a  d  a  a  a",
	holdfast.KindWithdrawalFreeze:      "a  a  a  a  d  d  d  a  a  a  a  a",
	holdfast.KindFullRestriction:       "a  a  d  d  d  d  d  d  d  d  d  d",
	holdfast.KindPermanentBan:          "a  a  d  d  d  d  d  d  d  d  d  d",
	holdfast.KindSelfFreeze:            "a  a  d  d  d  d  d  d  d  d  a  d",
	holdfast.KindPanicLock:             "a  a  a  a  d  d  d  a  a  a  a  a",
	holdfast.KindCompromiseLock:        "a  a  d  d  d  d  d  d  d  d  d  d",
	holdfast.KindRecoveryCooldown:      "a  a  a  a  r  a  a  a  a  a  a  a",
	holdfast.KindAssociationReview:     "a  a  a  a  d  a  a  a  a  a  a  a",
	holdfast.KindC2CFreeze:             "a  a  a  a  a  a  d  a  a  a  a  a",
	holdfast.KindJurisdictionLock:      "a  a  d  d  d  d  d  d  d  d  d  d",
	holdfast.KindSanctionsWithdrawOnly: "a  a  d  d  a  d  d  d  d  d  d  d",
	holdfast.KindKYCRequired:           "a  a  d  a  d  a  a  a  a  a  a  a",
	holdfast.KindTermsViolation:        "a  a  d  d  d  d  d  d  d  d  d  d",
	holdfast.KindScamProtection:        "a  a  a  a  d  a  d  a  a  a  a  a",
	holdfast.KindLawEnforcementHold:    "a  a  d  d  d  d  d  d  d  d  d  d",
	holdfast.KindSettingsLock:          "a  a  a  a  a  a  a  d  d  a  a  d",
}

func TestDefaultEffectsMatchDesign(t *testing.T) {
	p := Default()
	letters := map[string]holdfast.Effect{"a": holdfast.Allow, "r": holdfast.Review, "d": holdfast.Deny}
	if len(designEffects) != len(holdfast.Kinds) {
		t.Fatalf("the test covers %d kinds, the domain has %d", len(designEffects), len(holdfast.Kinds))
	}
	for _, k := range holdfast.Kinds {
		row := strings.Fields(designEffects[k])
		if len(row) != holdfast.NumActions {
			t.Fatalf("%s: the test row has %d actions", k, len(row))
		}
		for i, a := range holdfast.Actions {
			if got, want := p.Effects(k)[a.Index()], letters[row[i]]; got != want {
				t.Errorf("%s × %s: got %s, want %s", k, a, got, want)
			}
		}
	}
}

// designLift is docs/design.md's "Who may end a restriction early".
var designLift = map[holdfast.Kind]holdfast.LiftRule{
	holdfast.KindPanicLock: {Mode: holdfast.LiftImmutable},
	holdfast.KindSelfFreeze: {Mode: holdfast.LiftDirect, Roles: roles("support"),
		Requires: map[holdfast.Role][]holdfast.Precondition{holdfast.RoleSupport: {holdfast.UnfreezeRequested}}},
	holdfast.KindCoolingOff:         {Mode: holdfast.LiftByCase},
	holdfast.KindStepUpVerification: {Mode: holdfast.LiftByVerification},
	holdfast.KindReduceOnly:         {Mode: holdfast.LiftDirect, Roles: roles("support", "compliance")},
	holdfast.KindScamProtection:     {Mode: holdfast.LiftDirect, Roles: roles("support", "compliance")},
	holdfast.KindC2CFreeze:          {Mode: holdfast.LiftDirect, Roles: roles("support", "compliance")},
	holdfast.KindAssociationReview:  {Mode: holdfast.LiftDirect, Roles: roles("support", "compliance")},
	holdfast.KindKYCRequired:        {Mode: holdfast.LiftDirect, Roles: roles("support", "compliance")},
	holdfast.KindTermsViolation:     {Mode: holdfast.LiftDirect, Roles: roles("support", "compliance")},
	holdfast.KindJurisdictionLock:   {Mode: holdfast.LiftDirect, Roles: roles("support", "compliance")},
	holdfast.KindWithdrawalFreeze:   {Mode: holdfast.LiftDirect, Roles: roles("compliance")},
	holdfast.KindCompromiseLock: {Mode: holdfast.LiftDirect, Roles: roles("compliance", "support"),
		Requires: map[holdfast.Role][]holdfast.Precondition{holdfast.RoleSupport: {holdfast.IdentityReverified}}},
	holdfast.KindFullRestriction:       {Mode: holdfast.LiftFourEyes, Ask: roles("compliance"), Approve: roles("compliance", "admin")},
	holdfast.KindSanctionsWithdrawOnly: {Mode: holdfast.LiftFourEyes, Ask: roles("compliance"), Approve: roles("compliance", "admin")},
	holdfast.KindPermanentBan:          {Mode: holdfast.LiftFourEyes, Ask: roles("admin", "compliance"), Approve: roles("admin", "compliance"), DistinctRoles: true},
	holdfast.KindLawEnforcementHold:    {Mode: holdfast.LiftFourEyes, Ask: roles("le_liaison"), Approve: roles("le_liaison", "admin")},
	// Our choices where docs/design.md gives no lifter (docs/policy.md).
	holdfast.KindRecoveryCooldown: {Mode: holdfast.LiftDirect, Roles: roles("compliance")},
	holdfast.KindSettingsLock:     {Mode: holdfast.LiftImmutable},
}

// designApply is who may apply each kind: docs/design.md fixes it only for
// law_enforcement_hold; the rest is our choice (docs/policy.md).
var designApply = map[holdfast.Kind][]holdfast.Role{
	holdfast.KindStepUpVerification:    roles("support", "compliance", "admin"),
	holdfast.KindCoolingOff:            roles("support", "compliance", "admin"),
	holdfast.KindReduceOnly:            roles("support", "compliance", "admin"),
	holdfast.KindWithdrawalFreeze:      roles("support", "compliance", "admin"),
	holdfast.KindFullRestriction:       roles("compliance", "admin"),
	holdfast.KindPermanentBan:          roles("compliance", "admin"),
	holdfast.KindSelfFreeze:            roles("support", "admin"),
	holdfast.KindPanicLock:             roles("support", "admin"),
	holdfast.KindCompromiseLock:        roles("support", "compliance", "admin"),
	holdfast.KindRecoveryCooldown:      roles("compliance", "admin"),
	holdfast.KindAssociationReview:     roles("support", "compliance", "admin"),
	holdfast.KindC2CFreeze:             roles("support", "compliance", "admin"),
	holdfast.KindJurisdictionLock:      roles("compliance", "admin"),
	holdfast.KindSanctionsWithdrawOnly: roles("compliance", "admin"),
	holdfast.KindKYCRequired:           roles("compliance", "admin"),
	holdfast.KindTermsViolation:        roles("compliance", "admin"),
	holdfast.KindScamProtection:        roles("support", "compliance", "admin"),
	holdfast.KindLawEnforcementHold:    roles("le_liaison", "admin"),
	holdfast.KindSettingsLock:          roles(),
}

func roles(rs ...holdfast.Role) []holdfast.Role {
	if rs == nil {
		return []holdfast.Role{}
	}
	return rs
}

func TestDefaultWhoMayMatchesDesign(t *testing.T) {
	p := Default()
	for _, k := range holdfast.Kinds {
		kp := p.Kind(k)
		if want := designLift[k]; !reflect.DeepEqual(kp.Lift, want) {
			t.Errorf("%s lift: got %+v, want %+v", k, kp.Lift, want)
		}
		if want := designApply[k]; !reflect.DeepEqual(kp.Apply, want) {
			t.Errorf("%s apply: got %v, want %v", k, kp.Apply, want)
		}
		wantSee := []holdfast.Role(nil)
		if k == holdfast.KindLawEnforcementHold {
			wantSee = roles("le_liaison", "admin")
		}
		if !reflect.DeepEqual(kp.SeeReason, wantSee) {
			t.Errorf("%s see_reason: got %v, want %v", k, kp.SeeReason, wantSee)
		}
		wantExtend := k == holdfast.KindPanicLock || k == holdfast.KindSelfFreeze
		if kp.ExtendByHolder != wantExtend {
			t.Errorf("%s extend_by_holder: got %v, want %v", k, kp.ExtendByHolder, wantExtend)
		}
	}
}

func TestDefaultKindsMatchDesign(t *testing.T) {
	p := Default()
	d := func(s string) holdfast.Duration {
		v, err := holdfast.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	wantLevel := map[holdfast.Kind]string{
		holdfast.KindStepUpVerification: "L0", holdfast.KindCoolingOff: "L1", holdfast.KindReduceOnly: "L2",
		holdfast.KindWithdrawalFreeze: "L3", holdfast.KindFullRestriction: "L4", holdfast.KindPermanentBan: "L5",
	}
	// default, min, max, and the allowed list, as docs/design.md's durations.
	type spans struct {
		def, min, max holdfast.Duration
		list          []holdfast.Duration
	}
	wantSpans := map[holdfast.Kind]spans{
		holdfast.KindPanicLock:        {def: d("7d"), min: d("24h"), max: d("7d")},
		holdfast.KindSelfFreeze:       {def: d("24h"), list: []holdfast.Duration{d("24h"), d("48h"), d("7d"), holdfast.Permanent}},
		holdfast.KindCoolingOff:       {def: d("24h")},
		holdfast.KindRecoveryCooldown: {def: d("7d")},
		holdfast.KindSettingsLock:     {min: d("1d"), max: d("30d")},
	}
	for _, k := range holdfast.Kinds {
		kp := p.Kind(k)
		if kp.Level != wantLevel[k] {
			t.Errorf("%s level: got %q, want %q", k, kp.Level, wantLevel[k])
		}
		if want := k != holdfast.KindLawEnforcementHold; kp.Disclose != want {
			t.Errorf("%s disclose: got %v, want %v", k, kp.Disclose, want)
		}
		got := spans{kp.DefaultDuration, kp.MinDuration, kp.MaxDuration, kp.Durations}
		if want := wantSpans[k]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s durations: got %+v, want %+v", k, got, want)
		}
		if kp.Holder.Message == "" || len(kp.Holder.Resolution) == 0 {
			t.Errorf("%s: the holder needs a message and at least one step", k)
		}
		wantOnLift := (*holdfast.OnLift)(nil)
		if k == holdfast.KindCompromiseLock {
			wantOnLift = &holdfast.OnLift{Tag: holdfast.TagPreviouslyCompromised, Apply: holdfast.KindRecoveryCooldown, For: d("7d")}
		}
		if !reflect.DeepEqual(kp.OnLift, wantOnLift) {
			t.Errorf("%s on_lift: got %+v, want %+v", k, kp.OnLift, wantOnLift)
		}
	}

	// A hidden hold is shown as a terms_violation, and must not tell more
	// than one even if its own text were ever shown by mistake.
	k, cover := p.Cover()
	if k != holdfast.KindTermsViolation {
		t.Errorf("undisclosed.as = %q, want terms_violation", k)
	}
	if got := p.Kind(holdfast.KindLawEnforcementHold).Holder; !reflect.DeepEqual(got, cover.Holder) {
		t.Errorf("law_enforcement_hold holder text %+v differs from its cover's %+v", got, cover.Holder)
	}

	wantSS := holdfast.SelfServicePolicy{
		FreezeDurations:     []holdfast.Duration{d("24h"), d("48h"), d("7d"), holdfast.Permanent},
		PanicLockMin:        d("24h"),
		PanicLockMax:        d("7d"),
		PanicLockDefault:    d("7d"),
		SecureAccountFreeze: d("7d"),
		// The bound on a panic lock's whole length (issue 14).
		PanicLockMaxTotal:         d("30d"),
		PanicLockExtensionApprove: []holdfast.Role{holdfast.RoleCompliance, holdfast.RoleAdmin},
	}
	if !reflect.DeepEqual(p.SelfService, wantSS) {
		t.Errorf("self_service: got %+v, want %+v", p.SelfService, wantSS)
	}
	if p.Version != 1 || p.FourEyesExpiry != d("72h") || p.DormantAfter != d("30d") ||
		!reflect.DeepEqual(p.StepUpFactors, []holdfast.Factor{holdfast.FactorEmail}) {
		t.Errorf("top level: version %d, four_eyes_expiry %s, dormant_after %s, step_up_factors %v",
			p.Version, p.FourEyesExpiry, p.DormantAfter, p.StepUpFactors)
	}
}

func TestDefault(t *testing.T) {
	if errs := Validate(DefaultYAML()); errs != nil {
		t.Fatalf("the default policy is invalid: %v", errs)
	}
	a, b := Default(), Default()
	if a.Evaluator == nil {
		t.Fatal("the default policy's rules were not compiled")
	}
	if a == b || !reflect.DeepEqual(data(a), data(b)) {
		t.Error("Default should return equal, separate values")
	}
	// DefaultYAML hands out a copy: changing it changes nothing.
	y := DefaultYAML()
	y[0] = '!'
	if !bytes.Equal(DefaultYAML(), defaultYAML) || bytes.Equal(y, defaultYAML) {
		t.Error("DefaultYAML should return a copy")
	}
}

// data is p without its compiled rules (programs compare by identity) and
// the hash of the bytes it came from, for comparing policies as data.
func data(p *holdfast.Policy) *holdfast.Policy {
	c := *p
	c.Evaluator, c.Hash, c.Source = nil, "", nil
	return &c
}

// TestDefaultRulesFailClosed: with no on_error, a rule whose restriction
// blocks money out fails closed; the default policy's only exceptions are
// the trading limit and the lift.
func TestDefaultRulesFailClosed(t *testing.T) {
	p := Default()
	var open []string
	for i := range p.Rules {
		if !p.FailsClosed(&p.Rules[i]) {
			open = append(open, p.Rules[i].ID)
		}
	}
	if want := []string{"api_burst", "kyc_accepted"}; !slices.Equal(open, want) {
		t.Fatalf("rules failing open: %v, want %v", open, want)
	}
}
