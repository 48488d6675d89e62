package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/internal/smtptest"
)

// --- inputs ---

type directory map[string]Recipient

func (d directory) Recipient(_ context.Context, account string) (Recipient, error) {
	r, ok := d[account]
	if !ok {
		return Recipient{}, errors.New("no such account")
	}
	return r, nil
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

var now = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// poster records what the push gateway would get.
type poster struct {
	mu     sync.Mutex
	ids    []string
	bodies [][]byte
	err    error
}

func (p *poster) Post(_ context.Context, id string, body []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ids = append(p.ids, id)
	p.bodies = append(p.bodies, append([]byte(nil), body...))
	return p.err
}

var holders = directory{
	"acc-1": {Email: "alice@example.com", Phone: "+15550001", AntiPhishingCode: "BLUEFOX"},
	"acc-2": {Email: "bob@example.com"},
	"acc-3": {Phone: "+15550003", AntiPhishingCode: "NOMAIL"},
	"acc-4": {Email: "carol@example.com", AntiPhishingCode: "X\r\nBcc: evil@example.com"},
	"acc-5": {Email: "rejected@example.com", AntiPhishingCode: "REJ"},
}

func newNotifier(t *testing.T, addr string, cfg Config) *Notifier {
	t.Helper()
	cfg.SMTPAddr = addr
	if cfg.From == "" {
		cfg.From = "Holdfast <security@example.com>"
	}
	cfg.Clock = fixedClock(now)
	cfg.Timeout = 5 * time.Second
	n, err := New(holders, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func command(id, account, notice string, data map[string]string) *holdfast.Command {
	return &holdfast.Command{
		ID:        id,
		Account:   account,
		Type:      holdfast.CommandNotifyHolder,
		Notice:    notice,
		Data:      data,
		CreatedAt: now.Add(-time.Minute),
	}
}

// parsed is a received mail, decoded.
type parsed struct {
	header  mail.Header
	subject string
	body    string
	raw     string
}

func parse(t *testing.T, m smtptest.Message) parsed {
	t.Helper()
	if strings.Contains(strings.ReplaceAll(string(m.Data), "\r\n", ""), "\n") {
		t.Errorf("message has a bare LF:\n%q", m.Data)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, m.Data)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.Header.Get("Content-Transfer-Encoding"); got != "quoted-printable" {
		t.Errorf("Content-Transfer-Encoding = %q", got)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	return parsed{header: msg.Header, subject: subject, body: string(body), raw: string(m.Data)}
}

func only(t *testing.T, be *smtptest.Server) parsed {
	t.Helper()
	msgs := be.Messages()
	if len(msgs) != 1 {
		t.Fatalf("got %d messages, want 1", len(msgs))
	}
	return parse(t, msgs[0])
}

// --- tests ---

func TestSendMail(t *testing.T) {
	be := smtptest.Start(t, smtptest.Options{})
	n := newNotifier(t, be.Addr, Config{})
	c := command("cmd-1", "acc-1", "whitelist_address_added", map[string]string{
		"address":   "bc1qexampleaddress",
		"usable_at": "2025-03-05T05:06:07Z",
	})
	if err := n.Send(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	msgs := be.Messages()
	if len(msgs) != 1 {
		t.Fatalf("got %d messages", len(msgs))
	}
	if msgs[0].From != "security@example.com" || len(msgs[0].To) != 1 || msgs[0].To[0] != "alice@example.com" {
		t.Errorf("envelope from %q to %q", msgs[0].From, msgs[0].To)
	}
	m := parse(t, msgs[0])
	from, err := mail.ParseAddress(m.header.Get("From"))
	if err != nil || from.Address != "security@example.com" || from.Name != "Holdfast" {
		t.Errorf("From = %q (%v)", m.header.Get("From"), err)
	}
	to, err := mail.ParseAddress(m.header.Get("To"))
	if err != nil || to.Address != "alice@example.com" {
		t.Errorf("To = %q (%v)", m.header.Get("To"), err)
	}
	if want := "[BLUEFOX] A withdrawal address was added"; m.subject != want {
		t.Errorf("Subject = %q, want %q", m.subject, want)
	}
	if got := m.header.Get("Message-ID"); got != "<cmd-1@holdfast>" {
		t.Errorf("Message-ID = %q", got)
	}
	if got := m.header.Get("MIME-Version"); got != "1.0" {
		t.Errorf("MIME-Version = %q", got)
	}
	if got := m.header.Get("Content-Type"); got != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}
	date, err := m.header.Date()
	if err != nil || !date.Equal(now) {
		t.Errorf("Date = %q (%v)", m.header.Get("Date"), err)
	}
	for _, want := range []string{
		"Anti-phishing code: BLUEFOX",
		"bc1qexampleaddress",
		"2025-03-05T05:06:07Z",
		"acc-1",
		now.Add(-time.Minute).Format(time.RFC3339),
		`press "secure my account"`,
	} {
		if !strings.Contains(m.body, want) {
			t.Errorf("body lacks %q:\n%s", want, m.body)
		}
	}
	if strings.Contains(m.body, "<no value>") {
		t.Errorf("body has <no value>:\n%s", m.body)
	}
}

func TestNoCodeNoPrefix(t *testing.T) {
	be := smtptest.Start(t, smtptest.Options{})
	n := newNotifier(t, be.Addr, Config{})
	c := command("cmd-2", "acc-2", "restriction_applied", map[string]string{"kind": "withdrawal_freeze"})
	if err := n.Send(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	m := only(t, be)
	if strings.HasPrefix(m.subject, "[") {
		t.Errorf("Subject = %q, want no code prefix", m.subject)
	}
	if strings.Contains(m.body, "Anti-phishing code:") {
		t.Errorf("body has a code line:\n%s", m.body)
	}
	for _, want := range []string{"withdrawal_freeze", "Set one in the Security Center", "no end time set"} {
		if !strings.Contains(m.body, want) {
			t.Errorf("body lacks %q:\n%s", want, m.body)
		}
	}
	if strings.Contains(m.body, "<no value>") {
		t.Errorf("body has <no value>:\n%s", m.body)
	}
}

func TestNoEmailNoMail(t *testing.T) {
	be := smtptest.Start(t, smtptest.Options{})
	n := newNotifier(t, be.Addr, Config{})
	if err := n.Send(context.Background(), command("cmd-3", "acc-3", "new_device", nil)); err != nil {
		t.Fatal(err)
	}
	if got := len(be.Messages()); got != 0 {
		t.Errorf("got %d messages, want none", got)
	}
}

func TestRejectedIsError(t *testing.T) {
	be := smtptest.Start(t, smtptest.Options{RejectTo: "rejected@example.com"})
	n := newNotifier(t, be.Addr, Config{})
	err := n.Send(context.Background(), command("cmd-4", "acc-5", "generic", nil))
	if err == nil {
		t.Fatal("Send succeeded; want an error")
	}
	if strings.Contains(err.Error(), "rejected@example.com") {
		t.Errorf("error names the recipient: %v", err)
	}
	if got := len(be.Messages()); got != 0 {
		t.Errorf("got %d messages", got)
	}
}

func TestServerDownIsError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	n := newNotifier(t, addr, Config{})
	if err := n.Send(context.Background(), command("cmd-5", "acc-1", "generic", nil)); err == nil {
		t.Fatal("Send succeeded; want an error")
	}
}

func TestAuth(t *testing.T) {
	be := smtptest.Start(t, smtptest.Options{User: "mailer", Pass: "s3cret-pass"})
	addr := be.Addr
	n := newNotifier(t, addr, Config{Username: "mailer", Password: "s3cret-pass"})
	if err := n.Send(context.Background(), command("cmd-6", "acc-1", "generic", nil)); err != nil {
		t.Fatal(err)
	}
	if got := len(be.Messages()); got != 1 {
		t.Fatalf("got %d messages", got)
	}
	bad := newNotifier(t, addr, Config{Username: "mailer", Password: "wrong-pass"})
	err := bad.Send(context.Background(), command("cmd-7", "acc-1", "generic", nil))
	if err == nil {
		t.Fatal("Send with a wrong password succeeded")
	}
	if strings.Contains(err.Error(), "wrong-pass") {
		t.Errorf("error shows the password: %v", err)
	}
}

func TestWrongTypeIsError(t *testing.T) {
	be := smtptest.Start(t, smtptest.Options{})
	n := newNotifier(t, be.Addr, Config{})
	c := command("cmd-8", "acc-1", "generic", nil)
	c.Type = holdfast.CommandRevokeSessions
	if err := n.Send(context.Background(), c); err == nil {
		t.Fatal("Send of revoke_sessions succeeded")
	}
	if got := len(be.Messages()); got != 0 {
		t.Errorf("got %d messages", got)
	}
}

func TestOverrideTemplate(t *testing.T) {
	be := smtptest.Start(t, smtptest.Options{})
	override := fstest.MapFS{
		"templates/new_device.txt": {Data: []byte("Subject: Custom {{.Data.device}}\n\nCustom body for {{.Account}} {{.Data.missing}}|\n")},
	}
	n := newNotifier(t, be.Addr, Config{Templates: override})
	c := command("cmd-9", "acc-1", "new_device", map[string]string{"device": "Pixel"})
	if err := n.Send(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	m := only(t, be)
	if m.subject != "[BLUEFOX] Custom Pixel" {
		t.Errorf("Subject = %q", m.subject)
	}
	if !strings.Contains(m.body, "Custom body for acc-1 |") || !strings.Contains(m.body, "Anti-phishing code: BLUEFOX") {
		t.Errorf("body:\n%s", m.body)
	}
	// A notice missing from the override falls back to the embedded one.
	subject, _, err := n.Render(command("cmd-10", "acc-1", "whitelist_enabled", nil), holders["acc-1"])
	if err != nil || subject != "[BLUEFOX] Withdrawal whitelist turned on" {
		t.Errorf("fallback subject = %q (%v)", subject, err)
	}
}

func TestBrokenOverrideFails(t *testing.T) {
	for name, src := range map[string]string{
		"parse":      "Subject: x\n\n{{.Data.kind",
		"field":      "Subject: x\n\n{{.Nope}}",
		"no subject": "Hello\n\nbody",
		"no blank":   "Subject: x\nbody",
	} {
		t.Run(name, func(t *testing.T) {
			override := fstest.MapFS{"templates/settings_locked.txt": {Data: []byte(src)}}
			_, err := New(holders, Config{Templates: override})
			if err == nil {
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), "templates/settings_locked.txt") {
				t.Errorf("error does not name the file: %v", err)
			}
		})
	}
}

func TestHeaderInjection(t *testing.T) {
	be := smtptest.Start(t, smtptest.Options{})
	n := newNotifier(t, be.Addr, Config{})

	// In the anti-phishing code (part of the subject): refused.
	if err := n.Send(context.Background(), command("cmd-11", "acc-4", "generic", nil)); err == nil {
		t.Error("Send with a code holding CRLF succeeded")
	}
	// In data the subject uses: refused.
	override := fstest.MapFS{"templates/new_device.txt": {Data: []byte("Subject: New {{.Data.device}}\n\n{{.Data.device}}\n")}}
	n2 := newNotifier(t, n.cfg.SMTPAddr, Config{Templates: override})
	if err := n2.Send(context.Background(), command("cmd-12", "acc-1", "new_device", map[string]string{"device": "x\r\nBcc: evil@example.com"})); err == nil {
		t.Error("Send with a subject holding CRLF succeeded")
	}
	if got := len(be.Messages()); got != 0 {
		t.Fatalf("got %d messages after refused injections", got)
	}
	// In data only the body uses: delivered, as body text, with no extra header.
	c := command("cmd-13", "acc-1", "whitelist_address_removed", map[string]string{"address": "addr\r\nBcc: evil@example.com"})
	if err := n.Send(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	m := only(t, be)
	if _, ok := m.header["Bcc"]; ok {
		t.Errorf("Bcc header injected:\n%s", m.raw)
	}
	for _, r := range be.Messages() {
		for _, to := range r.To {
			if strings.Contains(to, "evil") {
				t.Errorf("mailed to %q", to)
			}
		}
	}
	if !strings.Contains(m.body, "Bcc: evil@example.com") {
		t.Errorf("body lost the data:\n%s", m.body)
	}
	// A command id cannot break the Message-ID header either.
	if err := n.Send(context.Background(), command("x\r\nBcc: evil@example.com", "acc-1", "generic", nil)); err == nil {
		t.Error("Send with a CRLF command id succeeded")
	}
}

func TestPush(t *testing.T) {
	be := smtptest.Start(t, smtptest.Options{})
	p := &poster{}
	n := newNotifier(t, be.Addr, Config{Push: p})
	c := command("cmd-14", "acc-3", "trusted_contact_added", map[string]string{"contact": "dana@example.com"})
	if err := n.Send(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if len(be.Messages()) != 0 {
		t.Error("mailed a holder without email")
	}
	if len(p.bodies) != 1 || p.ids[0] != "cmd-14" {
		t.Fatalf("posts: ids %q", p.ids)
	}
	var got map[string]string
	if err := json.Unmarshal(p.bodies[0], &got); err != nil {
		t.Fatal(err)
	}
	if got["id"] != "cmd-14" || got["account"] != "acc-3" || got["notice"] != "trusted_contact_added" || got["phone"] != "+15550003" {
		t.Errorf("push body = %v", got)
	}
	if got["subject"] != "[NOMAIL] A trusted contact was invited" {
		t.Errorf("push subject = %q", got["subject"])
	}
	if !strings.Contains(got["body"], "dana@example.com") || !strings.Contains(got["body"], "Anti-phishing code: NOMAIL") {
		t.Errorf("push body text:\n%s", got["body"])
	}
	if len(got) != 6 {
		t.Errorf("push body has fields %v", got)
	}

	// Both channels; a push failure fails Send even though the mail went.
	p.err = errors.New("gateway down")
	if err := n.Send(context.Background(), command("cmd-15", "acc-1", "generic", nil)); err == nil {
		t.Error("Send succeeded though the push failed")
	}
	if len(be.Messages()) != 1 || len(p.bodies) != 2 {
		t.Errorf("mails %d, posts %d", len(be.Messages()), len(p.bodies))
	}
}

func TestEveryNoticeRenders(t *testing.T) {
	n, err := New(holders, Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, notice := range Notices {
		if _, ok := n.notices[notice]; !ok {
			t.Errorf("no embedded template for %s", notice)
		}
		for _, r := range []Recipient{holders["acc-1"], holders["acc-2"]} {
			subject, body, err := n.Render(command("cmd", "acc-1", notice, nil), r)
			if err != nil {
				t.Fatalf("%s: %v", notice, err)
			}
			if subject == "" || strings.Contains(subject+body, "<no value>") || !strings.Contains(body, "secure my account") {
				t.Errorf("%s: %q\n%s", notice, subject, body)
			}
			if (r.AntiPhishingCode != "") != strings.HasPrefix(subject, "["+r.AntiPhishingCode+"] ") {
				t.Errorf("%s: subject %q", notice, subject)
			}
		}
	}
	if len(n.notices) != len(Notices) {
		t.Errorf("%d embedded templates, %d notices listed", len(n.notices), len(Notices))
	}
	// An unknown notice uses generic.
	s1, _, _ := n.Render(command("c", "acc-1", "no_such_notice", nil), Recipient{})
	s2, _, _ := n.Render(command("c", "acc-1", "generic", nil), Recipient{})
	if s1 != s2 {
		t.Errorf("unknown notice subject %q, generic %q", s1, s2)
	}
}

func TestNonASCIISubject(t *testing.T) {
	be := smtptest.Start(t, smtptest.Options{})
	override := fstest.MapFS{"templates/generic.txt": {Data: []byte("Subject: Sécurité {{.Data.x}}\n\nÜnïcode body\n")}}
	n := newNotifier(t, be.Addr, Config{Templates: override})
	if err := n.Send(context.Background(), command("cmd-16", "acc-1", "generic", map[string]string{"x": "ok"})); err != nil {
		t.Fatal(err)
	}
	m := only(t, be)
	if m.subject != "[BLUEFOX] Sécurité ok" || !strings.Contains(m.body, "Ünïcode body") {
		t.Errorf("subject %q body %q", m.subject, m.body)
	}
	for _, line := range strings.Split(m.raw, "\r\n") {
		if strings.HasPrefix(line, "Subject:") && !strings.Contains(line, "=?utf-8?q?") {
			t.Errorf("subject not encoded: %q", line)
		}
	}
}
