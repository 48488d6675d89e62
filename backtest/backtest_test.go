package backtest

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/policy"
)

const (
	eventsFile   = "../testdata/backtest/events.jsonl"
	stricterFile = "../testdata/backtest/stricter.yaml"
)

func run(t *testing.T, events string, candidate, baseline *holdfast.Policy) *Report {
	t.Helper()
	rep, err := Run(context.Background(), strings.NewReader(events), candidate, baseline)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func readEvents(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(eventsFile)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// same is a kind both policies restricted the same accounts with.
func same(k holdfast.Kind, n int) KindReport {
	return KindReport{Kind: k, Baseline: n, Candidate: n, OnlyBaseline: []string{}, OnlyCandidate: []string{}}
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// What the default policy does with events.jsonl, worked out by hand:
//
//   - step_up_verification: acct-alice (new device d-alice-laptop, 03-06),
//     acct-bob (known device, new country ES, 03-05), acct-judy (new
//     country DE after her first login from the US, 03-07);
//   - jurisdiction_lock: acct-judy (login from the US, 03-02);
//   - cooling_off: acct-erin (password_reset 03-03, extended by her 2FA
//     change 03-05), acct-carol (password_changed 03-05);
//   - reduce_only: acct-dave (140 orders/min), acct-erin (60 % failures);
//     not acct-carol at exactly 100/min nor acct-erin at 50/min;
//   - withdrawal_freeze: acct-grace (mixer deposit), acct-bob (12,000 after
//     three deposits averaging 500); not acct-heidi at exactly 10x (3,000
//     after 200, 300, 400), not acct-ivan (only two earlier deposits);
//   - full_restriction: acct-mallory (aml_alert high; the low one does
//     nothing).
func TestDefaultAgainstItself(t *testing.T) {
	rep := run(t, readEvents(t), policy.Default(), nil)
	want := &Report{
		Events: 52, Accounts: 11,
		Kinds: []KindReport{
			same(holdfast.KindStepUpVerification, 3),
			same(holdfast.KindCoolingOff, 2),
			same(holdfast.KindReduceOnly, 2),
			same(holdfast.KindWithdrawalFreeze, 2),
			same(holdfast.KindFullRestriction, 1),
			same(holdfast.KindJurisdictionLock, 1),
		},
		Invalid: []Invalid{}, RuleErrors: []RuleError{},
	}
	if !reflect.DeepEqual(rep, want) {
		t.Fatalf("got %s\nwant %s", dump(rep), dump(want))
	}
}

// stricter.yaml lowers api_burst to > 50 orders/min and
// deposit_over_average to > 5x. On events.jsonl that adds:
//
//   - reduce_only: acct-carol (75/min on 03-03, and 100/min on 03-06) and
//     acct-frank (51/min); acct-erin's 50/min stays below the line, and
//     acct-dave (140, 60) and acct-erin (failures) were already in;
//   - withdrawal_freeze: acct-alice (7,000 after 1,000, 1,200, 800: 7x) and
//     acct-heidi (3,000 after 200, 300, 400: 10x); acct-ivan still has only
//     two earlier deposits.
//
// Nothing is restricted only under the baseline, and the other kinds do not
// move.
func TestStricterCandidate(t *testing.T) {
	cand, err := policy.Load(stricterFile)
	if err != nil {
		t.Fatal(policy.FormatError(stricterFile, err))
	}
	rep := run(t, readEvents(t), cand, policy.Default())
	want := &Report{
		Events: 52, Accounts: 11,
		Kinds: []KindReport{
			same(holdfast.KindStepUpVerification, 3),
			same(holdfast.KindCoolingOff, 2),
			{Kind: holdfast.KindReduceOnly, Baseline: 2, Candidate: 4, OnlyBaseline: []string{}, OnlyCandidate: []string{"acct-carol", "acct-frank"}},
			{Kind: holdfast.KindWithdrawalFreeze, Baseline: 2, Candidate: 4, OnlyBaseline: []string{}, OnlyCandidate: []string{"acct-alice", "acct-heidi"}},
			same(holdfast.KindFullRestriction, 1),
			same(holdfast.KindJurisdictionLock, 1),
		},
		Invalid: []Invalid{}, RuleErrors: []RuleError{},
	}
	if !reflect.DeepEqual(rep, want) {
		t.Fatalf("got %s\nwant %s", dump(rep), dump(want))
	}

	// Swapped, the same accounts show up on the other side.
	rev := run(t, readEvents(t), policy.Default(), cand)
	for _, k := range rev.Kinds {
		if len(k.OnlyCandidate) > 0 {
			t.Errorf("%s: only under the (default) candidate: %v", k.Kind, k.OnlyCandidate)
		}
	}
	if got := rev.Kinds[2].OnlyBaseline; !reflect.DeepEqual(got, []string{"acct-carol", "acct-frank"}) {
		t.Errorf("swapped reduce_only: only under the baseline %v", got)
	}
}

func TestInvalidLines(t *testing.T) {
	lines := []string{
		/* 1 */ `{"id":"e1","type":"deposit","account":"a1","at":"2026-03-01T10:00:00Z","asset":"USDT","amount":"100"}`,
		/* 2 */ `{"id":"e2","type":"deposit","account":"a1","at":"2026-03-01T10:01:00Z","amount":"100"`,
		/* 3 */ `{"id":"e3","type":"deposit","account":"a1","at":"2026-03-01T10:02:00Z","amount":"100","colour":"red"}`,
		/* 4 */ `{"id":"e4","type":"teleport","account":"a1","at":"2026-03-01T10:03:00Z"}`,
		/* 5 */ `{"id":"e5","type":"login","account":"a1","at":"2026-03-01T10:04:00Z","amount":"5"}`,
		/* 6 */ `{"id":"e6","type":"deposit","account":"a1","amount":"100"}`,
		/* 7 */ ``,
		/* 8 */ `{"id":"e8","type":"deposit","account":"a1","at":"2026-03-01T10:05:00Z","amount":"100"} {"id":"e9"}`,
		/* 9 */ `{"id":"e10","type":"deposit","account":"a1","at":"2026-03-01T10:06:00Z","asset":"USDT","amount":"100","source_risk":"mixer"}`,
		/* 10 */ `{"id":"e11","type":"api_activity","account":"a2","at":"2026-03-01T10:07:00Z","orders_per_minute":"fast"}`,
		/* 11 */ `not json`,
	}
	rep := run(t, strings.Join(lines, "\r\n"), policy.Default(), nil)
	if rep.Events != 2 || rep.Accounts != 1 || rep.InvalidCount != 8 {
		t.Errorf("events %d, accounts %d, invalid %d; want 2, 1, 8", rep.Events, rep.Accounts, rep.InvalidCount)
	}
	want := map[int64]string{
		2:  "invalid JSON: unexpected EOF",
		3:  `invalid JSON: json: unknown field "colour"`,
		4:  `invalid_argument: unknown event type "teleport" (field type)`,
		5:  "invalid_argument: login events carry no amount",
		6:  "invalid_argument: a backtest replays each event at its time: at is required (field at)",
		8:  "invalid JSON: more than one value on the line",
		10: "invalid JSON: json: cannot unmarshal string into Go struct field Event.orders_per_minute of type float64",
		11: "invalid JSON: invalid character 'o' in literal null (expecting 'u')",
	}
	if len(rep.Invalid) != len(want) {
		t.Fatalf("invalid lines %s; want %d", dump(rep.Invalid), len(want))
	}
	for _, inv := range rep.Invalid {
		if w, ok := want[inv.Line]; !ok || !strings.HasPrefix(inv.Error, w) || inv.Policy != "" {
			t.Errorf("line %d: %q; want it to start %q", inv.Line, inv.Error, w)
		}
	}
	if len(rep.Kinds) != 1 || rep.Kinds[0].Kind != holdfast.KindWithdrawalFreeze || rep.Kinds[0].Baseline != 1 {
		t.Errorf("kinds %s; want a1's withdrawal_freeze from line 9", dump(rep.Kinds))
	}
}

// Events out of time order are replayed at the latest time seen, and
// counted.
func TestOutOfOrder(t *testing.T) {
	events := `{"id":"e1","type":"password_changed","account":"a1","at":"2026-03-02T10:00:00Z"}
{"id":"e2","type":"login","account":"a2","at":"2026-03-01T10:00:00Z"}
{"id":"e3","type":"login","account":"a3","at":"2026-03-02T11:00:00Z"}
`
	rep := run(t, events, policy.Default(), nil)
	if rep.Events != 3 || rep.OutOfOrder != 1 || len(rep.Invalid) != 0 {
		t.Fatalf("report %s; want 3 events, 1 out of order", dump(rep))
	}
}

func TestLongLine(t *testing.T) {
	long := `{"id":"e1","type":"login","account":"a1","at":"2026-03-02T10:00:00Z","device":"` + strings.Repeat("x", MaxLineBytes) + `"}`
	events := long + "\n" + `{"id":"e2","type":"aml_alert","account":"a2","at":"2026-03-02T11:00:00Z","severity":"high"}`
	rep := run(t, events, policy.Default(), nil)
	if rep.Events != 1 || len(rep.Invalid) != 1 || rep.Invalid[0].Line != 1 || !strings.Contains(rep.Invalid[0].Error, "longer than") {
		t.Fatalf("report %s; want line 1 too long and line 2 replayed", dump(rep))
	}
	if len(rep.Kinds) != 1 || rep.Kinds[0].Kind != holdfast.KindFullRestriction {
		t.Fatalf("kinds %s", dump(rep.Kinds))
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, strings.NewReader(readEvents(t)), policy.Default(), nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v; want context.Canceled", err)
	}
}

func TestNoCandidate(t *testing.T) {
	_, err := Run(context.Background(), strings.NewReader(""), nil, nil)
	if holdfast.ErrorCode(err) != holdfast.InvalidArgument {
		t.Fatalf("err %v; want invalid_argument", err)
	}
}

// An event one policy's engine refuses (here a rule asking for a longer
// panic_lock than the kind allows) is reported against its line and that
// policy, and the other policy still replays it.
func TestPolicyRefusesEvent(t *testing.T) {
	cand := policy.Default()
	found := false
	for i := range cand.Rules {
		if r := &cand.Rules[i]; r.ID == "duress_signal" {
			for _, a := range r.Then {
				if a.Apply != nil {
					a.Apply.Duration = holdfast.Duration(30 * holdfast.Day)
					found = true
				}
			}
		}
	}
	if !found {
		t.Fatal("the default policy has no duress_signal rule")
	}
	events := `{"id":"e1","type":"login","account":"a1","at":"2026-03-02T10:00:00Z","device":"d1"}
{"id":"e2","type":"duress_signal","account":"a1","at":"2026-03-02T10:05:00Z","device":"d1"}
`
	rep := run(t, events, cand, nil)
	if rep.Events != 2 || rep.InvalidCount != 1 || len(rep.Invalid) != 1 {
		t.Fatalf("report %s; want line 2 refused under the candidate", dump(rep))
	}
	if inv := rep.Invalid[0]; inv.Line != 2 || inv.Policy != "candidate" || !strings.HasPrefix(inv.Error, "invalid_argument: panic_lock lasts at most") {
		t.Errorf("invalid %+v", inv)
	}
	want := []KindReport{{Kind: holdfast.KindPanicLock, Baseline: 1, Candidate: 0, OnlyBaseline: []string{"a1"}, OnlyCandidate: []string{}}}
	if !reflect.DeepEqual(rep.Kinds, want) {
		t.Errorf("kinds %s", dump(rep.Kinds))
	}
}

// TestStricterExampleIsTheDefaultButTwoRules keeps the example candidate
// in step with the default policy: it differs by its two thresholds only.
func TestStricterExampleIsTheDefaultButTwoRules(t *testing.T) {
	stricter, err := policy.Load(stricterFile)
	if err != nil {
		t.Fatal(err)
	}
	changes := policy.Diff(policy.Default(), stricter)
	if len(changes) != 2 || changes[0].Path != "rules[deposit_over_average].when" || changes[1].Path != "rules[api_burst].when" {
		t.Fatalf("%s differs from the default by %+v; regenerate it from policy/default.yaml with its two CHANGED rules", stricterFile, changes)
	}
}
