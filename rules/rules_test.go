package rules_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/rules"
)

func f(v float64) *float64 { return &v }

// TestMatchDefaultBoundaries checks the default triggers at their
// thresholds, on the rules alone (no store, no engine).
func TestMatchDefaultBoundaries(t *testing.T) {
	p := policy.Default()
	acct := &holdfast.Account{ID: "u1", KnownDevices: []string{"d1"}, KnownCountries: []string{"DE"}}
	cases := []struct {
		name  string
		ev    holdfast.Event
		feats holdfast.Features
		want  []string
	}{
		{"known device", holdfast.Event{Type: holdfast.EventLogin, Device: "d1", Country: "DE"}, holdfast.Features{}, nil},
		{"new device", holdfast.Event{Type: holdfast.EventLogin, Device: "d2", Country: "DE"}, holdfast.Features{}, []string{"login_new_device"}},
		{"new country", holdfast.Event{Type: holdfast.EventLogin, Device: "d1", Country: "FR"}, holdfast.Features{}, []string{"login_new_country"}},
		{"restricted country", holdfast.Event{Type: holdfast.EventLogin, Device: "d1", Country: "US"}, holdfast.Features{}, []string{"login_restricted_country", "login_new_country"}},
		{"30 days inactive", holdfast.Event{Type: holdfast.EventLogin, Device: "d1"}, holdfast.Features{InactiveDays: 30}, nil},
		{"just over 30 days", holdfast.Event{Type: holdfast.EventLogin, Device: "d1"}, holdfast.Features{InactiveDays: 30.01}, []string{"login_after_inactivity"}},
		{"100 orders/min", holdfast.Event{Type: holdfast.EventAPIActivity, OrdersPerMinute: f(100)}, holdfast.Features{}, nil},
		{"101 orders/min", holdfast.Event{Type: holdfast.EventAPIActivity, OrdersPerMinute: f(101)}, holdfast.Features{}, []string{"api_burst"}},
		{"failure rate 50 %", holdfast.Event{Type: holdfast.EventAPIActivity, FailureRate: f(0.5)}, holdfast.Features{}, nil},
		{"failure rate 51 % as a percentage", holdfast.Event{Type: holdfast.EventAPIActivity, FailureRate: f(51)}, holdfast.Features{}, []string{"api_burst"}},
		{"exactly 10× the average", holdfast.Event{Type: holdfast.EventDeposit, Amount: "1000"}, holdfast.Features{DepositCount: 3, DepositAvgUSD: 100}, nil},
		{"over 10× the average", holdfast.Event{Type: holdfast.EventDeposit, Amount: "1000.01"}, holdfast.Features{DepositCount: 3, DepositAvgUSD: 100}, []string{"deposit_over_average"}},
		{"over 10× with two earlier deposits", holdfast.Event{Type: holdfast.EventDeposit, Amount: "5000"}, holdfast.Features{DepositCount: 2, DepositAvgUSD: 100}, nil},
		{"usd_value wins over amount", holdfast.Event{Type: holdfast.EventDeposit, Amount: "1", USDValue: "60000"}, holdfast.Features{DepositCount: 3, DepositAvgUSD: 100}, []string{"deposit_over_average"}},
		{"mixer", holdfast.Event{Type: holdfast.EventDeposit, Amount: "1", SourceRisk: "mixer"}, holdfast.Features{}, []string{"deposit_flagged_source"}},
		{"aml medium", holdfast.Event{Type: holdfast.EventAMLAlert, Severity: "medium"}, holdfast.Features{}, nil},
		{"kyc ok", holdfast.Event{Type: holdfast.EventKYCStatus, Status: "ok"}, holdfast.Features{}, []string{"kyc_accepted"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.ev.Account = "u1"
			ms, err := p.Evaluator.Match(&holdfast.RuleInput{Event: &c.ev, Account: acct, Now: time.Now(), Features: c.feats})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range ms {
				got = append(got, m.Rule.ID)
			}
			if len(got) != len(c.want) {
				t.Fatalf("matched %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("matched %v, want %v", got, c.want)
				}
			}
		})
	}
}

func TestEvidenceIsRecorded(t *testing.T) {
	p := policy.Default()
	ev := holdfast.Event{Type: holdfast.EventAPIActivity, Account: "u1", OrdersPerMinute: f(250)}
	ms, err := p.Evaluator.Match(&holdfast.RuleInput{Event: &ev, Account: &holdfast.Account{ID: "u1"}, Now: time.Now()})
	if err != nil || len(ms) != 1 {
		t.Fatalf("%v %v", ms, err)
	}
	if got := ms[0].Evidence["event.orders_per_minute"]; got != "250" {
		t.Fatalf("evidence %v", ms[0].Evidence)
	}
}

// BenchmarkMatch runs a mix of events through the default policy's rules,
// in process: the rules' share of intake, without any store.
func BenchmarkMatch(b *testing.B) {
	p := policy.Default()
	acct := &holdfast.Account{ID: "u1", KnownDevices: []string{"d1", "d2"}, KnownCountries: []string{"DE"}, Factors: []holdfast.Factor{holdfast.FactorEmail}}
	events := benchEvents()
	in := &holdfast.RuleInput{Account: acct, Now: time.Now(), Features: holdfast.Features{DepositCount: 5, DepositAvgUSD: 300}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		local := *in
		i := 0
		for pb.Next() {
			local.Event = &events[i%len(events)]
			if _, err := p.Evaluator.Match(&local); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkMatchScale: how rule evaluation grows with the number of rules
// (the default policy's, repeated 1, 4 and 16 times).
func BenchmarkMatchScale(b *testing.B) {
	for _, times := range []int{1, 4, 16} {
		p := policy.Default()
		base := p.Rules
		var rs []holdfast.Rule
		for k := range times {
			for _, r := range base {
				r.ID = fmt.Sprintf("%s_%d", r.ID, k)
				rs = append(rs, r)
			}
		}
		p.Rules = rs
		set, problems := rules.Compile(p)
		if len(problems) > 0 {
			b.Fatal(problems)
		}
		acct := &holdfast.Account{ID: "u1", KnownDevices: []string{"d1", "d2"}, KnownCountries: []string{"DE"}, Factors: []holdfast.Factor{holdfast.FactorEmail}}
		events := benchEvents()
		b.Run(fmt.Sprintf("rules=%d", len(rs)), func(b *testing.B) {
			in := &holdfast.RuleInput{Account: acct, Now: time.Now(), Features: holdfast.Features{DepositCount: 5, DepositAvgUSD: 300}}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				in.Event = &events[i%len(events)]
				if _, err := set.Match(in); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// benchEvents is the mix of events the rule benchmarks evaluate.
func benchEvents() []holdfast.Event {
	return []holdfast.Event{
		{Type: holdfast.EventLogin, Account: "u1", Device: "d3", Country: "DE"},
		{Type: holdfast.EventDeposit, Account: "u1", Amount: "250", SourceRisk: "clean"},
		{Type: holdfast.EventAPIActivity, Account: "u1", OrdersPerMinute: f(40), FailureRate: f(0.1)},
		{Type: holdfast.EventPasswordChanged, Account: "u1"},
		{Type: holdfast.EventWithdrawalRequested, Account: "u1", Amount: "100"},
	}
}
