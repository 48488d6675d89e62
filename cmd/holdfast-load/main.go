// Command holdfast-load is a bounded load generator for a Holdfast server on
// this machine: it sends Check requests over JSON (Connect protocol) or
// gRPC for a fixed time, then prints throughput and latency percentiles.
// It refuses any server that is not on the loopback interface.
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
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
)

func main() {
	var (
		server      = flag.String("server", "http://127.0.0.1:7433", "server base URL (loopback only)")
		token       = flag.String("token", os.Getenv("HOLDFAST_TOKEN"), "bearer token with the check scope")
		protocol    = flag.String("protocol", "json", "json (Connect protocol, JSON body over HTTP/1.1 keep-alive connections) or grpc (HTTP/2)")
		duration    = flag.Duration("duration", 10*time.Second, "how long to send (at most 10m)")
		concurrency = flag.Int("concurrency", 64, "concurrent callers")
		accounts    = flag.Int("accounts", 1000, "checks pick accounts acct-0 … acct-N-1 at random")
	)
	flag.Parse()
	if err := run(*server, *token, *protocol, *duration, *concurrency, *accounts); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(server, token, protocol string, duration time.Duration, concurrency, accounts int) error {
	u, err := url.Parse(server)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return errors.New("the load generator only targets a server on the loopback interface")
	}
	if duration <= 0 || duration > 10*time.Minute || concurrency < 1 || concurrency > 1024 {
		return errors.New("duration must be in (0, 10m] and concurrency in [1, 1024]")
	}
	// Each caller gets its own client and connection, as a fleet of
	// gateways would hold: one multiplexed HTTP/2 connection would measure
	// that connection's lock, not the server.
	newClients := func() *rpc.Clients {
		if protocol == "grpc" {
			return rpc.NewClients(rpc.H2CClient(), server, token, connect.WithGRPC())
		}
		return rpc.NewClients(&http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}, server, token, connect.WithProtoJSON())
	}
	if protocol != "json" && protocol != "grpc" {
		return fmt.Errorf("unknown protocol %q", protocol)
	}
	actions := []string{"trade", "api_access", "withdraw", "login", "create_api_key"}
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		lats   []time.Duration
		errs   atomic.Int64
		sample atomic.Value
	)
	start := time.Now()
	for range concurrency {
		wg.Add(1)
		clients := newClients()
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 1<<16)
			for ctx.Err() == nil {
				req := &holdfastv1.CheckRequest{Account: fmt.Sprintf("acct-%d", rand.IntN(accounts)), Action: actions[rand.IntN(len(actions))]}
				t0 := time.Now()
				_, err := clients.Decision.Check(ctx, connect.NewRequest(req))
				if ctx.Err() != nil {
					break
				}
				if err != nil {
					errs.Add(1)
					sample.Store(err.Error())
					continue
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lats)
	if len(lats) == 0 {
		return fmt.Errorf("no request succeeded (%d errors, e.g. %v)", errs.Load(), sample.Load())
	}
	pct := func(p float64) time.Duration { return lats[min(len(lats)-1, int(float64(len(lats))*p))] }
	fmt.Printf("protocol=%s concurrency=%d duration=%s requests=%d errors=%d rate=%.0f req/s p50=%s p99=%s max=%s\n",
		protocol, concurrency, elapsed.Round(time.Millisecond), len(lats), errs.Load(),
		float64(len(lats))/elapsed.Seconds(), pct(0.50), pct(0.99), lats[len(lats)-1])
	if errs.Load() > 0 {
		fmt.Printf("first error sample: %v\n", sample.Load())
	}
	return nil
}
