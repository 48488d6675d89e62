// Package notify tells account holders what happened to their account: it
// renders a notify_holder command's template and delivers it by email over
// SMTP and, optionally, through the push gateway.
//
// Delivery is at least once: the outbox retries a command whose Send failed,
// even when some channel already got it. Every mail carries
// Message-ID <COMMAND_ID@holdfast> and every push the command id as its
// idempotency key, so receivers can drop repeats.
package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"path"
	"strings"
	"text/template"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/holdfast/holdfast"
)

// Recipient is where and how a holder is told.
type Recipient struct {
	Email            string // empty: no email channel for this holder
	Phone            string // passed to the push gateway
	AntiPhishingCode string // empty: holder has none set
}

// Directory finds an account's recipient (implemented by the engine).
type Directory interface {
	Recipient(ctx context.Context, account string) (Recipient, error)
}

// Poster sends a signed JSON body to the push gateway (implemented by
// package webhook; id is the idempotency key).
type Poster interface {
	Post(ctx context.Context, id string, body []byte) error
}

// Config configures a Notifier. Every zero field takes the default in its
// comment.
type Config struct {
	SMTPAddr string // host:port; empty = no email channel
	// From is the envelope and header From, e.g.
	// "Holdfast <security@example.com>". Required with SMTPAddr.
	From string
	// Username and Password enable SMTP AUTH PLAIN. They are never logged
	// nor put into errors, and are sent only over TLS or to a loopback
	// server.
	Username, Password string
	StartTLS           bool           // require STARTTLS (tests use plain)
	Push               Poster         // optional
	Templates          fs.FS          // nil = the embedded defaults; same layout (templates/<notice>.txt)
	Clock              holdfast.Clock // nil = holdfast.WallClock{}
	Timeout            time.Duration  // per delivery, default 10s
}

// GenericNotice is the template used for a notice that has none of its own.
const GenericNotice = "generic"

// Notices lists the notices the embedded templates cover.
var Notices = []string{
	"case_decided",
	"restriction_applied",
	"restriction_lifted",
	"restriction_expiring",
	"account_secured",
	"settings_locked",
	"settings_unlock_requested",
	"settings_unlock_cancelled",
	"new_device",
	"trusted_contact_action",
	"trusted_contact_added",
	"trusted_contact_removed",
	"trusted_contact_invitation",
	"trusted_contact_accepted",
	"trusted_contact_declined",
	"whitelist_address_added",
	"whitelist_address_removed",
	"whitelist_enabled",
	"whitelist_disabled",
	"anti_phishing_code_changed",
	"api_key_revoked",
	"api_key_ip_whitelist_changed",
	"sanctions_notice",
	"emergency_freeze_code",
	GenericNotice,
}

//go:embed templates/*.txt
var embedded embed.FS

const templateDir = "templates"

// Lines every message carries, added around the rendered template so that no
// template can forget them.
const (
	codeLine   = "Anti-phishing code: "
	noCodeLine = "You have not set an anti-phishing code. Set one in the Security Center: every mail from us will then show it, so you can tell it from phishing."
	notYouLine = `If this was not you, open the Security Center and press "secure my account".`
)

// notice is one parsed template file.
type notice struct {
	file    string
	subject *template.Template
	body    *template.Template
}

// templateData is what a template sees.
type templateData struct {
	Account string
	Code    string
	At      string
	Data    map[string]string
}

// Notifier delivers holder notifications. It is safe for concurrent use.
type Notifier struct {
	dir      Directory
	cfg      Config
	from     *mail.Address
	notices  map[string]*notice
	smtpHost string
}

// New returns a Notifier. It parses (and test-renders) every template up
// front; a broken template is an error naming the file.
func New(dir Directory, cfg Config) (*Notifier, error) {
	if dir == nil {
		return nil, errors.New("notify: nil directory")
	}
	if cfg.Clock == nil {
		cfg.Clock = holdfast.WallClock{}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	n := &Notifier{dir: dir, cfg: cfg, notices: map[string]*notice{}}
	if cfg.SMTPAddr != "" {
		host, _, err := net.SplitHostPort(cfg.SMTPAddr)
		if err != nil {
			return nil, fmt.Errorf("notify: SMTP address: %w", err)
		}
		n.smtpHost = host
		if cfg.From == "" {
			return nil, errors.New("notify: From is required with an SMTP address")
		}
		if hasLineBreak(cfg.From) {
			return nil, errors.New("notify: From has a line break")
		}
		from, err := mail.ParseAddress(cfg.From)
		if err != nil {
			return nil, fmt.Errorf("notify: From: %w", err)
		}
		n.from = from
	}
	if err := n.load(embedded); err != nil {
		return nil, err
	}
	if _, ok := n.notices[GenericNotice]; !ok {
		return nil, errors.New("notify: no generic template")
	}
	if cfg.Templates != nil {
		if err := n.load(cfg.Templates); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// load parses every templates/*.txt of fsys, replacing those loaded before.
func (n *Notifier) load(fsys fs.FS) error {
	files, err := fs.Glob(fsys, templateDir+"/*.txt")
	if err != nil {
		return fmt.Errorf("notify: templates: %w", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(path.Base(file), ".txt")
		if !validNotice(name) {
			return fmt.Errorf("notify: template %s: bad notice name", file)
		}
		src, err := fs.ReadFile(fsys, file)
		if err != nil {
			return fmt.Errorf("notify: template %s: %w", file, err)
		}
		t, err := parseNotice(file, string(src))
		if err != nil {
			return fmt.Errorf("notify: template %s: %w", file, err)
		}
		n.notices[name] = t
	}
	return nil
}

// parseNotice parses "Subject: <template>", an empty line and the body.
func parseNotice(file, src string) (*notice, error) {
	src = strings.ReplaceAll(src, "\r\n", "\n")
	first, body, ok := strings.Cut(src, "\n")
	subject, isSubject := strings.CutPrefix(first, "Subject:")
	if !isSubject {
		return nil, errors.New(`first line must be "Subject: ..."`)
	}
	if ok {
		var blank bool
		body, blank = strings.CutPrefix(body, "\n")
		if !blank {
			return nil, errors.New("the subject line must be followed by an empty line")
		}
	}
	t := &notice{file: file}
	var err error
	if t.subject, err = template.New(file + ":subject").Option("missingkey=zero").Parse(strings.TrimSpace(subject)); err != nil {
		return nil, err
	}
	if t.body, err = template.New(file).Option("missingkey=zero").Parse(body); err != nil {
		return nil, err
	}
	// Execution errors (an unknown field, say) show only when run: run it
	// now on empty data so that they show at start-up.
	var buf bytes.Buffer
	if err := t.subject.Execute(&buf, templateData{}); err != nil {
		return nil, err
	}
	if err := t.body.Execute(&buf, templateData{}); err != nil {
		return nil, err
	}
	return t, nil
}

// validNotice reports whether name is a plain notice name (a-z, 0-9, _).
func validNotice(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}

// noticeName is the notice c asks for, "generic" when it names none.
func noticeName(c *holdfast.Command) string {
	if c.Notice == "" {
		return GenericNotice
	}
	return c.Notice
}

// Render returns the subject and text body for c and r (exported so tests and
// the CLI can preview). The subject starts with "[<code>] " and the body has
// an "Anti-phishing code: <code>" line; without a code the body tells the
// holder to set one. A subject that is not a single line is an error.
func (n *Notifier) Render(c *holdfast.Command, r Recipient) (subject, body string, err error) {
	if c == nil {
		return "", "", errors.New("notify: nil command")
	}
	t := n.notices[GenericNotice]
	if validNotice(c.Notice) {
		if nt, ok := n.notices[c.Notice]; ok {
			t = nt
		}
	}
	data := templateData{
		Account: c.Account,
		Code:    r.AntiPhishingCode,
		Data:    c.Data,
	}
	if !c.CreatedAt.IsZero() {
		data.At = c.CreatedAt.UTC().Format(time.RFC3339)
	}
	if data.Data == nil {
		data.Data = map[string]string{}
	}
	var sb, bb strings.Builder
	if err := t.subject.Execute(&sb, data); err != nil {
		return "", "", fmt.Errorf("notify: template %s: %w", t.file, err)
	}
	if err := t.body.Execute(&bb, data); err != nil {
		return "", "", fmt.Errorf("notify: template %s: %w", t.file, err)
	}
	subject = strings.TrimSpace(sb.String())
	if r.AntiPhishingCode != "" {
		subject = "[" + r.AntiPhishingCode + "] " + subject
	}
	if hasLineBreak(subject) {
		return "", "", fmt.Errorf("notify: template %s: subject has a line break", t.file)
	}

	var out strings.Builder
	if r.AntiPhishingCode != "" {
		out.WriteString(codeLine + r.AntiPhishingCode + "\n\n")
	} else {
		out.WriteString(noCodeLine + "\n\n")
	}
	out.WriteString(strings.TrimSpace(strings.ReplaceAll(bb.String(), "\r\n", "\n")))
	out.WriteString("\n\n" + notYouLine + "\n")
	return subject, out.String(), nil
}

// Send delivers one notify_holder command to every channel the holder has.
// It returns an error (to be retried by the caller) when any channel fails.
// A command of another type is an error. Errors name no password and no
// recipient address.
func (n *Notifier) Send(ctx context.Context, c *holdfast.Command) error {
	if c == nil {
		return errors.New("notify: nil command")
	}
	if c.Type != holdfast.CommandNotifyHolder {
		return fmt.Errorf("notify: command %s is %q, not %q", c.ID, c.Type, holdfast.CommandNotifyHolder)
	}
	if c.ID == "" || strings.ContainsAny(c.ID, "<>@ \t\r\n") {
		return errors.New("notify: command id is empty or not usable in a Message-ID")
	}
	r, err := n.dir.Recipient(ctx, c.Account)
	if err != nil {
		return fmt.Errorf("notify: recipient of %s: %w", c.ID, err)
	}
	subject, body, err := n.Render(c, r)
	if err != nil {
		return err
	}
	var errs []error
	if n.cfg.SMTPAddr != "" && r.Email != "" {
		if err := n.deliver(ctx, func(ctx context.Context) error { return n.mail(ctx, c, r, subject, body) }); err != nil {
			errs = append(errs, fmt.Errorf("notify: email %s: %w", c.ID, err))
		}
	}
	if n.cfg.Push != nil && (r.Phone != "" || r.Email != "") {
		if err := n.deliver(ctx, func(ctx context.Context) error { return n.push(ctx, c, r, subject, body) }); err != nil {
			errs = append(errs, fmt.Errorf("notify: push %s: %w", c.ID, err))
		}
	}
	return errors.Join(errs...)
}

// deliver runs one channel's delivery under the per-delivery timeout.
func (n *Notifier) deliver(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	return f(ctx)
}

// pushBody is the JSON the push gateway gets.
type pushBody struct {
	ID      string `json:"id"`
	Account string `json:"account"`
	Notice  string `json:"notice"`
	Subject string `json:"subject"`
	Body    string `json:"body"`
	Phone   string `json:"phone"`
}

func (n *Notifier) push(ctx context.Context, c *holdfast.Command, r Recipient, subject, body string) error {
	b, err := json.Marshal(pushBody{
		ID:      c.ID,
		Account: c.Account,
		Notice:  noticeName(c),
		Subject: subject,
		Body:    body,
		Phone:   r.Phone,
	})
	if err != nil {
		return err
	}
	return n.cfg.Push.Post(ctx, c.ID, b)
}

// message builds the RFC 5322 message for c: CRLF line endings and a
// quoted-printable UTF-8 text body. A header value with a line break is an
// error.
func (n *Notifier) message(c *holdfast.Command, to *mail.Address, subject, body string) ([]byte, error) {
	headers := [][2]string{
		{"From", n.from.String()},
		{"To", to.String()},
		{"Subject", mime.QEncoding.Encode("utf-8", subject)},
		{"Date", n.cfg.Clock.Now().Format(time.RFC1123Z)},
		{"Message-ID", "<" + c.ID + "@holdfast>"},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=utf-8"},
		{"Content-Transfer-Encoding", "quoted-printable"},
	}
	var buf bytes.Buffer
	for _, h := range headers {
		if hasLineBreak(h[1]) {
			return nil, fmt.Errorf("header %s has a line break", h[0])
		}
		buf.WriteString(h[0] + ": " + h[1] + "\r\n")
	}
	buf.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&buf)
	// In text mode the writer ends every line with CRLF.
	if _, err := qp.Write([]byte(body)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	if !bytes.HasSuffix(buf.Bytes(), []byte("\r\n")) {
		buf.WriteString("\r\n")
	}
	return buf.Bytes(), nil
}

// mail sends the message over SMTP.
func (n *Notifier) mail(ctx context.Context, c *holdfast.Command, r Recipient, subject, body string) error {
	if hasLineBreak(r.Email) {
		return errors.New("recipient address has a line break")
	}
	to, err := mail.ParseAddress(r.Email)
	if err != nil {
		return errors.New("recipient address does not parse")
	}
	to = &mail.Address{Address: to.Address}
	msg, err := n.message(c, to, subject, body)
	if err != nil {
		return err
	}

	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", n.cfg.SMTPAddr)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	// A cancelled context stops a delivery stuck in a read or write.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var client *smtp.Client
	if n.cfg.StartTLS {
		client, err = smtp.NewClientStartTLS(conn, &tls.Config{ServerName: n.smtpHost, MinVersion: tls.VersionTLS12})
		if err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	} else {
		client = smtp.NewClient(conn)
	}
	defer client.Close()

	if n.cfg.Username != "" || n.cfg.Password != "" {
		if _, isTLS := client.TLSConnectionState(); !isTLS && !isLoopback(n.smtpHost) {
			return errors.New("refusing SMTP AUTH without TLS")
		}
		if ok, _ := client.Extension("AUTH"); !ok {
			return errors.New("server does not offer SMTP AUTH")
		}
		if err := client.Auth(sasl.NewPlainClient("", n.cfg.Username, n.cfg.Password)); err != nil {
			return fmt.Errorf("auth: %w", scrub(err, n.cfg.Password))
		}
	}
	if err := client.SendMail(n.from.Address, []string{to.Address}, bytes.NewReader(msg)); err != nil {
		return fmt.Errorf("send: %w", scrub(err, n.cfg.Password))
	}
	if err := client.Quit(); err != nil {
		return fmt.Errorf("quit: %w", err)
	}
	return nil
}

// scrub drops err's text when it contains secret (a server echoing it back).
func scrub(err error, secret string) error {
	if secret != "" && strings.Contains(err.Error(), secret) {
		return errors.New("server error (redacted)")
	}
	return err
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func hasLineBreak(s string) bool {
	return strings.ContainsAny(s, "\r\n")
}
