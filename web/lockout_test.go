package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/sqlite"
	"github.com/holdfast/holdfast/web"
)

// TestSignInLockout: twenty parallel wrong guesses for one staff id get at
// most five real tries; after them even the right password and code are
// refused until the window passes.
func TestSignInLockout(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := web.HashPassword("correct horse battery")
	secret, _, _ := web.NewTOTPSecret("bob")
	if err := db.PutStaff(ctx, &holdfast.StaffMember{ID: "bob", Roles: []holdfast.Role{holdfast.RoleSupport}, PasswordHash: hash, TOTPSecret: secret}); err != nil {
		t.Fatal(err)
	}
	pages, err := web.New(web.Config{Engine: eng, Staff: db, HolderKey: testKey, SessionKey: testKey, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(pages)
	defer srv.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(password, code string) int {
		resp, err := noRedirect.PostForm(srv.URL+"/console/login", url.Values{"staff": {"bob"}, "password": {password}, "code": {code}})
		if err != nil {
			t.Error(err)
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			code := post("guess", "000000")
			mu.Lock()
			counts[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if counts[http.StatusUnauthorized] != 5 || counts[http.StatusTooManyRequests] != 15 {
		t.Errorf("20 parallel guesses: %v, want 5 refused and 15 locked out", counts)
	}
	good, _ := totp.GenerateCode(secret, time.Now())
	if got := post("correct horse battery", good); got != http.StatusTooManyRequests {
		t.Errorf("the right password during the lockout: %d, want 429", got)
	}
}
