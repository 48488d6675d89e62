package storetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// An emergency code takes at most max attempts, even when they race; it
// is used once; expired or unknown codes are gone.
func testEmergencyCodes(t *testing.T, h *harness) {
	c := &holdfast.EmergencyCode{ID: "em1", Account: "a1", Hash: "h1", CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
	if err := h.s.PutEmergencyCode(h.ctx, c, t0); err != nil {
		t.Fatal(err)
	}
	got, err := h.s.AttemptEmergencyCode(h.ctx, "em1", t0.Add(time.Minute), 5)
	if err != nil {
		t.Fatal(err)
	}
	if got.Account != "a1" || got.Hash != "h1" || got.Attempts != 1 || !got.ExpiresAt.Equal(c.ExpiresAt) || !got.CreatedAt.Equal(t0) {
		t.Errorf("first attempt = %+v", got)
	}
	// Racing attempts: four are left, and exactly four count.
	var counted atomic.Int32
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			_, err := h.s.AttemptEmergencyCode(h.ctx, "em1", t0.Add(time.Minute), 5)
			switch holdfast.ErrorCode(err) {
			case "":
				counted.Add(1)
			case holdfast.ResourceExhausted:
			default:
				t.Errorf("racing attempt: %v", err)
			}
		})
	}
	wg.Wait()
	if counted.Load() != 4 {
		t.Errorf("%d racing attempts counted, want 4", counted.Load())
	}
	_, err = h.s.AttemptEmergencyCode(h.ctx, "em1", t0.Add(time.Minute), 5)
	wantCode(t, "an attempt past the limit", err, holdfast.ResourceExhausted, "code")

	// Used once; a used code takes no attempt.
	c2 := &holdfast.EmergencyCode{ID: "em2", Account: "a1", Hash: "h2", CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
	if err := h.s.PutEmergencyCode(h.ctx, c2, t0); err != nil {
		t.Fatal(err)
	}
	if err := h.s.UseEmergencyCode(h.ctx, "em2", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "a second use", h.s.UseEmergencyCode(h.ctx, "em2", t0.Add(time.Minute)), holdfast.FailedPrecondition, "code")
	_, err = h.s.AttemptEmergencyCode(h.ctx, "em2", t0.Add(time.Minute), 5)
	wantCode(t, "an attempt at a used code", err, holdfast.NotFound, "code")

	// Expired and unknown codes are gone; a later put forgets expired ones.
	_, err = h.s.AttemptEmergencyCode(h.ctx, "em1", t0.Add(10*time.Minute), 5)
	wantCode(t, "an attempt at an expired code", err, holdfast.NotFound, "code")
	_, err = h.s.AttemptEmergencyCode(h.ctx, "nothing", t0, 5)
	wantCode(t, "an attempt at an unknown code", err, holdfast.NotFound, "code")
	c3 := &holdfast.EmergencyCode{ID: "em3", Account: "a2", Hash: "h3", CreatedAt: t0.Add(time.Hour), ExpiresAt: t0.Add(time.Hour + 10*time.Minute)}
	if err := h.s.PutEmergencyCode(h.ctx, c3, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := h.s.PutEmergencyCode(h.ctx, c3, t0.Add(time.Hour)); err == nil {
		t.Error("a second code with the same id was stored")
	}
}

// A rate limit allows max requests per window, counted across racing
// callers, and starts again once the window has passed.
func testRateLimits(t *testing.T, h *harness) {
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			ok, err := h.s.TakeLimit(h.ctx, "k1", t0, time.Hour, 5)
			if err != nil {
				t.Error(err)
			}
			if ok {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 5 {
		t.Errorf("%d of 12 racing requests allowed, want 5", allowed.Load())
	}
	if ok, err := h.s.TakeLimit(h.ctx, "k2", t0.Add(time.Minute), time.Hour, 5); err != nil || !ok {
		t.Errorf("another key: %v, %v", ok, err)
	}
	if ok, _ := h.s.TakeLimit(h.ctx, "k1", t0.Add(59*time.Minute), time.Hour, 5); ok {
		t.Error("a request inside the window was allowed past the limit")
	}
	// The window is the first request's: an hour on, it starts again.
	for i := range 5 {
		if ok, err := h.s.TakeLimit(h.ctx, "k1", t0.Add(time.Hour), time.Hour, 5); err != nil || !ok {
			t.Fatalf("request %d of a new window: %v, %v", i+1, ok, err)
		}
	}
	if ok, _ := h.s.TakeLimit(h.ctx, "k1", t0.Add(time.Hour+time.Minute), time.Hour, 5); ok {
		t.Error("the new window allowed a sixth request")
	}
}
