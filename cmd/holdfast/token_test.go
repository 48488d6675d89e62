package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"

	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
)

// TestTokenRotation: a new token works beside the old; once the old one is
// revoked (given on stdin), it is refused, and the new one still works.
func TestTokenRotation(t *testing.T) {
	url, dir := server(t)
	cli(t, "staff", "add", "--data", dir, "--id", "admin", "--roles", "admin")
	_, oldTok, _ := cli(t, "token", "create", "--data", dir, "--scopes", "check")
	_, newTok, _ := cli(t, "token", "create", "--data", dir, "--scopes", "check")
	oldTok, newTok = strings.TrimSpace(oldTok), strings.TrimSpace(newTok)
	check := func(token string) error {
		_, err := rpc.NewClients(nil, url, token).Decision.Check(context.Background(), connect.NewRequest(&holdfastv1.CheckRequest{Account: "u1", Action: "trade"}))
		return err
	}
	if check(oldTok) != nil || check(newTok) != nil {
		t.Fatal("both tokens should work during the overlap")
	}
	var out, errw bytes.Buffer
	cmd := newRoot(&out, &errw)
	cmd.SetArgs([]string{"token", "revoke", "--data", dir, "--stdin"})
	cmd.SetIn(strings.NewReader(oldTok + "\n"))
	cmd.SetOut(&out)
	cmd.SetErr(&errw)
	if err := cmd.Execute(); err != nil || !strings.Contains(out.String(), "revoked") {
		t.Fatalf("revoke: %v %s %s", err, out.String(), errw.String())
	}
	// A server trusts a resolved token for a moment (see rpc.RevocationBound);
	// a fresh server has no cache.
	url2, _ := serverOn(t, dir)
	if _, err := rpc.NewClients(nil, url2, oldTok).Decision.Check(context.Background(), connect.NewRequest(&holdfastv1.CheckRequest{Account: "u1", Action: "trade"})); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("the revoked token: %v, want unauthenticated", err)
	}
	if _, err := rpc.NewClients(nil, url2, newTok).Decision.Check(context.Background(), connect.NewRequest(&holdfastv1.CheckRequest{Account: "u1", Action: "trade"})); err != nil {
		t.Errorf("the new token: %v", err)
	}
	if code, _, _ := cli(t, "token", "revoke", "--data", dir, "--id", "tok_nope"); code == 0 {
		t.Error("revoking an unknown id succeeded")
	}
}
