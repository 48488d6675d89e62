package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// caddyBin finds Caddy (Debian's caddy package). The test skips loudly
// without it, and fails when HOLDFAST_REQUIRE_SERVICES=1 (.ci/run installs
// it).
func caddyBin(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("caddy"); err == nil {
		return p
	}
	msg := "caddy is not installed (apt-get install caddy): SKIPPING the Caddy forward-auth test"
	if os.Getenv("HOLDFAST_REQUIRE_SERVICES") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestCaddyForwardAuth puts a real Caddy, configured as docs/gateway.md
// shows (testdata/gateway/Caddyfile), in front of an API with forward_auth
// to `holdfast serve`: a panic lock stops a withdrawal but not an order,
// the 403 reaches the client as Holdfast made it, a client's own
// X-Original-URI does not pass a withdrawal off as an order, a request
// naming no account is refused, the gateway's token never reaches the
// API, and with Holdfast down nothing gets through.
func TestCaddyForwardAuth(t *testing.T) {
	bin := caddyBin(t)
	tmp := t.TempDir()
	data := filepath.Join(tmp, "data")
	addr := freeAddr(t)
	stop := serveStoppable(t, data, addr)
	t.Setenv("HOLDFAST_SERVER", "http://"+addr)
	t.Setenv("HOLDFAST_TOKEN", "")
	gatewayToken := strings.TrimSpace(mustCLI(t, "token", "create", "--data", data, "--scopes", "check"))
	holderToken := strings.TrimSpace(mustCLI(t, "token", "create", "--data", data, "--scopes", "self_service"))

	api := &exchangeAPI{}
	upstream := httptestServer(t, api)
	front := freeAddr(t)
	conf := gatewayFile(t, "Caddyfile", "http://127.0.0.1:8080 {",
		replacement{"http://127.0.0.1:8080 {", "http://" + front + " {", 1},
		replacement{"forward_auth 127.0.0.1:7433 {", "forward_auth " + addr + " {", 1},
		replacement{"reverse_proxy 127.0.0.1:8081", "reverse_proxy " + upstream, 1},
		replacement{"Bearer hf_GATEWAY_TOKEN", "Bearer " + gatewayToken, 1})
	path := filepath.Join(tmp, "Caddyfile")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil { // it holds a token
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
	// Caddy keeps its state under these: the test's directory, not root's.
	cmd.Env = append(os.Environ(), "HOME="+tmp, "XDG_CONFIG_HOME="+tmp, "XDG_DATA_HOME="+tmp)
	startGateway(t, cmd, syscall.SIGTERM, filepath.Join(tmp, "no-log-file"), front)
	g := &gatewayRig{t: t, api: api}

	mustCLI(t, "panic-lock", "--token", holderToken, "--account", "u1", "--duration", "24h")
	g.passed("an order under a panic lock", g.call(front, "POST", "/api/v1/orders", "u1", `{"side":"buy"}`), "POST", "/api/v1/orders", `{"side":"buy"}`, "trade")
	r := g.call(front, "POST", "/api/v1/withdrawals", "u1", `{"asset":"BTC","amount":"1"}`)
	g.stopped("a withdrawal under a panic lock", r, 403)
	panicDenial(t, r)
	g.stopped("a withdrawal claiming another URI", g.call(front, "POST", "/api/v1/withdrawals", "u1", "",
		"X-Original-URI", "/api/v1/orders", "X-Original-Method", "POST"), 403)

	r = g.call(front, "POST", "/api/v1/orders", "", `{"side":"buy"}`)
	g.stopped("an order naming no account", r, 401)
	if !jsonHas(r.Body, "field", "account") {
		t.Errorf("401 without an account: body %q, want a JSON error on field account", r.Body)
	}

	// Holdfast down: forward_auth is a reverse proxy that cannot reach it.
	stop()
	g.stopped("a withdrawal with Holdfast down", g.call(front, "POST", "/api/v1/withdrawals", "u0", ""), 502)
	g.stopped("a read with Holdfast down", g.call(front, "GET", "/api/v1/balances", "u0", ""), 502)
}
