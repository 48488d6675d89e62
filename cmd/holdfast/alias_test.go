package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"connectrpc.com/connect"

	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
)

// TestHiddenHoldSameIDOnEveryNode: two nodes sharing the holder key show a
// holder the same id for a law-enforcement hold (shown as a
// terms_violation), never the real one, and a restarted node shows it
// again: the holder cannot tell it from a real restriction by its id
// changing between reads.
func TestHiddenHoldSameIDOnEveryNode(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	t.Setenv(holderKeyEnv, hex.EncodeToString(key))
	cl := newCluster(t, 2)
	ctx := context.Background()
	a, b := rpc.NewClients(nil, cl.nodes[0].url, cl.token), rpc.NewClients(nil, cl.nodes[1].url, cl.token)
	res, err := a.Restriction.Apply(ctx, connect.NewRequest(&holdfastv1.ApplyRequest{Account: "u1", Kind: "law_enforcement_hold", Reason: "court order", Reference: "LE-1"}))
	if err != nil {
		t.Fatal(err)
	}
	realID := res.Msg.Restriction.Id
	shown := func(node string, c *rpc.Clients) string {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			d, err := c.Decision.Check(ctx, connect.NewRequest(&holdfastv1.CheckRequest{Account: "u1", Action: "trade", View: "holder"}))
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Msg.Causes) == 1 {
				if got := d.Msg.Causes[0]; got.GetKind() != "terms_violation" || got.GetId() == "" || got.GetId() == realID {
					t.Fatalf("the holder is shown %v for the hold %s", got, realID)
				}
				return d.Msg.Causes[0].GetId()
			}
			if time.Now().After(deadline) {
				t.Fatalf("the hold did not reach node %s: %v", node, d.Msg)
			}
		}
	}
	onA, onB := shown("A", a), shown("B", b)
	if onA != onB {
		t.Errorf("the hold shows as %s on one node and %s on another", onA, onB)
	}
	cl.nodes[1].kill()
	cl.nodes[1].start()
	if again := shown("B", b); again != onA {
		t.Errorf("after a restart the hold shows as %s, before as %s", again, onA)
	}
}
