package holdfast

import "slices"

// Kind is a kind of restriction. What each kind blocks, how long it lasts and
// who may end it early is policy (see Policy); the kinds themselves are fixed.
type Kind string

const (
	KindStepUpVerification    Kind = "step_up_verification"
	KindCoolingOff            Kind = "cooling_off"
	KindReduceOnly            Kind = "reduce_only"
	KindWithdrawalFreeze      Kind = "withdrawal_freeze"
	KindFullRestriction       Kind = "full_restriction"
	KindPermanentBan          Kind = "permanent_ban"
	KindSelfFreeze            Kind = "self_freeze"
	KindPanicLock             Kind = "panic_lock"
	KindCompromiseLock        Kind = "compromise_lock"
	KindRecoveryCooldown      Kind = "recovery_cooldown"
	KindAssociationReview     Kind = "association_review"
	KindC2CFreeze             Kind = "c2c_freeze"
	KindJurisdictionLock      Kind = "jurisdiction_lock"
	KindSanctionsWithdrawOnly Kind = "sanctions_withdraw_only"
	KindKYCRequired           Kind = "kyc_required"
	KindTermsViolation        Kind = "terms_violation"
	KindScamProtection        Kind = "scam_protection"
	KindLawEnforcementHold    Kind = "law_enforcement_hold"
	KindSettingsLock          Kind = "settings_lock"
)

// Kinds lists every restriction kind in docs/design.md order.
var Kinds = []Kind{
	KindStepUpVerification, KindCoolingOff, KindReduceOnly, KindWithdrawalFreeze,
	KindFullRestriction, KindPermanentBan, KindSelfFreeze, KindPanicLock,
	KindCompromiseLock, KindRecoveryCooldown, KindAssociationReview, KindC2CFreeze,
	KindJurisdictionLock, KindSanctionsWithdrawOnly, KindKYCRequired,
	KindTermsViolation, KindScamProtection, KindLawEnforcementHold, KindSettingsLock,
}

// Valid reports whether k is one of the fixed kinds.
func (k Kind) Valid() bool { return slices.Contains(Kinds, k) }

// IsDeviceScoped reports whether a restriction of this kind applies to one
// device only (when it names one).
func (k Kind) IsDeviceScoped() bool { return k == KindStepUpVerification }
