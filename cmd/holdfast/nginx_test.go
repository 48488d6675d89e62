package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// nginxBin finds Debian's nginx (built with the auth_request module). The
// test skips loudly without it, and fails when HOLDFAST_REQUIRE_SERVICES=1
// (.ci/run installs it).
func nginxBin(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	msg := "nginx is not installed (apt-get install nginx): SKIPPING the nginx forward-auth test"
	if os.Getenv("HOLDFAST_REQUIRE_SERVICES") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// replacement is one edit of a configuration file from testdata/gateway:
// old must occur n times.
type replacement struct {
	old, new string
	n        int
}

// gatewayFile is testdata/gateway/name with the edits made and without
// its stand-in API (from the line "# stand-in API" to the line "# end of
// the stand-in API"). It fails the test unless docs/gateway.md shows the
// file from the line starting with from up to the stand-in API, as it is.
func gatewayFile(t *testing.T, name, from string, edits ...replacement) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "gateway", name))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	lineStart := func(i int) int { return strings.LastIndexByte(conf[:max(i, 0)], '\n') + 1 }
	start, end := strings.Index(conf, from), lineStart(strings.Index(conf, "# stand-in API"))
	const standInEnd = "# end of the stand-in API\n"
	cut := strings.Index(conf, standInEnd)
	if start < 0 || end <= start || cut < end {
		t.Fatalf("testdata/gateway/%s lost %q or its stand-in API", name, from)
	}
	if doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "gateway.md")); err != nil || !strings.Contains(string(doc), strings.TrimRight(conf[lineStart(start):end], "\n")+"\n") {
		t.Errorf("docs/gateway.md does not show testdata/gateway/%s as it is (%v)", name, err)
	}
	conf = conf[:end] + conf[cut+len(standInEnd):]
	for _, r := range edits {
		if got := strings.Count(conf, r.old); got != r.n {
			t.Fatalf("testdata/gateway/%s has %q %d times, want %d", name, r.old, got, r.n)
		}
		conf = strings.ReplaceAll(conf, r.old, r.new)
	}
	return conf
}

// gatewayConf is testdata/gateway/nginx.conf, the configuration
// docs/gateway.md shows, with the test's addresses and token.
func gatewayConf(t *testing.T, holdfastAddr, exchangeAddr, listen, token string) string {
	t.Helper()
	conf := gatewayFile(t, "nginx.conf", "  upstream holdfast",
		replacement{"127.0.0.1:7433;", holdfastAddr + ";", 1},
		replacement{"127.0.0.1:8081;", exchangeAddr + ";", 1},
		replacement{"listen 127.0.0.1:8080;", "listen " + listen + ";", 1},
		replacement{"Bearer hf_GATEWAY_TOKEN", "Bearer " + token, 2})
	if os.Geteuid() == 0 {
		// Workers run as nobody by default and write temporary files into
		// the test's directory, which is root's alone.
		conf = strings.Replace(conf, "worker_processes 1;", "worker_processes 1;\nuser root;", 1)
	}
	return conf
}

// reached is one request the exchange's API received through nginx.
type reached struct {
	Method, URI, Body, Action, Account string
	// Token is the X-Holdfast-Authorization the API got: the gateway's
	// token must not reach it.
	Token string
}

// exchangeAPI stands for the exchange's own API behind the gateway: it
// records every request that gets through.
type exchangeAPI struct {
	mu   sync.Mutex
	seen []reached
}

func (e *exchangeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	e.mu.Lock()
	e.seen = append(e.seen, reached{r.Method, r.RequestURI, string(b), r.Header.Get("X-Holdfast-Action"), r.Header.Get("X-Account-Id"), r.Header.Get("X-Holdfast-Authorization")})
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"from":"exchange"}`)
}

// take returns what reached the API since the last call.
func (e *exchangeAPI) take() []reached {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.seen
	e.seen = nil
	return s
}

// httptestServer serves h on a loopback port until the test ends and
// returns its address.
func httptestServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// serveStoppable runs `holdfast serve` in-process on dir and addr and
// returns once it is ready; stop ends it and waits (also at the test's end).
func serveStoppable(t *testing.T, dir, addr string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errw syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--data", dir, "--addr", addr, "--log-level", "error"}, &out, &errw)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				t.Error("serve did not stop")
			}
		})
	}
	t.Cleanup(stop)
	waitReady(t, "http://"+addr, &errw)
	return stop
}

// startNginx runs nginx in the foreground with conf in dir, waits until
// every address in listen accepts connections, and stops it when the test
// ends.
func startNginx(t *testing.T, bin, dir, conf string, listen ...string) {
	t.Helper()
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil { // it holds a token
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", path, "-g", "daemon off;")
	startGateway(t, cmd, syscall.SIGQUIT, filepath.Join(dir, "error.log"), listen...)
}

// startGateway starts cmd, waits until every address in listen accepts
// connections, and stops it with stop (then kills it) when the test ends.
// A failure shows its output and the log file errorLog.
func startGateway(t *testing.T, cmd *exec.Cmd, stop os.Signal, errorLog string, listen ...string) {
	t.Helper()
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(stop)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	logs := func() string {
		b, _ := os.ReadFile(errorLog)
		return out.String() + string(b)
	}
	for _, addr := range listen {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			select {
			case err := <-exited:
				t.Fatalf("%s exited: %v\n%s", filepath.Base(cmd.Path), err, logs())
			default:
			}
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s does not listen on %s\n%s", filepath.Base(cmd.Path), addr, logs())
			}
		}
	}
}

// gatewayReply is what a client of the exchange got back through nginx.
type gatewayReply struct {
	Status int
	Header http.Header
	Body   string
}

// gatewayRig sends requests through a gateway in front of api and says
// what came back and what got through.
type gatewayRig struct {
	t   *testing.T
	api *exchangeAPI
}

// call sends method uri through the gateway at via, naming account (if
// any), with the extra headers given as name, value pairs.
func (g *gatewayRig) call(via, method, uri, account, body string, extra ...string) gatewayReply {
	g.t.Helper()
	req, err := http.NewRequest(method, "http://"+via+uri, strings.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	if account != "" {
		req.Header.Set("X-Account-Id", account)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Set(extra[i], extra[i+1])
	}
	res, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, uri, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return gatewayReply{res.StatusCode, res.Header, string(b)}
}

// passed fails the test unless the request got the exchange's answer and
// reached it once, with its method, URI and body, as action.
func (g *gatewayRig) passed(what string, r gatewayReply, method, uri, body, action string) {
	g.t.Helper()
	seen := g.api.take()
	if r.Status != 200 || r.Body != `{"from":"exchange"}` || len(seen) != 1 ||
		seen[0].Method != method || seen[0].URI != uri || seen[0].Body != body || seen[0].Action != action || seen[0].Token != "" {
		g.t.Fatalf("%s: got %d %q, the API saw %+v; want it passed as %s", what, r.Status, r.Body, seen, action)
	}
}

// stopped fails the test unless the request got status and nothing
// reached the API.
func (g *gatewayRig) stopped(what string, r gatewayReply, status int) {
	g.t.Helper()
	if seen := g.api.take(); r.Status != status || len(seen) != 0 {
		g.t.Fatalf("%s: got %d %q %v, the API saw %+v; want %d and nothing reaching the API", what, r.Status, r.Body, r.Header, seen, status)
	}
}

// panicDenial fails the test unless r is Holdfast's 403 for a 24 h panic
// lock: the holder's decision as JSON, its effect and Retry-After.
func panicDenial(t *testing.T, r gatewayReply) {
	t.Helper()
	var decision struct {
		Effect string
		Causes []struct{ Kind, Message string }
	}
	if err := json.Unmarshal([]byte(r.Body), &decision); err != nil || decision.Effect != "deny" || len(decision.Causes) != 1 || decision.Causes[0].Kind != "panic_lock" || decision.Causes[0].Message == "" {
		t.Fatalf("the 403's body is not the holder's decision (%v): %s", err, r.Body)
	}
	if got := r.Header.Get("X-Holdfast-Effect"); got != "deny" {
		t.Errorf("X-Holdfast-Effect %q, want deny", got)
	}
	if secs, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || secs < 23*3600 || secs > 24*3600 {
		t.Errorf("Retry-After %q, want the seconds left of a 24 h lock", r.Header.Get("Retry-After"))
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want JSON", ct)
	}
}

// jsonHas reports whether the JSON text holds, at any depth, key with the
// string value want.
func jsonHas(text, key, want string) bool {
	var v any
	if json.Unmarshal([]byte(text), &v) != nil {
		return false
	}
	var walk func(any) bool
	walk = func(v any) bool {
		switch v := v.(type) {
		case map[string]any:
			if s, ok := v[key].(string); ok && s == want {
				return true
			}
			for _, x := range v {
				if walk(x) {
					return true
				}
			}
		case []any:
			for _, x := range v {
				if walk(x) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}

// TestNginxForwardAuth puts a real nginx in front of an API with
// auth_request to `holdfast serve`'s /gateway/auth, and checks what the
// exchange's clients get and what reaches the API: a panic lock stops a
// withdrawal at the gateway but not an order, until the lock ends; a
// request naming no account, or a gateway holding a bad token, is
// refused; an API key is judged by the address nginx saw, not by what the
// client wrote in X-Forwarded-For; a law-enforcement hold shows the holder
// only the generic cause; and with Holdfast down nothing gets through.
func TestNginxForwardAuth(t *testing.T) {
	bin := nginxBin(t)
	tmp := t.TempDir()
	data := filepath.Join(tmp, "data")
	addr := freeAddr(t)
	stop := serveStoppable(t, data, addr)
	t.Setenv("HOLDFAST_SERVER", "http://"+addr)
	t.Setenv("HOLDFAST_TOKEN", "")

	gatewayToken := strings.TrimSpace(mustCLI(t, "token", "create", "--data", data, "--scopes", "check"))
	holderToken := strings.TrimSpace(mustCLI(t, "token", "create", "--data", data, "--scopes", "self_service"))
	mustCLI(t, "staff", "add", "--data", data, "--id", "lee", "--roles", "le_liaison")
	leeToken := strings.TrimSpace(mustCLI(t, "token", "create", "--data", data, "--scopes", "staff", "--staff", "lee"))
	eventsToken := strings.TrimSpace(mustCLI(t, "token", "create", "--data", data, "--scopes", "events"))

	api := &exchangeAPI{}
	exchange := httptestServer(t, api)
	front, wrongToken := freeAddr(t), freeAddr(t)
	for _, g := range []struct{ listen, token string }{{front, gatewayToken}, {wrongToken, "hf_" + strings.Repeat("A", 43)}} {
		dir, err := os.MkdirTemp(tmp, "nginx")
		if err != nil {
			t.Fatal(err)
		}
		startNginx(t, bin, dir, gatewayConf(t, addr, exchange, g.listen, g.token), g.listen)
	}

	g := &gatewayRig{t: t, api: api}
	call, passed, stopped := g.call, g.passed, g.stopped

	passed("a read", call(front, "GET", "/api/v1/balances?asset=BTC", "u0", ""), "GET", "/api/v1/balances?asset=BTC", "", "view")

	// The holder of u1 presses the panic button.
	mustCLI(t, "panic-lock", "--token", holderToken, "--account", "u1", "--duration", "24h")
	r := call(front, "POST", "/api/v1/withdrawals", "u1", `{"asset":"BTC","amount":"1"}`)
	stopped("a withdrawal under a panic lock", r, 403)
	panicDenial(t, r)
	// A client cannot dress the withdrawal up as another route with the
	// headers Traefik and Caddy use: this gateway clears them.
	stopped("a withdrawal claiming another URI", call(front, "POST", "/api/v1/withdrawals", "u1", "",
		"X-Forwarded-Uri", "/api/v1/orders", "X-Forwarded-Method", "POST", "X-Original-URI", "/api/v1/orders"), 403)
	// Money-out is held; trading is not.
	passed("an order under a panic lock", call(front, "POST", "/api/v1/orders", "u1", `{"side":"buy"}`), "POST", "/api/v1/orders", `{"side":"buy"}`, "trade")

	// No account on a mapped route: 401 naming the account.
	r = call(front, "POST", "/api/v1/orders", "", `{"side":"buy"}`)
	stopped("an order naming no account", r, 401)
	if !jsonHas(r.Body, "field", "account") {
		t.Errorf("401 without an account: body %q, want a JSON error on field account", r.Body)
	}
	// An unmapped write is shut until it is mapped.
	stopped("an unmapped write", call(front, "POST", "/api/v2/withdrawals", "u0", ""), 403)

	// The client's address is the one nginx saw (it appends it to
	// X-Forwarded-For): an API key whitelisted for 10.0.0.0/8 is refused
	// however the client fills X-Forwarded-For, one whitelisted for
	// loopback is let through.
	mustCLI(t, "event", "--token", eventsToken, "--type", "api_key_created", "--account", "u3", "--api-key", "k-office", "--permissions", "read,trade", "--ip-whitelist", "10.0.0.0/8")
	mustCLI(t, "event", "--token", eventsToken, "--type", "api_key_created", "--account", "u3", "--api-key", "k-here", "--permissions", "read,trade", "--ip-whitelist", "127.0.0.0/8")
	r = call(front, "POST", "/api/v1/orders", "u3", `{"side":"buy"}`, "X-Api-Key", "k-office", "X-Forwarded-For", "10.1.2.3")
	stopped("an order with a key for another network", r, 403)
	if !jsonHas(r.Body, "code", "permission_denied") {
		t.Errorf("the key's refusal: %s", r.Body)
	}
	passed("an order with a key for this network", call(front, "POST", "/api/v1/orders", "u3", `{"side":"buy"}`, "X-Api-Key", "k-here"), "POST", "/api/v1/orders", `{"side":"buy"}`, "trade")

	// A gateway with a bad token gets nothing through.
	r = call(wrongToken, "GET", "/api/v1/balances", "u0", "")
	stopped("a gateway with a bad token", r, 401)
	if !jsonHas(r.Body, "field", "authorization") {
		t.Errorf("401 for a bad gateway token: body %q, want a JSON error on field authorization", r.Body)
	}

	// A law-enforcement hold: the holder may still look, and is shown only
	// the generic cause.
	mustCLI(t, "apply", "--token", leeToken, "--account", "u2", "--kind", "law_enforcement_hold", "--reason", "production order 4417", "--reference", "LE-4417")
	passed("a read under an LE hold", call(front, "GET", "/api/v1/balances", "u2", ""), "GET", "/api/v1/balances", "", "view")
	r = call(front, "POST", "/api/v1/orders", "u2", `{"side":"sell"}`)
	stopped("an order under an LE hold", r, 403)
	if !jsonHas(r.Body, "kind", "terms_violation") {
		t.Errorf("the LE hold's 403 does not show the generic cause: %s", r.Body)
	}
	for _, secret := range []string{"law_enforcement", "4417", "production order"} {
		if strings.Contains(r.Body, secret) || strings.Contains(fmt.Sprint(r.Header), secret) {
			t.Errorf("the LE hold's 403 shows %q: %v %s", secret, r.Header, r.Body)
		}
	}
	if r.Header.Get("Retry-After") != "" {
		t.Errorf("the LE hold's 403 has Retry-After %q; a hidden restriction has no end", r.Header.Get("Retry-After"))
	}

	// Holdfast down: nginx's auth subrequest fails, and the client gets 500
	// with nothing reaching the API, on a money-out route or any other.
	stop()
	stopped("a withdrawal with Holdfast down", call(front, "POST", "/api/v1/withdrawals", "u0", ""), 500)
	stopped("a read with Holdfast down", call(front, "GET", "/api/v1/balances", "u0", ""), 500)

	// 25 hours later the panic lock has ended and the withdrawal goes
	// through (the node's clock runs ahead: HOLDFAST_TEST_CLOCK_OFFSET).
	t.Setenv(clockOffsetEnv, "25h")
	serveStoppable(t, data, addr)
	passed("a withdrawal after the lock", call(front, "POST", "/api/v1/withdrawals", "u1", `{"asset":"BTC","amount":"1"}`), "POST", "/api/v1/withdrawals", `{"asset":"BTC","amount":"1"}`, "withdraw")
}
