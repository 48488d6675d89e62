package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/holdfast/holdfast"
)

// The history page: the account's sign-ins, security changes and
// restrictions, newest first, a page at a time, as the engine's holder
// view of the audit log says them (SecurityHistory): who acted is "you",
// "a trusted contact", "our security team" or "automatic", never a name,
// and a hidden restriction reads as its cover.

// historyPageSize is how many entries one page shows.
const historyPageSize = 30

func (s *Server) historyRoutes() {
	s.mux.Handle("GET /me/history", s.showHolder(holderScreen{template: "holder/history", section: "history", load: s.historyData}))
}

// historyData is the history page's own.
type historyData struct {
	*holdfast.HistoryPage
	// Older: this is not the newest page.
	Older bool
	// Receipts: this server signs its log, so freezes have receipts.
	Receipts bool
}

func (s *Server) historyData(r *http.Request, account string) (any, error) {
	var before int64
	if v := r.URL.Query().Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return nil, userError("before", "That page of your history does not exist.")
		}
		before = n
	}
	p, err := s.cfg.Engine.SecurityHistory(r.Context(), account, before, historyPageSize, holdfast.User(account))
	if err != nil {
		return nil, err
	}
	return historyData{HistoryPage: p, Older: before > 0, Receipts: s.cfg.Engine.LogVerifierKey() != ""}, nil
}

func init() {
	funcs["historyWhat"] = historyWhat
	funcs["historyWho"] = historyWho
	funcs["historyWhere"] = historyWhere
}

// historySentences say what each item is; a restriction's are these
// followed by its label.
var historySentences = map[holdfast.HistoryWhat]string{
	holdfast.HistorySignIn:             "Signed in",
	holdfast.HistoryDeviceVerified:     "Sign-in verified",
	holdfast.HistoryPasswordChanged:    "Password changed",
	holdfast.HistoryPasswordReset:      "Password reset",
	holdfast.HistoryTwoFactorChanged:   "Two-factor authentication changed",
	holdfast.HistoryEmailChanged:       "Email address changed",
	holdfast.HistoryPhoneChanged:       "Phone number changed",
	holdfast.HistoryAddressBookAdded:   "Withdrawal address added to your address book",
	holdfast.HistoryAPIKeyCreated:      "API key created",
	holdfast.HistoryAPIKeyRevoked:      "API key revoked",
	holdfast.HistoryAPIKeyIPWhitelist:  "API key's IP whitelist changed",
	holdfast.HistoryAccountSecured:     "Account secured: every session and API key signed out",
	holdfast.HistorySessionLoggedOut:   "A session was logged out",
	holdfast.HistoryWhitelistAdded:     "Address added to the withdrawal whitelist",
	holdfast.HistoryWhitelistRemoved:   "Address removed from the withdrawal whitelist",
	holdfast.HistoryWhitelistOn:        "Withdrawal whitelist turned on",
	holdfast.HistoryWhitelistOff:       "Withdrawal whitelist turned off",
	holdfast.HistoryAntiPhishingSet:    "Anti-phishing code set",
	holdfast.HistorySettingsLocked:     "Security settings locked",
	holdfast.HistoryUnlockRequested:    "Unlock of the security settings requested",
	holdfast.HistoryUnlockCancelled:    "Unlock of the security settings cancelled",
	holdfast.HistoryContactAdded:       "Trusted contact added",
	holdfast.HistoryContactRemoved:     "Trusted contact removed",
	holdfast.HistoryUnfreezeRequested:  "Early end of your freeze requested",
	holdfast.HistoryEmergencyCodeSent:  "Emergency freeze code requested",
	holdfast.HistoryEmergencyCodeWrong: "Wrong emergency freeze code entered",
}

var restrictionSentences = map[holdfast.HistoryWhat]string{
	holdfast.HistoryRestrictionApplied:  "Restriction started",
	holdfast.HistoryRestrictionExtended: "Restriction extended",
	holdfast.HistoryRestrictionLifted:   "Restriction lifted",
	holdfast.HistoryRestrictionEnded:    "Restriction ended",
}

// historyKinds name the kinds whose status label does not read as a
// thing that starts and ends ("Account frozen by you" was maybe frozen by
// a trusted contact).
var historyKinds = map[holdfast.Kind]string{
	holdfast.KindSelfFreeze: "Account freeze",
}

// historyWhat says what an item is, for people: "Restriction started:
// Panic lock", "Address added to the withdrawal whitelist".
func historyWhat(it holdfast.HistoryItem) string {
	if verb, ok := restrictionSentences[it.What]; ok {
		label, ok := historyKinds[it.Kind]
		if !ok {
			label = kindWords(it.Kind)
		}
		return verb + ": " + label
	}
	s, ok := historySentences[it.What]
	if !ok {
		s = upperFirst(strings.ReplaceAll(string(it.What), "_", " "))
	}
	switch {
	case it.What == holdfast.HistoryEmergencyCodeSent && it.Channel == "none":
		s += " (no contact on file: nothing was sent)"
	case it.What == holdfast.HistoryEmergencyCodeSent && it.Channel != "":
		s += " (sent to your " + it.Channel + ")"
	}
	return s
}

// historyWho says who acted, never naming them.
func historyWho(by holdfast.HistoryBy) string {
	switch by {
	case holdfast.HistoryByHolder:
		return "You"
	case holdfast.HistoryByTrustedContact:
		return "Your trusted contact"
	case holdfast.HistoryByStaff:
		return "Our security team"
	case holdfast.HistoryByAutomatic:
		return "Automatic protection"
	}
	return ""
}

// historyWhere is what the item concerns and where it came from: the
// address or key, the device, the country and the IP address.
func historyWhere(it holdfast.HistoryItem) string {
	var parts []string
	if it.Subject != "" {
		s := it.Subject
		if it.Network != "" {
			s += " (" + it.Network + ")"
		}
		parts = append(parts, s)
	}
	for _, p := range []string{it.Device, it.Country, it.IP} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " · ")
}
