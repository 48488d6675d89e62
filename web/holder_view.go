package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/holdfast/holdfast"
)

// The Security Center's page machinery: every page is a screen (a
// template, its place in the navigation, and what it loads); every form
// posts to an action that either redirects (303) to a page with a done
// code, or re-renders its screen with the engine's message (422).

// holderScreen is one Security Center page.
type holderScreen struct {
	template string
	section  string
	// load fills the page's Data (nil: none).
	load func(r *http.Request, account string) (any, error)
}

// showHolder serves a screen to the signed-in holder.
func (s *Server) showHolder(sc holderScreen) http.Handler {
	return s.asHolder(func(w http.ResponseWriter, r *http.Request, account string) {
		s.renderHolder(w, r, account, http.StatusOK, sc, "")
	})
}

// holderAction is a form's work: it returns where to go next (a path with
// its done code) or the error to show.
type holderAction func(w http.ResponseWriter, r *http.Request, account string) (string, error)

// actHolder runs a form post: success redirects 303, failure re-renders
// sc with the error and status 422.
func (s *Server) actHolder(sc holderScreen, do holderAction) http.Handler {
	return s.asHolder(func(w http.ResponseWriter, r *http.Request, account string) {
		next, err := do(w, r, account)
		if err != nil {
			s.renderHolder(w, r, account, http.StatusUnprocessableEntity, sc, holderErrorText(err))
			return
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
	})
}

// renderHolder renders sc for account, with errMsg shown when set.
func (s *Server) renderHolder(w http.ResponseWriter, r *http.Request, account string, status int, sc holderScreen, errMsg string) {
	p, err := s.page(r, account)
	if err != nil {
		s.holderFailure(w, r, account, err)
		return
	}
	p.Section, p.Error = sc.section, errMsg
	if errMsg != "" {
		p.Done = ""
	}
	if sc.load != nil {
		d, err := sc.load(r, account)
		if err != nil {
			s.holderFailure(w, r, account, err)
			return
		}
		p.Data = d
	}
	s.render(w, r, status, sc.template, p)
}

// holderFailure shows a page that could not be loaded: the engine's
// message, with a status from its code.
func (s *Server) holderFailure(w http.ResponseWriter, r *http.Request, account string, err error) {
	status := http.StatusInternalServerError
	switch holdfast.ErrorCode(err) {
	case holdfast.NotFound:
		status = http.StatusNotFound
	case holdfast.PermissionDenied:
		status = http.StatusForbidden
	case holdfast.InvalidArgument:
		status = http.StatusBadRequest
	case holdfast.ResourceExhausted:
		status = http.StatusTooManyRequests
	case holdfast.FailedPrecondition:
		status = http.StatusConflict
	case holdfast.Internal:
		s.cfg.Logger.ErrorContext(r.Context(), "web: holder page failed", "path", r.URL.Path, "err", err)
	}
	s.render(w, r, status, "holder/error", &holderPage{Account: account, Error: holderErrorText(err)})
}

// userError is a refusal the pages make themselves (an unreadable upload,
// say), shown like the engine's.
func userError(field, msg string) error {
	return holdfast.Errorf(holdfast.InvalidArgument, field, "%s", msg)
}

func init() {
	funcs["holderDone"] = doneText
	funcs["holderBlocks"] = blocksInWords
	funcs["holderKind"] = kindWords
	funcs["holderDuration"] = durationWords
	funcs["holderFixLink"] = findingLink
	funcs["holderWords"] = inWords
	funcs["holderActor"] = caseActorWords
	funcs["holderCaseType"] = caseTypeWords
	funcs["holderSize"] = sizeWords
	funcs["holderDeviceAnchor"] = deviceAnchor
}

// doneMessages are what a done code says; a code not listed says "Done."
var doneMessages = map[string]string{
	"panic_lock":          "Withdrawals are stopped. Nobody can lift this early.",
	"secured":             "Your account is secured: it is frozen, and every session and API key is signed out.",
	"frozen":              "Your account is frozen.",
	"session_revoked":     "The session is logged out.",
	"sessions_revoked":    "Every session is logged out.",
	"whitelist_added":     "The address is on your whitelist. It becomes usable at the time shown.",
	"whitelist_removed":   "The address is off your whitelist.",
	"whitelist_on":        "The withdrawal whitelist is on.",
	"whitelist_off":       "The withdrawal whitelist is off.",
	"anti_phishing_set":   "Your anti-phishing code is set. Every message from us will show it.",
	"settings_locked":     "Your security settings are locked.",
	"unlock_requested":    "Unlock requested. Your settings unlock at the time shown, unless you cancel.",
	"unlock_cancelled":    "The unlock is cancelled: your settings stay locked.",
	"contact_added":       "The invitation is sent. Your contact can act for you once they accept it in their own Security Center.",
	"contact_removed":     "Removed: they cannot act for you.",
	"invitation_accepted": "Invitation accepted: you are now their trusted contact.",
	"invitation_declined": "Invitation declined.",
	"unfreeze_requested":  "Your request to end the freeze early is sent. What happens next is shown with the freeze.",
	"case_opened":         "Your appeal is open. Add anything that helps us review it.",
	"statement_added":     "Your statement is added.",
	"evidence_added":      "Your file is uploaded.",
	"case_withdrawn":      "Your appeal is withdrawn.",
	"secured_again":       "Your account was already secured and stays frozen; anything signed in since is signed out.",
	"key_revoked":         "The API key is revoked: it no longer works.",
	"key_ips_saved":       "The key's IP whitelist is saved.",
}

func doneText(code string) string {
	if m, ok := doneMessages[code]; ok {
		return m
	}
	return "Done."
}

// actionWords say what each action is, for "what it blocks".
var actionWords = map[holdfast.Action]string{
	holdfast.ActionLogin:                  "signing in",
	holdfast.ActionView:                   "viewing your account",
	holdfast.ActionTrade:                  "trading",
	holdfast.ActionReducePosition:         "closing or reducing positions",
	holdfast.ActionWithdraw:               "withdrawals",
	holdfast.ActionInternalTransfer:       "internal transfers",
	holdfast.ActionP2PTrade:               "P2P trading",
	holdfast.ActionAddWithdrawalAddress:   "adding withdrawal addresses",
	holdfast.ActionCreateAPIKey:           "creating API keys",
	holdfast.ActionAPIAccess:              "API access",
	holdfast.ActionDeposit:                "deposits",
	holdfast.ActionChangeSecuritySettings: "changing security settings",
}

// kindLabels name each kind for holders. A law-enforcement hold is never
// shown as itself: the engine gives the holder a terms_violation in its
// place (alias.go), so it reads as "Terms of Use review" like a real one.
var kindLabels = map[holdfast.Kind]string{
	holdfast.KindStepUpVerification:    "Extra verification needed",
	holdfast.KindCoolingOff:            "Security cooling-off period",
	holdfast.KindReduceOnly:            "Reduce-only trading",
	holdfast.KindWithdrawalFreeze:      "Withdrawals paused",
	holdfast.KindFullRestriction:       "Account restricted",
	holdfast.KindPermanentBan:          "Account closed",
	holdfast.KindSelfFreeze:            "Account frozen by you",
	holdfast.KindPanicLock:             "Panic lock",
	holdfast.KindCompromiseLock:        "Locked: suspected unauthorised access",
	holdfast.KindRecoveryCooldown:      "Account recovery waiting period",
	holdfast.KindAssociationReview:     "Linked-account review",
	holdfast.KindC2CFreeze:             "P2P trading paused",
	holdfast.KindJurisdictionLock:      "Not available in your region",
	holdfast.KindSanctionsWithdrawOnly: "Withdraw-only mode",
	holdfast.KindKYCRequired:           "Identity verification required",
	holdfast.KindTermsViolation:        "Terms of Use review",
	holdfast.KindScamProtection:        "Scam protection hold",
	holdfast.KindSettingsLock:          "Security settings locked",
}

// kindWords is a kind's holder-facing label; a kind without one (a
// policy's own) reads as its words, never as an identifier.
func kindWords(k holdfast.Kind) string {
	if l, ok := kindLabels[k]; ok {
		return l
	}
	return upperFirst(strings.ReplaceAll(string(k), "_", " "))
}

// blockWords is what a cause blocks, in words.
type blockWords struct {
	// Denied and Reviewed are comma-separated lists ("" when none).
	Denied, Reviewed string
}

func blocksInWords(blocks map[holdfast.Action]holdfast.Effect) blockWords {
	var deny, review []string
	for _, a := range holdfast.Actions {
		w := actionWords[a]
		if w == "" {
			w = string(a)
		}
		switch blocks[a] {
		case holdfast.Deny:
			deny = append(deny, w)
		case holdfast.Review:
			review = append(review, w)
		}
	}
	return blockWords{Denied: strings.Join(deny, ", "), Reviewed: strings.Join(review, ", ")}
}

// durationWords says a duration for people: "1 day", "7 days",
// "permanently".
func durationWords(d holdfast.Duration) string {
	switch {
	case d == holdfast.Permanent:
		return "permanently (until support verifies you)"
	case d > 0 && time.Duration(d)%holdfast.Day == 0:
		n := int(time.Duration(d) / holdfast.Day)
		if n == 1 {
			return "1 day"
		}
		return strconv.Itoa(n) + " days"
	case d > 0 && time.Duration(d)%time.Hour == 0:
		return plural(int(time.Duration(d)/time.Hour), "hour")
	case d > 0 && time.Duration(d)%time.Minute == 0:
		return plural(int(time.Duration(d)/time.Minute), "minute")
	}
	return d.String()
}

// plural is n things: "1 hour", "3 hours".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return strconv.Itoa(n) + " " + thing + "s"
}

// findingLink is where a checkup finding is fixed: the page, and the
// element on it (a form, a list, a section), so that "Fix this" lands on
// it. "" when the Security Center has none: factors are set up in the
// exchange's app.
func findingLink(code, subject string) string {
	switch {
	case code == "no_anti_phishing_code":
		return "/me/settings#anti-phishing"
	case code == "whitelist_off":
		return "/me/whitelist#whitelist-on"
	case code == "address_unused":
		return "/me/whitelist#address-list"
	case strings.HasPrefix(code, "key_"):
		return "/me/keys#key-list"
	case code == "new_device" || code == "unverified_device":
		return "/me/devices#" + deviceAnchor(subject)
	case code == "dormant":
		return "/me/devices#sessions"
	case code == "recent_restriction":
		return "/me/#status"
	}
	return ""
}

// deviceAnchor is the id of a device's row on the devices page.
func deviceAnchor(id string) string { return "device-" + url.PathEscape(id) }

// caseActorWords says who wrote a case entry, without naming staff.
func caseActorWords(actor, account string) string {
	switch {
	case actor == holdfast.User(account).String():
		return "You"
	case strings.HasPrefix(actor, string(holdfast.ActorStaff)+":"):
		return "Our review team"
	case strings.HasPrefix(actor, string(holdfast.ActorTrustedContact)+":"):
		return "Your trusted contact"
	}
	return "Holdfast"
}

// caseTypeWords says what a case type asks for.
var caseTypeNames = map[holdfast.CaseType]string{
	holdfast.CaseSourceOfFunds:            "Source of funds (a deposit froze my withdrawals)",
	holdfast.CaseAssociationClarification: "Clarify a link to other accounts",
	holdfast.CaseC2CAppeal:                "P2P / C2C dispute appeal",
	holdfast.CaseUnlockRequest:            "Unlock request (end a freeze or cooling-off early)",
	holdfast.CaseJurisdictionVerification: "Residency verification (access from a restricted country)",
	holdfast.CaseKYCDocument:              "Identity (KYC) document",
}

func caseTypeWords(t holdfast.CaseType) string {
	if n, ok := caseTypeNames[t]; ok {
		return n
	}
	return string(t)
}

// sizeWords says a file size: "512 bytes", "3.2 KB", "1.5 MB".
func sizeWords(n int64) string {
	switch {
	case n < 1024:
		return strconv.FormatInt(n, 10) + " bytes"
	case n < 1<<20:
		return strconv.FormatFloat(float64(n)/1024, 'f', 1, 64) + " KB"
	}
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MB"
}
