package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/sqlite"
	"github.com/holdfast/holdfast/webhook"
)

var secret = []byte("test-secret-0123456789abcdef")

// outbox is the SQLite store as the deliverer's Outbox (cmd/holdfast wires
// the same adapter).
type outbox struct{ db *sqlite.DB }

func (o outbox) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]webhook.Delivery, error) {
	ds, err := o.db.ClaimCommands(ctx, now, lease, limit)
	out := make([]webhook.Delivery, len(ds))
	for i, d := range ds {
		out[i] = webhook.Delivery{Command: d.Command, Attempts: d.Attempts, Lease: d.LeaseUntil}
	}
	return out, err
}

func (o outbox) Complete(ctx context.Context, id string, at time.Time) error {
	return o.db.CompleteCommand(ctx, id, at)
}

func (o outbox) Fail(ctx context.Context, d webhook.Delivery, at time.Time, reason string, retryAt time.Time) error {
	return o.db.FailCommand(ctx, d.Command.ID, d.Lease, at, reason, retryAt)
}

func openStore(t *testing.T, dir string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// enqueue commits commands the way the engine does: in the update that
// applies the restriction they are about.
func enqueue(t *testing.T, db *sqlite.DB, ids ...string) {
	t.Helper()
	now := time.Now().UTC()
	err := db.Update(t.Context(), "acct-1", now, func(tx holdfast.AccountTx) error {
		r := &holdfast.Restriction{ID: "r-" + ids[0], Account: "acct-1", Kind: holdfast.KindReduceOnly, StartsAt: now,
			EndsAt: now.Add(24 * time.Hour), CreatedAt: now, Disclose: true, AppliedBy: "rule:api_burst"}
		if err := tx.SaveRestriction(r); err != nil {
			return err
		}
		for _, id := range ids {
			if err := tx.Enqueue(&holdfast.Command{ID: id, Type: holdfast.CommandRestrictionApplied, Restriction: r.ID, CreatedAt: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// receiver is a service that takes webhooks: it checks every signature
// with webhook.ReadRequest and answers with status (200 by default).
type receiver struct {
	*httptest.Server
	mu        sync.Mutex
	status    func(id string, attempt int) int
	hold      func(r *http.Request) // runs before answering, if set
	attempts  map[string]int        // every verified request
	delivered map[string]int        // 2xx answers
	inflight  map[string]int
	overlaps  []string // ids received while already in flight
	rejected  []error
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{attempts: map[string]int{}, delivered: map[string]int{}, inflight: map[string]int{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	c, err := webhook.ReadRequest(r, secret, time.Now(), 5*time.Minute)
	rc.mu.Lock()
	if err != nil {
		rc.rejected = append(rc.rejected, err)
		rc.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	rc.attempts[c.ID]++
	attempt := rc.attempts[c.ID]
	if rc.inflight[c.ID]++; rc.inflight[c.ID] > 1 {
		rc.overlaps = append(rc.overlaps, c.ID)
	}
	status, hold := rc.status, rc.hold
	rc.mu.Unlock()
	if hold != nil {
		hold(r)
	}
	code := http.StatusOK
	if status != nil {
		code = status(c.ID, attempt)
	}
	rc.mu.Lock()
	rc.inflight[c.ID]--
	if code/100 == 2 && r.Context().Err() == nil { // else the sender never hears the answer
		rc.delivered[c.ID]++
	}
	rc.mu.Unlock()
	w.WriteHeader(code)
	fmt.Fprintf(w, "answer %d for %s\n", code, c.ID)
}

// counts returns (attempts, deliveries) for id.
func (rc *receiver) counts(id string) (int, int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.attempts[id], rc.delivered[id]
}

func (rc *receiver) check(t *testing.T) {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.rejected) > 0 {
		t.Errorf("receiver rejected %d deliveries: %v", len(rc.rejected), rc.rejected)
	}
	if len(rc.overlaps) > 0 {
		t.Errorf("commands received twice at once: %v", rc.overlaps)
	}
}

// logs collects a deliverer's log lines.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func config(url string, log *logs) webhook.Config {
	return webhook.Config{
		URL: url, Secret: secret, Poll: 5 * time.Millisecond,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		Timeout: 2 * time.Second, Lease: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// start runs a deliverer until the test ends or stop is called.
func start(t *testing.T, out webhook.Outbox, cfg webhook.Config) (stop func()) {
	t.Helper()
	d, err := webhook.New(out, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func state(t *testing.T, db *sqlite.DB, id string) *sqlite.Delivery {
	t.Helper()
	d, err := db.Command(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// A 2xx answer delivers a command once; it is not sent again.
func TestDeliveredOnce(t *testing.T) {
	db := openStore(t, t.TempDir())
	rc := newReceiver(t)
	var log logs
	enqueue(t, db, "c1", "c2", "c3")
	start(t, outbox{db}, config(rc.URL, &log))
	for _, id := range []string{"c1", "c2", "c3"} {
		eventually(t, id+" delivered", func() bool { return state(t, db, id).State == sqlite.CommandDelivered })
	}
	time.Sleep(50 * time.Millisecond) // ten more polls
	for _, id := range []string{"c1", "c2", "c3"} {
		if a, d := rc.counts(id); a != 1 || d != 1 {
			t.Errorf("%s: %d attempts, %d deliveries; want 1 and 1", id, a, d)
		}
		if s := state(t, db, id); s.Attempts != 0 || s.DeliveredAt.IsZero() {
			t.Errorf("%s in the outbox = %+v", id, s)
		}
	}
	rc.check(t)
}

// A failed attempt is retried after a backoff and then delivered.
func TestRetriedThenDelivered(t *testing.T) {
	db := openStore(t, t.TempDir())
	rc := newReceiver(t)
	rc.status = func(_ string, attempt int) int {
		if attempt == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	}
	var log logs
	enqueue(t, db, "c1")
	start(t, outbox{db}, config(rc.URL, &log))
	eventually(t, "c1 delivered", func() bool { return state(t, db, "c1").State == sqlite.CommandDelivered })
	s := state(t, db, "c1")
	if s.Attempts != 1 || s.LastError != "HTTP 500: answer 500 for c1" {
		t.Errorf("c1 = %+v, want one failed attempt with the receiver's answer as its reason", s)
	}
	if a, d := rc.counts("c1"); a != 2 || d != 1 {
		t.Errorf("c1: %d attempts, %d deliveries; want 2 and 1", a, d)
	}
	rc.check(t)
}

// After MaxAttempts failures a command is dead: listed for staff, sent no
// more, until a redrive makes it deliverable again. Neither the logs nor
// the recorded reasons hold the secret.
func TestDeadThenRedriven(t *testing.T) {
	db := openStore(t, t.TempDir())
	rc := newReceiver(t)
	var mu sync.Mutex
	healthy := false
	rc.status = func(string, int) int {
		mu.Lock()
		defer mu.Unlock()
		if healthy {
			return http.StatusOK
		}
		return http.StatusServiceUnavailable
	}
	var log logs
	cfg := config(rc.URL, &log)
	cfg.MaxAttempts = 3
	enqueue(t, db, "c1")
	start(t, outbox{db}, cfg)
	eventually(t, "c1 dead", func() bool { return state(t, db, "c1").State == sqlite.CommandDead })
	time.Sleep(100 * time.Millisecond) // well past the longest backoff
	if a, d := rc.counts("c1"); a != 3 || d != 0 {
		t.Errorf("c1: %d attempts, %d deliveries; want 3 and 0", a, d)
	}
	dead, err := db.ListCommands(t.Context(), sqlite.CommandDead, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].Command.ID != "c1" || dead[0].Attempts != 3 || !strings.HasPrefix(dead[0].LastError, "HTTP 503") {
		t.Errorf("dead commands = %+v, want c1 after 3 attempts with HTTP 503", dead)
	}

	mu.Lock()
	healthy = true
	mu.Unlock()
	if err := db.RedriveCommand(t.Context(), "c1", time.Now()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "c1 delivered after redrive", func() bool { return state(t, db, "c1").State == sqlite.CommandDelivered })
	if a, d := rc.counts("c1"); a != 4 || d != 1 {
		t.Errorf("c1: %d attempts, %d deliveries; want 4 and 1", a, d)
	}
	rc.check(t)
	if out := log.String(); strings.Contains(out, string(secret)) || !strings.Contains(out, "giving up") {
		t.Errorf("logs hold the secret, or do not say the command died:\n%s", out)
	}
	if strings.Contains(state(t, db, "c1").LastError, string(secret)) {
		t.Error("the recorded reason holds the secret")
	}
}

// Deliverers in one process and in another (a second handle on the same
// file) share the outbox: each command is sent once, never by two at
// once.
func TestDeliverersShareTheOutbox(t *testing.T) {
	dir := t.TempDir()
	a, b := openStore(t, dir), openStore(t, dir)
	rc := newReceiver(t)
	rc.hold = func(*http.Request) { time.Sleep(2 * time.Millisecond) }
	var ids []string
	for i := range 60 {
		ids = append(ids, fmt.Sprintf("c%02d", i))
	}
	enqueue(t, a, ids...)
	var log logs
	cfg := config(rc.URL, &log)
	cfg.Workers = 4
	for _, db := range []*sqlite.DB{a, a, b} {
		start(t, outbox{db}, cfg)
	}
	eventually(t, "every command delivered", func() bool {
		ds, err := a.ListCommands(t.Context(), sqlite.CommandDelivered, 0)
		return err == nil && len(ds) == len(ids)
	})
	for _, id := range ids {
		if at, d := rc.counts(id); at != 1 || d != 1 {
			t.Errorf("%s: %d attempts, %d deliveries; want 1 and 1", id, at, d)
		}
	}
	rc.check(t)
}

// Nothing is lost across a restart: a command committed while no
// deliverer ran is sent after the store reopens, and one whose delivery
// was cut off by the shutdown is sent again once its lease runs out.
func TestRestart(t *testing.T) {
	t.Run("committed, never sent", func(t *testing.T) {
		dir := t.TempDir()
		db := openStore(t, dir)
		enqueue(t, db, "c1")
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db = openStore(t, dir)
		rc := newReceiver(t)
		var log logs
		start(t, outbox{db}, config(rc.URL, &log))
		eventually(t, "c1 delivered", func() bool { return state(t, db, "c1").State == sqlite.CommandDelivered })
		rc.check(t)
	})
	t.Run("cut off mid-delivery", func(t *testing.T) {
		dir := t.TempDir()
		db := openStore(t, dir)
		enqueue(t, db, "c1")
		rc := newReceiver(t)
		started := make(chan struct{})
		var once sync.Once
		rc.hold = func(r *http.Request) {
			first := false
			once.Do(func() { first = true })
			if first {
				close(started)
				<-r.Context().Done() // the sender goes away
			}
		}
		var log logs
		cfg := config(rc.URL, &log)
		cfg.Timeout, cfg.Lease = time.Second, 1500*time.Millisecond
		stop := start(t, outbox{db}, cfg)
		<-started
		stop()
		s := state(t, db, "c1")
		if s.State != sqlite.CommandPending || s.Attempts != 0 || s.LeaseUntil.IsZero() {
			t.Fatalf("c1 after a cut-off delivery = %+v, want pending, still leased, no failed attempt", s)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}

		db = openStore(t, dir)
		start(t, outbox{db}, cfg)
		eventually(t, "c1 delivered after restart", func() bool { return state(t, db, "c1").State == sqlite.CommandDelivered })
		if d := state(t, db, "c1"); d.DeliveredAt.Before(s.LeaseUntil) {
			t.Errorf("c1 delivered at %v, inside the first claim's lease (until %v)", d.DeliveredAt, s.LeaseUntil)
		}
		if a, d := rc.counts("c1"); a != 2 || d != 1 {
			t.Errorf("c1: %d attempts, %d deliveries; want 2 (one cut off) and 1", a, d)
		}
		rc.check(t)
	})
}

// clock is a settable holdfast.Clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Each failure doubles the wait from MinBackoff up to MaxBackoff, drawn
// from the upper half of it; the last allowed attempt kills the command.
func TestBackoff(t *testing.T) {
	db := openStore(t, t.TempDir())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()
	enqueue(t, db, "c1")
	clk := &clock{t: state(t, db, "c1").NextAt}
	cfg := webhook.Config{URL: srv.URL, Secret: secret, Clock: clk, MaxAttempts: 14,
		MinBackoff: time.Second, MaxBackoff: 10 * time.Minute}
	d, err := webhook.New(outbox{db}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for k := 1; k <= cfg.MaxAttempts; k++ {
		if n, err := d.DeliverDue(t.Context()); n != 1 || err != nil {
			t.Fatalf("attempt %d: DeliverDue = %d, %v", k, n, err)
		}
		s := state(t, db, "c1")
		if s.Attempts != k {
			t.Fatalf("attempt %d: %d attempts recorded", k, s.Attempts)
		}
		if k == cfg.MaxAttempts {
			if s.State != sqlite.CommandDead {
				t.Errorf("after %d attempts: state %s, want dead", k, s.State)
			}
			break
		}
		want := min(time.Second<<(k-1), 10*time.Minute)
		if wait := s.NextAt.Sub(clk.Now()); wait < want/2 || wait > want {
			t.Errorf("attempt %d: retry in %v, want between %v and %v", k, wait, want/2, want)
		}
		if n, _ := d.DeliverDue(t.Context()); n != 0 {
			t.Fatalf("attempt %d: claimed again before the retry time", k)
		}
		clk.set(s.NextAt)
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	body := []byte(`{"id":"c1","account":"a1","type":"revoke_sessions","created_at":"2030-03-17T17:46:40Z"}`)
	ts := fmt.Sprint(now.Unix())
	sig := webhook.Sign(secret, now.Unix(), body)
	if !strings.HasPrefix(sig, "v1=") || len(sig) != 3+64 {
		t.Fatalf("Sign = %q, want v1= and 64 hex digits", sig)
	}
	other := webhook.Sign([]byte("another-secret-0123456789"), now.Unix(), body)
	for _, tc := range []struct {
		name      string
		secret    []byte
		ts, sig   string
		body      []byte
		now       time.Time
		wantError error
	}{
		{"valid", secret, ts, sig, body, now, nil},
		{"valid at the tolerance's edge", secret, ts, sig, body, now.Add(5 * time.Minute), nil},
		{"valid among rotated signatures", secret, ts, other + ", " + sig, body, now, nil},
		{"body tampered", secret, ts, sig, bytes.Replace(body, []byte("a1"), []byte("a2"), 1), now, webhook.ErrSignature},
		{"body extended", secret, ts, sig, append(bytes.Clone(body), ' '), now, webhook.ErrSignature},
		{"timestamp moved", secret, fmt.Sprint(now.Unix() + 1), sig, body, now.Add(time.Second), webhook.ErrSignature},
		{"signature flipped", secret, ts, sig[:len(sig)-1] + "0", body, now, webhook.ErrSignature},
		{"wrong secret", []byte("wrong-secret-0123456789"), ts, sig, body, now, webhook.ErrSignature},
		{"other secret only", secret, ts, other, body, now, webhook.ErrSignature},
		{"no v1", secret, ts, strings.TrimPrefix(sig, "v1="), body, now, webhook.ErrSignature},
		{"not hex", secret, ts, "v1=zz", body, now, webhook.ErrSignature},
		{"empty signature", secret, ts, "", body, now, webhook.ErrSignature},
		{"no secret", nil, ts, sig, body, now, webhook.ErrSignature},
		{"stale", secret, ts, sig, body, now.Add(5*time.Minute + time.Second), webhook.ErrTimestamp},
		{"from the future", secret, ts, sig, body, now.Add(-5*time.Minute - time.Second), webhook.ErrTimestamp},
		{"no timestamp", secret, "", sig, body, now, webhook.ErrTimestamp},
		{"signed timestamp", secret, "+" + ts, sig, body, now, webhook.ErrTimestamp},
		{"timestamp in millis", secret, ts + "000", sig, body, now, webhook.ErrTimestamp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := webhook.Verify(tc.secret, tc.ts, tc.sig, tc.body, tc.now, 5*time.Minute)
			if tc.wantError == nil && err != nil || tc.wantError != nil && !isErr(err, tc.wantError) {
				t.Errorf("Verify = %v, want %v", err, tc.wantError)
			}
		})
	}
}

func isErr(err, target error) bool {
	for e := err; e != nil; {
		if e == target {
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}

// ReadRequest also ties the id header to the signed body.
func TestReadRequest(t *testing.T) {
	now := time.Now()
	body := []byte(`{"id":"c1","account":"a1","type":"revoke_sessions","created_at":"2030-03-17T17:46:40Z"}`)
	req := func(id string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set(webhook.HeaderID, id)
		r.Header.Set(webhook.HeaderTimestamp, fmt.Sprint(now.Unix()))
		r.Header.Set(webhook.HeaderSignature, webhook.Sign(secret, now.Unix(), body))
		return r
	}
	c, err := webhook.ReadRequest(req("c1"), secret, now, time.Minute)
	if err != nil || c.ID != "c1" || c.Account != "a1" || c.Type != holdfast.CommandRevokeSessions {
		t.Errorf("ReadRequest = %+v, %v", c, err)
	}
	if _, err := webhook.ReadRequest(req("c2"), secret, now, time.Minute); err == nil {
		t.Error("ReadRequest accepted an id header that is not the body's")
	}
}

func TestNewChecksConfig(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   webhook.Config
		field string
	}{
		{"no url", webhook.Config{Secret: secret}, "url"},
		{"relative url", webhook.Config{URL: "/hook", Secret: secret}, "url"},
		{"ftp url", webhook.Config{URL: "ftp://example.com/hook", Secret: secret}, "url"},
		{"short secret", webhook.Config{URL: "https://example.com/hook", Secret: []byte("short")}, "secret"},
		{"lease within timeout", webhook.Config{URL: "https://example.com/hook", Secret: secret, Timeout: time.Minute, Lease: time.Minute}, "lease"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := webhook.New(outbox{}, tc.cfg)
			if holdfast.ErrorCode(err) != holdfast.InvalidArgument || holdfast.ErrorField(err) != tc.field {
				t.Errorf("New = %v, want invalid_argument on %s", err, tc.field)
			}
		})
	}
	d, err := webhook.New(outbox{}, webhook.Config{URL: "https://user:pass@example.com/hook?token=t", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Target(); got != "https://example.com/hook" {
		t.Errorf("Target = %q, want the URL without credentials or query", got)
	}
}
