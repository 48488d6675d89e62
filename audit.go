package holdfast

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"
)

// AuditEntry is one link in an account's hash chain. Every state change
// appends one in the same transaction as the change; the chain proves that
// no entry was edited, removed or reordered since.
type AuditEntry struct {
	Account     string          `json:"account"`
	Seq         int64           `json:"seq"`
	At          time.Time       `json:"at"`
	Actor       string          `json:"actor"`
	Action      string          `json:"action"`
	Restriction string          `json:"restriction,omitempty"`
	Before      json.RawMessage `json:"before,omitempty"`
	After       json.RawMessage `json:"after,omitempty"`
	Reason      string          `json:"reason,omitempty"`
	PrevHash    string          `json:"prev_hash"`
	Hash        string          `json:"hash"`
}

// Audit actions.
const (
	AuditApply         = "apply"
	AuditLift          = "lift"
	AuditExtend        = "extend"
	AuditLiftRequested = "lift_requested"
	// AuditExtendRequested: a staff extension beyond the policy's bound
	// waits for a second person.
	AuditExtendRequested = "extend_requested"
	AuditApproved        = "approve"
	AuditUnfreezeRequest = "request_unfreeze"
	// AuditUnfreezeRequested follows a request_unfreeze entry (which
	// records the whole account) with the self_freeze it asks to end, as
	// it stands: the entry a holder's receipt of the request proves.
	AuditUnfreezeRequested = "unfreeze_requested"
	AuditVerified          = "verify"
	AuditWithdrawal        = "authorize_withdrawal"
	AuditAccountCreated    = "account_created"
	AuditAccountUpdated    = "account_updated"
	AuditEvent             = "event"
)

// GenesisHash is the previous hash of an account's first entry.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// ComputeHash returns the SHA-256 of the entry's fields (all but Hash) and
// PrevHash, each length-prefixed so that no two entries encode alike.
func (e *AuditEntry) ComputeHash() string {
	h := sha256.New()
	var n [8]byte
	put := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	binary.BigEndian.PutUint64(n[:], uint64(e.Seq))
	h.Write(n[:])
	put([]byte(e.Account))
	put([]byte(e.At.UTC().Format(time.RFC3339Nano)))
	put([]byte(e.Actor))
	put([]byte(e.Action))
	put([]byte(e.Restriction))
	put(e.Before)
	put(e.After)
	put([]byte(e.Reason))
	put([]byte(e.PrevHash))
	return hex.EncodeToString(h.Sum(nil))
}

// Chain fills in e's Seq, PrevHash and Hash so that it follows the head
// (headSeq 0: the account's first entry).
func (e *AuditEntry) Chain(headSeq int64, headHash string) {
	if headSeq == 0 {
		headHash = GenesisHash
	}
	e.Seq = headSeq + 1
	e.PrevHash = headHash
	e.Hash = e.ComputeHash()
}

// AuditBreak is the first broken link found in a chain.
type AuditBreak struct {
	Account string `json:"account"`
	Seq     int64  `json:"seq"`
	Problem string `json:"problem"`
}

// AuditReport is the result of verifying one or all chains.
type AuditReport struct {
	Accounts int          `json:"accounts"`
	Entries  int64        `json:"entries"`
	Breaks   []AuditBreak `json:"breaks"`
}

// OK reports whether every chain verified.
func (r *AuditReport) OK() bool { return len(r.Breaks) == 0 }

// VerifyChain checks one account's entries, given in the order the store
// holds them, against the head the account row records. It returns the
// first break, or nil.
func VerifyChain(account string, entries []AuditEntry, headSeq int64, headHash string) *AuditBreak {
	prev := GenesisHash
	for i := range entries {
		e := &entries[i]
		want := int64(i + 1)
		switch {
		case e.Account != account:
			return &AuditBreak{account, want, "entry belongs to another account"}
		case e.Seq != want:
			return &AuditBreak{account, want, "sequence gap: entry missing or reordered"}
		case e.PrevHash != prev:
			return &AuditBreak{account, e.Seq, "previous-hash link broken: an earlier entry was changed, removed or reordered"}
		case e.ComputeHash() != e.Hash:
			return &AuditBreak{account, e.Seq, "entry content does not match its hash: it was edited"}
		}
		prev = e.Hash
	}
	n := int64(len(entries))
	if n != headSeq || (n > 0 && prev != headHash) {
		return &AuditBreak{account, n + 1, "chain head does not match the account record: trailing entries removed or head rewritten"}
	}
	return nil
}

// LogProblem is something the transparency log's verification found,
// at the first leaf it concerns.
type LogProblem struct {
	Leaf    uint64 `json:"leaf"`
	Problem string `json:"problem"`
}

// LogReport is the result of verifying the transparency log.
type LogReport struct {
	Leaves      uint64       `json:"leaves"`
	Checkpoints int          `json:"checkpoints"`
	Queued      int64        `json:"queued"` // entries not yet given a leaf
	Problems    []LogProblem `json:"problems"`
}

// OK reports whether the log verified.
func (r *LogReport) OK() bool { return len(r.Problems) == 0 }

// Sort orders the problems by leaf, so that the first is the first bad
// leaf.
func (r *LogReport) Sort() {
	slices.SortStableFunc(r.Problems, func(a, b LogProblem) int { return cmp.Compare(a.Leaf, b.Leaf) })
}
