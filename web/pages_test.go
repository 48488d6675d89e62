package web_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/holdfast/holdfast"
)

// everyPage is every page of both sites, for the tests that must hold on
// all of them (no sideways scrolling on a phone, no serious accessibility
// failure). A new page is one line here. path may name the fixture's
// {case}; ready is what the page shows once it is drawn with the
// fixture's data (a table's first row, say), so that an empty or broken
// page fails instead of passing for want of content. shot, when set, names
// the page's screenshots in docs/screenshots (NAME-390.png, NAME-1366.png).
var everyPage = []struct{ path, ready, shot string }{
	// The Security Center, signed in as the fixture's holder.
	{"/me/", "#causes .cause .ends", "security-center"},
	{"/me/panic", "#panic-active", ""},
	{"/me/secure", "#secure-confirm", ""},
	{"/me/devices", "#session-list tbody tr", ""},
	{"/me/keys", "#key-list tbody tr", ""},
	{"/me/whitelist", "#address-list tbody tr", ""},
	{"/me/settings", "#contact-list li", ""},
	{"/me/checkup", "#finding-list li", ""},
	{"/me/history", "#history-list tbody tr .who", "security-history"},
	{"/me/appeals", "#case-list tbody tr", ""},
	{"/me/appeals/{case}", "#entries .entry-evidence", "appeal"},
	{"/me/appeals/no-such-appeal", "#error", ""},
	{"/me/login?token=not-a-token", "h1", ""},
	{"/me/emergency", "#emergency-account", "emergency"},
	// The Console, signed in as the fixture's staff member.
	{"/console/login", "#staff", ""},
	{"/console/", "#account", ""},
	{"/console/account?id=" + fixtureAccount, "#active tbody tr .extend button", "console-account"},
	{"/console/approvals", "#approvals tbody tr", "console-approvals"},
	{"/console/cases", "#cases tbody tr", ""},
	{"/console/cases/{case}", "#entries .evidence", ""},
	{"/console/outbox", "#dead tbody tr", ""},
	{"/console/policy", "#pending tbody tr .approve", "console-policy"},
	{"/console/policy/diff", "#changes li", ""},
	{"/console/policy/version", "#yaml", ""},
}

// fixtureAccount is the fixture's holder: restricted several ways at once.
const fixtureAccount = "u1"

// fixture is a site whose pages all have something to show: a holder
// under several kinds of restriction (one lift waiting for a second
// approver), with a withdrawal held for review, an appeal with a file,
// sessions, keys, whitelisted addresses and trusted contacts; a dead
// letter in the outbox; a policy version waiting for approval; and a
// staff member who may see all of it.
type fixture struct {
	*site
	caseID string
	staff  staffLogin
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	s := newSite(t)
	// The pages with the outbox and an evidence store the test can fill;
	// the browser uses them for both sites.
	p := s.pagesWithOutbox(emailCodes(t))
	s.url = p.url
	ctx := context.Background()
	const acct = fixtureAccount
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	comp := holdfast.Staff("bob", holdfast.RoleCompliance)

	user := holdfast.User(acct)
	_, err := s.eng.AddWhitelistAddress(ctx, acct, holdfast.NewWhitelistAddress{Address: "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", Network: "BTC", Label: "Cold wallet"}, user)
	must(err)
	_, err = s.eng.AddWhitelistAddress(ctx, acct, holdfast.NewWhitelistAddress{Address: "0x52908400098527886E0F7030069857D2E4169EE7", Network: "ETH"}, user)
	must(err)
	// A family member's account, who accepted, and a friend's, invited.
	for _, c := range []string{"u2-family-account", "u3-friend"} {
		s.holderIngest(holdfast.Event{Type: holdfast.EventLogin, Account: c, Device: "phone", Session: "s-" + c})
		must(s.eng.AddTrustedContact(ctx, acct, c, user))
	}
	must(s.eng.AcceptContactInvitation(ctx, "u2-family-account", acct, holdfast.User("u2-family-account")))
	// A neighbour asks the holder to be their contact.
	must(s.eng.AddTrustedContact(ctx, "u3-friend", acct, holdfast.User("u3-friend")))
	// Two sessions on the holder's one device (a second device would add
	// a step-up, which the pages show like any other restriction).
	for _, l := range [][2]string{{"sess-browser", "203.0.113.7"}, {"sess-app", "203.0.113.8"}} {
		s.holderIngest(holdfast.Event{Type: holdfast.EventLogin, Account: acct, Device: "laptop-firefox", Session: l[0], IP: l[1], Country: "DE"})
	}
	s.holderIngest(holdfast.Event{Type: holdfast.EventAPIKeyCreated, Account: acct, APIKey: "key-trading-bot", Permissions: []string{"read", "trade"}})
	s.holderIngest(holdfast.Event{Type: holdfast.EventAPIKeyCreated, Account: acct, APIKey: "key-withdrawals", Permissions: []string{"read", "withdraw"}, IPWhitelist: []string{"198.51.100.10", "198.51.100.11"}})

	// The restrictions: the holder's panic lock, a deposit's freeze with
	// its appeal, a recovery's review of withdrawals, and a compliance
	// review whose lift waits for a second approver.
	_, err = s.eng.PanicLock(ctx, acct, holdfast.Duration(72*time.Hour), user)
	must(err)
	_, err = s.eng.Apply(ctx, holdfast.ApplyRequest{Account: acct, Kind: holdfast.KindWithdrawalFreeze, Reason: "deposit of 0.4 BTC from a mixer", Actor: holdfast.System})
	must(err)
	_, err = s.eng.Apply(ctx, holdfast.ApplyRequest{Account: acct, Kind: holdfast.KindRecoveryCooldown, Reason: "account recovered after a SIM swap, ticket 55120", Actor: comp})
	must(err)
	full, err := s.eng.Apply(ctx, holdfast.ApplyRequest{Account: acct, Kind: holdfast.KindFullRestriction, Reason: "AML alert 7781: structuring below the reporting threshold", Actor: comp})
	must(err)
	_, err = s.eng.Lift(ctx, holdfast.LiftRequest{Target: holdfast.Target{Account: acct, Restriction: full.ID}, Reason: "alert reviewed: salary payments", Actor: comp})
	must(err)
	w, err := s.eng.AuthorizeWithdrawal(ctx, holdfast.WithdrawalRequest{Account: acct, ID: "wd-1", Asset: "BTC", Amount: "0.05", USDValue: "3000", Address: "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"})
	must(err)
	if w.Outcome == holdfast.OutcomeOf(holdfast.Allow) {
		t.Fatalf("the fixture's withdrawal was not held: %+v", w)
	}

	c, err := s.eng.OpenCase(ctx, holdfast.OpenCaseRequest{Account: acct, Type: holdfast.CaseSourceOfFunds, Statement: "The 0.4 BTC came from my own wallet; I used a privacy tool before sending it here.", Actor: user})
	must(err)
	ref, err := p.evidence.Put(ctx, bytes.NewReader([]byte("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")))
	must(err)
	_, err = s.eng.AddCaseEntry(ctx, holdfast.CaseEntryRequest{Case: c.ID, Type: holdfast.EntryEvidence, Text: "Statement of my other exchange account", Evidence: &holdfast.EvidenceRef{SHA256: ref.SHA256, Name: "exchange-statement-2024-05.pdf", ContentType: ref.ContentType, Size: ref.Size}, Actor: user})
	must(err)

	// One command to another service that could not be delivered.
	claimed, err := s.db.ClaimCommandsOf(ctx, holdfast.TypeFilter{}, time.Now(), time.Minute, 1)
	must(err)
	if len(claimed) != 1 {
		t.Fatalf("no command to make a dead letter of")
	}
	must(s.db.FailCommand(ctx, claimed[0].Command.ID, claimed[0].LeaseUntil, time.Now(), "receiver answered 500 Internal Server Error", time.Time{}))

	// A policy version pushed and waiting for a second person's approval.
	v := s.pushPolicyVersion()
	_, err = s.eng.RequestPolicyActivation(ctx, comp, v.Hash, "ticket 812: fewer step-ups for seasonal traders", false)
	must(err)

	return &fixture{site: s, caseID: c.ID, staff: s.addConsoleStaff("ada", holdfast.RoleAdmin, holdfast.RoleCompliance)}
}

// signInBoth signs the browser in to both sites.
func (f *fixture) signInBoth() {
	f.t.Helper()
	f.signIn(fixtureAccount)
	f.run(chromedp.WaitVisible(chromedp.CSS("#causes")))
	f.consoleSignIn(f.staff)
}

// visit opens one of everyPage and waits until it shows what it should.
func (f *fixture) visit(path, ready string) {
	f.t.Helper()
	path = strings.ReplaceAll(path, "{case}", f.caseID)
	if err := chromedp.Do(f.browser, chromedp.Navigate(f.url+path), chromedp.WaitVisible(chromedp.CSS(ready))); err != nil {
		f.t.Fatalf("%s did not show %s: %v", path, ready, err)
	}
}
