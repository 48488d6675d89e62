package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/client"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
)

// opaHandler is OPA behind the plainest equivalent of Holdfast's Check
// endpoint: POST a JSON {account, action} with a bearer token (compared by
// SHA-256 hash, as Holdfast stores tokens), answer JSON {effect}. It does
// less than Holdfast's handler, which validates the request fully, keeps
// metrics and answers with the causes and retry_after as well.
func opaHandler(o *opaEnv, secret string) http.Handler {
	want := sha256.Sum256([]byte(secret))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		got := sha256.Sum256([]byte(tok))
		if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		var q struct {
			Account string `json:"account"`
			Action  string `json:"action"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&q); err != nil || q.Account == "" || !holdfast.Action(q.Action).Valid() {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		fx, err := o.effect(r.Context(), question{Account: q.Account, Action: holdfast.Action(q.Action)})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"effect": fx.String()})
	})
}

// target is one server under load.
type target struct {
	name, url, token string
}

func post(c *http.Client, t target, body []byte) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+t.token)
	return c.Do(req)
}

func askEffect(c *http.Client, t target, q question) (holdfast.Effect, error) {
	body, _ := json.Marshal(map[string]string{"account": q.Account, "action": string(q.Action)})
	res, err := post(c, t, body)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	var out struct {
		Effect string `json:"effect"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: status %d, %v", t.name, res.StatusCode, err)
	}
	fx, ok := holdfast.ParseEffect(out.Effect)
	if !ok {
		return 0, fmt.Errorf("%s: effect %q", t.name, out.Effect)
	}
	return fx, nil
}

type loadResult struct {
	n        int
	errs     int
	rps      float64
	p50, p99 time.Duration
}

// closedLoop runs conc callers for d, each sending one question, waiting
// for its answer and sending the next; newCaller gives caller w its call
// and what to do when it is over. Questions are uniform over all accounts.
func closedLoop(conc int, d time.Duration, newCaller func(w int) (call func(q question) error, done func())) loadResult {
	var (
		mu   sync.Mutex
		lats []time.Duration
		errs int
		wg   sync.WaitGroup
	)
	deadline := time.Now().Add(d)
	start := time.Now()
	for w := range conc {
		call, done := newCaller(w)
		wg.Go(func() {
			defer done()
			r := rand.New(rand.NewPCG(uint64(w), 99))
			local := make([]time.Duration, 0, 1<<16)
			nerr := 0
			for time.Now().Before(deadline) {
				q := question{Account: accountID(r.IntN(numAccounts)), Action: holdfast.Actions[r.IntN(holdfast.NumActions)]}
				t0 := time.Now()
				if err := call(q); err != nil {
					nerr++
					continue
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, local...)
			errs += nerr
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lats)
	res := loadResult{n: len(lats), errs: errs, rps: float64(len(lats)) / elapsed.Seconds()}
	if len(lats) > 0 {
		res.p50, res.p99 = lats[len(lats)/2], lats[len(lats)*99/100]
	}
	return res
}

// load posts JSON over HTTP/1.1 keep-alive connections, one per caller.
func load(t target, conc int, d time.Duration) loadResult {
	tr := &http.Transport{MaxIdleConns: conc, MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc, DisableCompression: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	return closedLoop(conc, d, func(int) (func(question) error, func()) {
		var body []byte
		return func(q question) error {
			body = append(body[:0], `{"account":"`...)
			body = append(body, q.Account...)
			body = append(body, `","action":"`...)
			body = append(body, q.Action...)
			body = append(body, `"}`...)
			res, err := post(c, t, body)
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", res.StatusCode)
			}
			return err
		}, func() {}
	})
}

// loadStream asks through one client.Checker over CheckStream, shared by
// every caller, as holdfast-load -protocol stream does.
func loadStream(baseURL, token string, conc int, d time.Duration) loadResult {
	c, err := client.New(client.Config{URL: baseURL, Token: token, HTTPClient: rpc.H2CClient(), Options: []connect.ClientOption{connect.WithGRPC()}})
	if err != nil {
		panic(err)
	}
	k := c.Checker(context.Background())
	defer k.Close()
	return closedLoop(conc, d, func(int) (func(question) error, func()) {
		return func(q question) error {
			_, err := k.Check(context.Background(), &holdfastv1.CheckRequest{Account: q.Account, Action: string(q.Action)})
			return err
		}, func() {}
	})
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestNetwork puts Holdfast's real API (rpc.Handler over the engine, Connect
// protocol with JSON) and OPA behind an equivalent JSON handler on loopback
// servers, checks that they answer alike, then loads each in turn with the
// same closed-loop client, and Holdfast once more over CheckStream.
// HOLDFAST_BENCH_NET=1 runs it; HOLDFAST_BENCH_CONC (default 32) and
// HOLDFAST_BENCH_SECS (default 8) set the concurrency and the duration per
// server.
func TestNetwork(t *testing.T) {
	if os.Getenv("HOLDFAST_BENCH_NET") != "1" {
		t.Skip("set HOLDFAST_BENCH_NET=1 to run (about 20 s after loading)")
	}
	conc := envInt("HOLDFAST_BENCH_CONC", 32)
	dur := time.Duration(envInt("HOLDFAST_BENCH_SECS", 8)) * time.Second
	h, o := holdfastEngine(t), opaFixture(t)
	t.Logf("load: holdfast (SQLite fill + engine start) %v, OPA %v", h.loadTime.Round(time.Millisecond), o.loadTime.Round(time.Millisecond))
	ctx := context.Background()

	secret, tok, err := rpc.NewToken([]holdfast.Scope{holdfast.ScopeCheck}, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.db.PutToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(rpc.Handler(rpc.Config{Engine: h.eng, Staff: h.db, Metrics: h.metrics, Logger: slog.New(slog.DiscardHandler)}))
	hs.Config.Protocols = rpc.NewHTTPServer("", nil).Protocols
	hs.Start()
	defer hs.Close()
	osrv := httptest.NewServer(opaHandler(o, secret))
	defer osrv.Close()
	targets := []target{
		{"holdfast", hs.URL + "/holdfast.v1.DecisionService/Check", secret},
		{"opa", osrv.URL + "/check", secret},
	}

	// Same answers over the wire, on restricted accounts.
	c := &http.Client{}
	for _, q := range questions(500, true, 5) {
		want := reference(q, time.Now().Unix())
		for _, tg := range targets {
			got, err := askEffect(c, tg, q)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("%s %s %s: got %s, want %s", tg.name, q.Account, q.Action, got, want)
			}
		}
	}

	res := map[string]loadResult{}
	for _, tg := range targets {
		load(tg, conc, time.Second) // warm up: connections, caches
		r := load(tg, conc, dur)
		if r.errs > 0 {
			t.Errorf("%s: %d failed requests", tg.name, r.errs)
		}
		res[tg.name] = r
		t.Logf("%-8s %d callers, %v: %8.0f req/s  p50 %7v  p99 %7v  (%d requests)", tg.name, conc, dur, r.rps, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.n)
	}
	loadStream(hs.URL, secret, conc, time.Second)
	sr := loadStream(hs.URL, secret, conc, dur)
	if sr.errs > 0 {
		t.Errorf("stream: %d failed checks", sr.errs)
	}
	res["stream"] = sr
	t.Logf("%-8s %d callers, %v: %8.0f req/s  p50 %7v  p99 %7v  (%d requests)", "stream", conc, dur, sr.rps, sr.p50.Round(time.Microsecond), sr.p99.Round(time.Microsecond), sr.n)
	or := res["opa"]
	for _, name := range []string{"holdfast", "stream"} {
		hr := res[name]
		t.Logf("%s/OPA throughput = %.1f×, OPA/%s p50 = %.1f×, p99 = %.1f×",
			name, hr.rps/or.rps, name, float64(or.p50)/float64(hr.p50), float64(or.p99)/float64(hr.p99))
	}
}
