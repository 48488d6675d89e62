package rpc_test

import (
	"context"
	"fmt"
	"testing"

	"connectrpc.com/connect"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
)

// TestTokenRateLimits: a token flooding event intake beyond its rate gets
// resource_exhausted; another token keeps its own budget, and checks are
// not limited.
func TestTokenRateLimits(t *testing.T) {
	e := newEnv(t, func(c *rpc.Config) { c.TokenRates = rpc.TokenRates{Events: 5, SelfService: 5} })
	e.mint("svc-a", []holdfast.Scope{holdfast.ScopeEvents, holdfast.ScopeCheck}, "")
	e.mint("svc-b", []holdfast.Scope{holdfast.ScopeEvents}, "")
	ctx := context.Background()
	ingest := func(token string, i int) error {
		_, err := e.as(token).Event.Ingest(ctx, connect.NewRequest(&holdfastv1.IngestRequest{Event: &holdfastv1.Event{
			Id: fmt.Sprintf("%s-%d", token, i), Type: "login", Account: "u1",
		}}))
		return err
	}
	exhausted := 0
	for i := range 20 {
		if err := ingest("svc-a", i); err != nil {
			if connect.CodeOf(err) != connect.CodeResourceExhausted {
				t.Fatalf("ingest %d: %v", i, err)
			}
			exhausted++
		}
	}
	if exhausted < 10 {
		t.Errorf("20 rapid events at 5/s: %d refused, want most of them", exhausted)
	}
	if err := ingest("svc-b", 0); err != nil {
		t.Errorf("another token's budget is its own: %v", err)
	}
	for range 50 {
		if _, err := e.as("svc-a").Decision.Check(ctx, connect.NewRequest(&holdfastv1.CheckRequest{Account: "u1", Action: "trade"})); err != nil {
			t.Fatalf("checks are not limited: %v", err)
		}
	}
}
