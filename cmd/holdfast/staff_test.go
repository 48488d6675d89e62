package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/pquerna/otp/totp"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
)

// serveData runs `holdfast serve` in-process on the data directory dir and
// returns its URL once it is ready; the server stops when the test ends.
func serveData(t *testing.T, dir string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errw syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--data", dir, "--addr", addr, "--log-level", "error"}, &out, &errw)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return "http://" + addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v\n%s", err, errw.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mustCLI runs the command and fails the test unless it succeeds.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errw := cli(t, args...)
	if code != 0 {
		t.Fatalf("%s: exit %d: %s %s", strings.Join(args, " "), code, out, errw)
	}
	return out
}

// checkWith makes one Check with token and returns its error.
func checkWith(url, token string) error {
	_, err := rpc.NewClients(nil, url, token).Decision.Check(context.Background(), connect.NewRequest(&holdfastv1.CheckRequest{Account: "u1", Action: "trade"}))
	return err
}

// refusedWithin polls until the token is refused as unauthenticated and
// fails the test if that takes longer than the documented bound plus a
// margin for a loaded machine. It returns the refusal.
func refusedWithin(t *testing.T, what, url, token string) error {
	t.Helper()
	limit := rpc.RevocationBound + 2*time.Second
	start := time.Now()
	for {
		err := checkWith(url, token)
		if connect.CodeOf(err) == connect.CodeUnauthenticated {
			return err
		}
		if err != nil {
			t.Fatalf("%s: %v, want accepted or unauthenticated", what, err)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s: still accepted %s later (documented bound %s)", what, time.Since(start).Round(time.Millisecond), rpc.RevocationBound)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRevokedTokenRefusedWithinBound: a token in use (so cached by the
// server) and revoked with the CLI is refused within the documented bound;
// a server that never saw it refuses it at once.
func TestRevokedTokenRefusedWithinBound(t *testing.T) {
	dir := t.TempDir()
	mustCLI(t, "migrate", "--data", dir)
	tok := strings.TrimSpace(mustCLI(t, "token", "create", "--data", dir, "--scopes", "check"))
	url := serveData(t, dir)
	if err := checkWith(url, tok); err != nil {
		t.Fatalf("the token before revoking: %v", err)
	}
	// Revoked as from a terminal beside the server: the command runs in
	// the server, through its socket.
	var stdout, errw bytes.Buffer
	if code := runIn(context.Background(), &invocation{
		args:   []string{"token", "revoke", "--data", dir, "--stdin"},
		stdin:  &recorder{r: strings.NewReader(tok + "\n")},
		stdout: &stdout, stderr: &errw,
	}); code != 0 {
		t.Fatalf("revoke: exit %d: %s", code, errw.String())
	}
	if out := stdout.String(); !strings.Contains(out, "within "+rpc.RevocationBound.String()) {
		t.Errorf("revoke says %q, want the documented bound", out)
	}
	if err := refusedWithin(t, "the revoked token", url, tok); !strings.Contains(err.Error(), "revoked") {
		t.Errorf("refusal %q does not say the token was revoked", err)
	}
	url2, _ := serverOn(t, dir)
	if err := checkWith(url2, tok); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("a server that never cached it: %v, want unauthenticated", err)
	}
	metric(t, url, `holdfast_auth_rejected_total{reason="revoked"}`, 1)
}

// tokenID finds a token's id in `token list --json` by its place: the
// list never shows the token or its hash.
func tokenID(t *testing.T, where, token string) string {
	t.Helper()
	flag := "--data"
	if strings.HasPrefix(where, "postgres") {
		flag = "--store"
	}
	code, out, errw := cli(t, "token", "list", flag, where, "--json")
	if code != 0 {
		t.Fatalf("token list: %s %s", out, errw)
	}
	if strings.Contains(out, token) || strings.Contains(out, rpc.HashToken(token)) {
		t.Fatalf("token list shows the secret or its hash:\n%s", out)
	}
	var ts []struct {
		ID        string    `json:"id"`
		CreatedAt time.Time `json:"created_at"`
	}
	if err := json.Unmarshal([]byte(out), &ts); err != nil || len(ts) == 0 {
		t.Fatalf("token list --json: %v\n%s", err, out)
	}
	return ts[len(ts)-1].ID // the newest
}

// metric fails the test unless the /metrics series is at least min.
func metric(t *testing.T, url, series string, min float64) {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(string(b))
	var v float64
	if m != nil {
		json.Unmarshal([]byte(m[1]), &v)
	}
	if m == nil || v < min {
		t.Errorf("%s = %v, want at least %v", series, m, min)
	}
}

// TestStaffLifecycleCLI: staff and tokens are listed (never a secret),
// tokens expire, a disabled member's token and Console session are
// refused, a removed member's tokens are revoked and their id is not
// reused, every change is in the staff audit chain, and refusals are
// counted by reason.
func TestStaffLifecycleCLI(t *testing.T) {
	dir := t.TempDir()
	mustCLI(t, "staff", "add", "--data", dir, "--id", "admin", "--roles", "admin")
	mustCLI(t, "staff", "add", "--data", dir, "--id", "alice", "--roles", "support,compliance")
	admin := strings.TrimSpace(mustCLI(t, "token", "create", "--data", dir, "--scopes", "staff,check", "--staff", "admin"))
	alice := strings.TrimSpace(mustCLI(t, "token", "create", "--data", dir, "--scopes", "staff,check", "--staff", "alice", "--ttl", "720h"))
	totpSecret := setPassword(t, dir, "alice", "correct horse battery")

	// Bad input names its field.
	for _, args := range [][]string{
		{"token", "create", "--data", dir, "--scopes", "check", "--ttl", "-5m"},
		{"token", "create", "--data", dir, "--scopes", "check", "--ttl", "0s"},
	} {
		if code, _, errw := cli(t, args...); code == 0 || !strings.Contains(errw, "invalid_argument") || !strings.Contains(errw, "ttl") {
			t.Errorf("%v: exit %d %s", args, code, errw)
		}
	}
	if code, _, errw := cli(t, "staff", "disable", "--data", dir, "--id", "nobody"); code == 0 || !strings.Contains(errw, "not_found") {
		t.Errorf("disabling an unknown member: %d %s", code, errw)
	}

	url := serveData(t, dir)
	shortMade := time.Now()
	short := strings.TrimSpace(mustCLI(t, "token", "create", "--data", dir, "--scopes", "check", "--ttl", "3s"))
	for _, tok := range []string{admin, alice, short} {
		if err := checkWith(url, tok); err != nil {
			t.Fatalf("a fresh token: %v", err)
		}
	}
	// A check-only token calling a staff procedure: wrong scope.
	if _, err := rpc.NewClients(nil, url, short).Restriction.ListApprovals(context.Background(), connect.NewRequest(&holdfastv1.ListApprovalsRequest{})); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("wrong scope: %v", err)
	}
	if err := checkWith(url, "hf_"+strings.Repeat("x", 43)); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("an unknown token: %v", err)
	}

	// Listing: ids, scopes, staff, state, dates; never a token or hash.
	if id := tokenID(t, dir, short); !strings.HasPrefix(id, "tok_") {
		t.Errorf("the newest token's id: %q", id)
	}
	out := mustCLI(t, "token", "list", "--data", dir)
	for _, tok := range []string{admin, alice, short} {
		if strings.Contains(out, tok) || strings.Contains(out, rpc.HashToken(tok)) {
			t.Fatalf("token list shows a secret or hash:\n%s", out)
		}
	}
	if !strings.Contains(out, "LAST_USED") || !strings.Contains(out, "EXPIRES") || !regexp.MustCompile(`(?m)^tok_\S+\s+staff,check\s+alice\s+active\s`).MatchString(out) {
		t.Errorf("token list:\n%s", out)
	}

	// Console session for alice, before she is disabled.
	console := consoleSignIn(t, url, "alice", "correct horse battery", totpSecret)
	if code := consoleGet(t, console, url+"/console/"); code != http.StatusOK {
		t.Fatalf("alice's Console home: %d", code)
	}

	// The short token expires: refused as expired.
	time.Sleep(time.Until(shortMade.Add(3 * time.Second)))
	if err := refusedWithin(t, "the expired token", url, short); !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired token refusal: %v", err)
	}

	// Disable alice: her Console session at once, her token within the bound.
	mustCLI(t, "staff", "disable", "--data", dir, "--id", "alice", "--reason", "left the team")
	if code := consoleGet(t, console, url+"/console/"); code != http.StatusSeeOther {
		t.Errorf("disabled alice's Console session: %d, want a redirect to sign in", code)
	}
	if err := refusedWithin(t, "disabled alice's token", url, alice); !strings.Contains(err.Error(), "disabled") {
		t.Errorf("disabled refusal: %v", err)
	}
	if c := consoleSignIn(t, url, "alice", "correct horse battery", totpSecret); c != nil {
		t.Error("disabled alice signed in to the Console")
	}
	if code, _, errw := cli(t, "token", "create", "--data", dir, "--scopes", "staff", "--staff", "alice"); code == 0 || !strings.Contains(errw, "failed_precondition") {
		t.Errorf("a token for a disabled member: %d %s", code, errw)
	}
	out = mustCLI(t, "staff", "list", "--data", dir)
	if !regexp.MustCompile(`(?m)^alice\s+support,compliance\s+disabled\s`).MatchString(out) || !regexp.MustCompile(`(?m)^admin\s+admin\s+active\s`).MatchString(out) {
		t.Errorf("staff list:\n%s", out)
	}

	// Enabled again, she is back within the bound.
	mustCLI(t, "staff", "enable", "--data", dir, "--id", "alice")
	deadline := time.Now().Add(rpc.RevocationBound + 2*time.Second)
	for checkWith(url, alice) != nil {
		if time.Now().After(deadline) {
			t.Fatal("enabled alice's token still refused")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Removed: kept for the history, tokens revoked, id not reused.
	mustCLI(t, "staff", "remove", "--data", dir, "--id", "alice", "--reason", "contract ended")
	refusedWithin(t, "removed alice's token", url, alice)
	out = mustCLI(t, "token", "list", "--data", dir)
	if !regexp.MustCompile(`(?m)^tok_\S+\s+staff,check\s+alice\s+revoked\s`).MatchString(out) {
		t.Errorf("removed alice's token is not listed revoked:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^alice\s+\S*\s*removed\s`).MatchString(mustCLI(t, "staff", "list", "--data", dir)) {
		t.Error("removed alice is not listed as removed")
	}
	for _, args := range [][]string{
		{"staff", "add", "--data", dir, "--id", "alice", "--roles", "admin"},
		{"staff", "enable", "--data", dir, "--id", "alice"},
	} {
		if code, _, errw := cli(t, args...); code == 0 || !strings.Contains(errw, "failed_precondition") {
			t.Errorf("%v on a removed member: %d %s", args, code, errw)
		}
	}

	// Every staff change is in the staff chain, which verifies.
	res, err := rpc.NewClients(nil, url, admin).Restriction.History(context.Background(), connect.NewRequest(&holdfastv1.HistoryRequest{Account: holdfast.StaffAccount}))
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range res.Msg.Entries {
		actions = append(actions, e.Action)
		if e.Action == holdfast.AuditStaffDisabled && !strings.Contains(e.GetReason(), "left the team") {
			t.Errorf("the disable entry lacks its reason: %q", e.GetReason())
		}
	}
	want := "staff_added staff_added token_created token_created staff_updated token_created staff_disabled staff_enabled staff_removed token_revoked"
	if got := strings.Join(actions, " "); got != want {
		t.Errorf("staff chain: %s, want %s", got, want)
	}
	// Nobody writes to the staff chain through the account operations.
	if _, err := rpc.NewClients(nil, url, admin).Restriction.Apply(context.Background(), connect.NewRequest(&holdfastv1.ApplyRequest{Account: holdfast.StaffAccount, Kind: "trading_halt", Reason: "x"})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("a restriction on the staff chain: %v", err)
	}
	if out := mustCLI(t, "audit", "verify", "--data", dir, "--account", holdfast.StaffAccount); !strings.Contains(out, "OK: 1 account(s), 10 entries") {
		t.Errorf("audit verify: %s", out)
	}

	for reason, min := range map[string]float64{"bad_token": 1, "expired": 1, "disabled": 1, "revoked": 1, "wrong_scope": 1} {
		metric(t, url, `holdfast_auth_rejected_total{reason="`+reason+`"}`, min)
	}
}

// setPassword sets a member's Console password and returns the
// authenticator secret the CLI shows once.
func setPassword(t *testing.T, dir, id, password string) string {
	t.Helper()
	var out, errw bytes.Buffer
	cmd := newRoot(&out, &errw)
	cmd.SetArgs([]string{"staff", "password", "--data", dir, "--id", id})
	cmd.SetIn(strings.NewReader(password + "\n"))
	cmd.SetOut(&out)
	cmd.SetErr(&errw)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("staff password: %v %s", err, errw.String())
	}
	m := regexp.MustCompile(`shown once\): (\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("staff password printed no secret: %s", out.String())
	}
	return m[1]
}

// noRedirects is a client that keeps cookies by hand and shows redirects.
type noRedirects struct {
	c      *http.Client
	cookie *http.Cookie
}

// consoleSignIn signs in with a password and a fresh TOTP code; nil
// when refused.
func consoleSignIn(t *testing.T, base, id, password, secret string) *noRedirects {
	t.Helper()
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(base+"/console/login", url.Values{"staff": {id}, "password": {password}, "code": {code}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == "hf_staff" && resp.StatusCode == http.StatusSeeOther {
			return &noRedirects{c, ck}
		}
	}
	return nil
}

func consoleGet(t *testing.T, n *noRedirects, u string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.AddCookie(n.cookie)
	resp, err := n.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestSignInLinkOnce: a Security Center sign-in link signs in once; used
// again it is refused with a page that says so, and neither the link nor
// the session cookie stands in for the other.
func TestSignInLinkOnce(t *testing.T) {
	dir := t.TempDir()
	base := serveData(t, dir)
	link := strings.TrimSpace(mustCLI(t, "dev", "holder-token", "--data", dir, "--account", "u1", "--server", base))
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string, ck *http.Cookie) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if ck != nil {
			req.AddCookie(ck)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, _ := get(link, nil)
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "hf_holder" {
			session = ck
		}
	}
	if resp.StatusCode != http.StatusSeeOther || session == nil {
		t.Fatalf("first use: %d, cookie %v; want a redirect and a session", resp.StatusCode, session)
	}
	if resp, _ := get(base+"/me/", session); resp.StatusCode != http.StatusOK {
		t.Errorf("the session the link started: %d", resp.StatusCode)
	}
	resp, body := get(link, nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "used already") || len(resp.Cookies()) != 0 {
		t.Errorf("second use: %d %v\n%s", resp.StatusCode, resp.Cookies(), body)
	}
	// The link is not a session cookie, and the session not a link.
	u, _ := url.Parse(link)
	if resp, _ := get(base+"/me/", &http.Cookie{Name: "hf_holder", Value: u.Query().Get("token")}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the link's token as a session cookie: %d", resp.StatusCode)
	}
	if resp, _ := get(base+"/me/login?token="+url.QueryEscape(session.Value), nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the session cookie as a link: %d", resp.StatusCode)
	}
}

// TestClusterRevocation: two nodes on one PostgreSQL. Tokens in use on
// both (so cached by both) are refused on both within the documented bound
// once revoked or once their staff member is disabled; a sign-in link used
// on one node is refused on the other.
func TestClusterRevocation(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	t.Setenv(holderKeyEnv, hex.EncodeToString(key))
	cl := newCluster(t, 2)
	mustCLI(t, "staff", "add", "--store", cl.dsn, "--id", "alice", "--roles", "support")
	alice := strings.TrimSpace(mustCLI(t, "token", "create", "--store", cl.dsn, "--scopes", "staff,check", "--staff", "alice"))
	gateway := strings.TrimSpace(mustCLI(t, "token", "create", "--store", cl.dsn, "--scopes", "check"))
	for _, n := range cl.nodes {
		for _, tok := range []string{alice, gateway} {
			if err := checkWith(n.url, tok); err != nil {
				t.Fatalf("%s before revoking: %v", n.url, err)
			}
		}
	}
	mustCLI(t, "token", "revoke", "--store", cl.dsn, "--id", tokenID(t, cl.dsn, gateway))
	mustCLI(t, "staff", "disable", "--store", cl.dsn, "--id", "alice")
	for _, n := range cl.nodes {
		refusedWithin(t, "the revoked token on "+n.url, n.url, gateway)
		refusedWithin(t, "disabled alice's token on "+n.url, n.url, alice)
		if err := checkWith(n.url, cl.token); err != nil {
			t.Errorf("the admin token on %s: %v", n.url, err)
		}
	}

	link := strings.TrimSpace(mustCLI(t, "dev", "holder-token", "--account", "u1", "--server", cl.nodes[0].url))
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the link on node 1: %d", resp.StatusCode)
	}
	resp, err = c.Get(strings.Replace(link, cl.nodes[0].url, cl.nodes[1].url, 1))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "used already") {
		t.Errorf("the same link on node 2: %d\n%s", resp.StatusCode, body)
	}
}

// TestRemovedAskerCannotBeApproved: a four-eyes lift asked by a member who
// is then removed cannot be completed by a colleague; the request stays in
// the history and an active member may ask again.
func TestRemovedAskerCannotBeApproved(t *testing.T) {
	url, dir := server(t)
	t.Setenv("HOLDFAST_SERVER", url)
	tokens := map[string]string{}
	for _, id := range []string{"carol", "dave", "erin"} {
		mustCLI(t, "staff", "add", "--data", dir, "--id", id, "--roles", "compliance")
		tokens[id] = strings.TrimSpace(mustCLI(t, "token", "create", "--data", dir, "--scopes", "staff", "--staff", id))
	}
	as := func(who string, args ...string) (int, string, string) {
		return cli(t, append(args, "--token", tokens[who])...)
	}
	if code, _, errw := as("carol", "apply", "--account", "acct-1", "--kind", "full_restriction", "--reason", "aml"); code != 0 {
		t.Fatal(errw)
	}
	code, out, _ := as("carol", "lift", "--account", "acct-1", "--kind", "full_restriction", "--json")
	var res struct {
		Pending struct{ ID string } `json:"pending"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Pending.ID == "" {
		t.Fatalf("lift: %d %s", code, out)
	}
	mustCLI(t, "staff", "remove", "--data", dir, "--id", "carol")
	code, _, errw := as("dave", "approve", "--request", res.Pending.ID)
	if code != 1 || !strings.HasPrefix(errw, "error: failed_precondition: ") || !strings.Contains(errw, "staff:carol") {
		t.Fatalf("approving a removed member's request: %d %s", code, errw)
	}
	if code, out, _ := as("dave", "history", "--account", "acct-1", "--json"); code != 0 || !strings.Contains(out, `"actor": "staff:carol"`) {
		t.Errorf("the removed member's actions left the history: %s", out)
	}
	// Erin asks again; Dave approves.
	code, out, _ = as("erin", "lift", "--account", "acct-1", "--kind", "full_restriction", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Pending.ID == "" {
		t.Fatalf("lift again: %d %s", code, out)
	}
	if code, out, errw := as("dave", "approve", "--request", res.Pending.ID); code != 0 || !strings.Contains(out, "lifted") {
		t.Fatalf("approve: %d %s %s", code, out, errw)
	}
}

// TestRevokedTokenEndsStream: a CheckStream opened before its token was
// revoked is ended (unauthenticated) within the documented bound, not
// served for as long as it stays open.
func TestRevokedTokenEndsStream(t *testing.T) {
	dir := t.TempDir()
	mustCLI(t, "migrate", "--data", dir)
	tok := strings.TrimSpace(mustCLI(t, "token", "create", "--data", dir, "--scopes", "check"))
	url := serveData(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := rpc.NewClients(rpc.H2CClient(), url, tok).Decision.CheckStream(ctx)
	defer st.CloseResponse()
	batch := &holdfastv1.CheckStreamRequest{Checks: []*holdfastv1.CheckRequest{{Account: "u1", Action: "trade"}}}
	ask := func() error {
		if err := st.Send(batch); err != nil {
			_, err = st.Receive() // the server's reason
			return err
		}
		_, err := st.Receive()
		return err
	}
	if err := ask(); err != nil {
		t.Fatalf("the stream before revoking: %v", err)
	}
	mustCLI(t, "token", "revoke", "--data", dir, "--id", tokenID(t, dir, tok))
	limit := rpc.RevocationBound + 2*time.Second
	start := time.Now()
	for {
		err := ask()
		if connect.CodeOf(err) == connect.CodeUnauthenticated {
			break
		}
		if err != nil {
			t.Fatalf("the stream after revoking: %v, want unauthenticated", err)
		}
		if time.Since(start) > limit {
			t.Fatalf("the stream still answers %s after the revocation (bound %s)", time.Since(start).Round(time.Millisecond), rpc.RevocationBound)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestTokenChangesAuditedCLI: creating and revoking tokens, directly and
// through a running server's socket, and the revocations a removal makes,
// are entries in the staff chain naming the token (id, scopes, staff
// member, expiry) and who ran the command, never the token or its hash;
// the chain verifies.
func TestTokenChangesAuditedCLI(t *testing.T) {
	dir := t.TempDir()
	mustCLI(t, "staff", "add", "--data", dir, "--id", "admin", "--roles", "admin")
	mustCLI(t, "staff", "add", "--data", dir, "--id", "bob", "--roles", "support")
	admin := strings.TrimSpace(mustCLI(t, "token", "create", "--data", dir, "--scopes", "staff", "--staff", "admin", "--reason", "bootstrap"))
	bob := strings.TrimSpace(mustCLI(t, "token", "create", "--data", dir, "--scopes", "staff,check", "--staff", "bob"))
	bobID := tokenID(t, dir, bob)
	url := serveData(t, dir)
	// Beside the running server: these run in it, through its socket.
	svc := strings.TrimSpace(mustCLI(t, "token", "create", "--data", dir, "--scopes", "check", "--ttl", "720h", "--reason", "payments service"))
	svcID := tokenID(t, dir, svc)
	mustCLI(t, "token", "revoke", "--data", dir, "--id", svcID, "--reason", "rotated")
	if code, _, errw := cli(t, "token", "revoke", "--data", dir, "--id", svcID); code == 0 || !strings.Contains(errw, "failed_precondition") {
		t.Errorf("revoking twice: %d %s", code, errw)
	}
	mustCLI(t, "staff", "remove", "--data", dir, "--id", "bob", "--reason", "left")

	out := mustCLI(t, "history", "--server", url, "--token", admin, "--account", holdfast.StaffAccount, "--json")
	for _, secret := range []string{admin, bob, svc} {
		if strings.Contains(out, secret) || strings.Contains(out, rpc.HashToken(secret)) {
			t.Fatalf("the staff chain holds a token or its hash:\n%s", out)
		}
	}
	var res struct {
		Entries []struct {
			Actor, Action, Reason string
			Before, After         map[string]any
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("history --json: %v\n%s", err, out)
	}
	var got []string
	for _, e := range res.Entries {
		if e.Actor != "system" || !strings.Contains(e.Reason, "holdfast CLI, run by ") {
			t.Errorf("%s: actor %q, reason %q: want system and the OS user", e.Action, e.Actor, e.Reason)
		}
		if _, ok := e.After["hash"]; ok {
			t.Errorf("%s: the entry has a hash field: %v", e.Action, e.After)
		}
		if strings.HasPrefix(e.Action, "token_") {
			got = append(got, fmt.Sprintf("%s %v %v %v %t %t", e.Action, e.After["id"], e.After["scopes"], e.After["staff"], e.After["expires_at"] != nil, e.After["revoked_at"] != nil))
		}
		forwarded := strings.Contains(e.Reason, "through the server's local socket")
		if after := e.After["id"]; after == svcID && !forwarded || after == bobID && (e.Action == "token_created") == forwarded {
			t.Errorf("%s of %v: reason %q does not say how the command came", e.Action, after, e.Reason)
		}
	}
	want := []string{
		"token_created " + fmt.Sprint(tokenIDs(t, dir)[0]) + " [staff] admin false false",
		"token_created " + bobID + " [staff check] bob false false",
		"token_created " + svcID + " [check] <nil> true false",
		"token_revoked " + svcID + " [check] <nil> true true",
		"token_revoked " + bobID + " [staff check] bob false true",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("token entries:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if out := mustCLI(t, "history", "--server", url, "--token", admin, "--account", holdfast.StaffAccount); !strings.Contains(out, "rotated") || !strings.Contains(out, "payments service") || !strings.Contains(out, "removal of staff member bob") {
		t.Errorf("history's reasons:\n%s", out)
	}
	if out := mustCLI(t, "audit", "verify", "--data", dir, "--account", holdfast.StaffAccount); !strings.Contains(out, "OK: 1 account(s), 8 entries") {
		t.Errorf("audit verify: %s", out)
	}
}

// tokenIDs lists the tokens' ids, oldest first.
func tokenIDs(t *testing.T, dir string) []string {
	t.Helper()
	var ts []struct{ ID string }
	if err := json.Unmarshal([]byte(mustCLI(t, "token", "list", "--data", dir, "--json")), &ts); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(ts))
	for i, tk := range ts {
		ids[i] = tk.ID
	}
	return ids
}
