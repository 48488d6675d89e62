package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// historyLines is a page's items as "what by kind subject network device
// ip", the empty ones left out.
func historyLines(p *holdfast.HistoryPage) []string {
	var out []string
	for _, it := range p.Items {
		out = append(out, strings.Join(strings.Fields(fmt.Sprintf("%s %s %s %s %s %s %s", it.What, it.By, it.Kind, it.Subject, it.Network, it.Device, it.IP)), " "))
	}
	return out
}

// TestSecurityHistoryIsTheHolderView: the holder's history is the audit
// log told in their terms: sign-ins with where they came from, their
// security changes, restrictions with who acted (never which staff
// member or rule), and nothing they may not know: no reason, no
// anti-phishing code, no compliance signal, no duress signal.
func TestSecurityHistoryIsTheHolderView(t *testing.T) {
	ctx := context.Background()
	eng, _, clk := securityEngine(t)
	step := func() { clk.now = clk.now.Add(time.Minute) }
	ingest := func(ev holdfast.Event) {
		t.Helper()
		step()
		if _, err := eng.Ingest(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	holder := user("u1")
	ingest(holdfast.Event{Type: holdfast.EventLogin, Account: "u1", Device: "laptop", Country: "DE", IP: "203.0.113.7", Session: "s1"})
	ingest(holdfast.Event{Type: holdfast.EventDeposit, Account: "u1", Asset: "USDT", Amount: "10"})
	ingest(holdfast.Event{Type: holdfast.EventAMLAlert, Account: "u1", Severity: "low", CaseRef: "AML-SECRET-9"})
	step()
	_, err := eng.AddWhitelistAddress(ctx, "u1", holdfast.NewWhitelistAddress{Address: "bc1qcold", Network: "btc", Label: "Cold wallet"}, holder)
	must(err)
	step()
	must(eng.SetAntiPhishingCode(ctx, "u1", "Tulip-7781", holder))
	step()
	ingest(holdfast.Event{Type: holdfast.EventLogin, Account: "friend-1", Device: "phone"})
	must(eng.AddTrustedContact(ctx, "u1", "friend-1", holder))
	must(eng.AcceptContactInvitation(ctx, "friend-1", "u1", user("friend-1")))
	step()
	_, err = eng.Freeze(ctx, "u1", holdfast.Duration(24*time.Hour), holdfast.Actor{Type: holdfast.ActorTrustedContact, ID: "friend-1"})
	must(err)
	step()
	sam := holdfast.Staff("sam-the-support-agent", holdfast.RoleSupport)
	r, err := eng.Apply(ctx, holdfast.ApplyRequest{Account: "u1", Kind: holdfast.KindScamProtection, Reason: "STAFF-ONLY-NOTE ticket 4411", Actor: sam})
	must(err)
	step()
	_, err = eng.Lift(ctx, holdfast.LiftRequest{Target: holdfast.Target{Restriction: r.ID}, Reason: "STAFF-ONLY-NOTE checked", Actor: sam})
	must(err)
	ingest(holdfast.Event{Type: holdfast.EventDuressSignal, Account: "u1", Device: "laptop"})
	ingest(holdfast.Event{Type: holdfast.EventPasswordChanged, Account: "u1", Device: "phone", IP: "198.51.100.4"})

	p, err := eng.SecurityHistory(ctx, "u1", 0, 0, holder)
	must(err)
	cover, _ := eng.Policy().Cover()
	want := []string{
		// An event's entry follows what its rules applied.
		"password_changed phone 198.51.100.4",
		"restriction_applied automatic cooling_off",
		"restriction_applied staff " + string(cover), // the duress lock, as its cover
		"restriction_lifted staff scam_protection",
		"restriction_applied staff scam_protection",
		"restriction_applied trusted_contact self_freeze",
		"trusted_contact_added holder",
		"anti_phishing_code_set holder",
		"whitelist_address_added holder bc1qcold BTC",
		"sign_in laptop 203.0.113.7",
	}
	if got := historyLines(p); !slices.Equal(got, want) {
		t.Errorf("history:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if it := p.Items[len(p.Items)-1]; it.Country != "DE" || !it.At.Equal(time.Date(2026, 4, 1, 0, 1, 0, 0, time.UTC)) {
		t.Errorf("the sign-in item: %+v", it)
	}
	if p.Next != 0 {
		t.Errorf("one page holds it all, but next = %d", p.Next)
	}
	blob, _ := json.Marshal(p)
	for _, leak := range []string{"sam-the-support-agent", "STAFF-ONLY-NOTE", "Tulip-7781", "AML-SECRET-9", "aml", "deposit", "duress", "panic_lock", "friend-1", "rule"} {
		if strings.Contains(string(blob), leak) {
			t.Errorf("the holder's history shows %q:\n%s", leak, blob)
		}
	}

	// Only the holder and staff read it; staff get the holder's view.
	if _, err := eng.SecurityHistory(ctx, "u1", 0, 0, user("u2")); holdfast.ErrorCode(err) != holdfast.PermissionDenied {
		t.Errorf("another holder reading the history: %v", err)
	}
	if _, err := eng.SecurityHistory(ctx, "u1", 0, 0, holdfast.Actor{Type: holdfast.ActorTrustedContact, ID: "friend-1"}); holdfast.ErrorCode(err) != holdfast.PermissionDenied {
		t.Errorf("a trusted contact reading the history: %v", err)
	}
	staff, err := eng.SecurityHistory(ctx, "u1", 0, 0, sam)
	if err != nil || !slices.Equal(historyLines(staff), want) {
		t.Errorf("staff's read of the holder view: %v %v", historyLines(staff), err)
	}
	for _, bad := range []struct {
		before int64
		limit  int
		field  string
	}{{-1, 0, "before"}, {0, -1, "limit"}, {0, holdfast.MaxHistoryLimit + 1, "limit"}} {
		_, err := eng.SecurityHistory(ctx, "u1", bad.before, bad.limit, holder)
		if he, ok := err.(*holdfast.Error); !ok || he.Code != holdfast.InvalidArgument || he.Field != bad.field {
			t.Errorf("before %d limit %d: %v, want invalid_argument on %s", bad.before, bad.limit, err, bad.field)
		}
	}
}

// TestSecurityHistoryPages: read a page at a time, the history is the
// one page read whole, each item once, the ends by time included, and
// the last page says there is no next.
func TestSecurityHistoryPages(t *testing.T) {
	ctx := context.Background()
	eng, _, clk := securityEngine(t)
	for i := range 40 {
		clk.now = clk.now.Add(time.Hour)
		if _, err := eng.Ingest(ctx, holdfast.Event{Type: holdfast.EventLogin, Account: "u1", Device: "laptop", IP: fmt.Sprintf("203.0.113.%d", i)}); err != nil {
			t.Fatal(err)
		}
		// Entries the holder does not see, between the ones they do.
		if _, err := eng.Ingest(ctx, holdfast.Event{Type: holdfast.EventDeposit, Account: "u1", Asset: "USDT", Amount: "1"}); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			// A freeze that runs to its end nine hours later.
			if _, err := eng.Freeze(ctx, "u1", holdfast.Duration(24*time.Hour), user("u1")); err != nil && holdfast.ErrorCode(err) != holdfast.Conflict {
				t.Fatal(err)
			}
		}
	}
	clk.now = clk.now.Add(48 * time.Hour)
	whole, err := eng.SecurityHistory(ctx, "u1", 0, holdfast.MaxHistoryLimit, user("u1"))
	if err != nil {
		t.Fatal(err)
	}
	var ended int
	for _, it := range whole.Items {
		if it.What == holdfast.HistoryRestrictionEnded {
			ended++
		}
	}
	if ended == 0 || whole.Next != 0 {
		t.Fatalf("the whole history: %d ends by time, next %d", ended, whole.Next)
	}
	var paged []holdfast.HistoryItem
	pages := 0
	for before := int64(0); ; pages++ {
		p, err := eng.SecurityHistory(ctx, "u1", before, 7, user("u1"))
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, p.Items...)
		if p.Next == 0 {
			break
		}
		if p.Next >= before && before != 0 {
			t.Fatalf("the cursor went from %d to %d", before, p.Next)
		}
		before = p.Next
	}
	if pages < 5 || !slices.EqualFunc(paged, whole.Items, func(a, b holdfast.HistoryItem) bool { return a.At.Equal(b.At) && a.What == b.What && a.IP == b.IP }) {
		t.Errorf("%d pages of 7 hold %d items, the whole history %d:\n%v\n%v", pages+1, len(paged), len(whole.Items), paged, whole.Items)
	}
}

// TestHiddenRestrictionHistoryReadsAsItsCover: an account whose hidden
// holds are applied by a rule and by the LE liaison, extended, lifted by
// four eyes and ended by time has the very history of one whose real
// Terms-of-Use reviews staff applied and lifted.
func TestHiddenRestrictionHistoryReadsAsItsCover(t *testing.T) {
	ctx := context.Background()
	eng, _, clk := securityEngine(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	at := func(d time.Duration) { clk.now = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC).Add(d) }
	lee := holdfast.Staff("lee", holdfast.RoleLELiaison)
	lea := holdfast.Staff("lea", holdfast.RoleLELiaison)
	carol := holdfast.Staff("carol", holdfast.RoleCompliance)
	no := false

	// The hidden account: a duress lock that runs out after 7 days, and a
	// law-enforcement hold, extended, then lifted by four eyes.
	at(time.Hour)
	_, err := eng.Ingest(ctx, holdfast.Event{Type: holdfast.EventDuressSignal, Account: "hid", Device: "d1"})
	must(err)
	at(10 * 24 * time.Hour)
	hold, err := eng.Apply(ctx, holdfast.ApplyRequest{Account: "hid", Kind: holdfast.KindLawEnforcementHold, Duration: holdfast.Duration(30 * 24 * time.Hour), Disclose: &no, Reference: "LE-1", Reason: "order", Actor: lee})
	must(err)
	at(11 * 24 * time.Hour)
	_, err = eng.Extend(ctx, holdfast.ExtendRequest{Target: holdfast.Target{Restriction: hold.ID}, By: holdfast.Duration(30 * 24 * time.Hour), Reason: "order renewed", Actor: lee})
	must(err)
	at(12 * 24 * time.Hour)
	lr, err := eng.Lift(ctx, holdfast.LiftRequest{Target: holdfast.Target{Restriction: hold.ID}, Reason: "order ended", Actor: lee})
	must(err)
	if lr.Pending == nil {
		t.Fatalf("the hold's lift did not ask for four eyes: %+v", lr)
	}
	_, err = eng.Approve(ctx, lr.Pending.ID, lea)
	must(err)

	// The real account: two reviews, applied and lifted by staff at the
	// same times.
	for _, span := range [][2]time.Duration{{time.Hour, 7*24*time.Hour + time.Hour}, {10 * 24 * time.Hour, 12 * 24 * time.Hour}} {
		at(span[0])
		r, err := eng.Apply(ctx, holdfast.ApplyRequest{Account: "real", Kind: holdfast.KindTermsViolation, Reason: "review", Actor: carol})
		must(err)
		at(span[1])
		_, err = eng.Lift(ctx, holdfast.LiftRequest{Target: holdfast.Target{Restriction: r.ID}, Reason: "done", Actor: carol})
		must(err)
	}

	at(20 * 24 * time.Hour)
	norm := func(account string) string {
		p, err := eng.SecurityHistory(ctx, account, 0, 0, user(account))
		must(err)
		var lines []string
		for _, it := range p.Items {
			it.Restriction = "RST"
			b, _ := json.Marshal(it)
			lines = append(lines, string(b))
		}
		return strings.Join(lines, "\n")
	}
	hid, real := norm("hid"), norm("real")
	if hid != real {
		t.Errorf("the hidden holds' history differs from real reviews':\nhidden:\n%s\nreal:\n%s", hid, real)
	}
	if n := strings.Count(real, `"restriction_lifted"`); n != 2 {
		t.Errorf("the real account's history has %d lifts, want 2:\n%s", n, real)
	}
	if strings.Contains(hid, hold.ID) {
		t.Errorf("the hold's real id is shown:\n%s", hid)
	}
}
