package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"

	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
	"github.com/holdfast/holdfast/sqlite"
)

// TestVerifyStateCLI: rows edited in the SQLite file behind the server's
// back, with the audit log left intact — a panic lock's end moved to
// 1970, a restriction deleted, a withdrawal's outcome and a case's state
// changed — are each reported by `audit verify` with the account, the
// record and the field, exit 1. After a restart the server does not
// believe the moved end: the victim's next withdrawal is denied, and the
// server's log says why.
func TestVerifyStateCLI(t *testing.T) {
	bin := buildHoldfast(t)
	data := t.TempDir()
	mustCLI(t, "staff", "add", "--data", data, "--id", "admin", "--roles", "admin")
	staff := strings.TrimSpace(mustCLI(t, "token", "create", "--data", data, "--scopes", "staff,check,events", "--staff", "admin"))
	app := strings.TrimSpace(mustCLI(t, "token", "create", "--data", data, "--scopes", "self_service"))
	n, _ := serveLogged(t, bin, data)
	c := rpc.NewClients(nil, n.url, staff)
	ctx := context.Background()

	lock, err := c.Restriction.Apply(ctx, connect.NewRequest(&holdfastv1.ApplyRequest{Account: "victim", Kind: "panic_lock", Reason: "holder called"}))
	if err != nil {
		t.Fatal(err)
	}
	gone, err := c.Restriction.Apply(ctx, connect.NewRequest(&holdfastv1.ApplyRequest{Account: "bystander", Kind: "reduce_only", Reason: "margin call"}))
	if err != nil {
		t.Fatal(err)
	}
	withdraw := func(account, id string) string {
		t.Helper()
		res, err := c.Decision.AuthorizeWithdrawal(ctx, connect.NewRequest(&holdfastv1.AuthorizeWithdrawalRequest{Account: account, Id: id, Asset: "USDT", Amount: "10", Address: "addr-1"}))
		if err != nil {
			t.Fatal(err)
		}
		return res.Msg.Outcome
	}
	if got := withdraw("payer", "w-1"); got != "approve" {
		t.Fatalf("payer's withdrawal: %s, want approve", got)
	}
	if got := withdraw("victim", "w-before"); got != "deny" {
		t.Fatalf("victim's withdrawal under the panic lock: %s, want deny", got)
	}
	t.Setenv("HOLDFAST_SERVER", n.url)
	t.Setenv("HOLDFAST_TOKEN", "")
	mustCLI(t, "event", "--type", "deposit", "--account", "appellant", "--asset", "BTC", "--amount", "0.5", "--usd-value", "30000", "--source-risk", "mixer", "--token", staff)
	var opened struct {
		Case struct{ ID string } `json:"case"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, "case", "open", "appellant", "--type", "source_of_funds", "--statement", "my own wallet", "--json", "--token", app)), &opened); err != nil || opened.Case.ID == "" {
		t.Fatalf("case open: %v", err)
	}
	n.kill()

	if code, out, errw := cli(t, "audit", "verify", "--data", data); code != 0 || !strings.HasPrefix(out, "OK") {
		t.Fatalf("audit verify before tampering: exit %d\n%s%s", code, out, errw)
	}
	raw, err := sql.Open("sqlite", filepath.Join(data, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE restrictions SET ends_at = 1 WHERE id = '` + lock.Msg.Restriction.Id + `'`,
		`DELETE FROM restrictions WHERE id = '` + gone.Msg.Restriction.Id + `'`,
		`UPDATE withdrawals SET outcome = 'deny' WHERE id = 'w-1'`,
		`UPDATE cases SET state = 'approved' WHERE id = '` + opened.Case.ID + `'`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()

	code, out, errw := cli(t, "audit", "verify", "--data", data)
	if code != 1 || !strings.Contains(errw, "4 row(s) of the state the audit log does not explain") {
		t.Fatalf("audit verify after tampering: exit %d, want 1\n%s%s", code, out, errw)
	}
	for _, want := range []string{
		"UNEXPLAINED: account victim restriction " + lock.Msg.Restriction.Id + ": field ends_at:",
		"UNEXPLAINED: account bystander restriction " + gone.Msg.Restriction.Id + ": the log records it but its row is missing",
		"UNEXPLAINED: account payer withdrawal w-1: field outcome:",
		"UNEXPLAINED: account appellant case " + opened.Case.ID + ": field state:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("audit verify does not report %q:\n%s", want, out)
		}
	}
	if code, out, _ := cli(t, "audit", "verify", "--data", data, "--account", "payer"); code != 1 || strings.Count(out, "UNEXPLAINED") != 1 {
		t.Errorf("audit verify --account payer: exit %d\n%s", code, out)
	}

	// Restarted, the server loads the victim's panic lock as the log has
	// it: money still cannot leave.
	n, log := serveLogged(t, bin, data)
	c = rpc.NewClients(nil, n.url, staff)
	if got := withdraw("victim", "w-after"); got != "deny" {
		t.Errorf("victim's withdrawal after the end was moved in the table: %s, want deny", got)
	}
	check, err := c.Decision.Check(ctx, connect.NewRequest(&holdfastv1.CheckRequest{Account: "victim", Action: "withdraw"}))
	if err != nil || check.Msg.Effect != "deny" {
		t.Errorf("check withdraw on the victim = %v, %v; want deny", check, err)
	}
	if s := log.String(); !strings.Contains(s, "restriction row contradicts the audit log") || !strings.Contains(s, lock.Msg.Restriction.Id) {
		t.Errorf("the server's log does not say which row it did not believe:\n%s", s)
	}
}
