package web_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/internal/servicetest"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/postgres"
	"github.com/holdfast/holdfast/web"
)

// pgNode is one Holdfast node's pages: its own store handle (its own
// connection pool) and engine, on a PostgreSQL schema other nodes share.
type pgNode struct {
	url string
	db  *postgres.DB
}

// pgSchema makes an empty schema on the test server, dropped at the end,
// and returns a DSN whose connections use it; it skips loudly without
// PostgreSQL.
func pgSchema(t *testing.T) string {
	t.Helper()
	dsn := servicetest.Postgres(t)
	b := make([]byte, 8)
	rand.Read(b)
	name := pgx.Identifier{"holdfast_web_" + hex.EncodeToString(b)}.Sanitize()
	admin := func(q string) {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	admin(`CREATE SCHEMA ` + name)
	t.Cleanup(func() { admin(`DROP SCHEMA ` + name + ` CASCADE`) })
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name[1:len(name)-1])
	u.RawQuery = q.Encode()
	return u.String()
}

func newPGNode(t *testing.T, dsn string) *pgNode {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	pages, err := web.New(web.Config{Engine: eng, Staff: db, HolderKey: testKey, SessionKey: testKey, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(pages)
	t.Cleanup(srv.Close)
	return &pgNode{url: srv.URL, db: db}
}

// withCookie requests u with only the cookie name=value (redirects not
// followed) and returns the status and the cookies set.
func withCookie(t *testing.T, method, u, name, value string) (int, []*http.Cookie) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	req.AddCookie(&http.Cookie{Name: name, Value: value})
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Cookies()
}

// holderCookieAt follows a fresh sign-in link for account on base and
// returns the session cookie it set.
func holderCookieAt(t *testing.T, base, account string) string {
	t.Helper()
	tok, err := web.MintHolderToken(testKey, account, 10*time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, cookies := withCookie(t, http.MethodGet, base+"/me/login?token="+tok, "none", "")
	for _, c := range cookies {
		if c.Name == "hf_holder" {
			return c.Value
		}
	}
	t.Fatalf("no session from the link on %s", base)
	return ""
}

// TestSessionsSharedOnPostgres: two nodes' pages on one PostgreSQL agree
// on every session. A session started on one works on the other and,
// signed out on the other, is refused on the first; a Console code used
// on one is refused on the other; securing the account on one ends its
// Security Center sessions on both.
func TestSessionsSharedOnPostgres(t *testing.T) {
	dsn := pgSchema(t)
	one, two := newPGNode(t, dsn), newPGNode(t, dsn)

	holder := holderCookieAt(t, one.url, "u1")
	if st, _ := withCookie(t, http.MethodGet, two.url+"/me/", "hf_holder", holder); st != http.StatusOK {
		t.Fatalf("a session from node 1 on node 2: %d", st)
	}
	if st, _ := withCookie(t, http.MethodPost, two.url+"/me/logout", "hf_holder", holder); st != http.StatusSeeOther {
		t.Fatalf("sign-out on node 2: %d", st)
	}
	if st, _ := withCookie(t, http.MethodGet, one.url+"/me/", "hf_holder", holder); st != http.StatusUnauthorized {
		t.Errorf("a session signed out on node 2, on node 1: %d, want 401", st)
	}

	hash, _ := web.HashPassword("correct horse fay")
	secret, _, _ := web.NewTOTPSecret("fay")
	if err := one.db.PutStaff(context.Background(), &holdfast.StaffMember{ID: "fay", Roles: []holdfast.Role{holdfast.RoleSupport}, CreatedAt: time.Now(), PasswordHash: hash, TOTPSecret: secret}); err != nil {
		t.Fatal(err)
	}
	fay := staffLogin{id: "fay", password: "correct horse fay", secret: secret}
	code := totpCode(t, secret)
	c, st := consoleLogin(t, one.url, fay, code)
	if st != http.StatusSeeOther {
		t.Fatalf("Console sign-in on node 1: %d", st)
	}
	if _, st := consoleLogin(t, two.url, fay, code); st != http.StatusUnauthorized {
		t.Errorf("the same code on node 2: %d, want 401", st)
	}
	u1, _ := url.Parse(one.url + "/console/")
	var staff string
	for _, ck := range c.Jar.Cookies(u1) {
		if ck.Name == "hf_staff" {
			staff = ck.Value
		}
	}
	if st, _ := withCookie(t, http.MethodGet, two.url+"/console/", "hf_staff", staff); st != http.StatusOK {
		t.Fatalf("a Console session from node 1 on node 2: %d", st)
	}
	if st, _ := withCookie(t, http.MethodPost, two.url+"/console/logout", "hf_staff", staff); st != http.StatusSeeOther {
		t.Fatalf("Console sign-out on node 2: %d", st)
	}
	if st := status(t, c, one.url+"/console/"); st != http.StatusSeeOther {
		t.Errorf("a Console session signed out on node 2, on node 1: %d, want a redirect to sign in", st)
	}

	// Secure my account, pressed on node 2, ends the session on node 1.
	attacker := holderCookieAt(t, one.url, "u2")
	jar, _ := cookiejar.New(nil)
	presser := &http.Client{Jar: jar, CheckRedirect: noRedirects.CheckRedirect}
	tok, _ := web.MintHolderToken(testKey, "u2", 10*time.Minute, time.Now())
	if st := status(t, presser, two.url+"/me/login?token="+tok); st != http.StatusSeeOther {
		t.Fatalf("holder sign-in on node 2: %d", st)
	}
	resp, err := presser.PostForm(two.url+"/me/secure", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("secure my account on node 2: %d", resp.StatusCode)
	}
	if st, _ := withCookie(t, http.MethodGet, one.url+"/me/", "hf_holder", attacker); st != http.StatusUnauthorized {
		t.Errorf("a session on node 1 after securing the account on node 2: %d, want 401", st)
	}
	if st := status(t, presser, two.url+"/me/"); st != http.StatusOK {
		t.Errorf("the browser that secured the account: %d", st)
	}
}
