// Package tlog is Holdfast's transparency log, apart from its storage: one
// append-only Merkle tree (RFC 6962 hashing) over every audit entry of
// every account, checkpoints in the C2SP tlog-checkpoint format signed as
// notes (Ed25519), and the inclusion and consistency proofs that let
// anyone outside the exchange check that an entry is in the log and that
// the log only ever grew.
//
// A leaf is the RFC 6962 leaf hash of the 32 bytes of an entry's chain
// hash (AuditEntry.Hash, decoded from hex): the tree commits to exactly
// what the per-account chains already commit to and reveals nothing more.
// The Merkle work is github.com/transparency-dev/merkle's and the notes
// are golang.org/x/mod/sumdb/note's; this package only fixes how Holdfast
// uses them, so that an independent verifier needs those two libraries
// and docs/audit.md, not this code.
package tlog

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// Hasher is the tree's hash: RFC 6962 over SHA-256.
var Hasher = rfc6962.DefaultHasher

var ranges = &compact.RangeFactory{Hash: Hasher.HashChildren}

// LeafHash is the leaf of the audit entry whose chain hash is entryHash.
func LeafHash(entryHash string) ([]byte, error) {
	b, err := hex.DecodeString(entryHash)
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("tlog: entry hash %q is not 32 hex-encoded bytes", entryHash)
	}
	return Hasher.HashLeaf(b), nil
}

// Checkpoint is a tree head: the log's origin (its signer's name), its
// size in leaves and its root hash.
type Checkpoint struct {
	Origin string `json:"origin"`
	Size   uint64 `json:"size"`
	Root   []byte `json:"root"`
}

// Body is the checkpoint as the C2SP tlog-checkpoint text a note signs.
func (c Checkpoint) Body() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root))
}

// ParseBody reads a checkpoint's text: origin, size, root, and any
// extension lines (ignored, as the format allows).
func ParseBody(text string) (Checkpoint, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 {
		return Checkpoint{}, errors.New("tlog: checkpoint needs an origin, a size and a root hash line")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || lines[1] != strconv.FormatUint(size, 10) {
		return Checkpoint{}, fmt.Errorf("tlog: checkpoint size %q is not a decimal number", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != Hasher.Size() {
		return Checkpoint{}, fmt.Errorf("tlog: checkpoint root %q is not a base64 SHA-256 hash", lines[2])
	}
	if lines[0] == "" {
		return Checkpoint{}, errors.New("tlog: checkpoint origin is empty")
	}
	return Checkpoint{Origin: lines[0], Size: size, Root: root}, nil
}

// Signed is a checkpoint with its signed note, the bytes to publish.
type Signed struct {
	Checkpoint
	Note []byte `json:"note"`
}

// Sign signs c as a note. The origin must be the signer's name.
func Sign(c Checkpoint, s note.Signer) (*Signed, error) {
	if c.Origin != s.Name() {
		return nil, fmt.Errorf("tlog: checkpoint origin %q is not the signer's name %q", c.Origin, s.Name())
	}
	msg, err := note.Sign(&note.Note{Text: c.Body()}, s)
	if err != nil {
		return nil, fmt.Errorf("tlog: sign checkpoint: %w", err)
	}
	return &Signed{Checkpoint: c, Note: msg}, nil
}

// Open verifies a signed checkpoint with the verifier key vkey
// (name+hash+base64) and returns it. The origin must be the key's name.
func Open(msg []byte, vkey string) (*Signed, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fmt.Errorf("tlog: verifier key: %w", err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return nil, fmt.Errorf("tlog: checkpoint signature: %w", err)
	}
	c, err := ParseBody(n.Text)
	if err != nil {
		return nil, err
	}
	if c.Origin != v.Name() {
		return nil, fmt.Errorf("tlog: checkpoint origin %q is not the key's name %q", c.Origin, v.Name())
	}
	return &Signed{Checkpoint: c, Note: msg}, nil
}

// ParseNote reads a signed checkpoint without checking its signature: a
// note the server itself stored, to serve to those who check it, or one a
// witness verified when it kept it (and may no longer have the key for).
// The note's syntax is checked all the same.
func ParseNote(msg []byte) (*Signed, error) {
	_, err := note.Open(msg, note.VerifierList())
	var un *note.UnverifiedNoteError
	if !errors.As(err, &un) {
		return nil, fmt.Errorf("tlog: not a signed note: %v", err)
	}
	c, err := ParseBody(un.Note.Text)
	if err != nil {
		return nil, err
	}
	return &Signed{Checkpoint: c, Note: msg}, nil
}

// GenerateKey makes a new signing key named name (the log's origin) and
// returns it with its public verifier key.
func GenerateKey(name string) (skey, vkey string, err error) {
	return note.GenerateKey(nil, name)
}

// NewSigner reads a signing key (PRIVATE+KEY+name+hash+base64) and
// returns its signer and public verifier key.
func NewSigner(skey string) (note.Signer, string, error) {
	skey = strings.TrimSpace(skey)
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, "", fmt.Errorf("tlog: signing key: %w", err)
	}
	// The key's fifth field (base64, which may itself hold '+') is the
	// algorithm byte and the Ed25519 seed; note.NewSigner checked both.
	raw, _ := base64.StdEncoding.DecodeString(strings.SplitN(skey, "+", 5)[4])
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(s.Name(), pub)
	if err != nil {
		return nil, "", fmt.Errorf("tlog: verifier key: %w", err)
	}
	return s, vkey, nil
}

// NodeReader returns the stored hashes of the given complete nodes, in
// order; a missing node is an error.
type NodeReader func(ctx context.Context, ids []compact.NodeID) ([][]byte, error)

// Root returns the root hash of the tree's first size leaves.
func Root(ctx context.Context, size uint64, read NodeReader) ([]byte, error) {
	if size == 0 {
		return Hasher.EmptyRoot(), nil
	}
	r, err := Frontier(ctx, size, read)
	if err != nil {
		return nil, err
	}
	return r.GetRootHash(nil)
}

// Frontier returns the compact range [0, size): the roots of the perfect
// subtrees that the next leaves are appended to.
func Frontier(ctx context.Context, size uint64, read NodeReader) (*compact.Range, error) {
	hashes, err := read(ctx, compact.RangeNodes(0, size, nil))
	if err != nil {
		return nil, err
	}
	return ranges.NewRange(0, size, hashes)
}

// NewRange returns an empty compact range to build a tree from its first
// leaf.
func NewRange() *compact.Range { return ranges.NewEmptyRange(0) }

// Inclusion returns the proof that leaf index is in the tree of size.
func Inclusion(ctx context.Context, index, size uint64, read NodeReader) ([][]byte, error) {
	if index >= size {
		return nil, fmt.Errorf("tlog: leaf %d is not in a tree of %d leaves", index, size)
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	return rehash(ctx, nodes, read)
}

// Consistency returns the proof that the tree of size old is a prefix of
// the tree of size new.
func Consistency(ctx context.Context, old, new uint64, read NodeReader) ([][]byte, error) {
	if old > new {
		return nil, fmt.Errorf("tlog: no consistency proof from %d leaves back to %d", old, new)
	}
	nodes, err := proof.Consistency(old, new)
	if err != nil {
		return nil, err
	}
	return rehash(ctx, nodes, read)
}

func rehash(ctx context.Context, nodes proof.Nodes, read NodeReader) ([][]byte, error) {
	hashes, err := read(ctx, nodes.IDs)
	if err != nil {
		return nil, err
	}
	return nodes.Rehash(hashes, Hasher.HashChildren)
}

// VerifyInclusion checks an inclusion proof against a root.
func VerifyInclusion(index, size uint64, leaf []byte, hashes [][]byte, root []byte) error {
	return proof.VerifyInclusion(Hasher, index, size, leaf, hashes, root)
}

// VerifyConsistency checks a consistency proof between two roots.
func VerifyConsistency(old, new uint64, hashes [][]byte, oldRoot, newRoot []byte) error {
	return proof.VerifyConsistency(Hasher, old, new, hashes, oldRoot, newRoot)
}
