package policy

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// edited parses the default policy after the edits and diffs it against
// the default.
func edited(t *testing.T, edits ...edit) []Change {
	t.Helper()
	text := string(DefaultYAML())
	for _, e := range edits {
		text = e.apply(t, text)
	}
	// Exactly as edited: a rule left out is gone, not inherited.
	p, err := ParseVersion([]byte(text))
	if err != nil {
		t.Fatalf("the edited policy is invalid: %v", err)
	}
	return Diff(Default(), p)
}

// TestDiffEdits diffs the default policy against real edits of its YAML
// and checks every change, in words and in machine form.
func TestDiffEdits(t *testing.T) {
	const apiBurst = "event.orders_per_minute > 100.0 || event.failure_rate > 0.5"
	tests := []struct {
		name  string
		edits []edit
		want  []Change
	}{
		{"comments and layout only", []edit{
			{"version: 1", "version: 1", "version: 1  # still one"},
			{"restricted_countries:", "[US]", "\n  - US"},
			{"high_risk:", "count: 3", "count:    3"},
		}, nil},
		{"a rule's threshold and duration", []edit{
			{"id: api_burst", "> 100.0", "> 50.0"},
			{"id: api_burst", "duration: 24h", "duration: 12h"},
		}, []Change{
			{OpChanged, "rules[api_burst].when", apiBurst, strings.Replace(apiBurst, "100.0", "50.0", 1),
				`rule api_burst: when "event.orders_per_minute > 100.0 || event.failure_rate > 0.5" → "event.orders_per_minute > 50.0 || event.failure_rate > 0.5"`},
			{OpChanged, "rules[api_burst].then[0].apply.duration", "1d", "12h", "rule api_burst: then apply reduce_only duration 1d → 12h"},
		}},
		{"a rule's actions", []edit{
			{"id: api_burst", "command: cancel_spot_orders", "command: cancel_all_orders"},
			{"id: aml_alert_high", "      - command: cancel_all_orders\n", ""},
			{"id: duress_signal", "silent: true}", "silent: true}\n      - command: revoke_sessions"},
		}, []Change{
			{OpChanged, "rules[api_burst].then[1]", "command cancel_spot_orders", "command cancel_all_orders", "rule api_burst: then command cancel_spot_orders → command cancel_all_orders"},
			{OpRemoved, "rules[aml_alert_high].then[1]", "command cancel_all_orders", "", "rule aml_alert_high: then removed command cancel_all_orders"},
			{OpAdded, "rules[duress_signal].then[1]", "", "command revoke_sessions", "rule duress_signal: then added command revoke_sessions"},
		}},
		{"a rule added and one removed", []edit{
			{"rules:", "  - id: api_burst", "  - id: big_deposit\n    on: [deposit]\n    when: event.usd_value > 1000000.0\n    then:\n      - apply: {kind: withdrawal_freeze}\n\n  - id: api_burst"},
			{"rules:", "  - id: scam_interaction\n    on: [scam_interaction]\n    evidence: [event.address]\n    then:\n      - apply: {kind: scam_protection}\n", ""},
		}, []Change{
			{OpRemoved, "rules[scam_interaction]", `{"id":"scam_interaction","on":["scam_interaction"],"evidence":["event.address"],"then":[{"apply":{"kind":"scam_protection"}}]}`, "",
				"rule scam_interaction: removed (was rules[15]: on [scam_interaction] then apply scam_protection)"},
			{OpAdded, "rules[big_deposit]", "", `{"id":"big_deposit","on":["deposit"],"when":"event.usd_value > 1000000.0","then":[{"apply":{"kind":"withdrawal_freeze"}}]}`,
				`rule big_deposit: added at rules[8]: on [deposit] when "event.usd_value > 1000000.0" then apply withdrawal_freeze`},
		}},
		{"a rule moved", []edit{
			{"rules:", "  - id: kyc_accepted\n    on: [kyc_status]\n    when: event.status == \"ok\"\n    then:\n      - lift: kyc_required\n", ""},
			{"rules:", "  - id: login_restricted_country", "  - id: kyc_accepted\n    on: [kyc_status]\n    when: event.status == \"ok\"\n    then:\n      - lift: kyc_required\n\n  - id: login_restricted_country"},
		}, []Change{
			{OpMoved, "rules[kyc_accepted]", "17", "0", "rule kyc_accepted: moved from rules[17] to rules[0] (before login_restricted_country)"},
		}},
		{"a threshold", []edit{{"withdrawal_review:", "single_usd: 100000", "single_usd: 50000"}}, []Change{
			{OpChanged, "withdrawal_review.single_usd", "100000", "50000", "withdrawal_review.single_usd: 100000 → 50000"},
		}},
		{"a list of names", []edit{{"restricted_countries:", "[US]", "[KP, CU]"}}, []Change{
			{OpChanged, "restricted_countries", `["US"]`, `["KP","CU"]`, "restricted_countries: + KP, + CU, − US"},
		}},
		{"a list reordered", []edit{{"self_service:", "panic_lock_extension_approve: [compliance, admin]", "panic_lock_extension_approve: [admin, compliance]"}}, []Change{
			{OpChanged, "self_service.panic_lock_extension_approve", `["compliance","admin"]`, `["admin","compliance"]`, "self_service.panic_lock_extension_approve: reordered [compliance, admin] → [admin, compliance]"},
		}},
		{"an effect through deny and review", []edit{{"  withdrawal_freeze:", "deny: [withdraw, internal_transfer, p2p_trade]", "deny: [internal_transfer, p2p_trade], review: [withdraw]"}}, []Change{
			{OpChanged, "kinds.withdrawal_freeze.effects.withdraw", "deny", "review", "kind withdrawal_freeze: effect on withdraw deny → review"},
		}},
		{"an effect through deny_all_except", []edit{{"  permanent_ban:", "deny_all_except: [login, view]", "deny_all_except: [login, view, withdraw]"}}, []Change{
			{OpChanged, "kinds.permanent_ban.effects.withdraw", "deny", "allow", "kind permanent_ban: effect on withdraw deny → allow"},
		}},
		{"blocks rewritten with the same effects", []edit{{"  settings_lock:", "deny: [change_security_settings, add_withdrawal_address, create_api_key]", "deny_all_except: [login, view, trade, reduce_position, withdraw, internal_transfer, p2p_trade, api_access, deposit]"}}, []Change{
			{OpChanged, "kinds.settings_lock.blocks.deny", `["change_security_settings","add_withdrawal_address","create_api_key"]`, `[]`,
				"kind settings_lock: blocks (same effects) deny − change_security_settings, − add_withdrawal_address, − create_api_key"},
			{OpChanged, "kinds.settings_lock.blocks.deny_all_except", `[]`, `["login","view","trade","reduce_position","withdraw","internal_transfer","p2p_trade","api_access","deposit"]`,
				"kind settings_lock: blocks (same effects) deny_all_except + login, + view, + trade, + reduce_position, + withdraw, + internal_transfer, + p2p_trade, + api_access, + deposit"},
		}},
		{"a kind's durations, roles and on_lift", []edit{
			{"  settings_lock:", "max_duration: 30d", "max_duration: 14d"},
			{"security:", "settings_unlock_delay_max: 30d", "settings_unlock_delay_max: 14d"},
			{"  reduce_only:", "roles: [support, compliance]", "roles: [compliance, admin]"},
			{"  compromise_lock:", "on_lift: {tag: previously_compromised, apply: recovery_cooldown, for: 7d}", "on_lift: {tag: previously_compromised}"},
		}, []Change{
			{OpChanged, "kinds.reduce_only.lift.roles", `["support","compliance"]`, `["compliance","admin"]`, "kind reduce_only: lift roles + admin, − support"},
			{OpChanged, "kinds.compromise_lock.on_lift.apply", "recovery_cooldown", "", "kind compromise_lock: on_lift apply recovery_cooldown → (none)"},
			{OpChanged, "kinds.compromise_lock.on_lift.for", "7d", "", "kind compromise_lock: on_lift for 7d → (none)"},
			{OpChanged, "kinds.settings_lock.max_duration", "30d", "14d", "kind settings_lock: max_duration 30d → 14d"},
			{OpChanged, "security.settings_unlock_delay_max", "30d", "14d", "security.settings_unlock_delay_max: 30d → 14d"},
		}},
		{"a holder's steps", []edit{{"  c2c_freeze:", "        - P2P trading resumes when the appeal is decided.\n", ""}}, []Change{
			{OpChanged, "kinds.c2c_freeze.holder.resolution",
				`["Open a P2P appeal case (c2c_appeal) for the disputed order.","Attach payment receipts or banking screenshots and the order chat.","P2P trading resumes when the appeal is decided."]`,
				`["Open a P2P appeal case (c2c_appeal) for the disputed order.","Attach payment receipts or banking screenshots and the order chat."]`,
				`kind c2c_freeze: holder resolution − "P2P trading resumes when the appeal is decided."`},
		}},
		{"a holder message", []edit{{"  c2c_freeze:", "until it is settled.", "until it is resolved."}}, []Change{
			{OpChanged, "kinds.c2c_freeze.holder.message",
				"A P2P trade on your account is in dispute, so P2P trading is paused until it is settled. The rest of your account works as usual.",
				"A P2P trade on your account is in dispute, so P2P trading is paused until it is resolved. The rest of your account works as usual.",
				`kind c2c_freeze: holder message "A P2P trade on your account is in dispute, so P2P trading is paused until it is settled. The rest of your account works as usual." → "A P2P trade on your account is in dispute, so P2P trading is paused until it is resolved. The rest of your account works as usual."`},
		}},
		{"a case type and a key permission", []edit{
			{"    kyc_document:", "due: 2d", "due: 1d"},
			{"key_permissions:", "withdraw: [withdraw, internal_transfer, add_withdrawal_address]", "withdraw: [withdraw, add_withdrawal_address]"},
		}, []Change{
			{OpChanged, "cases.types.kyc_document.due", "2d", "1d", "cases.types.kyc_document.due: 2d → 1d"},
			{OpChanged, "security.key_permissions.withdraw", `["withdraw","internal_transfer","add_withdrawal_address"]`, `["withdraw","add_withdrawal_address"]`, "security.key_permissions.withdraw: − internal_transfer"},
		}},
		{"gateway routes", []edit{
			{"routes:", "path: /api/v1/withdrawals, action: withdraw", "path: /api/v1/withdrawals, action: internal_transfer"},
			{"routes:", "    - {method: GET, path: /api/v1/*, action: view}\n", "    - {method: GET, path: /api/v1/status, action: login}\n    - {method: GET, path: /api/v1/*, action: view}\n"},
			{"unmapped:", "safe: allow", "safe: deny"},
		}, []Change{
			{OpChanged, "gateway.routes[4]", "POST /api/v1/withdrawals withdraw", "POST /api/v1/withdrawals internal_transfer", "gateway route 4: POST /api/v1/withdrawals withdraw → POST /api/v1/withdrawals internal_transfer"},
			{OpAdded, "gateway.routes[12]", "", "GET /api/v1/status login", "gateway route 12: added GET /api/v1/status login"},
			{OpChanged, "gateway.unmapped.safe", "allow", "deny", "gateway.unmapped.safe: allow → deny"},
		}},
		{"a default filled in makes no difference", []edit{
			{"gateway:", "    header: X-Account-Id\n", ""},
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := edited(t, tt.edits...)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %d changes:\n%s\nwant %d:\n%s", len(got), dump(got), len(tt.want), dump(tt.want))
			}
		})
	}
}

func dump(cs []Change) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "  {%q, %q, %q, %q, %q}\n", c.Op, c.Path, c.Old, c.New, c.Text)
	}
	return b.String()
}

func TestDiffSame(t *testing.T) {
	if cs := Diff(Default(), Default()); len(cs) != 0 {
		t.Fatalf("the default against itself: %s", dump(cs))
	}
}

// TestDiffEveryField changes every field, list and map entry reachable in
// the default policy, one at a time, in a copy, and checks that Diff
// reports it under the field's path.
func TestDiffEveryField(t *testing.T) {
	base := Default()
	sites := mutations(reflect.ValueOf(base).Elem(), "", nil)
	if len(sites) < 1000 {
		t.Fatalf("only %d mutations: the walk misses most of the policy", len(sites))
	}
	for _, s := range sites {
		p := deepCopy(reflect.ValueOf(base)).Interface().(*holdfast.Policy)
		navigate(reflect.ValueOf(p).Elem(), s.steps, s.mutate)
		if cs := Diff(base, deepCopy(reflect.ValueOf(base)).Interface().(*holdfast.Policy)); len(cs) != 0 {
			t.Fatalf("a copy differs: %s", dump(cs))
		}
		cs := Diff(base, p)
		if len(cs) == 0 {
			t.Errorf("%s (%s): no change reported", s.path, s.what)
			continue
		}
		want := expectedPath(base, s.path)
		if !slices.ContainsFunc(cs, func(c Change) bool { return within(c.Path, want) || within(want, c.Path) }) {
			t.Errorf("%s (%s): no change names %s:\n%s", s.path, s.what, want, dump(cs))
		}
		for _, c := range cs {
			if c.Text == "" || c.Path == "" || c.Op == "" {
				t.Errorf("%s (%s): incomplete change %+v", s.path, s.what, c)
			}
		}
	}
	t.Logf("%d mutations", len(sites))
}

// within reports whether path is prefix or inside it.
func within(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+".") || strings.HasPrefix(path, prefix+"[")
}

// expectedPath turns a YAML path into the one Diff names: rules by id,
// a kind's blocks as the kind (its effects or its blocks).
func expectedPath(p *holdfast.Policy, path string) string {
	var i int
	if n, _ := fmt.Sscanf(path, "rules[%d]", &i); n == 1 {
		rest := strings.TrimPrefix(path, fmt.Sprintf("rules[%d]", i))
		if rest == ".id" {
			return "rules"
		}
		return "rules[" + p.Rules[i].ID + "]" + rest
	}
	if strings.HasPrefix(path, "kinds.") {
		if k, _, ok := strings.Cut(path, ".blocks"); ok {
			return k
		}
	}
	return path
}

// step goes one level down a value: into a field, pointer, element or
// map entry.
type step struct {
	field int
	index int
	key   reflect.Value
	op    byte // 'f', 'p', 'i', 'k'
}

type site struct {
	path, what string
	steps      []step
	mutate     func(reflect.Value)
}

func navigate(v reflect.Value, steps []step, leaf func(reflect.Value)) {
	if len(steps) == 0 {
		leaf(v)
		return
	}
	s := steps[0]
	switch s.op {
	case 'f':
		navigate(v.Field(s.field), steps[1:], leaf)
	case 'p':
		navigate(v.Elem(), steps[1:], leaf)
	case 'i':
		navigate(v.Index(s.index), steps[1:], leaf)
	case 'k':
		// Map entries are not addressable: change a copy, put it back.
		e := reflect.New(v.Type().Elem()).Elem()
		e.Set(v.MapIndex(s.key))
		navigate(e, steps[1:], leaf)
		v.SetMapIndex(s.key, e)
	}
}

func with(steps []step, s step) []step { return append(slices.Clone(steps), s) }

// mutations lists a change for every reachable value of v.
func mutations(v reflect.Value, path string, steps []step) []site {
	var out []site
	leaf := func(what string, f func(reflect.Value)) {
		out = append(out, site{path: path, what: what, steps: steps, mutate: f})
	}
	if isScalar(v.Type()) {
		leaf("change", changeScalar)
		return out
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			leaf("set", func(v reflect.Value) { v.Set(reflect.New(v.Type().Elem())) })
			return out
		}
		leaf("clear", func(v reflect.Value) { v.Set(reflect.Zero(v.Type())) })
		out = append(out, mutations(v.Elem(), path, with(steps, step{op: 'p'}))...)
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			if name := yamlName(t.Field(i)); name != "" {
				p := name
				if path != "" {
					p = path + "." + name
				}
				out = append(out, mutations(v.Field(i), p, with(steps, step{op: 'f', field: i}))...)
			}
		}
	case reflect.Map:
		leaf("add an entry", func(v reflect.Value) {
			k := reflect.New(v.Type().Key()).Elem()
			k.SetString("zz_added")
			if v.IsNil() {
				v.Set(reflect.MakeMap(v.Type()))
			}
			e := reflect.New(v.Type().Elem()).Elem()
			if e.Kind() == reflect.Pointer {
				e.Set(reflect.New(e.Type().Elem()))
			}
			v.SetMapIndex(k, e)
		})
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			p := path + "." + k.String()
			out = append(out, site{path: p, what: "delete the entry", steps: steps, mutate: func(v reflect.Value) { v.SetMapIndex(k, reflect.Value{}) }})
			out = append(out, mutations(v.MapIndex(k), p, with(steps, step{op: 'k', key: k}))...)
		}
	case reflect.Slice:
		leaf("append", func(v reflect.Value) {
			e := reflect.New(v.Type().Elem()).Elem()
			if isScalar(e.Type()) {
				changeScalar(e)
			}
			v.Set(reflect.Append(v, e))
		})
		if v.Len() > 0 {
			leaf("remove the first", func(v reflect.Value) { v.Set(v.Slice(1, v.Len())) })
		}
		for i := range v.Len() {
			p := fmt.Sprintf("%s[%d]", path, i)
			out = append(out, mutations(v.Index(i), p, with(steps, step{op: 'i', index: i}))...)
		}
	}
	return out
}

// changeScalar sets v to a different value of its type.
func changeScalar(v reflect.Value) {
	if v.Type() == reflect.TypeFor[holdfast.Duration]() {
		d := holdfast.Duration(v.Int())
		if d <= 0 {
			d = 0
		}
		v.SetInt(int64(d + holdfast.Duration(time.Hour)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(v.Float()*2 + 1)
	default:
		panic("no change for " + v.Type().String())
	}
}

// deepCopy copies the exported, file-backed parts of a policy value (the
// compiled tables are left out; Diff does not read them).
func deepCopy(v reflect.Value) reflect.Value {
	out := reflect.New(v.Type()).Elem()
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			out.Set(reflect.New(v.Type().Elem()))
			out.Elem().Set(deepCopy(v.Elem()))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				out.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
	case reflect.Map:
		if !v.IsNil() {
			out.Set(reflect.MakeMap(v.Type()))
			for _, k := range v.MapKeys() {
				out.SetMapIndex(k, deepCopy(v.MapIndex(k)))
			}
		}
	case reflect.Slice:
		if !v.IsNil() {
			out.Set(reflect.MakeSlice(v.Type(), v.Len(), v.Len()))
			for i := range v.Len() {
				out.Index(i).Set(deepCopy(v.Index(i)))
			}
		}
	default:
		out.Set(v)
	}
	return out
}
