package rpc

import (
	"context"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/sqlite"
)

// BenchmarkAuthenticateCached is a repeated token's cost per call: the
// cache hit every Check pays.
func BenchmarkAuthenticateCached(b *testing.B) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	secret, tok, err := NewToken([]holdfast.Scope{holdfast.ScopeCheck}, "", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if err := db.PutToken(ctx, tok); err != nil {
		b.Fatal(err)
	}
	a := newAuthenticator(db, TokenRates{})
	a.ttl = time.Hour
	header := "Bearer " + secret
	if _, err := a.authenticate(ctx, header); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.authenticate(ctx, header); err != nil {
			b.Fatal(err)
		}
	}
}
