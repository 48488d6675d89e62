package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
)

// tcpProxy forwards connections to target until cut: a cut closes every
// connection and refuses new ones until restored, as a network blip does.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.setCut(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
	return p
}

// track adds c to the open connections, or reports false while cut.
func (p *tcpProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	p.conns[c] = true
	return true
}

func (p *tcpProxy) forward(c net.Conn) {
	if !p.track(c) {
		c.Close()
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil || !p.track(up) {
		c.Close()
		if up != nil {
			up.Close()
		}
		return
	}
	go func() { io.Copy(up, c); up.Close(); c.Close() }()
	io.Copy(c, up)
	c.Close()
	up.Close()
}

// setCut cuts the link (closing every connection) or restores it.
func (p *tcpProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

// through returns dsn (a URL) with its host replaced by the proxy's.
func (p *tcpProxy) through(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.ln.Addr().String()
	return u.String()
}

// pgHost is the host:port of the PostgreSQL a URL DSN names.
func pgHost(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		t.Fatalf("the PostgreSQL DSN must be a URL with a host: %v", err)
	}
	return u.Host
}

// ready reports whether a node's /readyz answers 200.
func (n *node) ready() bool {
	resp, err := http.Get(n.url + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// allMetrics returns a node's /metrics text.
func (n *node) allMetrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(n.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metric returns the text of a node's /metrics line for name.
func (n *node) metric(t *testing.T, name string) string {
	t.Helper()
	for line := range strings.Lines(n.allMetrics(t)) {
		if strings.HasPrefix(line, name+" ") {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// TestFeedSurvivesStoreBlip: node B's link to PostgreSQL is cut for 3 s
// while node A commits a flood of panic locks and other restrictions. B
// cannot apply what the feed brings meanwhile: it must say so (not ready,
// stale, money-out refused) for as long as it holds such a change, and
// once ready again it must answer every restriction A acknowledged.
func TestFeedSurvivesStoreBlip(t *testing.T) {
	pgAdmin, _ := clusterServices(t)
	proxy := newTCPProxy(t, pgHost(t, pgAdmin))
	cl := startCluster(t, clusterSpec{nodes: 2, store: func(i int, dsn string) string {
		if i == 1 {
			return proxy.through(t, dsn)
		}
		return dsn
	}})
	ctx := context.Background()
	a := rpc.NewClients(nil, cl.nodes[0].url, cl.token)
	b := rpc.NewClients(nil, cl.nodes[1].url, cl.token)
	nodeB := cl.nodes[1]
	// B learns the token before the cut (it reads tokens from the store).
	if _, err := b.Decision.Check(ctx, connect.NewRequest(&holdfastv1.CheckRequest{Account: "nobody", Action: "trade"})); err != nil {
		t.Fatal(err)
	}

	// The flood: panic locks, withdrawal freezes and reduce-only, each on
	// an account of its own, with the action each must deny.
	type acked struct{ account, action string }
	var (
		mu        sync.Mutex
		confirmed []acked
		duringCut atomic.Int64
		cut, stop atomic.Bool
		wg        sync.WaitGroup
	)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				acct := fmt.Sprintf("blip-%d-%d", w, i)
				var err error
				action := "withdraw"
				switch i % 3 {
				case 0:
					_, err = a.Self.PanicLock(ctx, connect.NewRequest(&holdfastv1.PanicLockRequest{Account: acct, Duration: "72h"}))
				case 1:
					_, err = a.Restriction.Apply(ctx, connect.NewRequest(&holdfastv1.ApplyRequest{Account: acct, Kind: "withdrawal_freeze", Reason: "blip"}))
				default:
					action = "trade"
					_, err = a.Restriction.Apply(ctx, connect.NewRequest(&holdfastv1.ApplyRequest{Account: acct, Kind: "reduce_only", Reason: "blip"}))
				}
				if err != nil {
					t.Errorf("node A: %s: %v", acct, err)
					return
				}
				if cut.Load() {
					duringCut.Add(1)
				}
				mu.Lock()
				confirmed = append(confirmed, acked{acct, action})
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	defer func() { stop.Store(true); wg.Wait() }()

	time.Sleep(300 * time.Millisecond)
	proxy.setCut(true)
	cut.Store(true)
	// While cut, B receives changes it cannot apply: it must stop being
	// ready, and stay so until the link is back.
	var sawUnready bool
	cutEnds := time.Now().Add(3 * time.Second)
	for time.Now().Before(cutEnds) {
		r := nodeB.ready()
		if !r && !sawUnready {
			sawUnready = true
			if m := nodeB.metric(t, "holdfast_feed_stale"); m != "holdfast_feed_stale 1" {
				t.Errorf("node B not ready but its metric says %q", m)
			}
			// /readyz says why: its heartbeats are fresh, so "behind the
			// change feed by 5ms" would mislead whoever looks.
			if _, body := httpGet(t, http.DefaultClient, nodeB.url+"/readyz"); !strings.HasPrefix(body, "a change for ") || !strings.Contains(body, "account(s) could not be applied yet") {
				t.Errorf("node B's /readyz does not say it holds a change it could not apply: %q", body)
			}
			d, err := b.Decision.Check(ctx, connect.NewRequest(&holdfastv1.CheckRequest{Account: "nobody", Action: "withdraw"}))
			if err != nil || d.Msg.Effect != "deny" {
				t.Errorf("node B, holding changes it could not apply, allowed a withdrawal: %v %v", d, err)
			}
		}
		if r && sawUnready {
			t.Fatal("node B reported ready again while its store was unreachable and changes were unapplied")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !sawUnready {
		t.Error("node B stayed ready while it could not apply the changes it received")
	}
	proxy.setCut(false)
	cut.Store(false)
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if duringCut.Load() == 0 {
		t.Fatal("node A acknowledged nothing while B's link was cut")
	}

	t0 := time.Now()
	deadline := time.Now().Add(20 * time.Second)
	for !nodeB.ready() {
		if time.Now().After(deadline) {
			t.Fatal("node B not ready 20 s after its link to PostgreSQL came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("node B ready %s after the link came back", time.Since(t0).Round(time.Millisecond))
	// Ready means within the lag bound (2 s): the last changes may still
	// be on their way, nothing older.
	grace := time.Now().Add(3 * time.Second)
	var missed []string
	for _, c := range confirmed {
		for {
			d, err := b.Decision.Check(ctx, connect.NewRequest(&holdfastv1.CheckRequest{Account: c.account, Action: c.action}))
			if err == nil && d.Msg.Effect == "deny" {
				break
			}
			if time.Now().After(grace) {
				missed = append(missed, c.account+" "+c.action)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if len(missed) > 0 {
		t.Fatalf("node B, ready, allows %d of %d acknowledged restrictions (%d acknowledged during the cut), e.g. %v",
			len(missed), len(confirmed), duringCut.Load(), missed[:min(5, len(missed))])
	}
	t.Logf("%d restrictions acknowledged by A, %d while B's link was cut; all denied by B", len(confirmed), duringCut.Load())
}

// TestFeedAcrossClustersOnOneNATS: two clusters, one after the other, on
// one NATS with the same prefix and each on a database of its own, make
// the same change (same account, same audit sequence). The second
// cluster's change must reach its other node, not be dropped by JetStream
// as a repeat of the first's.
func TestFeedAcrossClustersOnOneNATS(t *testing.T) {
	var pb [4]byte
	rand.Read(pb[:])
	prefix := "hfsame" + hex.EncodeToString(pb[:])
	ctx := context.Background()
	for round := 1; round <= 2; round++ {
		cl := startCluster(t, clusterSpec{nodes: 2, prefix: prefix})
		a := rpc.NewClients(nil, cl.nodes[0].url, cl.token)
		b := rpc.NewClients(nil, cl.nodes[1].url, cl.token)
		if _, err := a.Restriction.Apply(ctx, connect.NewRequest(&holdfastv1.ApplyRequest{Account: "u1", Kind: "reduce_only", Reason: "same change"})); err != nil {
			t.Fatal(err)
		}
		// Within the lag bound (2 s), with room to spare.
		deadline := time.Now().Add(5 * time.Second)
		for {
			d, err := b.Decision.Check(ctx, connect.NewRequest(&holdfastv1.CheckRequest{Account: "u1", Action: "trade"}))
			if err == nil && d.Msg.Effect == "deny" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster %d: node B never learnt of the restriction node A applied: %v %v", round, d, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, n := range cl.nodes {
			n.kill()
		}
	}
}
