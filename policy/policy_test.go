package policy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/holdfast/holdfast"
)

// edit describes a bad policy built from the default: after the first
// occurrence of anchor, the first occurrence of old becomes new.
type edit struct {
	anchor, old, new string
}

func (e edit) apply(t *testing.T, text string) string {
	t.Helper()
	start := strings.Index(text, e.anchor)
	if start < 0 {
		t.Fatalf("anchor %q not in the default policy", e.anchor)
	}
	i := strings.Index(text[start:], e.old)
	if i < 0 {
		t.Fatalf("%q not found after %q", e.old, e.anchor)
	}
	i += start
	return text[:i] + e.new + text[i+len(e.old):]
}

// lineOf returns the line of the first occurrence of marker after anchor.
// wantLineError checks that Parse's err is an invalid_argument naming
// field, at the line of marker (after anchor) in text, with msg in its
// message.
func wantLineError(t *testing.T, err error, text, anchor, marker, field, msg string) {
	t.Helper()
	var e *holdfast.Error
	if !errors.As(err, &e) {
		t.Fatalf("Parse: got %v, want a *holdfast.Error", err)
	}
	line := lineOf(t, text, anchor, marker)
	if e.Code != holdfast.InvalidArgument || e.Field != field || !strings.HasPrefix(e.Message, fmt.Sprintf("line %d: ", line)) || !strings.Contains(e.Message, msg) {
		t.Errorf("got code %s field %q message %q\nwant code invalid_argument field %q message \"line %d: …%s…\"", e.Code, e.Field, e.Message, field, line, msg)
	}
}

func lineOf(t *testing.T, text, anchor, marker string) int {
	t.Helper()
	start := strings.Index(text, anchor)
	i := strings.Index(text[start:], marker)
	if start < 0 || i < 0 {
		t.Fatalf("marker %q not found after %q", marker, anchor)
	}
	return 1 + strings.Count(text[:start+i], "\n")
}

func TestParseErrors(t *testing.T) {
	def := string(DefaultYAML())
	tests := []struct {
		name string
		edit edit
		// field is the expected Error.Field; the line expected is that of
		// marker, searched after the edit's anchor in the edited file.
		field, marker string
		// msg, when set, must appear in the message.
		msg string
	}{
		{"unknown top-level field", edit{"", "version: 1\n", "version: 1\nrulez: []\n"}, "rulez", "rulez: []", "unknown field"},
		{"rule condition does not compile", edit{"  - id: api_burst", "event.orders_per_minute > 100.0", "event.orders_per_minute >> 100.0"}, "rules[8].when", "when:", "rule api_burst: ERROR: when:1:"},
		{"rule condition is not a bool", edit{"  - id: api_burst", "event.orders_per_minute > 100.0 || event.failure_rate > 0.5", "event.orders_per_minute + 1.0"}, "rules[8].when", "when:", "not a bool"},
		{"rule reads an unknown variable", edit{"  - id: api_burst", "event.orders_per_minute > 100.0", "orders > 100.0"}, "rules[8].when", "when:", "undeclared reference to 'orders'"},
		{"rule on an unknown event", edit{"  - id: api_burst", "on: [api_activity]", "on: [api_activty]"}, "rules[8].on[0]", "on:", `unknown event type "api_activty"`},
		{"rule applies an unknown kind", edit{"  - id: api_burst", "kind: reduce_only", "kind: reduce_onyl"}, "rules[8].then[0].apply.kind", "kind: reduce_onyl", `unknown kind "reduce_onyl"`},
		{"rule emits an unknown command", edit{"  - id: api_burst", "command: cancel_spot_orders", "command: cancel_everything"}, "rules[8].then[1].command", "command: cancel_everything", "unknown command"},
		{"duplicate rule id", edit{"# Triggers.", "id: deposit_over_average", "id: deposit_flagged_source"}, "rules[7].id", "id: deposit_flagged_source\n    on: [deposit]\n    when: account", "used by rules[6] too"},
		{"rule duration the kind refuses", edit{"  - id: duress_signal", "duration: 7d", "duration: 30d"}, "rules[19].then[0].apply.duration", "duration: 30d", "kinds.panic_lock"},
		{"restricted country not a code", edit{"", "restricted_countries: [US]", "restricted_countries: [USA]"}, "restricted_countries[0]", "restricted_countries:", "not an ISO 3166-1"},
		{"review threshold missing", edit{"", "  single_usd: 100000\n", ""}, "withdrawal_review.single_usd", "withdrawal_review:", "positive amount"},
		{"max_amount zero", edit{"amounts:", "max_amount: 1000000000000000000", "max_amount: 0"}, "amounts.max_amount", "max_amount:", "positive, finite"},
		{"max_usd_value infinite", edit{"amounts:", "max_usd_value: 10000000000", "max_usd_value: .inf"}, "amounts.max_usd_value", "max_usd_value:", "positive, finite"},
		{"pegged asset twice", edit{"amounts:", "usd_pegged: [USDT, USDC, USD]", "usd_pegged: [USDT, USDT]"}, "amounts.usd_pegged[1]", "usd_pegged:", "listed twice"},
		{"pegged asset not a name", edit{"amounts:", "usd_pegged: [USDT, USDC, USD]", "usd_pegged: [USDT, 'U S D']"}, "amounts.usd_pegged[1]", "usd_pegged:", "not an asset name"},
		{"unknown kind field", edit{"  cooling_off:", "level: L1", "levle: L1"}, "kinds.cooling_off.levle", "levle", "unknown field"},
		{"duplicate key", edit{"# How long a four-eyes", "four_eyes_expiry: 72h", "four_eyes_expiry: 72h\nversion: 1"}, "version", "version: 1", "given twice (first on line"},
		{"unknown action", edit{"  cooling_off:", "add_withdrawal_address", "add_withdrawal_adress"}, "kinds.cooling_off.blocks.deny[1]", "blocks:", `unknown action "add_withdrawal_adress"`},
		{"duplicate action", edit{"  c2c_freeze:", "[p2p_trade]", "[p2p_trade, p2p_trade]"}, "kinds.c2c_freeze.blocks.deny[1]", "blocks:", "twice"},
		{"list given as a value", edit{"  association_review:", "{deny: [withdraw]}", "{deny: withdraw}"}, "kinds.association_review.blocks.deny", "blocks:", "want a list"},
		{"blocks nothing", edit{"  association_review:", "{deny: [withdraw]}", "{}"}, "kinds.association_review.blocks", "blocks:", "blocks nothing"},
		{"denied and reviewed", edit{"  recovery_cooldown:", "{review: [withdraw]}", "{review: [withdraw], deny: [withdraw]}"}, "kinds.recovery_cooldown.blocks.review[0]", "blocks:", "both denied and reviewed"},
		{"unknown kind", edit{"", "  settings_lock:", "  frozen:\n    disclose: true\n  settings_lock:"}, "kinds.frozen", "  frozen:", `unknown kind "frozen"`},
		{"missing kind", edit{"", "  c2c_freeze:", "  c2c_frieze:"}, "kinds.c2c_freeze", "kinds:\n", "c2c_freeze is missing"},
		{"empty kind", edit{"", "  settings_lock:", "  settings_lock: ~\n  unused:"}, "kinds.settings_lock", "  settings_lock:", "no settings"},
		{"bad level", edit{"  reduce_only:", "level: L2", "level: L9"}, "kinds.reduce_only.level", "level:", `unknown level "L9"`},
		{"disclose missing", edit{"  c2c_freeze:", "    disclose: true\n", ""}, "kinds.c2c_freeze.disclose", "  c2c_freeze:", "disclose is required"},
		{"disclose not a bool", edit{"  c2c_freeze:", "disclose: true", "disclose: yes"}, "kinds.c2c_freeze.disclose", "disclose:", "true or false"},
		{"holder field misspelt", edit{"  self_freeze:", "      message: You froze", "      messages: You froze"}, "kinds.self_freeze.holder.messages", "messages:", "unknown field"},
		{"holder message missing", edit{"  self_freeze:", "      message: You froze this account. Until the freeze ends it can sign in, show your account and receive deposits, and nothing else.\n", ""}, "kinds.self_freeze.holder.message", "    holder:", "message is required"},
		{"holder message blank", edit{"  c2c_freeze:", "message: A P2P trade", `message: " "
      #`}, "kinds.c2c_freeze.holder.message", "message:", "message is required"},
		{"bad duration", edit{"  panic_lock:", "max_duration: 7d", "max_duration: 7days"}, "kinds.panic_lock.max_duration", "max_duration:", `invalid duration "7days"`},
		{"duration without unit", edit{"  settings_lock:", "max_duration: 30d", "max_duration: 30"}, "kinds.settings_lock.max_duration", "max_duration:", "invalid duration"},
		{"min over max", edit{"  settings_lock:", "min_duration: 1d", "min_duration: 40d"}, "kinds.settings_lock.min_duration", "min_duration:", "longer than max_duration"},
		{"default over max", edit{"  panic_lock:", "default_duration: 7d", "default_duration: 8d"}, "kinds.panic_lock.default_duration", "default_duration:", "longer than the kind's max_duration"},
		{"zero duration in list", edit{"  self_freeze:", "durations: [24h, 48h, 7d, permanent]", "durations: [24h, 48h, 7d, permanent, 0s]"}, "kinds.self_freeze.durations[4]", "durations:", "longer than zero"},
		{"default not in list", edit{"  self_freeze:", "default_duration: 24h", "default_duration: 12h"}, "kinds.self_freeze.default_duration", "default_duration:", "not one of"},
		{"permanent minimum", edit{"  settings_lock:", "min_duration: 1d", "min_duration: permanent"}, "kinds.settings_lock.min_duration", "min_duration:", "cannot be permanent"},
		{"unknown apply role", edit{"", "apply: [le_liaison, admin]", "apply: [le_liaison, sheriff]"}, "kinds.law_enforcement_hold.apply[1]", "apply: [le_liaison", `unknown role "sheriff"`},
		{"unknown see_reason role", edit{"", "see_reason: [le_liaison, admin]", "see_reason: [le_liaison, judge]"}, "kinds.law_enforcement_hold.see_reason[1]", "see_reason:", `unknown role "judge"`},
		{"unknown lift mode", edit{"", "lift: {mode: case}", "lift: {mode: ask}"}, "kinds.cooling_off.lift.mode", "lift: {mode: ask}", `unknown lift mode "ask"`},
		{"lift missing", edit{"  c2c_freeze:", "    lift: {mode: direct, roles: [support, compliance]}\n", ""}, "kinds.c2c_freeze.lift.mode", "  c2c_freeze:", "lift.mode is required"},
		{"direct without roles", edit{"  kyc_required:", "lift: {mode: direct, roles: [support, compliance]}", "lift: {mode: direct}"}, "kinds.kyc_required.lift.roles", "lift:", "needs the roles"},
		{"four_eyes without approve", edit{"  full_restriction:", ", approve: [compliance, admin]}", "}"}, "kinds.full_restriction.lift.approve", "lift:", "roles that may approve"},
		{"field the mode does not use", edit{"", "lift: {mode: case}", "lift: {mode: case, roles: [support]}"}, "kinds.cooling_off.lift.roles", "lift: {mode: case", "does not apply to a case lift"},
		{"distinct roles with one role", edit{"  permanent_ban:", "ask: [admin, compliance], approve: [admin, compliance]", "ask: [admin], approve: [admin]"}, "kinds.permanent_ban.lift.distinct_roles", "lift:", "at least two roles"},
		{"requires a role that cannot lift", edit{"  self_freeze:", "requires: {support:", "requires: {compliance:"}, "kinds.self_freeze.lift.requires.compliance", "requires:", "not among lift.roles"},
		{"unknown precondition", edit{"  compromise_lock:", "[identity_reverified]", "[identity_checked]"}, "kinds.compromise_lock.lift.requires.support[0]", "requires:", `unknown precondition "identity_checked"`},
		{"panic lock liftable", edit{"  panic_lock:", "lift: {mode: immutable}", "lift: {mode: direct, roles: [admin]}"}, "kinds.panic_lock.lift.mode", "lift:", "must be immutable"},
		{"on_lift unknown kind", edit{"  compromise_lock:", "apply: recovery_cooldown", "apply: recovery_cooldwn"}, "kinds.compromise_lock.on_lift.apply", "on_lift:", `unknown kind "recovery_cooldwn"`},
		{"on_lift unknown tag", edit{"  compromise_lock:", "tag: previously_compromised", "tag: pwned"}, "kinds.compromise_lock.on_lift.tag", "on_lift:", `unknown tag "pwned"`},
		{"on_lift for without apply", edit{"  compromise_lock:", "apply: recovery_cooldown, ", ""}, "kinds.compromise_lock.on_lift.for", "on_lift:", "needs apply"},
		{"four_eyes_expiry zero", edit{"", "four_eyes_expiry: 72h", "four_eyes_expiry: 0s"}, "four_eyes_expiry", "four_eyes_expiry: 0s", "longer than zero"},
		{"four_eyes_expiry missing", edit{"", "four_eyes_expiry: 72h", ""}, "four_eyes_expiry", "version: 1", "four_eyes_expiry is required"},
		{"version unsupported", edit{"", "version: 1", "version: 2"}, "version", "version: 2", "not supported"},
		{"version not a number", edit{"", "version: 1", "version: one"}, "version", "version: one", "whole number"},
		{"undisclosed cover missing", edit{"", "  as: terms_violation", "  as: ''"}, "undisclosed.as", "as: ''", "as is required"},
		{"undisclosed cover unknown", edit{"", "as: terms_violation", "as: tos_breach"}, "undisclosed.as", "as: tos_breach", `unknown kind "tos_breach"`},
		{"undisclosed cover hidden", edit{"", "as: terms_violation", "as: law_enforcement_hold"}, "undisclosed.as", "as: law_enforcement_hold", "itself hidden"},
		{"undisclosed cover with an end", edit{"", "as: terms_violation", "as: cooling_off"}, "undisclosed.as", "as: cooling_off", "default_duration"},
		{"undisclosed cover a case ends", edit{"", "as: terms_violation", "as: kyc_required"}, "undisclosed.as", "as: kyc_required", "a kyc_document case can end kyc_required"},
		{"undisclosed cover blocks less than a kind", edit{"", "as: terms_violation", "as: reduce_only"}, "undisclosed.as", "as: reduce_only", "could be told apart"},
		{"unknown step-up factor", edit{"", "step_up_factors: [email]", "step_up_factors: [email, pigeon]"}, "step_up_factors[1]", "step_up_factors: [", `unknown factor "pigeon"`},
		{"no step-up factors", edit{"", "step_up_factors: [email]", "step_up_factors: []"}, "step_up_factors", "step_up_factors: [", "at least one factor"},
		{"no freeze durations", edit{"", "freeze_durations: [24h, 48h, 7d, permanent]", "freeze_durations: []"}, "self_service.freeze_durations", "freeze_durations:", "at least one"},
		{"freeze duration the kind refuses", edit{"", "freeze_durations: [24h, 48h, 7d, permanent]", "freeze_durations: [24h, 72h]"}, "self_service.freeze_durations[1]", "freeze_durations:", "kinds.self_freeze"},
		{"panic bounds crossed", edit{"", "panic_lock_min: 24h", "panic_lock_min: 8d"}, "self_service.panic_lock_min", "panic_lock_min:", "longer than panic_lock_max"},
		{"panic default outside bounds", edit{"", "panic_lock_default: 7d", "panic_lock_default: 12h"}, "self_service.panic_lock_default", "panic_lock_default:", "outside"},
		{"panic total under the per-press max", edit{"", "panic_lock_max_total: 30d", "panic_lock_max_total: 3d"}, "self_service.panic_lock_max_total", "panic_lock_max_total:", "shorter than panic_lock_max"},
		{"panic total missing", edit{"", "  panic_lock_max_total: 30d\n", ""}, "self_service.panic_lock_max_total", "self_service:", "panic_lock_max_total is required"},
		{"panic total permanent", edit{"", "panic_lock_max_total: 30d", "panic_lock_max_total: permanent"}, "self_service.panic_lock_max_total", "panic_lock_max_total:", "cannot be permanent"},
		{"panic extension approver unknown", edit{"", "panic_lock_extension_approve: [compliance, admin]", "panic_lock_extension_approve: [compliance, boss]"}, "self_service.panic_lock_extension_approve[1]", "panic_lock_extension_approve:", `unknown role "boss"`},
		{"panic extension approvers empty", edit{"", "panic_lock_extension_approve: [compliance, admin]", "panic_lock_extension_approve: []"}, "self_service.panic_lock_extension_approve", "panic_lock_extension_approve:", "at least one staff role"},
		{"secure_account freeze the kind refuses", edit{"", "secure_account_freeze: 7d", "secure_account_freeze: 3d"}, "self_service.secure_account_freeze", "secure_account_freeze:", "kinds.self_freeze"},
		{"whitelist network lower-case", edit{"", "whitelist_networks: [BTC, ETH", "whitelist_networks: [btc, ETH"}, "security.whitelist_networks[0]", "whitelist_networks:", `network "btc" must be`},
		{"whitelist network twice", edit{"", "whitelist_networks: [BTC, ETH", "whitelist_networks: [BTC, BTC"}, "security.whitelist_networks[1]", "whitelist_networks:", "listed twice"},
		{"no whitelist networks", edit{"", "whitelist_networks: [BTC, ETH, TRX, BSC, SOL, LTC, XRP, TON]", "whitelist_networks: []"}, "security.whitelist_networks", "whitelist_networks:", "at least one network"},
		{"invalid YAML", edit{"", "version: 1", "version: [1"}, "", "version: [1", "invalid YAML"},
		{"invalid YAML in a kind", edit{"  c2c_freeze:", "blocks: {deny: [p2p_trade]}", "blocks: {deny: [p2p_trade]"}, "", "blocks: {deny: [p2p_trade]", "invalid YAML"},
		{"dormant_after missing", edit{"", "dormant_after: 30d", ""}, "dormant_after", "version: 1", "dormant_after is required"},
		{"second document", edit{"", "version: 1\n", "version: 1\n---\nversion: 1\n"}, "", "---", "one YAML document"},
	}
	// Cases where the edit leaves a field out: as an overlay the file
	// inherits it from the default and is valid.
	inherits := map[string]bool{"review threshold missing": true, "blocks nothing": true, "on_lift for without apply": true,
		"disclose missing": true, "holder message missing": true, "lift missing": true, "direct without roles": true,
		"four_eyes without approve": true, "four_eyes_expiry missing": true, "panic total missing": true, "dormant_after missing": true}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			edited := tt.edit.apply(t, def)
			// Standing alone, the file has the problem; as an overlay too,
			// unless the default fills in what it left out.
			for _, text := range []string{edited + "\nextends: none\n", edited} {
				_, err := Parse([]byte(text))
				if text == edited && inherits[tt.name] {
					if err != nil {
						t.Errorf("as an overlay, the default should fill in what the file leaves out: %v", err)
					}
					continue
				}
				if text == edited && tt.name == "missing kind" {
					// The default has the kind; the renamed one is unknown.
					if err == nil || !strings.Contains(err.Error(), `unknown kind "c2c_frieze"`) {
						t.Errorf("as an overlay: got %v, want the unknown kind", err)
					}
					continue
				}
				wantLineError(t, err, text, tt.edit.anchor, tt.marker, tt.field, tt.msg)
				// Validate reports the same problem first, in the same form.
				errs := Validate([]byte(text))
				if len(errs) == 0 || errs[0].Error() != err.Error() {
					t.Errorf("Validate: got %v, want first %v", errs, err)
				}
			}
		})
	}
}

// TestAmountsDefault: a policy file without an amounts section (one
// written before it existed) gets the documented defaults, never a zero
// bound or an empty pegged list.
func TestAmountsDefault(t *testing.T) {
	text := edit{"# Amounts of withdrawals", "amounts:\n  usd_pegged: [USDT, USDC, USD]\n", "other:\n"}.apply(t, string(DefaultYAML()))
	text = strings.Replace(text, "other:\n", "", 1)
	text = strings.Replace(text, "  max_amount: 1000000000000000000\n", "", 1)
	text = strings.Replace(text, "  max_usd_value: 10000000000\n", "", 1)
	p, err := Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Amounts, Default().Amounts; !reflect.DeepEqual(got, want) {
		t.Fatalf("amounts left out: %+v, want the default file's %+v", got, want)
	}
}

func TestAliases(t *testing.T) {
	// Anchors and aliases work as in any YAML file: here the hidden hold
	// reuses the text of the kind it is shown as.
	text := edit{"  terms_violation:", "    holder:\n", "    holder: &cover\n"}.apply(t, string(DefaultYAML()))
	text = edit{"  law_enforcement_hold:", "    holder:\n      message: Your account is under review for a possible breach of our Terms of Use. Meanwhile you can sign in and see your account, but not trade, withdraw, transfer or use the API.\n", "    holder: *cover\n    #\n"}.apply(t, text)
	text = edit{"  law_enforcement_hold:", "    #\n      resolution:\n        - Nothing is needed from you right now. If we need any information, compliance will contact you through the Security Center.\n        - Contact support if you have questions.\n", ""}.apply(t, text)
	p, err := Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Kind(holdfast.KindLawEnforcementHold).Holder, p.Kind(holdfast.KindTermsViolation).Holder; !reflect.DeepEqual(got, want) {
		t.Errorf("holder via alias: got %+v, want %+v", got, want)
	}

	// Aliases are capped, so that a small file cannot make the decoder
	// expand the same subtree without end.
	bomb := "step_up_factors: [&m email, " + strings.Repeat("*m, ", 1001) + "]\n"
	if errs := Validate([]byte(bomb)); len(errs) == 0 || !strings.Contains(errs[0].Error(), "aliases are expanded more than 1000 times") {
		t.Errorf("alias bomb: got %v", errs)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, text := range []string{"", "# only a comment\n", "~\n"} {
		_, err := Parse([]byte(text))
		if holdfast.ErrorCode(err) != holdfast.InvalidArgument || !strings.Contains(err.Error(), "line 1: the policy file is empty") {
			t.Errorf("Parse(%q): got %v", text, err)
		}
	}
}

func TestValidateListsEveryProblemInFileOrder(t *testing.T) {
	text := string(DefaultYAML())
	for _, e := range []edit{
		{"  settings_lock:", "create_api_key]", "create_api_keys]"},
		{"", "four_eyes_expiry: 72h", "four_eyes_expiry: permanent"},
		{"  reduce_only:", "level: L2", "level: l2"},
	} {
		text = e.apply(t, text)
	}
	line := func(anchor, marker string) int { return lineOf(t, text, anchor, marker) }
	var got []string
	for _, err := range Validate([]byte(text)) {
		got = append(got, FormatError("p.yaml", err))
	}
	want := []string{
		fmt.Sprintf("p.yaml:%d: four_eyes_expiry: four_eyes_expiry cannot be permanent", line("", "four_eyes_expiry:")),
		fmt.Sprintf(`p.yaml:%d: kinds.reduce_only.level: unknown level "l2" (want one of L0, L1, L2, L3, L4, L5, or leave it out)`, line("  reduce_only:", "level:")),
		fmt.Sprintf(`p.yaml:%d: kinds.settings_lock.blocks.deny[2]: unknown action "create_api_keys" (want login, view, trade, reduce_position, withdraw, internal_transfer, p2p_trade, add_withdrawal_address, create_api_key, api_access, deposit, change_security_settings)`, line("  settings_lock:", "blocks:")),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(good, DefaultYAML(), 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err := Load(good); err != nil || p.Kind(holdfast.KindPanicLock) == nil {
		t.Fatalf("Load(default copy): %v", err)
	}
	_, err := Load(filepath.Join(dir, "missing.yaml"))
	if holdfast.ErrorCode(err) != holdfast.InvalidArgument {
		t.Errorf("Load(missing): got %v, want invalid_argument", err)
	}
}

func TestFormatError(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{&holdfast.Error{Code: holdfast.InvalidArgument, Field: "kinds.x", Message: "line 7: bad"}, "f.yaml:7: kinds.x: bad"},
		{&holdfast.Error{Code: holdfast.InvalidArgument, Message: "line 2: invalid YAML: oops"}, "f.yaml:2: invalid YAML: oops"},
		{&holdfast.Error{Code: holdfast.InvalidArgument, Message: "cannot read the policy file"}, "f.yaml: cannot read the policy file"},
		{errors.New("other"), "f.yaml: other"},
	} {
		if got := FormatError("f.yaml", tt.err); got != tt.want {
			t.Errorf("FormatError(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestDurationRoundTrip(t *testing.T) {
	for in, want := range map[string]string{
		"24h": "1d", "48h": "2d", "7d": "7d", "2d3h": "2d3h", "72h": "3d",
		"36h": "1d12h", "90m": "1h30m", "permanent": "permanent", "30d": "30d",
	} {
		d, err := holdfast.ParseDuration(in)
		if err != nil {
			t.Fatalf("ParseDuration(%q): %v", in, err)
		}
		if got := d.String(); got != want {
			t.Errorf("ParseDuration(%q).String() = %q, want %q", in, got, want)
		}
		if back, err := holdfast.ParseDuration(want); err != nil || back != d {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", want, back, err, d)
		}
	}

	// The whole default policy survives a trip through YAML: every duration
	// is written back in a form the parser reads to the same value.
	p := Default()
	out, err := yaml.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse(Marshal(Default())): %v\n%s", err, out)
	}
	if !reflect.DeepEqual(data(back), data(p)) {
		t.Errorf("the default policy changed in a round trip through YAML:\n%s", out)
	}
}
