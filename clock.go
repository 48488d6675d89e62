package holdfast

import (
	"sync/atomic"
	"time"
)

// Clock tells the time. It is injected everywhere so that a scenario can run
// a week in a millisecond; nothing in Holdfast reads the wall clock directly.
type Clock interface {
	Now() time.Time
}

// WallClock is the real clock, in UTC.
type WallClock struct{}

// Now returns the current UTC time.
func (WallClock) Now() time.Time { return time.Now().UTC() }

// CoarseClock is the wall clock read from memory, refreshed by a background
// goroutine every resolution. Reading the system clock costs up to a third
// of an in-memory check on some virtual machines; decisions do not need
// finer time than a millisecond, since restrictions start and end on
// human time scales.
type CoarseClock struct {
	nanos atomic.Int64
	stop  chan struct{}
	done  chan struct{}
}

// NewCoarseClock starts a clock refreshed every resolution. Stop it when
// done.
func NewCoarseClock(resolution time.Duration) *CoarseClock {
	c := &CoarseClock{stop: make(chan struct{}), done: make(chan struct{})}
	c.nanos.Store(time.Now().UnixNano())
	go func() {
		defer close(c.done)
		t := time.NewTicker(resolution)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case now := <-t.C:
				c.nanos.Store(now.UnixNano())
			}
		}
	}()
	return c
}

// Now returns the last reading, in UTC.
func (c *CoarseClock) Now() time.Time { return time.Unix(0, c.nanos.Load()).UTC() }

// Stop ends the refresh goroutine.
func (c *CoarseClock) Stop() {
	close(c.stop)
	<-c.done
}
