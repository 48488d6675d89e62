package engine

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"

	"github.com/holdfast/holdfast"
)

// defaultAliasKey keys aliases when the engine is given no key (tests, the
// scenario runner). The real id is random and never shown to the holder,
// so an alias cannot be worked back even then; the server's key keeps it
// so for someone who has seen the real id.
const defaultAliasKey = "holdfast restriction alias"

// alias is the id a holder sees for a restriction hidden from them: shaped
// like a real id ("rst_" and 16 base32 letters), the same on every read
// and every node sharing the key, and not derivable without the key.
func (e *Engine) alias(id string) string {
	m := hmac.New(sha256.New, e.aliasKey)
	m.Write([]byte(id))
	return "rst_" + strings.ToLower(idEncoding.EncodeToString(m.Sum(nil)[:10]))
}

// coverCause is the cause a holder sees for a restriction hidden from
// them: one of the policy's cover kind (undisclosed.as), with that kind's
// level and text, the alias for an id, the real start and no end (a real
// one under review has none).
func (e *Engine) coverCause(ru *rule, fx holdfast.Effect) holdfast.Cause {
	k, kp := e.policy().Cover()
	return holdfast.Cause{
		ID:         ru.alias,
		Kind:       k,
		Level:      kp.Level,
		Effect:     fx,
		Message:    kp.Holder.Message,
		StartsAt:   utc(ru.start),
		Resolution: kp.Holder.Resolution,
	}
}

// holderKind is the kind (and its policy) r's holder is shown: its own,
// or the cover kind for a hidden restriction.
func (e *Engine) holderKind(r *holdfast.Restriction) (holdfast.Kind, *holdfast.KindPolicy) {
	if r.Disclose {
		return r.Kind, e.policy().Kind(r.Kind)
	}
	return e.policy().Cover()
}

// seenKind is the kind actor is shown for r: the real one for staff and
// the system, holderKind for the account's holder, none for anyone else
// who may not know of it (a trusted contact and a hidden one).
func (e *Engine) seenKind(actor holdfast.Actor, r *holdfast.Restriction) (holdfast.Kind, *holdfast.KindPolicy) {
	switch {
	case actor.IsHolder(r.Account):
		return e.holderKind(r)
	case visible(actor, r):
		return r.Kind, e.policy().Kind(r.Kind)
	}
	return "", nil
}
