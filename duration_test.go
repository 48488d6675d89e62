package holdfast

import (
	"strings"
	"testing"
	"time"
)

func TestDurationRoundTrip(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"90s", 90 * time.Second, "1m30s"},
		{"30s", 30 * time.Second, "30s"},
		{"10s", 10 * time.Second, "10s"},
		{"36h", 36 * time.Hour, "1d12h"},
		{"7d", 7 * Day, "7d"},
		{"2d3h", 2*Day + 3*time.Hour, "2d3h"},
		{"72h", 72 * time.Hour, "3d"},
		{"1h30m", 90 * time.Minute, "1h30m"},
		{"1h0m5s", time.Hour + 5*time.Second, "1h5s"},
		{"0s", 0, ""},
		{"250ms", 250 * time.Millisecond, "250ms"},
	}
	for _, c := range cases {
		d, err := ParseDuration(c.in)
		if err != nil || d.Std() != c.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", c.in, d, err, c.want)
			continue
		}
		if got := d.String(); got != c.out {
			t.Errorf("%q prints as %q, want %q", c.in, got, c.out)
		}
		if c.out == "" {
			continue
		}
		back, err := ParseDuration(d.String())
		if err != nil || back != d {
			t.Errorf("%q does not read back: %v %v", d.String(), back, err)
		}
	}
	for _, bad := range []string{"", "d", "3 days", "-1h", "1x", "d5h", "permanently"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
	// Beyond 100 years is too long, however it is written, and never
	// overflows into a negative or small duration.
	if d, err := ParseDuration("36500d"); err != nil || d != MaxDuration {
		t.Errorf("36500d: %v %v", d, err)
	}
	for _, long := range []string{"36501d", "36500d1ns", "100000d", "200000d", "99999999999999999999d", "876601h", "36500d2562047h"} {
		if d, err := ParseDurationField("by", long); err == nil || ErrorField(err) != "by" || !strings.Contains(err.Error(), "longer than 36500d") && !strings.Contains(err.Error(), "invalid by") {
			t.Errorf("ParseDurationField(by, %q) = %v, %v; want invalid_argument on by", long, d, err)
		}
	}
	if p, err := ParseDuration("permanent"); err != nil || p != Permanent || p.String() != "permanent" {
		t.Errorf("permanent: %v %v", p, err)
	}
}
