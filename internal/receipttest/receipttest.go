// Package receipttest checks a freeze receipt the way docs/audit-receipts.md
// tells anyone to: with golang.org/x/mod/sumdb/note and
// github.com/transparency-dev/merkle alone, recomputing the entry's hash
// from the documented format. It shares no code with Holdfast's own
// verifier (holdfast.Receipt.Verify), so a test that uses it checks the
// published format, not the code against itself.
package receipttest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// Receipt is the receipt document's format.
type Receipt struct {
	Entry struct {
		Account     string          `json:"account"`
		Seq         int64           `json:"seq"`
		At          time.Time       `json:"at"`
		Actor       string          `json:"actor"`
		Action      string          `json:"action"`
		Restriction string          `json:"restriction"`
		Before      json.RawMessage `json:"before"`
		After       json.RawMessage `json:"after"`
		Reason      string          `json:"reason"`
		PrevHash    string          `json:"prev_hash"`
		Hash        string          `json:"hash"`
	} `json:"entry"`
	LeafIndex      uint64   `json:"leaf_index"`
	Checkpoint     string   `json:"checkpoint"`
	InclusionProof [][]byte `json:"inclusion_proof"`
}

// Proved is what a verified receipt proves.
type Proved struct {
	Receipt
	Origin   string
	TreeSize uint64
	Root     []byte
}

// Verify checks doc, a receipt, against the log's verifier key.
func Verify(doc []byte, vkey string) (*Proved, error) {
	var r Receipt
	if err := json.Unmarshal(doc, &r); err != nil {
		return nil, fmt.Errorf("not a receipt: %w", err)
	}
	e := &r.Entry
	// before and after are hashed in their compact form.
	for _, raw := range []*json.RawMessage{&e.Before, &e.After} {
		if len(*raw) > 0 {
			var b bytes.Buffer
			if err := json.Compact(&b, *raw); err != nil {
				return nil, err
			}
			*raw = b.Bytes()
		}
	}
	// The entry's hash: SHA-256 over the sequence (8 bytes, big-endian)
	// and each field prefixed by its length (8 bytes, big-endian).
	h := sha256.New()
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(e.Seq)))
	for _, f := range [][]byte{[]byte(e.Account), []byte(e.At.UTC().Format(time.RFC3339Nano)), []byte(e.Actor), []byte(e.Action),
		[]byte(e.Restriction), e.Before, e.After, []byte(e.Reason), []byte(e.PrevHash)} {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(f))))
		h.Write(f)
	}
	sum := h.Sum(nil)
	if hex.EncodeToString(sum) != e.Hash {
		return nil, errors.New("the entry's content does not match its hash")
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, err
	}
	n, err := note.Open([]byte(r.Checkpoint), note.VerifierList(v))
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	// C2SP tlog-checkpoint: origin, tree size, base64 root hash.
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 || lines[0] != v.Name() {
		return nil, fmt.Errorf("checkpoint %q is not the log %s's", n.Text, v.Name())
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return nil, err
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil {
		return nil, err
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(sum)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, r.LeafIndex, size, leaf, r.InclusionProof, root); err != nil {
		return nil, fmt.Errorf("inclusion: %w", err)
	}
	return &Proved{Receipt: r, Origin: lines[0], TreeSize: size, Root: root}, nil
}
