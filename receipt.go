package holdfast

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/holdfast/holdfast/tlog"
)

// Receipt proves that an audit entry is in the transparency log: the
// entry, its leaf index, a signed checkpoint and the inclusion proof of
// the leaf in that checkpoint's tree. Anyone holding the log's public key
// can check it offline (Verify), with no access to the exchange.
type Receipt struct {
	Entry      AuditEntry `json:"entry"`
	Leaf       uint64     `json:"leaf_index"`
	Checkpoint string     `json:"checkpoint"`
	Proof      [][]byte   `json:"inclusion_proof"`
}

// Verify checks the receipt against the log's verifier key: the entry's
// hash is its content's, the checkpoint is signed by the key, and the
// proof leads from the entry's leaf to the checkpoint's root. It returns
// the checkpoint.
func (r *Receipt) Verify(vkey string) (*tlog.Signed, error) {
	// The record was hashed compact: a receipt pretty-printed since
	// still verifies.
	e := r.Entry
	e.Before, e.After = compact(e.Before), compact(e.After)
	if h := e.ComputeHash(); h != e.Hash {
		return nil, fmt.Errorf("receipt: the entry's content does not match its hash")
	}
	c, err := tlog.Open([]byte(r.Checkpoint), vkey)
	if err != nil {
		return nil, fmt.Errorf("receipt: %w", err)
	}
	leaf, err := tlog.LeafHash(r.Entry.Hash)
	if err != nil {
		return nil, fmt.Errorf("receipt: %w", err)
	}
	if err := tlog.VerifyInclusion(r.Leaf, c.Size, leaf, r.Proof, c.Root); err != nil {
		return nil, fmt.Errorf("receipt: entry %d of account %s is not leaf %d of the checkpoint's tree: %w", r.Entry.Seq, r.Entry.Account, r.Leaf, err)
	}
	return c, nil
}

// Restriction reads the restriction the receipt's entry records (its
// state after the change): what the receipt proves, in words.
func (r *Receipt) Restriction() (*Restriction, error) {
	var out Restriction
	if err := json.Unmarshal(r.Entry.After, &out); err != nil || out.ID == "" {
		return nil, fmt.Errorf("receipt: entry %d of account %s records no restriction", r.Entry.Seq, r.Entry.Account)
	}
	return &out, nil
}

// compact removes insignificant whitespace from a JSON value (one that
// is not JSON is left as it is, and fails the hash).
func compact(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}
