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

// MaxDuration is the longest span anyone may write: 100 years. With the
// time range below it keeps every end Holdfast computes storable.
const MaxDuration = Duration(36500 * Day)

// The times Holdfast takes and keeps: stores and the decision index hold
// instants as int64 Unix nanoseconds (years 1678 to 2262), so a time given
// in a request (an event's at, an extension's until) or computed from one
// (a restriction's end) must fall in [MinTime, MaxTime].
var (
	MinTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// CheckTime reports a time outside [MinTime, MaxTime] as invalid_argument
// on field. The zero time means "not given" and passes.
func CheckTime(field string, t time.Time) error {
	if !t.IsZero() && (t.Before(MinTime) || t.After(MaxTime)) {
		return Errorf(InvalidArgument, field, "%s %s is outside the times Holdfast takes (%s to %s)",
			field, t.UTC().Format(time.RFC3339), MinTime.Format("2006-01-02"), MaxTime.Format("2006-01-02"))
	}
	return nil
}

// ParseDuration parses "7d", "2d3h", "90m", "permanent".
func ParseDuration(s string) (Duration, error) {
	d, err := ParseDurationField("duration", s)
	if e, ok := err.(*Error); ok {
		e.Field = ""
	}
	return d, err
}

// ParseDurationField parses the request field named field as a duration no
// longer than MaxDuration; errors are invalid_argument on field.
func ParseDurationField(field, s string) (Duration, error) {
	if s == "permanent" {
		return Permanent, nil
	}
	invalid := Errorf(InvalidArgument, field, "invalid %s %q (write e.g. 90s, 36h, 7d, 2d3h or permanent)", field, s)
	tooLong := Errorf(InvalidArgument, field, "%s %q is longer than %s (100 years), the longest Holdfast takes", field, s, MaxDuration)
	var days int64
	rest := s
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		switch {
		case n > int64(MaxDuration/Duration(Day)): // the largest int64 on overflow
			return 0, tooLong
		case err != nil || n < 0:
			return 0, invalid
		}
		days, rest = n, s[i+1:]
	}
	var d time.Duration
	if rest != "" {
		var err error
		// Hours beyond time.Duration's 292 years are a parse error too.
		if d, err = time.ParseDuration(rest); err != nil || d < 0 {
			return 0, invalid
		}
	}
	if days == 0 && rest == "" {
		return 0, invalid
	}
	// Neither part exceeds MaxDuration here, so the sum cannot overflow.
	if d > time.Duration(MaxDuration) {
		return 0, tooLong
	}
	total := Duration(time.Duration(days)*Day + d)
	if total > MaxDuration {
		return 0, tooLong
	}
	return total, nil
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
