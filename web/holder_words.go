package web

import (
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/holdfast/holdfast"
)

// Holder pages speak to people, not to programs: an engine error (written
// for the API's callers, with identifiers such as self_freeze or
// change_security_settings) becomes a sentence here. Errors the pages
// know are said in their own words; any other message has its
// identifiers and Go durations put into words.

// holderErrorText is what a Security Center page says of err.
func holderErrorText(err error) string {
	var he *holdfast.Error
	if !errors.As(err, &he) {
		return "Something went wrong. Please try again."
	}
	msg := he.Message
	switch {
	case he.Code == holdfast.FailedPrecondition && strings.HasSuffix(msg, " is blocked on this account now"):
		action := holdfast.Action(strings.TrimSuffix(msg, " is blocked on this account now"))
		return blockedSentence(action, he.Causes)
	case he.Code == holdfast.ResourceExhausted && strings.HasPrefix(msg, "too many "):
		return "You have done this too many times in a short while. Please wait a while and try again."
	case he.Code == holdfast.FailedPrecondition && msg == "the account has no active self_freeze":
		return "Your account is not frozen by you, so there is no freeze to end early."
	case he.Code == holdfast.Conflict && strings.HasPrefix(msg, "the settings are already locked"):
		return "Your security settings are already locked."
	}
	return upperFirst(inWords(msg))
}

// blockedSentence says that action is not possible now, and why, from
// the holder-view causes the engine gave (a hidden hold is already its
// cover there).
func blockedSentence(action holdfast.Action, causes []holdfast.Cause) string {
	what := actionWords[action]
	if what == "" {
		what = strings.ReplaceAll(string(action), "_", " ")
	}
	s := upperFirst(what) + " is not possible on your account right now"
	var why []string
	for _, c := range causes {
		if c.Kind == "" {
			continue
		}
		w := kindWords(c.Kind)
		if !c.EndsAt.IsZero() {
			w += " (until " + c.EndsAt.UTC().Format("2 Jan 2006 15:04 UTC") + ")"
		}
		why = append(why, w)
	}
	if len(why) == 0 {
		return s + "."
	}
	return s + ": " + strings.Join(why, "; ") + "."
}

// identifier matches a snake_case word; duration a duration as the
// policy prints it (7d, 12h, 1d12h) or as Go does (168h0m0s, 90m0s); list
// a bracketed list as Go prints a slice.
var (
	identifier = regexp.MustCompile(`\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b`)
	duration   = regexp.MustCompile(`\b(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?\b`)
	list       = regexp.MustCompile(`\[([^\]]*)\]`)
)

// inWords replaces the kinds, actions, durations and lists in an engine
// message with words.
func inWords(msg string) string {
	msg = identifier.ReplaceAllStringFunc(msg, func(id string) string {
		if w, ok := actionWords[holdfast.Action(id)]; ok {
			return w
		}
		if holdfast.Kind(id).Valid() {
			return strings.ToLower(kindWords(holdfast.Kind(id)))
		}
		return strings.ReplaceAll(id, "_", " ")
	})
	msg = list.ReplaceAllStringFunc(msg, func(s string) string {
		return strings.Join(strings.Fields(s[1:len(s)-1]), ", ")
	})
	msg = duration.ReplaceAllStringFunc(msg, func(s string) string {
		if s == "" || strings.Trim(s, "0123456789") == "" {
			return s // a plain number
		}
		if d, err := holdfast.ParseDuration(s); err == nil && d > 0 && d != holdfast.Permanent {
			return durationWords(d)
		}
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			return durationWords(holdfast.Duration(d))
		}
		return s
	})
	return msg
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
