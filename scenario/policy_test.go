package scenario_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/scenario"
)

// TestPolicyRelease plays a release in a scenario: a stricter API-burst
// threshold is pushed and shadowed (the event that would trigger it
// applies nothing), activated by two people (the same event then applies
// reduce_only), and rolled back (the old threshold again).
func TestPolicyRelease(t *testing.T) {
	stricter := strings.Replace(string(policy.DefaultYAML()), "event.orders_per_minute > 100.0", "event.orders_per_minute > 50.0", 1)
	dir := filepath.Dir(write(t, "stricter.yaml", stricter))
	p := filepath.Join(dir, "release.yaml")
	body := `name: a stricter API-burst threshold, released and rolled back
start: 2026-04-01T00:00:00Z
staff:
  - {id: alice, roles: [compliance]}
  - {id: bob, roles: [admin]}
  - {id: sam, roles: [support]}
steps:
  - at: 0s
    do: {op: policy_push, policy: stricter.yaml, actor: "staff:sam"}
    expect_error: permission_denied
  - at: 0s
    do: {op: policy_push, policy: stricter.yaml, reason: halve the threshold, actor: "staff:alice"}
    as: stricter
  - at: 1m
    do: {op: policy_shadow, version: $stricter, reason: see what it catches, actor: "staff:alice"}
  - at: 2m
    event: {type: api_activity, account: u1, orders_per_minute: 80}
  - at: 2m
    expect: {account: u1, action: trade, effect: allow}
  - at: 3m
    do: {op: policy_activate, version: $stricter, reason: bots got faster, actor: "staff:alice"}
    as: activation
  - at: 3m
    do: {op: policy_approve, request: $activation, actor: "staff:alice"}
    expect_error: permission_denied
  - at: 4m
    event: {type: api_activity, account: u2, orders_per_minute: 80}
  - at: 4m
    expect: {account: u2, action: trade, effect: allow}
  - at: 5m
    do: {op: policy_approve, request: $activation, actor: "staff:bob"}
  - at: 6m
    event: {type: api_activity, account: u3, orders_per_minute: 80}
  - at: 6m
    expect: {account: u3, action: trade, effect: deny, kinds: [reduce_only]}
  - at: 7m
    do: {op: policy_rollback, version: ` + policy.Default().Hash[:12] + `, reason: false positives, actor: "staff:bob"}
    as: back
  - at: 8m
    do: {op: policy_approve, request: $back, actor: "staff:alice"}
  - at: 9m
    event: {type: api_activity, account: u4, orders_per_minute: 80}
  - at: 9m
    expect: {account: u4, action: trade, effect: allow}
`
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := scenario.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	res, err := scenario.Run(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 0 || res.Passed == 0 {
		t.Fatalf("%+v", res)
	}
}
