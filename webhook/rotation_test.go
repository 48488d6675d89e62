package webhook_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/holdfast/holdfast/webhook"
)

// TestRotationSignsWithBothSecrets: during a rotation each request carries
// a signature under the new secret and one under the old, so receivers on
// either accept it, and receivers on neither do not.
func TestRotationSignsWithBothSecrets(t *testing.T) {
	oldSecret, newSecret, other := []byte("old-secret-0123456789"), []byte("new-secret-0123456789"), []byte("other-secret-0123456789")
	results := map[string]error{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		for name, s := range map[string][]byte{"old": oldSecret, "new": newSecret, "other": other} {
			results[name] = webhook.Verify(s, r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature), body, time.Now(), 5*time.Minute)
		}
	}))
	defer srv.Close()
	p, err := webhook.NewPoster(srv.URL, newSecret, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, err = p.WithPrevious(oldSecret); err != nil {
		t.Fatal(err)
	}
	if err := p.Post(context.Background(), "cmd_1", []byte(`{"id":"cmd_1"}`)); err != nil {
		t.Fatal(err)
	}
	if results["old"] != nil || results["new"] != nil {
		t.Errorf("a receiver on either secret must accept: old %v, new %v", results["old"], results["new"])
	}
	if results["other"] == nil {
		t.Error("a receiver on another secret accepted")
	}
}
