package policy

import (
	"reflect"
	"strings"
	"testing"

	"github.com/holdfast/holdfast"
)

// TestOverlayOneLine: a file that sets one number is a whole policy, the
// default with that number changed; its Source is self-contained and
// means the same read back as a stored version.
func TestOverlayOneLine(t *testing.T) {
	file := []byte("withdrawal_review:\n  single_usd: 50000\n")
	p, err := Parse(file)
	if err != nil {
		t.Fatal(err)
	}
	want := data(Default())
	want.WithdrawalReview.SingleUSD = 50000
	if !reflect.DeepEqual(data(p), want) {
		t.Fatalf("the overlay is not the default with single_usd 50000:\n%+v", p.WithdrawalReview)
	}
	if string(p.Source) == string(file) || p.Hash != holdfast.PolicyHash(p.Source) {
		t.Fatalf("Source should be the merged policy, and Hash name it")
	}
	stored, err := ParseVersion(p.Source)
	if err != nil {
		t.Fatalf("the effective policy does not stand alone: %v\n%s", err, p.Source)
	}
	again, err := Parse(p.Source)
	if err != nil || stored.Hash != p.Hash || again.Hash != p.Hash || !reflect.DeepEqual(data(stored), data(p)) {
		t.Fatalf("read back: %v; hashes %s %s %s", err, p.Hash, stored.Hash, again.Hash)
	}
	// The old way, a whole file, is its own Source: its hash is unchanged.
	d := Default()
	if string(d.Source) != string(DefaultYAML()) || d.Hash != holdfast.PolicyHash(DefaultYAML()) {
		t.Fatal("the default's Source is not its own text")
	}
}

// TestOverlayRules: rules merge by id, in place; new ones come last;
// remove: true drops one.
func TestOverlayRules(t *testing.T) {
	def := Default()
	first, second := def.Rules[0], def.Rules[1]
	p, err := Parse([]byte(`rules:
  - id: ` + second.ID + `
    when: event.country == "KP"
  - id: ` + first.ID + `
    remove: true
  - id: my_rule
    on: [login]
    when: event.country == "RU"
    then:
      - apply: {kind: step_up_verification}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rules) != len(def.Rules) {
		t.Fatalf("%d rules, want %d (one removed, one added)", len(p.Rules), len(def.Rules))
	}
	got := p.Rules[0]
	if got.ID != second.ID || got.When != `event.country == "KP"` || !reflect.DeepEqual(got.On, second.On) || !reflect.DeepEqual(got.Then, second.Then) {
		t.Errorf("rule %s: got %+v; want its when changed and the rest kept", second.ID, got)
	}
	if last := p.Rules[len(p.Rules)-1]; last.ID != "my_rule" {
		t.Errorf("the new rule is not last: %s", last.ID)
	}
	for i, r := range p.Rules[1 : len(p.Rules)-1] {
		if r.ID != def.Rules[i+2].ID {
			t.Errorf("rules[%d] is %s, want %s: the default's order is kept", i+1, r.ID, def.Rules[i+2].ID)
		}
	}
}

// TestOverlayErrors: a problem names the file's line for what the file
// sets, and the default's for an inherited field the file made wrong.
func TestOverlayErrors(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"bad number", "withdrawal_review:\n  single_usd: lots\n", "f.yaml:2: withdrawal_review.single_usd: "},
		{"unknown field", "withdrawal_review:\n  single: 5\n", `f.yaml:2: withdrawal_review.single: unknown field "single"`},
		{"inherited field made wrong", "self_service:\n  panic_lock_max: 60d\n", "self_service.panic_lock_max"},
		{"bad extends", "extends: parent\n", `f.yaml:1: extends: want "default"`},
		{"remove an unknown rule", "rules:\n  - id: no_such_rule\n    remove: true\n", `f.yaml:3: rules[0].remove: the built-in default has no rule "no_such_rule"`},
		{"remove: yes", "rules:\n  - id: login_new_device\n    remove: yes\n", "f.yaml:3: rules[0].remove: want true"},
		{"rule given twice", "rules:\n  - id: login_new_device\n    when: 'true'\n  - id: login_new_device\n    when: 'false'\n", "f.yaml:4: rules[1].id: rule id login_new_device is used by rules[0] too"},
		{"standing alone", "extends: none\nwithdrawal_review:\n  single_usd: 50000\n", "f.yaml:1: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.file))
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			if got := FormatError("f.yaml", err); !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want it to contain %q", got, tt.want)
			}
		})
	}
	// The file narrows the self-freeze's durations: the inherited
	// self_service.freeze_durations no longer fit, and the message says
	// where that inherited value lives.
	_, err := Parse([]byte("kinds:\n  self_freeze:\n    durations: [24h, permanent]\n"))
	want := "f.yaml: self_service.freeze_durations[1]: inherited from line "
	if got := FormatError("f.yaml", err); !strings.HasPrefix(got, want) || !strings.Contains(got, "of the built-in default: ") {
		t.Errorf("got %q, want %q…", got, want)
	}
	// A stored version never extends anything.
	if _, err := ParseVersion([]byte("extends: default\nwithdrawal_review:\n  single_usd: 5\n")); err == nil {
		t.Error("ParseVersion accepted an overlay")
	}
}
