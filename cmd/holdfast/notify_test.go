package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/internal/smtptest"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/sqlite"
)

// TestNotificationsArriveBySMTP runs the server's delivery (as serve wires
// it) on a real store against a real SMTP server, and checks what arrived:
// every notice the holder is owed, each with the anti-phishing code, and
// nothing at all about a law-enforcement hold or a duress lock.
func TestNotificationsArriveBySMTP(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mail := smtptest.Start(t, smtptest.Options{})
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	stop, err := startDelivery(ctx, db, &delivery{smtpAddr: mail.Addr, smtpFrom: "Holdfast <security@example.com>"}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ingest := func(ev holdfast.Event) {
		t.Helper()
		_, err := eng.Ingest(ctx, ev)
		must(err)
	}
	holder := holdfast.Actor{Type: holdfast.ActorUser, ID: "u1"}
	bob := holdfast.Actor{Type: holdfast.ActorStaff, ID: "bob", Roles: []holdfast.Role{holdfast.RoleCompliance}}

	ingest(holdfast.Event{Type: holdfast.EventEmailChanged, Account: "u1", Email: "holder@example.com"})
	ingest(holdfast.Event{Type: holdfast.EventLogin, Account: "u1", Device: "d1", Country: "DE", Session: "s1"})
	must(eng.SetAntiPhishingCode(ctx, "u1", "heron-42", holder))
	_, err = eng.Apply(ctx, holdfast.ApplyRequest{Account: "u1", Kind: holdfast.KindReduceOnly, Actor: bob, Reason: "burst"})
	must(err)
	ingest(holdfast.Event{Type: holdfast.EventLogin, Account: "c1", Device: "d9", Session: "s9"})
	must(eng.AddTrustedContact(ctx, "u1", "c1", holder))
	must(eng.AcceptContactInvitation(ctx, "c1", "u1", holdfast.User("c1")))
	_, err = eng.PanicLock(ctx, "u1", 0, holdfast.Actor{Type: holdfast.ActorTrustedContact, ID: "c1"})
	must(err)
	ingest(holdfast.Event{Type: holdfast.EventLogin, Account: "u1", Device: "d2", Country: "DE", Session: "s2"})
	_, err = eng.LockSettings(ctx, "u1", holdfast.Duration(3*24*time.Hour), holder)
	must(err)
	for range 2 {
		_, err = eng.RequestSettingsUnlock(ctx, "u1", holder)
		must(err)
	}
	now := eng.Now()
	if _, err := eng.AnnounceExpiring(ctx, now.Add(3*24*time.Hour-2*time.Hour), now.Add(3*24*time.Hour)); err != nil {
		t.Fatal(err)
	}

	// A second holder gets a law-enforcement hold and a duress lock, which
	// reach them only as terms_violation notices (what they are shown
	// as), then one restriction told as itself.
	ingest(holdfast.Event{Type: holdfast.EventEmailChanged, Account: "u2", Email: "other@example.com"})
	no := false
	ingest(holdfast.Event{Type: holdfast.EventLawEnforcementRequest, Account: "u2", CaseRef: "LE-7", Disclose: &no})
	ingest(holdfast.Event{Type: holdfast.EventDuressSignal, Account: "u2"})
	_, err = eng.Apply(ctx, holdfast.ApplyRequest{Account: "u2", Kind: holdfast.KindReduceOnly, Actor: bob, Reason: "burst"})
	must(err)

	want := map[string]string{ // subject → text its body must hold
		"Your anti-phishing code was changed":            "u1",
		"Your account has been restricted":               "reduce_only",
		"A trusted contact was invited":                  "c1",
		"Your trusted contact accepted":                  "c1",
		"Your trusted contact acted on your account":     "panic_lock",
		"New sign-in to your account":                    "d2",
		"Your security settings are locked":              "u1",
		"Someone asked to unlock your security settings": "attempt 2",
		"A restriction on your account ends soon":        "settings_lock",
	}
	deadline := time.Now().Add(10 * time.Second)
	var got map[string][]*smtptest.Mail
	for {
		got = map[string][]*smtptest.Mail{}
		for _, m := range mail.Messages() {
			p, err := m.Parse()
			if err != nil {
				t.Fatalf("unreadable mail: %v\n%s", err, m.Data)
			}
			to := strings.Join(m.To, ",")
			got[to] = append(got[to], p)
		}
		// Wait for every wanted mail, not for a count: delivery order varies,
		// and mails beyond the wanted ones may arrive first.
		if allArrived(got["holder@example.com"], want) && len(got["other@example.com"]) >= 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	for subject, text := range want {
		i := slices.IndexFunc(got["holder@example.com"], func(m *smtptest.Mail) bool {
			return strings.HasSuffix(m.Subject, subject) && strings.Contains(m.Body, text)
		})
		if i < 0 {
			t.Errorf("no mail %q holding %q; got %d mails: %v", subject, text, len(got["holder@example.com"]), bodies(got["holder@example.com"]))
			continue
		}
		m := got["holder@example.com"][i]
		if !strings.HasPrefix(m.Subject, "[heron-42] ") || !strings.Contains(m.Body, "Anti-phishing code: heron-42") {
			t.Errorf("mail %q lacks the anti-phishing code: subject %q\n%s", subject, m.Subject, m.Body)
		}
	}
	other := got["other@example.com"]
	// The email change's cooling-off, the hold and the duress lock each
	// as a terms_violation, then the reduce_only.
	count := func(s string) int {
		n := 0
		for _, m := range other {
			if strings.Contains(m.Body, "Restriction: "+s) {
				n++
			}
		}
		return n
	}
	if len(other) != 4 || count("cooling_off") != 1 || count("terms_violation") != 2 || count("reduce_only") != 1 {
		t.Fatalf("the second holder got %v, want the cooling_off, two terms_violation and the reduce_only notices", bodies(other))
	}
	for _, m := range got["other@example.com"] {
		for _, leak := range []string{"law_enforcement", "LE-7", "panic", "duress"} {
			if strings.Contains(m.Subject+m.Body, leak) {
				t.Errorf("a mail to the second holder mentions %q:\n%s", leak, m.Body)
			}
		}
	}
}

func allArrived(mails []*smtptest.Mail, want map[string]string) bool {
	for subject, text := range want {
		if !slices.ContainsFunc(mails, func(m *smtptest.Mail) bool {
			return strings.HasSuffix(m.Subject, subject) && strings.Contains(m.Body, text)
		}) {
			return false
		}
	}
	return true
}

func bodies(ms []*smtptest.Mail) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Subject + "\n" + m.Body
	}
	return out
}

// TestNotificationsAreRateLimited: a flood of new-device sign-ins (or of
// anything else) tells the holder at most notify_limit times per window.
func TestNotificationsAreRateLimited(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pol := policy.Default()
	eng, err := engine.New(ctx, engine.Config{Store: db, Policy: pol, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for i := range pol.Security.NotifyLimit + 10 {
		if _, err := eng.Ingest(ctx, holdfast.Event{Type: holdfast.EventLogin, Account: "u3", Device: fmt.Sprintf("dev-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := db.ListCommands(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range all {
		if d.Command.Account == "u3" && d.Command.Type == holdfast.CommandNotifyHolder {
			n++
		}
	}
	if n != pol.Security.NotifyLimit {
		t.Errorf("%d notifications written, want the limit %d", n, pol.Security.NotifyLimit)
	}
}
