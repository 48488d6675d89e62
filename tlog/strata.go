package tlog

import (
	"context"

	"github.com/transparency-dev/merkle/compact"
)

// A store keeps the tree's nodes on every StrataStep-th level only: the
// leaves (level 0), then levels 4, 8, …. A node in between is rehashed,
// when asked for, from the at most 2^(StrataStep-1) = 8 stored nodes
// under it. So the store writes about 1.07 node rows per leaf instead of
// 2, and a proof costs a few hundred hashes more: the trade Tessera and
// the Go checksum database make with their tiles.
const StrataStep = 4

// Stored reports whether a store keeps node id.
func Stored(id compact.NodeID) bool { return id.Level%StrataStep == 0 }

// Strata turns a reader of the stored nodes into a reader of any
// complete node.
func Strata(read NodeReader) NodeReader {
	return func(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
		var want []compact.NodeID
		seen := make(map[compact.NodeID]bool)
		for _, id := range ids {
			base, r := below(id)
			for i := base.Index; i < base.Index+1<<r; i++ {
				n := compact.NewNodeID(base.Level, i)
				if !seen[n] {
					seen[n] = true
					want = append(want, n)
				}
			}
		}
		hashes, err := read(ctx, want)
		if err != nil {
			return nil, err
		}
		stored := make(map[compact.NodeID][]byte, len(want))
		for i, n := range want {
			stored[n] = hashes[i]
		}
		out := make([][]byte, len(ids))
		for k, id := range ids {
			base, r := below(id)
			level := make([][]byte, 0, 1<<r)
			for i := base.Index; i < base.Index+1<<r; i++ {
				level = append(level, stored[compact.NewNodeID(base.Level, i)])
			}
			for ; len(level) > 1; level = level[:len(level)/2] {
				for i := 0; i < len(level)/2; i++ {
					level[i] = Hasher.HashChildren(level[2*i], level[2*i+1])
				}
			}
			out[k] = level[0]
		}
		return out, nil
	}
}

// below is the first stored node under id (id itself when it is stored)
// and how many levels lie between them.
func below(id compact.NodeID) (compact.NodeID, uint) {
	r := id.Level % StrataStep
	return compact.NewNodeID(id.Level-r, id.Index<<r), r
}
