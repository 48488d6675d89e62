package client_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/bus"
	"github.com/holdfast/holdfast/client"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/internal/servicetest"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/rpc"
	"github.com/holdfast/holdfast/sqlite"
)

// env is a real Holdfast server: SQLite in a temp dir, the engine with the
// default policy, the API on a loopback listener, and, with a feed, the
// engine publishing its commits to NATS JetStream and following the feed
// itself.
type env struct {
	t       testing.TB
	db      *sqlite.DB
	eng     *engine.Engine
	handler http.Handler
	srv     *httptest.Server
	tokens  map[string]string // name → secret
	nats    string            // NATS URL; "" without a feed
	prefix  string            // the bus prefix
}

var (
	testStaff = map[string][]holdfast.Role{
		"alice": {holdfast.RoleSupport},
		"admin": {holdfast.RoleAdmin},
	}
	testTokens = map[string][]holdfast.Scope{
		"check":  {holdfast.ScopeCheck},
		"self":   {holdfast.ScopeSelfService},
		"events": {holdfast.ScopeEvents},
	}
)

// newEnv starts a server; withFeed connects it to NATS (skipping the test
// when NATS is unreachable, unless HOLDFAST_REQUIRE_SERVICES=1).
func newEnv(t testing.TB, withFeed bool) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{t: t, tokens: map[string]string{}}
	var b *bus.Bus
	var start uint64
	if withFeed {
		e.nats = servicetest.NATS(t)
		e.prefix = newPrefix(t, e.nats)
		b = e.bus()
		var err error
		if start, err = b.FeedStart(ctx); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.db = db
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := engine.Config{Store: db, Policy: policy.Default(), Clock: holdfast.WallClock{}, Logger: log}
	if withFeed {
		cfg.Feed = &engine.FeedConfig{OnCommit: func(account string, seq int64, id string) {
			if err := b.PublishChange(ctx, account, seq, id); err != nil && ctx.Err() == nil {
				t.Errorf("publish change of %s: %v", account, err)
			}
		}}
	}
	if e.eng, err = engine.New(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel) // runs before the bus and the store close
	if withFeed {
		go func() { _ = b.RunFeed(ctx, e.eng, start) }()
	}
	e.handler = rpc.Handler(rpc.Config{Engine: e.eng, Staff: db, Logger: log})
	e.srv = httptest.NewServer(e.handler)
	t.Cleanup(e.srv.Close)

	now := time.Now()
	for id, roles := range testStaff {
		if err := db.PutStaff(ctx, &holdfast.StaffMember{ID: id, Roles: roles, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		e.mint(id, []holdfast.Scope{holdfast.ScopeStaff}, id)
	}
	for name, scopes := range testTokens {
		e.mint(name, scopes, "")
	}
	if withFeed {
		eventually(t, "the server following its own feed", func() bool { return !e.eng.Stale() })
	}
	return e
}

func (e *env) mint(name string, scopes []holdfast.Scope, staff string) {
	secret, tok, err := rpc.NewToken(scopes, staff, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.PutToken(context.Background(), tok); err != nil {
		e.t.Fatal(err)
	}
	e.tokens[name] = secret
}

// bus connects to the env's feed, as another process would.
func (e *env) bus() *bus.Bus {
	e.t.Helper()
	b, err := bus.Connect(context.Background(), e.nats, bus.Config{Prefix: e.prefix, Heartbeat: 20 * time.Millisecond})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(b.Close)
	return b
}

// client returns a client of the env's server using the named token.
func (e *env) client(token string, opts ...connect.ClientOption) *client.Client {
	e.t.Helper()
	return e.clientAt(e.srv.URL, token, client.Config{Options: opts})
}

func (e *env) clientAt(url, token string, cfg client.Config) *client.Client {
	e.t.Helper()
	cfg.URL, cfg.Token = url, e.tokens[token]
	c, err := client.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// counter counts the calls a client makes, by procedure.
type counter struct{ check, other atomic.Int64 }

func (n *counter) interceptor() connect.ClientOption {
	return connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if strings.HasSuffix(req.Spec().Procedure, "/Check") {
				n.check.Add(1)
			} else {
				n.other.Add(1)
			}
			return next(ctx, req)
		}
	}))
}

// replica starts a replica of the env's server following the feed over a
// bus connection of its own, with a "check" token; stop ends its feed.
func (e *env) replica(cfg client.ReplicaConfig) (r *client.Replica, calls *counter, stop func()) {
	e.t.Helper()
	calls = &counter{}
	r = client.NewReplica(e.client("check", calls.interceptor()), e.bus(), cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(ctx); err != nil {
			e.t.Errorf("replica feed: %v", err)
		}
	}()
	stop = func() { cancel(); <-done }
	e.t.Cleanup(stop)
	eventually(e.t, "the replica following the feed", func() bool { return !r.Stale() })
	return r, calls, stop
}

// newPrefix is a bus prefix of the test's own, whose streams are deleted
// when it ends.
func newPrefix(t testing.TB, url string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	p := "hfclient" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		nc, err := nats.Connect(url)
		if err != nil {
			return
		}
		defer nc.Close()
		js, err := nc.JetStream()
		if err != nil {
			return
		}
		for _, s := range []string{"_CHANGES", "_EVENTS", "_DEAD"} {
			_ = js.DeleteStream(strings.ToUpper(p) + s)
		}
	})
	return p
}

func eventually(t testing.TB, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}
