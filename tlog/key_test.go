package tlog_test

import (
	"testing"

	"github.com/holdfast/holdfast/tlog"
)

// TestNewSignerReadsEveryKey: a signing key's base64 part may hold '+',
// the field separator; NewSigner must still derive the key's verifier.
func TestNewSignerReadsEveryKey(t *testing.T) {
	for i := range 200 {
		skey, vkey, err := tlog.GenerateKey("holdfast.test")
		if err != nil {
			t.Fatal(err)
		}
		_, got, err := tlog.NewSigner(skey)
		if err != nil || got != vkey {
			t.Fatalf("key %d (%s): NewSigner gave %q, %v; want %q", i, skey, got, err, vkey)
		}
	}
}
