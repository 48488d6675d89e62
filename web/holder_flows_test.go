package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/holdfast/holdfast"
)

// The holder's flows that end somewhere: after each form the home or the
// settings page says what happens next, and the engine did it.

// when is how the pages print a time.
func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// TestEarlyUnfreezeSteps: asking to end a freeze early opens an unlock
// request case linked to the freeze; the freeze's card then shows the
// steps (verification not done, the case and its due time, how it ends
// otherwise), verification shows as done, the case link leads to the
// case, and support's approval ends the freeze.
func TestEarlyUnfreezeSteps(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	s.signIn("u1")
	s.run(
		chromedp.WaitVisible(chromedp.CSS("#freeze-duration")),
		chromedp.SetValue(chromedp.CSS("#freeze-duration"), "7d"),
		holderClickTo("#freeze-submit", "#unfreeze-request"),
		holderClickTo("#unfreeze-request", "#unfreeze-steps"),
	)
	freezes, err := s.eng.List(ctx, holdfast.RestrictionFilter{Account: "u1", Kind: holdfast.KindSelfFreeze, ActiveAt: time.Now()}, holdfast.Staff("sam", holdfast.RoleSupport))
	if err != nil || len(freezes) != 1 {
		t.Fatalf("freezes: %v %v", freezes, err)
	}
	freeze := freezes[0]
	cases, err := s.eng.Cases(ctx, holdfast.CaseFilter{Type: holdfast.CaseUnlockRequest}, holdfast.User("u1"))
	if err != nil || len(cases) != 1 || !slices.Equal(cases[0].Restrictions, []string{freeze.ID}) || cases[0].State != holdfast.CaseOpen {
		t.Fatalf("unlock request cases after the request: %+v %v", cases, err)
	}
	c := cases[0]
	if got := s.text("#done"); !strings.Contains(got, "What happens next") {
		t.Errorf("done after the request: %q", got)
	}
	if got := s.text("#unfreeze-verify"); !strings.Contains(got, "Verify your identity") || !strings.Contains(got, "Not done yet") {
		t.Errorf("verification step before verifying: %q", got)
	}
	if got := s.text("#unfreeze-case"); !strings.Contains(got, "your unlock request") || !strings.Contains(got, when(c.DueAt)) {
		t.Errorf("case step %q lacks the case and its due time %s", got, when(c.DueAt))
	}
	if got := s.text("#unfreeze-outcome"); !strings.Contains(got, "Support lifts the freeze once you have verified") || !strings.Contains(got, when(freeze.EndsAt)) {
		t.Errorf("outcome step %q lacks the freeze's end %s", got, when(freeze.EndsAt))
	}
	if n := s.count("#unfreeze-request"); n != 0 {
		t.Errorf("the request button is still offered beside its steps (%d)", n)
	}
	noIdentifiers(t, "home after an unfreeze request", s.html())
	s.screenshot("security-center-unfreeze-steps")

	// Asking again keeps the one case.
	if _, err := s.eng.RequestUnfreezeApplied(ctx, "u1", holdfast.User("u1")); err != nil {
		t.Fatal(err)
	}
	if cs, _ := s.eng.Cases(ctx, holdfast.CaseFilter{Type: holdfast.CaseUnlockRequest}, holdfast.User("u1")); len(cs) != 1 {
		t.Errorf("%d unlock request cases after asking twice, want 1", len(cs))
	}

	// The identity service reports the verification.
	if _, err := s.eng.Verify(ctx, holdfast.VerifyRequest{Account: "u1", Factors: []holdfast.Factor{holdfast.FactorEmail, holdfast.FactorSMS, holdfast.FactorTOTP}, Actor: holdfast.System}); err != nil {
		t.Fatal(err)
	}
	s.run(chromedp.Navigate(s.url+"/me/"), chromedp.WaitVisible(chromedp.CSS("#unfreeze-steps")))
	if got := s.text("#unfreeze-verify"); !strings.Contains(got, "Done") || strings.Contains(got, "Not done") {
		t.Errorf("verification step after verifying: %q", got)
	}
	s.run(holderClickTo("#unfreeze-case a", "#case-id"))
	if got := s.text("#case-id"); !strings.Contains(got, c.ID) {
		t.Errorf("the case link leads to %q, want case %s", got, c.ID)
	}

	// Support decides the case: the freeze ends.
	if _, err := s.eng.DecideCase(ctx, holdfast.DecideCaseRequest{Case: c.ID, Decision: holdfast.DecisionApprove, Reason: "verified by phone", Actor: holdfast.Staff("sam", holdfast.RoleSupport)}); err != nil {
		t.Fatal(err)
	}
	s.run(chromedp.Navigate(s.url+"/me/"), chromedp.WaitVisible(chromedp.CSS("#status-ok")))
}

// TestUnfreezeAfterAnAppeal: an unlock request the holder opened from
// the appeals page is the request's case: asking from the home adds
// none, and the home links that one.
func TestUnfreezeAfterAnAppeal(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	if _, err := s.eng.Freeze(ctx, "u1", holdfast.Duration(48*time.Hour), holdfast.User("u1")); err != nil {
		t.Fatal(err)
	}
	c, err := s.eng.OpenCase(ctx, holdfast.OpenCaseRequest{Account: "u1", Type: holdfast.CaseUnlockRequest, Statement: "I am safe again", Actor: holdfast.User("u1")})
	if err != nil {
		t.Fatal(err)
	}
	s.signIn("u1")
	s.run(chromedp.WaitVisible(chromedp.CSS("#unfreeze-steps")))
	res, err := chromedp.Run(s.browser, chromedp.AttributeValue(chromedp.CSS("#unfreeze-case a"), "href"))
	if err != nil {
		t.Fatal(err)
	}
	if href := res.Value; href != "/me/appeals/"+c.ID {
		t.Errorf("the steps link %q, want the appeal's case %s", href, c.ID)
	}
	if _, err := s.eng.RequestUnfreezeApplied(ctx, "u1", holdfast.User("u1")); err != nil {
		t.Fatal(err)
	}
	if cs, _ := s.eng.Cases(ctx, holdfast.CaseFilter{}, holdfast.User("u1")); len(cs) != 1 {
		t.Errorf("%d cases after asking beside an open appeal, want 1", len(cs))
	}
}

// TestHeldAmountOnHome: a deposit's freeze is appealed and the appeal
// approved with part of the amount kept held; the home says how much of
// which asset, since when, and what happens next.
func TestHeldAmountOnHome(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	s.holderIngest(holdfast.Event{Type: holdfast.EventDeposit, Account: "u1", Asset: "BTC", Amount: "0.4", USDValue: "26000", SourceRisk: "mixer"})
	c, err := s.eng.OpenCase(ctx, holdfast.OpenCaseRequest{Account: "u1", Type: holdfast.CaseSourceOfFunds, Statement: "From my own wallet.", Actor: holdfast.User("u1")})
	if err != nil {
		t.Fatal(err)
	}
	c, err = s.eng.DecideCase(ctx, holdfast.DecideCaseRequest{Case: c.ID, Decision: holdfast.DecisionApprove, Reason: "partly explained",
		KeepHeld: &holdfast.AmountHold{Asset: "BTC", Amount: "0.15"}, Actor: holdfast.Staff("bob", holdfast.RoleCompliance)})
	if err != nil || c.Hold == nil {
		t.Fatalf("decide: %+v %v", c, err)
	}
	s.signIn("u1")
	s.run(chromedp.WaitVisible(chromedp.CSS("#holds")))
	got := s.text("#holds")
	for _, want := range []string{"0.15 BTC held since " + when(c.Hold.CreatedAt), "withdraw the rest of your BTC", "below 0.15 is refused", "until our review team releases it", "your appeal"} {
		if !strings.Contains(got, want) {
			t.Errorf("held amount %q lacks %q", got, want)
		}
	}
	noIdentifiers(t, "home with a held amount", s.html())
	s.run(holderClickTo("#holds a", "#case-id"))
	if got := s.text("#case-id"); !strings.Contains(got, c.ID) {
		t.Errorf("the hold's link leads to %q, want case %s", got, c.ID)
	}
	// The hold is what the engine enforces.
	w, err := s.eng.AuthorizeWithdrawal(ctx, holdfast.WithdrawalRequest{Account: "u1", ID: "w-1", Asset: "BTC", Amount: "0.3", USDValue: "19500", AvailableBalance: "0.4", Address: "bc1q-x"})
	if err != nil || w.Outcome != holdfast.DenyOutcome {
		t.Errorf("a withdrawal into the held amount: %+v %v", w, err)
	}
}

// TestStepUpNamesTheDevice: a sign-in from a new device asks for extra
// verification on that device only, and the home says which.
func TestStepUpNamesTheDevice(t *testing.T) {
	s := newSite(t)
	s.holderIngest(holdfast.Event{Type: holdfast.EventLogin, Account: "u1", Device: "phone-1", Session: "s1"})
	s.holderIngest(holdfast.Event{Type: holdfast.EventLogin, Account: "u1", Device: "laptop-1", Session: "s2"})
	s.signIn("u1")
	s.run(chromedp.WaitVisible(chromedp.CSS("#causes")))
	got := s.text("#causes")
	if !strings.Contains(got, "Extra verification needed on device laptop-1") || !strings.Contains(got, "Blocks on that device:") {
		t.Errorf("step-up card: %q", got)
	}
	noIdentifiers(t, "home with a step-up", s.html())
}

// TestTrustedContactInvitation: a contact must be another account the
// store knows; an invited one cannot act until it accepts in its own
// Security Center; one who declines never can. A contact named before
// invitations existed (the profile's list) still can.
func TestTrustedContactInvitation(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	for _, a := range []string{"friend-1", "friend-2"} {
		s.holderIngest(holdfast.Event{Type: holdfast.EventLogin, Account: a, Device: "phone", Session: "s-" + a})
	}
	contact := func(id string) holdfast.Actor { return holdfast.Actor{Type: holdfast.ActorTrustedContact, ID: id} }
	s.signIn("u1")
	invite := func(id, wait string) {
		t.Helper()
		s.run(
			chromedp.Navigate(s.url+"/me/settings"),
			chromedp.WaitVisible(chromedp.CSS("#contact")),
			chromedp.SendKeys(chromedp.CSS("#contact"), id),
			holderClickTo("#contact-add", wait),
		)
	}
	invite("u1", "#error")
	if got := s.text("#error"); !strings.Contains(got, "someone else") {
		t.Errorf("the holder as their own contact: %q", got)
	}
	invite("ghost-9", "#error")
	if got := s.text("#error"); !strings.Contains(got, "There is no account ghost-9") {
		t.Errorf("an unknown account as a contact: %q", got)
	}
	invite("friend-1", "#done")
	if got := s.text(`#contact-list li[data-contact="friend-1"]`); !strings.Contains(got, "invited") || !strings.Contains(got, "cannot act until they accept") {
		t.Errorf("the invited contact's entry: %q", got)
	}
	if _, err := s.eng.PanicLock(ctx, "u1", 0, contact("friend-1")); holdfast.ErrorCode(err) != holdfast.PermissionDenied {
		t.Fatalf("an invited contact's panic lock: %v, want permission_denied", err)
	}

	// The contact accepts in their own Security Center.
	s.signIn("friend-1")
	s.run(chromedp.Navigate(s.url+"/me/settings"), chromedp.WaitVisible(chromedp.CSS("#invitation-list")))
	if got := s.text("#invitation-list"); !strings.Contains(got, "Account u1 invited you") {
		t.Errorf("invitations: %q", got)
	}
	s.screenshot("settings-contact-invitation")
	s.run(holderClickTo(`button[aria-label="Accept the invitation from u1"]`, "#no-invitations"))
	if got := s.text("#done"); !strings.Contains(got, "accepted") {
		t.Errorf("done after accepting: %q", got)
	}
	if ov := s.holderSecurity("u1"); !slices.Equal(ov.TrustedContacts, []string{"friend-1"}) || len(ov.InvitedContacts) != 0 {
		t.Errorf("u1's contacts after accepting: %v, invited %v", ov.TrustedContacts, ov.InvitedContacts)
	}
	if _, err := s.eng.PanicLock(ctx, "u1", 0, contact("friend-1")); err != nil {
		t.Errorf("an accepted contact's panic lock: %v", err)
	}

	// friend-2 declines, without JavaScript.
	if err := s.eng.AddTrustedContact(ctx, "u2", "friend-2", holdfast.User("u2")); err != nil {
		t.Fatal(err)
	}
	c := s.holderHTTP("friend-2")
	resp, err := c.PostForm(s.url+"/me/settings/invitations/decline", url.Values{"inviter": {"u2"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/me/settings?done=invitation_declined" {
		t.Errorf("decline: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if ov := s.holderSecurity("u2"); len(ov.TrustedContacts)+len(ov.InvitedContacts) != 0 {
		t.Errorf("u2's contacts after the decline: %v, invited %v", ov.TrustedContacts, ov.InvitedContacts)
	}
	if _, err := s.eng.Freeze(ctx, "u2", holdfast.Duration(24*time.Hour), contact("friend-2")); holdfast.ErrorCode(err) != holdfast.PermissionDenied {
		t.Errorf("a contact who declined freezes: %v, want permission_denied", err)
	}
	// An answer to an invitation that is not there is refused in words.
	resp, err = c.PostForm(s.url+"/me/settings/invitations/accept", url.Values{"inviter": {"u2"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(alertText(string(body)), "No invitation from u2") {
		t.Errorf("accepting an invitation that is gone: %d %s", resp.StatusCode, alertText(string(body)))
	}

	// A contact from the profile, named before invitations, still acts.
	if err := s.eng.PutAccount(ctx, &holdfast.Account{ID: "u3", TrustedContacts: []string{"old-friend"}}, holdfast.System); err != nil {
		t.Fatal(err)
	}
	if _, err := s.eng.Freeze(ctx, "u3", holdfast.Duration(24*time.Hour), contact("old-friend")); err != nil {
		t.Errorf("a contact named before invitations: %v", err)
	}
}

// TestFixThisLandsOnTheFix: every finding of a checkup with many of them
// links to the page and the element that fixes it; following each link
// shows that element, in view. Only the factor findings have none (they
// are set up in the exchange's app).
func TestFixThisLandsOnTheFix(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	now := time.Now()
	day := 24 * time.Hour
	err := s.db.Update(ctx, "u1", now, func(tx holdfast.AccountTx) error {
		a := tx.Account()
		a.CreatedAt, a.LastActiveAt = now.Add(-200*day), now.Add(-60*day)
		a.Factors = []holdfast.Factor{holdfast.FactorSMS}
		a.KnownDevices = []string{"phone-1", "laptop-2"}
		a.Security.Devices = map[string]*holdfast.Device{
			"phone-1":  {FirstSeen: a.CreatedAt, LastSeen: now.Add(-60 * day)},
			"laptop-2": {FirstSeen: now.Add(-2 * day), LastSeen: now.Add(-2 * day), Country: "DE"},
			"tablet-3": {FirstSeen: now.Add(-day), LastSeen: now.Add(-day), Country: "BR"},
		}
		a.Security.APIKeys = map[string]*holdfast.APIKey{"key-1": {Permissions: []holdfast.Permission{holdfast.PermRead, holdfast.PermWithdraw}, CreatedAt: now.Add(-100 * day)}}
		a.Security.Whitelist.Addresses = map[string]*holdfast.WhitelistAddress{"bc1q-old": {AddedAt: now.Add(-40 * day), UsableAt: now.Add(-39 * day)}}
		return tx.SaveAccount()
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.eng.Apply(ctx, holdfast.ApplyRequest{Account: "u1", Kind: holdfast.KindReduceOnly, Reason: "burst", Actor: holdfast.Staff("bob", holdfast.RoleCompliance)}); err != nil {
		t.Fatal(err)
	}
	s.signIn("u1")
	s.run(chromedp.Navigate(s.url+"/me/checkup"), chromedp.WaitVisible(chromedp.CSS("#finding-list")))
	findings := evalJS[[]struct{ Code, Href string }](s, `[...document.querySelectorAll("#finding-list li")].map(li => ({Code: li.dataset.code, Href: li.querySelector("a") ? li.querySelector("a").getAttribute("href") : ""}))`)
	var codes []string
	for _, f := range findings {
		codes = append(codes, f.Code)
	}
	want := []string{"sms_only", "no_anti_phishing_code", "whitelist_off", "new_device", "unverified_device", "key_can_withdraw",
		"key_without_ip_whitelist", "key_unused", "address_unused", "dormant", "recent_restriction"}
	for _, w := range want {
		if !slices.Contains(codes, w) {
			t.Errorf("the checkup lacks %s: %v", w, codes)
		}
	}
	for i, f := range findings {
		if f.Href == "" {
			if f.Code != "sms_only" && f.Code != "few_factors" {
				t.Errorf("finding %s has no Fix this link", f.Code)
			}
			continue
		}
		if !strings.Contains(f.Href, "#") {
			t.Errorf("finding %s links to %s, a page without the element that fixes it", f.Code, f.Href)
		}
		s.run(
			chromedp.Navigate(s.url+"/me/checkup"),
			chromedp.WaitVisible(chromedp.CSS("#finding-list")),
			holderClickTo(`#finding-list li:nth-child(`+strconv.Itoa(i+1)+`) a`, "#main"),
		)
		// The browser scrolls to the fragment once the page is laid out,
		// which on a busy machine comes after #main is visible: the
		// element must come into view, not be there at the first look.
		type landing struct {
			Path, Hash             string
			Found, Visible, InView bool
		}
		var landed landing
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			landed = evalJS[landing](s, landedJS)
			if landed.Found && landed.Visible && landed.InView || time.Now().After(deadline) {
				break
			}
		}
		if !landed.Found || !landed.Visible || !landed.InView {
			t.Errorf("Fix this of %s (%s) lands on %s%s: element found %v, visible %v, in view %v", f.Code, f.Href, landed.Path, landed.Hash, landed.Found, landed.Visible, landed.InView)
		}
	}
}

// count is how many elements match sel on the current page.
func (s *site) count(sel string) int {
	s.t.Helper()
	return evalJS[int](s, `document.querySelectorAll(`+strconv.Quote(sel)+`).length`)
}

// evalJS runs a script on the current page and returns its value.
func evalJS[T any](s *site, js string) T {
	s.t.Helper()
	var out T
	err := againIfStale(func() (err error) {
		out, err = chromedp.Run(s.browser, chromedp.Evaluate[T](js))
		return err
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// landedJS reports where a "Fix this" link landed: the page, and whether
// the element its fragment names is there, visible and in view.
const landedJS = `(() => {
	const id = location.hash.slice(1);
	const el = document.getElementById(id) || document.getElementById(decodeURIComponent(id));
	const out = {Path: location.pathname, Hash: location.hash, Found: !!el, Visible: false, InView: false};
	if (!el) return out;
	const r = el.getBoundingClientRect(), st = getComputedStyle(el);
	out.Visible = r.width > 0 && r.height > 0 && st.visibility !== "hidden" && st.display !== "none";
	out.InView = r.top > -1 && r.top < innerHeight; // the browser scrolls to a fraction of a pixel
	return out;
})()`
