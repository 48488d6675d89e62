// Package webhook delivers the outbox's commands to other services: each
// command is POSTed as JSON to one URL, signed with HMAC-SHA256 over a
// timestamp and the body, and retried with exponential backoff until the
// receiver answers 2xx or the attempts run out (then the command is dead,
// for staff to see and redrive). Delivery is at least once: a receiver
// drops repeats by the command id (HeaderID).
//
// The deliverer keeps no state of its own. It claims due commands from the
// Outbox for a lease, so deliverers in several processes never send the
// same command at the same time, and a deliverer that dies mid-delivery
// only delays its commands until their leases end.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/holdfast/holdfast"
)

// Delivery is a command claimed for delivery.
type Delivery struct {
	Command holdfast.Command
	// Attempts counts the failed attempts before this one.
	Attempts int
	// Lease is when the claim ends; Fail hands it back so that the outbox
	// can refuse a claim that ran out and was taken over.
	Lease time.Time
}

// Outbox is where the deliverer takes commands from and records outcomes.
type Outbox interface {
	// Claim leases up to limit commands due at now until now+lease; no
	// other claim gets them meanwhile.
	Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Delivery, error)
	// Complete records a delivery.
	Complete(ctx context.Context, id string, at time.Time) error
	// Fail records a failed attempt made at at: the command is due again
	// at retryAt, or dead when retryAt is zero.
	Fail(ctx context.Context, d Delivery, at time.Time, reason string, retryAt time.Time) error
}

// Sender delivers one command; an error makes the deliverer try again
// later. The deliverer POSTs JSON to a URL unless Config.Sender says
// otherwise (holder notifications go by email, say).
type Sender interface {
	Send(ctx context.Context, c *holdfast.Command) error
}

// Config configures a Deliverer. URL and Secret are required unless Sender
// is set; every other zero field takes the default in its comment.
type Config struct {
	// Sender, when set, delivers instead of the signed POST to URL.
	Sender Sender
	// URL receives every command (http or https).
	URL string
	// Secret keys the signatures: at least 16 bytes. It is never logged.
	Secret []byte
	// MaxAttempts before a command is dead: default 20 (about two hours
	// of retries with the default backoff).
	MaxAttempts int
	// MinBackoff is the wait after the first failure, doubled after each
	// further one up to MaxBackoff, each wait drawn at random from its
	// upper half: defaults 1 s and 10 min.
	MinBackoff, MaxBackoff time.Duration
	// Timeout bounds each request: default 10 s.
	Timeout time.Duration
	// Workers is how many commands are sent at once: default 8.
	Workers int
	// Lease is how long a claim keeps a command from other deliverers:
	// default 1 min. It must exceed Timeout.
	Lease time.Duration
	// Poll is the wait before looking again when nothing was due:
	// default 1 s.
	Poll time.Duration
	// Clock defaults to the wall clock.
	Clock holdfast.Clock
	// Client defaults to one that follows no redirects (a redirect is a
	// failed attempt: signed commands go only where configured).
	Client *http.Client
	Logger *slog.Logger
}

// Deliverer sends the outbox's due commands. It is safe for concurrent use,
// and any number of deliverers may share an outbox.
type Deliverer struct {
	out  Outbox
	cfg  Config
	send Sender
}

// New checks cfg and returns a deliverer for out.
func New(out Outbox, cfg Config) (*Deliverer, error) {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.MinBackoff, time.Second)
	def(&cfg.MaxBackoff, 10*time.Minute)
	def(&cfg.Timeout, 10*time.Second)
	def(&cfg.Lease, time.Minute)
	def(&cfg.Poll, time.Second)
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 20
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.Lease <= cfg.Timeout {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "lease", "lease (%s) must exceed the request timeout (%s)", cfg.Lease, cfg.Timeout)
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.Clock == nil {
		cfg.Clock = holdfast.WallClock{}
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Deliverer{out: out, cfg: cfg, send: cfg.Sender}
	if d.send == nil {
		p, err := NewPoster(cfg.URL, cfg.Secret, cfg.Clock, cfg.Client)
		if err != nil {
			return nil, err
		}
		d.send = p
	}
	return d, nil
}

// Poster POSTs signed JSON bodies to one URL.
type Poster struct {
	url    string
	secret []byte
	// previous signs too, during a rotation, so that receivers still on
	// the old secret keep accepting.
	previous []byte
	clock    holdfast.Clock
	client   *http.Client
	target   string
}

// NewPoster checks the URL and secret (at least 16 bytes). A nil client
// follows no redirects (a redirect is a failure: signed bodies go only
// where configured); a nil clock is the wall clock.
func NewPoster(rawURL string, secret []byte, clock holdfast.Clock, client *http.Client) (*Poster, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "url", "webhook URL must be an absolute http or https URL")
	}
	if len(secret) < 16 {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "secret", "webhook secret must be at least 16 bytes")
	}
	if clock == nil {
		clock = holdfast.WallClock{}
	}
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &Poster{url: rawURL, secret: bytes.Clone(secret), clock: clock, client: client, target: u.Scheme + "://" + u.Host + u.Path}, nil
}

// Target is the URL bodies go to, without credentials or query: safe to
// log.
func (p *Poster) Target() string { return p.target }

// Run delivers due commands until ctx ends, then returns nil. A request
// cut short by the end is neither delivered nor failed: its lease runs out
// and the next deliverer sends it again.
func (d *Deliverer) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		n, err := d.DeliverDue(ctx)
		if err != nil && ctx.Err() == nil {
			d.cfg.Logger.Error("webhook: claiming commands failed", "err", err)
		}
		if n == d.cfg.Workers && err == nil {
			continue // there may be more due
		}
		select {
		case <-ctx.Done():
		case <-time.After(d.cfg.Poll):
		}
	}
	return nil
}

// DeliverDue claims up to Workers due commands, sends them concurrently
// and records each outcome. It returns how many it claimed.
func (d *Deliverer) DeliverDue(ctx context.Context) (int, error) {
	ds, err := d.out.Claim(ctx, d.cfg.Clock.Now(), d.cfg.Lease, d.cfg.Workers)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, dl := range ds {
		wg.Go(func() { d.deliver(ctx, dl) })
	}
	wg.Wait()
	return len(ds), nil
}

// deliver sends one command and records the outcome.
func (d *Deliverer) deliver(ctx context.Context, dl Delivery) {
	c := &dl.Command
	log := d.cfg.Logger.With("command", c.ID, "type", c.Type, "account", c.Account, "attempt", dl.Attempts+1)
	sctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	err := d.send.Send(sctx, c)
	if errors.Is(err, context.DeadlineExceeded) && sctx.Err() != nil && ctx.Err() == nil {
		err = fmt.Errorf("no answer within %s", d.cfg.Timeout)
	}
	cancel()
	if err != nil && ctx.Err() != nil {
		log.Info("webhook: stopped before the outcome; the command is sent again when its lease ends", "lease_until", dl.Lease)
		return
	}
	// The outcome is recorded even if ctx ends meanwhile: a delivered
	// command not marked so would be sent again.
	rec, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	now := d.cfg.Clock.Now()
	if err == nil {
		if err := d.out.Complete(rec, c.ID, now); err != nil {
			log.Error("webhook: delivered, but recording it failed; it will be sent again", "err", err)
			return
		}
		log.Debug("webhook: delivered")
		return
	}
	attempts := dl.Attempts + 1
	var retryAt time.Time
	if attempts < d.cfg.MaxAttempts {
		retryAt = now.Add(d.backoff(attempts))
	}
	if ferr := d.out.Fail(rec, dl, now, err.Error(), retryAt); ferr != nil {
		log.Error("webhook: recording a failed delivery failed", "err", ferr, "delivery_err", err)
		return
	}
	if retryAt.IsZero() {
		log.Error("webhook: giving up: the command is dead until staff redrive it", "err", err, "attempts", attempts)
		return
	}
	log.Warn("webhook: delivery failed; will retry", "err", err, "retry_at", retryAt)
}

// backoff is the wait after the n-th failed attempt: MinBackoff doubled
// n-1 times, at most MaxBackoff, drawn at random from its upper half so
// that commands failed together do not retry together.
func (d *Deliverer) backoff(n int) time.Duration {
	b := d.cfg.MinBackoff
	for i := 1; i < n && b < d.cfg.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.cfg.MaxBackoff)
	return b/2 + rand.N(b/2+1)
}

// Send POSTs c as JSON.
func (p *Poster) Send(ctx context.Context, c *holdfast.Command) error {
	body, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	return p.Post(ctx, c.ID, body)
}

// Post sends body, signed, with id as the receiver's key for dropping
// repeats, and returns nil on a 2xx answer. Its error is safe to keep and
// show staff: it names no secret and no URL.
func (p *Poster) Post(ctx context.Context, id string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("request: %w", unwrapURL(err))
	}
	ts := p.clock.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "holdfast-webhook/1")
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	sig := Sign(p.secret, ts, body)
	if p.previous != nil {
		sig += "," + Sign(p.previous, ts, body)
	}
	req.Header.Set(HeaderSignature, sig)
	resp, err := p.client.Do(req)
	if err != nil {
		return unwrapURL(err)
	}
	defer resp.Body.Close()
	// Read a little of the answer for the reason, and drain a bounded
	// rest so the connection can be reused.
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	if msg := printable(head); msg != "" {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, msg)
	}
	return fmt.Errorf("HTTP %d", resp.StatusCode)
}

// unwrapURL drops the *url.Error wrapper, which repeats the URL (and any
// credentials in it).
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// printable keeps the first line of a receiver's answer, without control
// characters.
func printable(b []byte) string {
	s, _, _ := strings.Cut(strings.ToValidUTF8(string(b), ""), "\n")
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s))
}

// Target names where commands go, safe to log: the URL without credentials
// or query, or the sender's type.
func (d *Deliverer) Target() string {
	if p, ok := d.send.(*Poster); ok {
		return p.Target()
	}
	return fmt.Sprintf("%T", d.send)
}

// WithPrevious makes the poster also sign with the secret being rotated
// out, so that a receiver still on it accepts the requests until it has
// switched (the header then holds two signatures).
func (p *Poster) WithPrevious(secret []byte) (*Poster, error) {
	if len(secret) < 16 {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "secret", "the previous webhook secret must be at least 16 bytes")
	}
	c := *p
	c.previous = bytes.Clone(secret)
	return &c, nil
}
