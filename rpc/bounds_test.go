package rpc_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
)

// TestTimeBounds: times and durations beyond what Holdfast can keep are
// invalid_argument naming the field, never an internal error (or a
// duration that overflows into "must be positive"), and change nothing.
func TestTimeBounds(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ingest := func(ev *holdfastv1.Event) error {
		_, err := e.as("events").Event.Ingest(ctx, connect.NewRequest(&holdfastv1.IngestRequest{Event: ev}))
		return err
	}
	apply := func(account, d string) (*holdfastv1.Restriction, error) {
		res, err := e.as("admin").Restriction.Apply(ctx, connect.NewRequest(&holdfastv1.ApplyRequest{Account: account, Kind: "reduce_only", Duration: d, Reason: "test"}))
		if err != nil {
			return nil, err
		}
		return res.Msg.Restriction, nil
	}
	extend := func(by string, until *timestamppb.Timestamp) error {
		_, err := e.as("admin").Restriction.Extend(ctx, connect.NewRequest(&holdfastv1.ExtendRequest{Account: "acct-long", Kind: "reduce_only", By: by, Until: until}))
		return err
	}
	long, err := apply("acct-long", "36500d")
	if err != nil {
		t.Fatalf("100 years: %v", err)
	}
	day := func(y int) *timestamppb.Timestamp { return timestamppb.New(time.Date(y, 12, 31, 0, 0, 0, 0, time.UTC)) }
	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"event at 9999-12-31", func() error { return ingest(&holdfastv1.Event{Type: "login", Account: "acct-t", At: day(9999)}) }, "at"},
		{"event at 1900", func() error { return ingest(&holdfastv1.Event{Type: "login", Account: "acct-t", At: day(1900)}) }, "at"},
		{"notice period 100000d", func() error {
			return ingest(&holdfastv1.Event{Type: "sanctions_match", Account: "acct-t", NoticePeriod: "100000d"})
		}, "notice_period"},
		{"apply 100000d", func() error { _, err := apply("acct-t", "100000d"); return err }, "duration"},
		{"apply 90000d", func() error { _, err := apply("acct-t", "90000d"); return err }, "duration"},
		{"apply 200000d", func() error { _, err := apply("acct-t", "200000d"); return err }, "duration"},
		{"apply 99999999999999999999d", func() error { _, err := apply("acct-t", "99999999999999999999d"); return err }, "duration"},
		{"apply 36500d1h", func() error { _, err := apply("acct-t", "36500d1h"); return err }, "duration"},
		{"extend by 90000d", func() error { return extend("90000d", nil) }, "by"},
		{"extend by 200000d", func() error { return extend("200000d", nil) }, "by"},
		{"extend by 100 years past 2200", func() error { return extend("36500d", nil) }, "by"},
		{"extend until 9999-12-31", func() error { return extend("", day(9999)) }, "until"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			wantErr(t, err, holdfast.InvalidArgument, tt.field)
			if _, _, msg := rpc.ErrorInfo(err); strings.Contains(msg, "positive") {
				t.Fatalf("an overflow shows as %q", msg)
			}
		})
	}
	if n := e.history("acct-t"); n != 0 {
		t.Fatalf("refused requests left %d audit entries", n)
	}
	got, err := e.as("admin").Restriction.Get(ctx, connect.NewRequest(&holdfastv1.GetRequest{Restriction: long.Id}))
	if err != nil || !got.Msg.Restriction.EndsAt.AsTime().Equal(long.EndsAt.AsTime()) {
		t.Fatalf("the 100-year restriction after refused extensions: %v %v, want it to end at %v", got, err, long.EndsAt.AsTime())
	}
}
