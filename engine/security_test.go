package engine_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/sqlite"
)

// securityEngine is an engine on a real store with a clock the test moves.
func securityEngine(t *testing.T) (*engine.Engine, *sqlite.DB, *fixedClock) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk := &fixedClock{now: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)}
	eng, err := engine.New(context.Background(), engine.Config{Store: db, Policy: policy.Default(), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return eng, db, clk
}

func user(id string) holdfast.Actor { return holdfast.Actor{Type: holdfast.ActorUser, ID: id} }

// TestSecureAccountIsOneStep: after the call, the freeze, the revoked
// sessions and keys, both commands to the identity service and the
// holder's notice are all there, committed together, and the chain holds.
func TestSecureAccountIsOneStep(t *testing.T) {
	ctx := context.Background()
	eng, db, clk := securityEngine(t)
	for _, ev := range []holdfast.Event{
		{Type: holdfast.EventLogin, Account: "u1", Device: "d1", Session: "s1"},
		{Type: holdfast.EventLogin, Account: "u1", Device: "d1", Session: "s2"},
		{Type: holdfast.EventAPIKeyCreated, Account: "u1", APIKey: "k1", Permissions: []string{"read"}},
		{Type: holdfast.EventAPIKeyCreated, Account: "u1", APIKey: "k2", Permissions: []string{"trade"}},
	} {
		if _, err := eng.Ingest(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	before, err := db.ListCommands(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	clk.now = clk.now.Add(time.Minute)
	res, err := eng.SecureAccount(ctx, "u1", user("u1"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Repeat || res.SessionsRevoked != 2 || res.KeysRevoked != 2 || res.Freeze.Kind != holdfast.KindSelfFreeze ||
		!res.Freeze.EndsAt.Equal(clk.now.Add(7*24*time.Hour)) {
		t.Fatalf("result %+v", res)
	}
	after, err := db.ListCommands(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, d := range after[:len(after)-len(before)] {
		types = append(types, string(d.Command.Type)+"/"+d.Command.Notice)
	}
	slices.Sort(types)
	want := []string{"notify_holder/account_secured", "restriction_applied/", "revoke_api_keys/", "revoke_sessions/"}
	if !slices.Equal(types, want) {
		t.Errorf("commands written: %v, want %v", types, want)
	}
	ov, err := eng.Security(ctx, "u1", user("u1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ov.APIKeys {
		if k.Active {
			t.Errorf("key %s still active", k.ID)
		}
	}
	for _, s := range ov.Sessions {
		if s.Active {
			t.Errorf("session %s still active", s.ID)
		}
	}

	// Again, with nothing new: no new restriction, no commands.
	res2, err := eng.SecureAccount(ctx, "u1", user("u1"))
	if err != nil || !res2.Repeat || res2.Freeze.ID != res.Freeze.ID || res2.SessionsRevoked+res2.KeysRevoked != 0 {
		t.Fatalf("repeat: %+v %v", res2, err)
	}
	again, _ := db.ListCommands(ctx, "", 0)
	if len(again) != len(after) {
		t.Errorf("a repeat wrote %d commands", len(again)-len(after))
	}
	// A session that appeared since is revoked by the next press.
	if _, err := eng.Ingest(ctx, holdfast.Event{Type: holdfast.EventLogin, Account: "u1", Device: "d9", Session: "s9"}); err != nil {
		t.Fatal(err)
	}
	clk.now = clk.now.Add(time.Minute)
	res3, err := eng.SecureAccount(ctx, "u1", user("u1"))
	if err != nil || !res3.Repeat || res3.SessionsRevoked != 1 {
		t.Fatalf("third press: %+v %v", res3, err)
	}
	rep, err := db.VerifyAudit(ctx, "u1")
	if err != nil || !rep.OK() {
		t.Fatalf("audit: %+v %v", rep, err)
	}
}

// TestSecurityNeverShowsTheAntiPhishingCode: the overview says only that
// a code is set, and the audit log holds "(set)".
func TestSecurityNeverShowsTheAntiPhishingCode(t *testing.T) {
	ctx := context.Background()
	eng, db, _ := securityEngine(t)
	if err := eng.SetAntiPhishingCode(ctx, "u1", "secret-heron", user("u1")); err != nil {
		t.Fatal(err)
	}
	ov, err := eng.Security(ctx, "u1", user("u1"))
	if err != nil || !ov.AntiPhishingSet {
		t.Fatalf("overview %+v %v", ov, err)
	}
	hist, err := db.History(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range hist {
		if strings.Contains(string(e.After)+string(e.Before), "secret-heron") {
			t.Errorf("audit entry %d holds the code: %s", e.Seq, e.After)
		}
	}
	if _, err := eng.Security(ctx, "u1", user("u2")); holdfast.ErrorCode(err) != holdfast.PermissionDenied {
		t.Errorf("another holder reading: %v", err)
	}
}

// TestSecurityCheckup: each weakness the issue names becomes a finding,
// high severity first, and a well-kept account has none of them.
func TestSecurityCheckup(t *testing.T) {
	ctx := context.Background()
	eng, _, clk := securityEngine(t)
	start := clk.now
	if err := eng.PutAccount(ctx, &holdfast.Account{ID: "u1", CreatedAt: start.Add(-365 * 24 * time.Hour), Factors: []holdfast.Factor{holdfast.FactorSMS}, KnownDevices: []string{"d1"}}, holdfast.System); err != nil {
		t.Fatal(err)
	}
	ingest := func(ev holdfast.Event) {
		t.Helper()
		if _, err := eng.Ingest(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	ingest(holdfast.Event{Type: holdfast.EventAPIKeyCreated, Account: "u1", APIKey: "old-key", Permissions: []string{"read"}, IPWhitelist: []string{"10.0.0.1"}})
	if _, err := eng.AddWhitelistAddress(ctx, "u1", holdfast.NewWhitelistAddress{Address: "addr-old", Network: "BTC"}, user("u1")); err != nil {
		t.Fatal(err)
	}
	clk.now = start.Add(100 * 24 * time.Hour)
	ingest(holdfast.Event{Type: holdfast.EventLogin, Account: "u1", Device: "d1", Session: "s1"})
	ingest(holdfast.Event{Type: holdfast.EventLogin, Account: "u1", Device: "d-stranger", Session: "s2"})
	ingest(holdfast.Event{Type: holdfast.EventAPIKeyCreated, Account: "u1", APIKey: "wd-key", Permissions: []string{"withdraw"}})

	c, err := eng.SecurityCheckup(ctx, "u1", user("u1"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]holdfast.Finding{}
	for _, f := range c.Findings {
		got[f.Code+"/"+f.Subject] = f
	}
	for _, want := range []string{
		"sms_only/", "no_anti_phishing_code/", "whitelist_off/", "unverified_device/d-stranger",
		"key_can_withdraw/wd-key", "key_without_ip_whitelist/wd-key", "key_unused/old-key",
		"address_unused/addr-old", "recent_restriction/step_up_verification",
	} {
		f, ok := got[want]
		if !ok {
			t.Errorf("no finding %s in %v", want, c.Findings)
			continue
		}
		if f.Message == "" || f.Fix == "" {
			t.Errorf("finding %s lacks message or fix", want)
		}
	}
	for i := 1; i < len(c.Findings); i++ {
		rank := map[holdfast.Severity]int{holdfast.SeverityHigh: 0, holdfast.SeverityMedium: 1, holdfast.SeverityLow: 2}
		if rank[c.Findings[i-1].Severity] > rank[c.Findings[i].Severity] {
			t.Errorf("findings not most severe first: %v", c.Findings)
		}
	}

	// A dormant account is flagged.
	clk.now = clk.now.Add(40 * 24 * time.Hour)
	c, err = eng.SecurityCheckup(ctx, "u1", holdfast.Actor{Type: holdfast.ActorStaff, ID: "sue", Roles: []holdfast.Role{holdfast.RoleSupport}})
	if err != nil || !slices.ContainsFunc(c.Findings, func(f holdfast.Finding) bool { return f.Code == "dormant" }) {
		t.Errorf("dormant account: %v %v", c, err)
	}

	// A well-kept account: TOTP and email, a code, the whitelist on.
	if err := eng.PutAccount(ctx, &holdfast.Account{ID: "u2", Factors: []holdfast.Factor{holdfast.FactorEmail, holdfast.FactorTOTP}}, holdfast.System); err != nil {
		t.Fatal(err)
	}
	if err := eng.SetAntiPhishingCode(ctx, "u2", "kingfisher", user("u2")); err != nil {
		t.Fatal(err)
	}
	if err := eng.SetWhitelist(ctx, "u2", true, user("u2")); err != nil {
		t.Fatal(err)
	}
	c, err = eng.SecurityCheckup(ctx, "u2", user("u2"))
	if err != nil || len(c.Findings) != 0 {
		t.Errorf("a well-kept account has findings: %+v %v", c.Findings, err)
	}
}

// TestLoginHistory lists the holder's logins newest first.
func TestLoginHistory(t *testing.T) {
	ctx := context.Background()
	eng, _, clk := securityEngine(t)
	for _, s := range []string{"s1", "s2", "s3"} {
		clk.now = clk.now.Add(time.Minute)
		if _, err := eng.Ingest(ctx, holdfast.Event{Type: holdfast.EventLogin, Account: "u1", Device: "d1", Session: s}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := eng.LoginHistory(ctx, "u1", 2, user("u1"))
	if err != nil || len(got) != 2 || got[0].Session != "s3" || got[1].Session != "s2" {
		t.Fatalf("history %v %v", got, err)
	}
}

// TestRevocationsSurviveRestart: a new engine on the same store still
// refuses the revoked session and key and honours the whitelist.
func TestRevocationsSurviveRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	eng, db := newEngine(t, dir)
	for _, ev := range []holdfast.Event{
		{Type: holdfast.EventLogin, Account: "u1", Device: "d1", Session: "s1"},
		{Type: holdfast.EventAPIKeyCreated, Account: "u1", APIKey: "k1", Permissions: []string{"read"}},
	} {
		if _, err := eng.Ingest(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := eng.SecureAccount(ctx, "u1", user("u1")); err != nil {
		t.Fatal(err)
	}
	if err := eng.SetWhitelist(ctx, "u1", true, user("u1")); err != nil {
		t.Fatal(err)
	}
	db.Close()

	eng2, _ := newEngine(t, dir)
	for _, req := range []holdfast.CheckRequest{
		{Account: "u1", Action: holdfast.ActionView, Session: "s1"},
		{Account: "u1", Action: holdfast.ActionView, APIKey: "k1"},
	} {
		d, err := eng2.Check(ctx, req)
		if err != nil || d.Effect != holdfast.Deny || len(d.Causes) == 0 || d.Causes[0].Code != holdfast.Unauthenticated {
			t.Errorf("%+v after restart: %+v %v", req, d, err)
		}
	}
	w, err := eng2.AuthorizeWithdrawal(ctx, holdfast.WithdrawalRequest{Account: "u1", ID: "w1", Asset: "USDT", Amount: "1", Address: "elsewhere"})
	if err != nil || w.Outcome != holdfast.DenyOutcome {
		t.Errorf("withdrawal after restart: %+v %v", w, err)
	}
}
