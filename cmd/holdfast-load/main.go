// Command holdfast-load drives a Holdfast node with a mix of Check,
// AuthorizeWithdrawal and event ingestion, as fast as it can or at a fixed
// rate, for a fixed time, and prints throughput and latency percentiles
// (HDR histograms) per operation: for sizing a deployment and for soak
// runs. At a fixed rate, latency is measured from when each request was
// due, so a stalled server cannot hide its stall (no coordinated
// omission). It targets a loopback server unless -allow-remote is given.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/holdfast/holdfast/client"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
)

func main() {
	var o options
	flag.StringVar(&o.server, "server", "http://127.0.0.1:7433", "server base URL")
	flag.StringVar(&o.token, "token", os.Getenv("HOLDFAST_TOKEN"), "bearer token with the check (and, for the mix, events) scope")
	flag.StringVar(&o.protocol, "protocol", "json", "json (Connect protocol over HTTP/1.1 keep-alive), grpc (HTTP/2), or stream (checks through one client.Checker over CheckStream, the rest as grpc)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long to send (at most 24h)")
	flag.IntVar(&o.concurrency, "concurrency", 64, "concurrent callers")
	flag.IntVar(&o.accounts, "accounts", 1000, "accounts acct-0 … acct-N-1 are picked at random")
	flag.IntVar(&o.rate, "rate", 0, "requests per second in all (0: as fast as possible)")
	flag.StringVar(&o.mix, "mix", "check=100", "share of each operation: check, withdraw, event (e.g. check=90,withdraw=5,event=5)")
	flag.BoolVar(&o.allowRemote, "allow-remote", false, "allow a server that is not on the loopback interface")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

type options struct {
	server, token, protocol, mix string
	duration                     time.Duration
	concurrency, accounts, rate  int
	allowRemote                  bool
}

// op is one kind of request with its results.
type op struct {
	name  string
	share int
	do    func(ctx context.Context, c *caller, n int64) error
	mu    sync.Mutex
	hist  *hdrhistogram.Histogram
	errs  atomic.Int64
	first atomic.Value
}

func (p *op) record(d time.Duration) {
	p.mu.Lock()
	_ = p.hist.RecordValue(d.Microseconds())
	p.mu.Unlock()
}

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
}

func run(o options) error {
	u, err := url.Parse(o.server)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(u.Hostname()); !o.allowRemote && u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return errors.New("the server is not on the loopback interface: pass -allow-remote to load it anyway")
	}
	if o.duration <= 0 || o.duration > 24*time.Hour || o.concurrency < 1 || o.concurrency > 4096 || o.accounts < 1 || o.rate < 0 {
		return errors.New("duration must be in (0, 24h], concurrency in [1, 4096], accounts ≥ 1, rate ≥ 0")
	}
	if o.protocol != "json" && o.protocol != "grpc" && o.protocol != "stream" {
		return fmt.Errorf("unknown protocol %q", o.protocol)
	}
	ops, err := parseMix(o.mix, o.accounts)
	if err != nil {
		return err
	}
	total := 0
	for _, p := range ops {
		total += p.share
	}
	pick := func() *op {
		n := rand.IntN(total)
		for _, p := range ops {
			if n < p.share {
				return p
			}
			n -= p.share
		}
		return ops[len(ops)-1]
	}
	var h2c *http.Client
	var checker *client.Checker
	if o.protocol == "stream" {
		c, err := client.New(client.Config{URL: o.server, Token: o.token, HTTPClient: rpc.H2CClient(), Options: []connect.ClientOption{connect.WithGRPC()}})
		if err != nil {
			return err
		}
		checker = c.Checker(context.Background())
		defer checker.Close()
	}
	newCaller := func(i int) *caller {
		switch o.protocol {
		case "grpc", "stream":
			// HTTP/2 multiplexes: eight callers share a connection.
			if i%8 == 0 {
				h2c = rpc.H2CClient()
			}
			return &caller{Clients: rpc.NewClients(h2c, o.server, o.token, connect.WithGRPC()), checker: checker}
		}
		// One connection per caller, as a fleet of gateways would hold.
		return &caller{Clients: rpc.NewClients(&http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}, o.server, o.token, connect.WithProtoJSON())}
	}

	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	// At a fixed rate, a ticker hands out send times; each latency is
	// measured from its send time.
	var due chan time.Time
	if o.rate > 0 {
		due = make(chan time.Time, o.concurrency)
		go func() {
			interval := time.Second / time.Duration(o.rate)
			next := time.Now()
			for ctx.Err() == nil {
				next = next.Add(interval)
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				}
				select {
				case due <- next:
				case <-ctx.Done():
				}
			}
		}()
	}
	var seq atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for i := range o.concurrency {
		c := newCaller(i)
		wg.Go(func() {
			for ctx.Err() == nil {
				sent := time.Now()
				if due != nil {
					select {
					case sent = <-due:
					case <-ctx.Done():
						return
					}
				}
				p := pick()
				// Each request has its own deadline: the run's end must not
				// cut one short (Connect sends the deadline to the server).
				rctx, cancelReq := context.WithTimeout(context.Background(), 30*time.Second)
				err := p.do(rctx, c, seq.Add(1))
				cancelReq()
				if err != nil {
					if p.errs.Add(1) == 1 {
						p.first.Store(err.Error())
					}
					continue
				}
				p.record(time.Since(sent))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	fmt.Printf("server=%s protocol=%s concurrency=%d rate=%d duration=%s\n", o.server, o.protocol, o.concurrency, o.rate, elapsed.Round(time.Millisecond))
	fmt.Printf("%-9s %10s %9s %8s %8s %8s %8s %8s %8s\n", "op", "requests", "req/s", "errors", "p50", "p90", "p99", "p99.9", "max")
	for _, p := range ops {
		h := p.hist
		us := func(q float64) string { return (time.Duration(h.ValueAtQuantile(q)) * time.Microsecond).String() }
		fmt.Printf("%-9s %10d %9.0f %8d %8s %8s %8s %8s %8s\n", p.name, h.TotalCount(), float64(h.TotalCount())/elapsed.Seconds(), p.errs.Load(),
			us(50), us(90), us(99), us(99.9), (time.Duration(h.Max()) * time.Microsecond).String())
		if e := p.first.Load(); e != nil {
			fmt.Printf("  first %s error: %v\n", p.name, e)
		}
	}
	return nil
}

// caller is one concurrent caller's clients; with -protocol stream its
// checks go through the Checker all callers share.
type caller struct {
	*rpc.Clients
	checker *client.Checker
}

func (c *caller) check(ctx context.Context, req *holdfastv1.CheckRequest) error {
	if c.checker != nil {
		_, err := c.checker.Check(ctx, req)
		return err
	}
	_, err := c.Decision.Check(ctx, connect.NewRequest(req))
	return err
}

// parseMix reads "check=90,withdraw=5,event=5".
func parseMix(mix string, accounts int) ([]*op, error) {
	account := func() string { return "acct-" + strconv.Itoa(rand.IntN(accounts)) }
	actions := []string{"trade", "api_access", "withdraw", "login", "create_api_key"}
	known := map[string]func(ctx context.Context, c *caller, n int64) error{
		"check": func(ctx context.Context, c *caller, _ int64) error {
			return c.check(ctx, &holdfastv1.CheckRequest{Account: account(), Action: actions[rand.IntN(len(actions))]})
		},
		"withdraw": func(ctx context.Context, c *caller, n int64) error {
			_, err := c.Decision.AuthorizeWithdrawal(ctx, connect.NewRequest(&holdfastv1.AuthorizeWithdrawalRequest{
				Account: account(), Id: fmt.Sprintf("load-w-%d-%d", time.Now().UnixNano(), n), Asset: "USDT", Amount: "25", Address: "load-address",
			}))
			return err
		},
		"event": func(ctx context.Context, c *caller, n int64) error {
			_, err := c.Event.Ingest(ctx, connect.NewRequest(&holdfastv1.IngestRequest{Event: &holdfastv1.Event{
				Id: fmt.Sprintf("load-e-%d-%d", time.Now().UnixNano(), n), Type: "login", Account: account(), Device: "load-device",
			}}))
			return err
		},
	}
	var ops []*op
	for part := range strings.SplitSeq(mix, ",") {
		name, share, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(share)
		do := known[name]
		if !ok || err != nil || n < 0 || do == nil {
			return nil, fmt.Errorf("-mix: %q is not name=share with name check, withdraw or event", part)
		}
		if n > 0 {
			ops = append(ops, &op{name: name, share: n, do: do, hist: newHist()})
		}
	}
	if len(ops) == 0 {
		return nil, errors.New("-mix names no operation")
	}
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].name < ops[j].name })
	return ops, nil
}
