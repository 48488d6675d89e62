package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/holdfast/holdfast"
)

// TestHistoryPage: from the navigation, the holder's history lists their
// sign-ins with device, country and address, their own changes, a freeze
// by their trusted contact and a restriction our staff applied and lifted,
// newest first, in words: who acted is "you", "your trusted contact" or
// "our security team", never a name, a reason or a hidden hold's kind. An
// Older link pages back, and Newest returns.
func TestHistoryPage(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	holder := holdfast.User("u1")
	// Old sign-ins, more than a page of them.
	for i := range 35 {
		s.holderIngest(holdfast.Event{Type: holdfast.EventLogin, Account: "u1", Device: "laptop-firefox", Country: "DE", IP: fmt.Sprintf("192.0.2.%d", i+1)})
	}
	s.holderIngest(holdfast.Event{Type: holdfast.EventLogin, Account: "u1", Device: "laptop-firefox", Country: "DE", IP: "203.0.113.7", Session: "sess-1"})
	_, err := s.eng.AddWhitelistAddress(ctx, "u1", holdfast.NewWhitelistAddress{Address: "bc1qcoldwallet", Network: "BTC", Label: "Cold wallet"}, holder)
	must(err)
	must(s.eng.SetAntiPhishingCode(ctx, "u1", "Tulip-7781", holder))
	s.holderIngest(holdfast.Event{Type: holdfast.EventLogin, Account: "friend-1", Device: "phone"})
	must(s.eng.AddTrustedContact(ctx, "u1", "friend-1", holder))
	must(s.eng.AcceptContactInvitation(ctx, "friend-1", "u1", holdfast.User("friend-1")))
	_, err = s.eng.Freeze(ctx, "u1", holdfast.Duration(24*time.Hour), holdfast.Actor{Type: holdfast.ActorTrustedContact, ID: "friend-1"})
	must(err)
	sam := holdfast.Staff("sam-the-agent", holdfast.RoleSupport)
	r, err := s.eng.Apply(ctx, holdfast.ApplyRequest{Account: "u1", Kind: holdfast.KindScamProtection, Reason: "STAFF-NOTE ticket 4411", Actor: sam})
	must(err)
	_, err = s.eng.Lift(ctx, holdfast.LiftRequest{Target: holdfast.Target{Restriction: r.ID}, Reason: "STAFF-NOTE cleared", Actor: sam})
	must(err)
	no := false
	_, err = s.eng.Apply(ctx, holdfast.ApplyRequest{Account: "u1", Kind: holdfast.KindLawEnforcementHold, Disclose: &no, Reference: "LE-REF-1", Reason: "Subpoena", Actor: holdfast.Staff("liaison1", holdfast.RoleLELiaison)})
	must(err)

	s.signIn("u1")
	s.run(
		chromedp.WaitVisible(chromedp.CSS("#causes")),
		holderClickTo(`.holder-nav a[href="/me/history"]`, "#history-list"),
	)
	if cur, err := chromedp.Run(s.browser, chromedp.AttributeValue(chromedp.CSS(`.holder-nav a[aria-current="page"]`), "href")); err != nil || cur.Value != "/me/history" {
		t.Errorf("the navigation marks %+v as the current page (%v)", cur, err)
	}
	rows := strings.Split(s.text("#history-list tbody"), "\n")
	row := func(what string) string {
		for _, r := range rows {
			if strings.Contains(r, what) {
				return r
			}
		}
		t.Errorf("no history row says %q:\n%s", what, strings.Join(rows, "\n"))
		return ""
	}
	for what, want := range map[string][]string{
		"Restriction started: Terms of Use review":  {"Our security team"},
		"Restriction lifted: Scam protection hold":  {"Our security team"},
		"Restriction started: Scam protection hold": {"Our security team"},
		"Restriction started: Account freeze":       {"Your trusted contact"},
		"Trusted contact added":                     {"You"},
		"Anti-phishing code set":                    {"You"},
		"Address added to the withdrawal whitelist": {"You", "bc1qcoldwallet (BTC)"},
		"laptop-firefox · DE · 203.0.113.7":         {"Signed in"},
	} {
		r := row(what)
		for _, w := range want {
			if !strings.Contains(r, w) {
				t.Errorf("the row %q lacks %q", r, w)
			}
		}
	}
	if first := rows[0]; !strings.Contains(first, "Restriction started: Terms of Use review") {
		t.Errorf("the newest row is %q, want the latest restriction first", first)
	}
	page := s.html()
	for _, leak := range []string{"sam-the-agent", "liaison1", "STAFF-NOTE", "Subpoena", "LE-REF-1", "Tulip-7781", "law_enforcement", "friend-1"} {
		if strings.Contains(page, leak) {
			t.Errorf("the history page shows %q", leak)
		}
	}
	noIdentifiers(t, "/me/history", page)

	// Older sign-ins are on the next page; Newest comes back.
	s.run(holderClickTo("#history-older", "#history-newest"))
	older := s.text("#history-list tbody")
	if !strings.Contains(older, "laptop-firefox · DE · 192.0.2.1") || strings.Contains(older, "Terms of Use review") {
		t.Errorf("the older page:\n%s", older)
	}
	s.run(holderClickTo("#history-newest", "#history-older"))
	if got := s.text("#history-list tbody"); !strings.Contains(got, "Restriction started: Terms of Use review") {
		t.Errorf("back on the newest page:\n%s", got)
	}

	// A cursor that is not a number is a page that does not exist.
	resp, err := s.holderHTTP("u1").Get(s.url + "/me/history?before=abc")
	must(err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "That page of your history does not exist.") {
		t.Errorf("a bad cursor: %d\n%s", resp.StatusCode, alertText(string(body)))
	}
}

// TestKeysRevokeAndIPWhitelist: the keys page shows each key's
// permissions, addresses, creation and last use; Revoke stops one key
// (a check with it is then unauthenticated, the other key still works);
// narrowing a key's IP whitelist takes effect at once, and widening it
// while the settings are locked is refused in words.
func TestKeysRevokeAndIPWhitelist(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	s.holderIngest(holdfast.Event{Type: holdfast.EventAPIKeyCreated, Account: "u1", APIKey: "key-bot", Permissions: []string{"read", "trade"}, IPWhitelist: []string{"10.0.0.0/8"}})
	s.holderIngest(holdfast.Event{Type: holdfast.EventAPIKeyCreated, Account: "u1", APIKey: "key-spare", Permissions: []string{"read"}})
	s.holderIngest(holdfast.Event{Type: holdfast.EventAPIActivity, Account: "u1", APIKey: "key-bot"})
	check := func(key, ip string) holdfast.Decision {
		t.Helper()
		d, err := s.eng.Check(ctx, holdfast.CheckRequest{Account: "u1", Action: holdfast.ActionView, APIKey: key, IP: ip})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := check("key-bot", "10.1.2.3"); d.Effect != holdfast.Allow {
		t.Fatalf("the bot's key before: %+v", d)
	}
	s.signIn("u1")
	s.run(chromedp.Navigate(s.url+"/me/keys"), chromedp.WaitVisible(chromedp.CSS("#key-list")))
	bot := s.text("#key-key-bot")
	for _, want := range []string{"key-bot", "read, trade", "10.0.0.0/8", "Active"} {
		if !strings.Contains(bot, want) {
			t.Errorf("the bot's key row lacks %q: %q", want, bot)
		}
	}
	if strings.Contains(bot, "Never") {
		t.Errorf("the bot's key was used, but its row says never: %q", bot)
	}
	if spare := s.text("#key-key-spare"); !strings.Contains(spare, "Any address") || !strings.Contains(spare, "Never") {
		t.Errorf("the spare key's row: %q", spare)
	}

	// Narrowing: in force at once.
	s.run(
		chromedp.SetValue(chromedp.CSS("#ips-key-bot"), "10.1.0.0/16, 10.9.9.9"),
		holderClickTo(`button[aria-label="Save the IP whitelist of key-bot"]`, "#done"),
	)
	if got := s.text("#key-key-bot .ip-list"); got != "10.1.0.0/16, 10.9.9.9" {
		t.Errorf("the bot's key's addresses after saving: %q", got)
	}
	if d := check("key-bot", "10.2.0.1"); d.Effect != holdfast.Deny {
		t.Errorf("the bot's key from outside the narrowed list: %+v", d)
	}
	if d := check("key-bot", "10.1.2.3"); d.Effect != holdfast.Allow {
		t.Errorf("the bot's key from inside the narrowed list: %+v", d)
	}

	// Revoke one key: it fails Check as unauthenticated; the other works.
	s.run(holderClickTo(`button[aria-label="Revoke key-bot"]`, "#done"))
	if got := s.text("#done"); !strings.Contains(got, "revoked") {
		t.Errorf("done after revoking: %q", got)
	}
	if got := s.text("#key-key-bot .state"); !strings.HasPrefix(got, "Revoked") {
		t.Errorf("the revoked key's state: %q", got)
	}
	d := check("key-bot", "10.1.2.3")
	if d.Effect != holdfast.Deny || len(d.Causes) == 0 || d.Causes[0].Code != holdfast.Unauthenticated {
		t.Errorf("a check with the revoked key: %+v", d)
	}
	if d := check("key-spare", "192.0.2.1"); d.Effect != holdfast.Allow {
		t.Errorf("the other key after revoking one: %+v", d)
	}

	// Widening under a settings lock is refused, in words.
	if _, err := s.eng.LockSettings(ctx, "u1", holdfast.Duration(72*time.Hour), holdfast.User("u1")); err != nil {
		t.Fatal(err)
	}
	s.run(
		chromedp.SetValue(chromedp.CSS("#ips-key-spare"), "192.0.2.1"),
		holderClickTo(`button[aria-label="Save the IP whitelist of key-spare"]`, "#done"),
	)
	s.run(
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#ips-key-spare").value = ""`),
		holderClickTo(`button[aria-label="Save the IP whitelist of key-spare"]`, "#error"),
	)
	if got := s.text("#error"); got != "Changing security settings is not possible on your account right now: Security settings locked." {
		t.Errorf("widening under a settings lock: %q", got)
	}
	if d := check("key-spare", "198.51.100.1"); d.Effect != holdfast.Deny {
		t.Errorf("the refused widening let the key in: %+v", d)
	}
	noIdentifiers(t, "/me/keys", s.html())

	// Without JavaScript: a bad address is said in words, with 422.
	resp, err := s.holderHTTP("u1").PostForm(s.url+"/me/keys/ip-whitelist", url.Values{"key": {"key-spare"}, "ip_whitelist": {"10.0.0.0/40"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(alertText(string(body)), "is not an IP address or a CIDR prefix") {
		t.Errorf("a bad prefix: %d %s", resp.StatusCode, alertText(string(body)))
	}
}
