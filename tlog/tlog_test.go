package tlog_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/holdfast/holdfast/tlog"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// memTree keeps the nodes Append reports, as a store keeps them: every
// one, or (strata) those tlog.Stored keeps.
type memTree struct {
	nodes  map[compact.NodeID][]byte
	rng    *compact.Range
	roots  [][]byte // roots[n]: the root of the first n leaves
	strata bool
}

func newMemTree(strata bool) *memTree {
	return &memTree{nodes: map[compact.NodeID][]byte{}, rng: tlog.NewRange(), roots: [][]byte{rfc6962.DefaultHasher.EmptyRoot()}, strata: strata}
}

// reader reads any complete node, as a store's reader does.
func (m *memTree) reader() tlog.NodeReader {
	if m.strata {
		return tlog.Strata(m.read)
	}
	return m.read
}

// storedUnder is a stored node that node id is made from: id itself, or
// (strata) one of the stored nodes under it.
func (m *memTree) storedUnder(r *rand.Rand, id compact.NodeID) compact.NodeID {
	if !m.strata {
		return id
	}
	k := id.Level % tlog.StrataStep
	return compact.NewNodeID(id.Level-k, id.Index<<k+uint64(r.IntN(1<<k)))
}

func (m *memTree) append(t *testing.T, leaf []byte) {
	keep := func(id compact.NodeID, h []byte) {
		if !m.strata || tlog.Stored(id) {
			m.nodes[id] = h
		}
	}
	if err := m.rng.Append(leaf, keep); err != nil {
		t.Fatal(err)
	}
	root, err := m.rng.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	m.roots = append(m.roots, root)
}

func (m *memTree) read(_ context.Context, ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		if out[i] = m.nodes[id]; out[i] == nil {
			return nil, fmt.Errorf("node %+v missing", id)
		}
	}
	return out, nil
}

func entryHash(i int) string {
	h := sha256.Sum256(fmt.Appendf(nil, "entry %d", i))
	return fmt.Sprintf("%x", h)
}

// TestProofsProperty: for random append sequences, every inclusion and
// consistency proof made from the stored nodes verifies with the merkle
// library's own verifier, the root rebuilt from stored nodes is the
// root at each size, and a single flipped bit in any stored node a proof
// uses makes that proof fail.
func TestProofsProperty(t *testing.T) {
	for _, strata := range []bool{false, true} {
		t.Run(fmt.Sprintf("strata=%v", strata), func(t *testing.T) { testProofs(t, strata) })
	}
}

func testProofs(t *testing.T, strata bool) {
	ctx := context.Background()
	h := rfc6962.DefaultHasher
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 30 {
		m := newMemTree(strata)
		n := 1 + r.IntN(300)
		leaves := make([][]byte, n)
		for i := range n {
			leaf, err := tlog.LeafHash(entryHash(round*1000 + i))
			if err != nil {
				t.Fatal(err)
			}
			leaves[i] = leaf
			m.append(t, leaf)
		}
		for range 20 {
			size := uint64(1 + r.IntN(n))
			old := uint64(r.IntN(int(size) + 1))
			index := uint64(r.IntN(int(size)))
			root, err := tlog.Root(ctx, size, m.reader())
			if err != nil || string(root) != string(m.roots[size]) {
				t.Fatalf("Root(%d) = %x, %v; want %x", size, root, err, m.roots[size])
			}
			incl, err := tlog.Inclusion(ctx, index, size, m.reader())
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyInclusion(h, index, size, leaves[index], incl, m.roots[size]); err != nil {
				t.Fatalf("inclusion of %d in %d: %v", index, size, err)
			}
			cons, err := tlog.Consistency(ctx, old, size, m.reader())
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyConsistency(h, old, size, cons, m.roots[old], m.roots[size]); err != nil {
				t.Fatalf("consistency %d→%d: %v", old, size, err)
			}
			// Flip one bit of one node the inclusion proof reads: the
			// proof made from the tampered store must not verify.
			nodes, _ := proof.Inclusion(index, size)
			if len(nodes.IDs) == 0 {
				continue
			}
			used := nodes.IDs[r.IntN(len(nodes.IDs))]
			id := m.storedUnder(r, used)
			orig := m.nodes[id]
			flipped := append([]byte(nil), orig...)
			flipped[r.IntN(len(flipped))] ^= 1 << r.IntN(8)
			m.nodes[id] = flipped
			bad, err := tlog.Inclusion(ctx, index, size, m.reader())
			if err == nil && proof.VerifyInclusion(h, index, size, leaves[index], bad, m.roots[size]) == nil {
				t.Fatalf("a flipped bit in node %+v went unnoticed by the inclusion proof of %d in %d", id, index, size)
			}
			if root, err := tlog.Root(ctx, size, m.reader()); err == nil && string(root) == string(m.roots[size]) && isFrontier(used, size) {
				t.Fatalf("a flipped bit in frontier node %+v left the root of %d unchanged", id, size)
			}
			m.nodes[id] = orig
		}
	}
}

// isFrontier reports whether id is one of the perfect subtrees whose
// roots make up the root of size leaves.
func isFrontier(id compact.NodeID, size uint64) bool {
	for _, f := range compact.RangeNodes(0, size, nil) {
		if f == id {
			return true
		}
	}
	return false
}

// TestCheckpointNote: a checkpoint signs as the C2SP text, opens with
// its key and the note package alone, and refuses another key, an edited
// body and an origin that is not the key's name.
func TestCheckpointNote(t *testing.T) {
	skey, vkey, err := tlog.GenerateKey("example.test/log")
	if err != nil {
		t.Fatal(err)
	}
	signer, derived, err := tlog.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	if derived != vkey {
		t.Fatalf("verifier key derived from the signing key = %q, want %q", derived, vkey)
	}
	root := sha256.Sum256([]byte("root"))
	c := tlog.Checkpoint{Origin: "example.test/log", Size: 42, Root: root[:]}
	signed, err := tlog.Sign(c, signer)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := note.NewVerifier(vkey)
	n, err := note.Open(signed.Note, note.VerifierList(v))
	if err != nil {
		t.Fatalf("note.Open: %v", err)
	}
	if want := "example.test/log\n42\n" + "AEPE0nxsNQo5rMBpVgJqwIHBP+k2Hr5LiG8J25PcaHM=" + "\n"; n.Text != c.Body() || c.Body()[:20] != want[:20] {
		t.Fatalf("note text = %q, body %q", n.Text, c.Body())
	}
	got, err := tlog.Open(signed.Note, vkey)
	if err != nil || got.Size != 42 || string(got.Root) != string(root[:]) {
		t.Fatalf("Open = %+v, %v", got, err)
	}
	_, other, _ := tlog.GenerateKey("example.test/log")
	if _, err := tlog.Open(signed.Note, other); err == nil {
		t.Error("a checkpoint opened with another key")
	}
	edited := []byte(string(signed.Note[:len("example.test/log\n")]) + "43" + string(signed.Note[len("example.test/log\n42"):]))
	if _, err := tlog.Open(edited, vkey); err == nil {
		t.Error("an edited checkpoint opened")
	}
	if _, err := tlog.Sign(tlog.Checkpoint{Origin: "another", Size: 1, Root: root[:]}, signer); err == nil {
		t.Error("a checkpoint signed under an origin that is not the key's name")
	}
	for _, body := range []string{"o\n", "o\nx\nAA==\n", "o\n1\nnot base64\n", "\n1\n" + c.Body()[len("example.test/log\n42\n"):]} {
		if _, err := tlog.ParseBody(body); err == nil {
			t.Errorf("ParseBody(%q) accepted", body)
		}
	}
}
