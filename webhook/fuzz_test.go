package webhook_test

import (
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/webhook"
)

// FuzzVerify: no header or body makes verification panic, and only the
// right signature over the exact body passes.
func FuzzVerify(f *testing.F) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_900_000_000, 0)
	body := []byte(`{"id":"cmd_1","type":"restriction_applied"}`)
	f.Add("1900000000", webhook.Sign(secret, now.Unix(), body), body)
	f.Add("1900000000", "v1=00", body)
	f.Add("", "", []byte{})
	f.Add("-1", "v1=,v1=zz", []byte("x"))
	f.Fuzz(func(t *testing.T, ts, sig string, b []byte) {
		err := webhook.Verify(secret, ts, sig, b, now, 5*time.Minute)
		want := webhook.Sign(secret, now.Unix(), b)
		if err == nil && ts == "1900000000" {
			// A multi-value header may carry the right one among others;
			// hex is read in either case.
			found := false
			for _, part := range strings.Split(sig, ",") {
				found = found || strings.EqualFold(strings.TrimSpace(part), want)
			}
			if !found {
				t.Fatalf("a wrong signature %q verified", sig)
			}
		}
	})
}
