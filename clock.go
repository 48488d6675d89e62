package holdfast

import "time"

// Clock tells the time. It is injected everywhere so that a scenario can run
// a week in a millisecond; nothing in Holdfast reads the wall clock directly.
type Clock interface {
	Now() time.Time
}

// WallClock is the real clock, in UTC.
type WallClock struct{}

// Now returns the current UTC time.
func (WallClock) Now() time.Time { return time.Now().UTC() }
