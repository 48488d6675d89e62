package backtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/policy"
)

// synthetic returns n events over 1,000 accounts, one a second.
func synthetic(n int) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	f := func(v float64) *float64 { return &v }
	for i := range n {
		ev := holdfast.Event{ID: fmt.Sprintf("e-%d", i), Account: fmt.Sprintf("acct-%d", i%1000), At: t0.Add(time.Duration(i) * time.Second)}
		switch i % 4 {
		case 0:
			ev.Type, ev.Device, ev.Country = holdfast.EventLogin, fmt.Sprintf("d%d", i%3), "DE"
		case 1:
			ev.Type, ev.Amount, ev.USDValue = holdfast.EventDeposit, "250", fmt.Sprint(100+i%7000)
		case 2:
			ev.Type, ev.OrdersPerMinute = holdfast.EventAPIActivity, f(float64(i%120))
		default:
			ev.Type, ev.Asset, ev.Amount = holdfast.EventWithdrawalRequested, "USDT", "100"
		}
		_ = enc.Encode(ev)
	}
	return buf.Bytes()
}

// BenchmarkRun replays 4,000 synthetic events through the default policy
// twice (as candidate and baseline); events/s counts file lines.
//
//	go test -run '^$' -bench BenchmarkRun -benchtime 3x ./backtest/
func BenchmarkRun(b *testing.B) {
	data := synthetic(4000)
	cand := policy.Default()
	for b.Loop() {
		rep, err := Run(context.Background(), bytes.NewReader(data), cand, nil)
		if err != nil || rep.Events != 4000 {
			b.Fatal(err, rep)
		}
	}
	b.ReportMetric(float64(4000*b.N)/b.Elapsed().Seconds(), "events/s")
}
