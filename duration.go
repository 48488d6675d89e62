package holdfast

import (
	"strconv"
	"strings"
	"time"
)

// Duration is a span as people write it: Go's syntax plus "d" for days
// ("90s", "36h", "7d", "2d3h"), or "permanent". The zero value means "not
// given".
type Duration time.Duration

// Permanent is the duration of a restriction that never ends by time.
const Permanent Duration = -1

// Day is 24 hours, the unit docs/design.md writes most durations in.
const Day = 24 * time.Hour

// ParseDuration parses "7d", "2d3h", "90m", "permanent".
func ParseDuration(s string) (Duration, error) {
	if s == "permanent" {
		return Permanent, nil
	}
	var days int64
	rest := s
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseInt(s[:i], 10, 32)
		if err != nil || n < 0 {
			return 0, Errorf(InvalidArgument, "", "invalid duration %q", s)
		}
		days, rest = n, s[i+1:]
	}
	var d time.Duration
	if rest != "" {
		var err error
		if d, err = time.ParseDuration(rest); err != nil || d < 0 {
			return 0, Errorf(InvalidArgument, "", "invalid duration %q (write e.g. 90s, 36h, 7d, 2d3h or permanent)", s)
		}
	}
	if days == 0 && rest == "" {
		return 0, Errorf(InvalidArgument, "", "invalid duration %q", s)
	}
	return Duration(time.Duration(days)*Day + d), nil
}

// String formats d the way ParseDuration reads it, preferring whole days.
func (d Duration) String() string {
	switch {
	case d == Permanent:
		return "permanent"
	case d == 0:
		return ""
	}
	td := time.Duration(d)
	days := td / Day
	rest := td % Day
	var b strings.Builder
	if days > 0 {
		b.WriteString(strconv.FormatInt(int64(days), 10))
		b.WriteByte('d')
	}
	if rest > 0 || days == 0 {
		b.WriteString(formatClock(rest))
	}
	return b.String()
}

// Std returns d as a time.Duration (meaningless for Permanent).
func (d Duration) Std() time.Duration { return time.Duration(d) }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// formatClock writes a sub-day span as time.Duration does but without empty
// trailing units: 2h rather than 2h0m0s, 1m30s, 90ms.
func formatClock(d time.Duration) string {
	if d < time.Second {
		return d.String()
	}
	var b strings.Builder
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}} {
		if n := d / u.unit; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteString(u.name)
			d -= n * u.unit
		}
	}
	if d > 0 {
		b.WriteString(d.String())
	}
	return b.String()
}
