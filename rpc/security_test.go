package rpc_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
)

// The holder's security operations on SelfService, through JSON over HTTP
// against the real server and store.

const selfPath = "/holdfast.v1.SelfService/"

// call posts a JSON body to a SelfService method and returns the status
// and the decoded answer (an error answer's object on failure).
func (e *env) call(token, method, body string) (int, map[string]any) {
	e.t.Helper()
	status, b := e.post(token, selfPath+method, body)
	return status, decode(e.t, b)
}

// ok calls and fails the test unless the call succeeds.
func (e *env) ok(token, method, body string) map[string]any {
	e.t.Helper()
	status, got := e.call(token, method, body)
	if status != 200 {
		e.t.Fatalf("%s %s as %s: status %d: %v", method, body, token, status, got)
	}
	return got
}

// check asks the DecisionService over JSON and returns the answer.
func (e *env) check(body string) map[string]any {
	e.t.Helper()
	status, b := e.post("check", "/holdfast.v1.DecisionService/Check", body)
	if status != 200 {
		e.t.Fatalf("check %s: status %d: %s", body, status, b)
	}
	return decode(e.t, b)
}

// detail returns the ErrorDetail of a JSON error answer, failing the test
// unless its code is want.
func detail(t *testing.T, got map[string]any, want string) map[string]any {
	t.Helper()
	details, _ := got["details"].([]any)
	if len(details) != 1 {
		t.Fatalf("want a %s error with one detail, got %v", want, got)
	}
	d, _ := details[0].(map[string]any)["debug"].(map[string]any)
	if d["code"] != want {
		t.Fatalf("error code = %v, want %s: %v", d["code"], want, got)
	}
	return d
}

// causeWith returns the first cause of a list whose key has value, or nil.
func causeWith(v any, key, value string) map[string]any {
	list, _ := v.([]any)
	for _, c := range list {
		if m, _ := c.(map[string]any); m[key] == value {
			return m
		}
	}
	return nil
}

// TestSecureAccountJSON: a login's session works until secure_account,
// which freezes the account and revokes the session; a check naming it is
// then denied as unauthenticated, and a second press repeats nothing.
func TestSecureAccountJSON(t *testing.T) {
	e := newEnv(t)
	e.ingestJSON(`{"type":"login","account":"acct-s","device":"d1","country":"DE","ip":"203.0.113.7","session":"s1"}`)
	const trade = `{"account":"acct-s","action":"trade","session":"s1"}`
	if got := e.check(trade); got["effect"] != "allow" {
		t.Fatalf("before secure_account: %v", got)
	}

	res := e.ok("self", "SecureAccount", `{"account":"acct-s"}`)
	freeze, _ := res["freeze"].(map[string]any)
	if freeze["kind"] != "self_freeze" || freeze["applied_by"] != "user:acct-s" || res["sessions_revoked"] != 1.0 || res["keys_revoked"] != 0.0 || res["repeat"] != false {
		t.Fatalf("secure_account = %v", res)
	}
	ends, err := time.Parse(time.RFC3339, fmt.Sprint(freeze["ends_at"]))
	if err != nil || time.Until(ends) < 6*24*time.Hour {
		t.Errorf("freeze ends %v (%v), want about 7d from now", freeze["ends_at"], err)
	}

	got := e.check(trade)
	c := causeWith(got["causes"], "code", "unauthenticated")
	if got["effect"] != "deny" || c == nil || c["effect"] != "deny" || c["message"] == "" {
		t.Fatalf("check naming the revoked session = %v", got)
	}
	// The credential cause says only what failed: no id, kind or times.
	if _, body := e.post("check", "/holdfast.v1.DecisionService/Check", trade); !strings.Contains(string(body), `{"code":"unauthenticated","effect":"deny","message":"`) {
		t.Errorf("credential cause as JSON: %s", body)
	}
	got = e.check(`{"account":"acct-s","action":"withdraw"}`)
	if got["effect"] != "deny" || causeWith(got["causes"], "kind", "self_freeze") == nil {
		t.Errorf("withdraw after secure_account = %v", got)
	}

	again := e.ok("self", "SecureAccount", `{"account":"acct-s"}`)
	if again["repeat"] != true || again["sessions_revoked"] != 0.0 || again["freeze"].(map[string]any)["id"] != freeze["id"] {
		t.Errorf("second secure_account = %v, want a repeat of freeze %v", again, freeze["id"])
	}
}

// TestAPIKeyChecks: a key's permissions and IP whitelist decide checks
// naming it, with the credential's code on the cause.
func TestAPIKeyChecks(t *testing.T) {
	e := newEnv(t)
	e.ingestJSON(`{"type":"api_key_created","account":"acct-k","api_key":"k1","permissions":["read","trade"],"ip_whitelist":["10.0.0.0/8"]}`)
	tests := []struct {
		name, check, effect, code string
	}{
		{"permitted, inside the whitelist", `{"account":"acct-k","action":"trade","api_key":"k1","ip":"10.1.2.3"}`, "allow", ""},
		{"outside the whitelist", `{"account":"acct-k","action":"trade","api_key":"k1","ip":"192.168.1.1"}`, "deny", "permission_denied"},
		{"without the permission", `{"account":"acct-k","action":"withdraw","api_key":"k1","ip":"10.1.2.3"}`, "deny", "permission_denied"},
		{"unknown key", `{"account":"acct-k","action":"trade","api_key":"k2","ip":"10.1.2.3"}`, "deny", "unauthenticated"},
	}
	run := func(name, check, effect, code string) {
		t.Run(name, func(t *testing.T) {
			got := e.check(check)
			if got["effect"] != effect {
				t.Fatalf("effect = %v, want %s: %v", got["effect"], effect, got)
			}
			if code != "" && causeWith(got["causes"], "code", code) == nil {
				t.Fatalf("no cause with code %s: %v", code, got)
			}
		})
	}
	for _, tt := range tests {
		run(tt.name, tt.check, tt.effect, tt.code)
	}
	e.ingestJSON(`{"type":"api_key_revoked","account":"acct-k","api_key":"k1"}`)
	run("revoked", tests[0].check, "deny", "unauthenticated")

	sec := e.ok("self", "GetSecurity", `{"account":"acct-k"}`)
	k := causeWith(sec["api_keys"], "id", "k1")
	if k == nil || k["active"] != false || k["revoked_at"] == nil || fmt.Sprint(k["permissions"]) != "[read trade]" || fmt.Sprint(k["ip_whitelist"]) != "[10.0.0.0/8]" {
		t.Errorf("api_keys = %v", sec["api_keys"])
	}
}

// TestHolderKeyControlsJSON: the holder narrows a key's IP whitelist
// (checks follow at once), widening it starts a cooling-off, and a key
// the holder revoked fails Check as unauthenticated; the exchange is told
// both through the outbox, and the history says what happened.
func TestHolderKeyControlsJSON(t *testing.T) {
	e := newEnv(t)
	e.ingestJSON(`{"type":"api_key_created","account":"acct-h","api_key":"bot","permissions":["read","trade"],"ip_whitelist":["10.0.0.0/8"]}`)
	inside := `{"account":"acct-h","action":"trade","api_key":"bot","ip":"10.1.2.3"}`
	if got := e.check(inside); got["effect"] != "allow" {
		t.Fatalf("the new key: %v", got)
	}
	res := e.ok("self", "SetApiKeyIpWhitelist", `{"account":"acct-h","api_key":"bot","ip_whitelist":["10.9.0.0/16"," 10.9.0.0/16"]}`)
	if k := res["key"].(map[string]any); fmt.Sprint(k["ip_whitelist"]) != "[10.9.0.0/16]" || k["active"] != true {
		t.Errorf("narrowed key = %v", res)
	}
	if got := e.check(inside); got["effect"] != "deny" || causeWith(got["causes"], "code", "permission_denied") == nil {
		t.Errorf("outside the narrowed whitelist: %v", got)
	}
	if got := e.check(`{"account":"acct-h","action":"withdraw"}`); got["effect"] != "allow" {
		t.Errorf("narrowing started a restriction: %v", got)
	}
	status, got := e.call("self", "SetApiKeyIpWhitelist", `{"account":"acct-h","api_key":"bot","ip_whitelist":["10.9.0.0/33"]}`)
	if d := detail(t, got, "invalid_argument"); status != 400 || d["field"] != "ip_whitelist" {
		t.Errorf("a bad prefix: %d %v", status, got)
	}
	e.ok("self", "SetApiKeyIpWhitelist", `{"account":"acct-h","api_key":"bot"}`)
	if got := e.check(`{"account":"acct-h","action":"withdraw"}`); got["effect"] != "deny" || causeWith(got["causes"], "kind", "cooling_off") == nil {
		t.Errorf("withdraw after widening a key to any address: %v", got)
	}

	res = e.ok("self", "RevokeApiKey", `{"account":"acct-h","api_key":"bot"}`)
	if k := res["key"].(map[string]any); k["active"] != false || k["revoked_at"] == nil {
		t.Errorf("revoked key = %v", res)
	}
	got = e.check(inside)
	if got["effect"] != "deny" || causeWith(got["causes"], "code", "unauthenticated") == nil {
		t.Errorf("a check with the revoked key: %v", got)
	}
	status, got = e.call("self", "RevokeApiKey", `{"account":"acct-h","api_key":"nope"}`)
	if d := detail(t, got, "not_found"); status != 404 || d["field"] != "api_key" {
		t.Errorf("revoking an unknown key: %d %v", status, got)
	}
	status, _ = e.call("self", "RevokeApiKey", `{"account":"acct-other","api_key":"bot"}`)
	if status == 200 {
		t.Error("a key was revoked on another account")
	}

	var told []string
	cmds, err := e.db.ListCommands(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range cmds {
		if c := d.Command; c.Account == "acct-h" && (c.Type == holdfast.CommandRevokeAPIKey || c.Type == holdfast.CommandAPIKeyIPWhitelist) {
			told = append(told, string(c.Type)+" "+c.Data["api_key"]+" "+c.Data["ip_whitelist"])
		}
	}
	slices.Sort(told)
	if want := []string{"api_key_ip_whitelist_changed bot ", "api_key_ip_whitelist_changed bot 10.9.0.0/16", "revoke_api_key bot "}; !slices.Equal(told, want) {
		t.Errorf("commands to the exchange: %q, want %q", told, want)
	}

	h := e.ok("self", "SecurityHistory", `{"account":"acct-h"}`)
	var whats []string
	for _, it := range h["items"].([]any) {
		m := it.(map[string]any)
		whats = append(whats, fmt.Sprint(m["what"], "/", m["by"], "/", m["subject"], "/", m["kind"]))
	}
	want := []string{
		"api_key_revoked/holder/bot/<nil>",
		// The change's record follows the cooling-off it started.
		"api_key_ip_whitelist_changed/holder/bot/<nil>",
		"restriction_applied/automatic/<nil>/cooling_off",
		"api_key_ip_whitelist_changed/holder/bot/<nil>",
		"api_key_created/<nil>/bot/<nil>",
	}
	if !slices.Equal(whats, want) {
		t.Errorf("history items:\n%s\nwant\n%s", strings.Join(whats, "\n"), strings.Join(want, "\n"))
	}
	status, got = e.call("self", "SecurityHistory", `{"account":"acct-h","limit":201}`)
	if d := detail(t, got, "invalid_argument"); status != 400 || d["field"] != "limit" {
		t.Errorf("a limit over 200: %d %v", status, got)
	}
}

// TestWhitelistJSON: an address waits for the policy's delay; adding one is
// refused during a cooling_off, with the causes in the error; turning the
// whitelist off needs enabled said outright.
func TestWhitelistJSON(t *testing.T) {
	e := newEnv(t)
	res := e.ok("self", "AddWhitelistAddress", `{"account":"acct-w","address":"bc1qaddr1","network":"btc","label":"Cold wallet"}`)
	added, err1 := time.Parse(time.RFC3339, fmt.Sprint(res["added_at"]))
	usable, err2 := time.Parse(time.RFC3339, fmt.Sprint(res["usable_at"]))
	if res["address"] != "bc1qaddr1" || res["network"] != "BTC" || res["label"] != "Cold wallet" || res["usable"] != false || err1 != nil || err2 != nil || usable.Sub(added) != 24*time.Hour {
		t.Fatalf("add_whitelist_address = %v", res)
	}
	e.ok("self", "SetWhitelist", `{"account":"acct-w","enabled":true}`)
	sec := e.ok("self", "GetSecurity", `{"account":"acct-w"}`)
	wl, _ := sec["whitelist"].(map[string]any)
	if a := causeWith(wl["addresses"], "address", "bc1qaddr1"); wl["enabled"] != true || a == nil || a["network"] != "BTC" || a["label"] != "Cold wallet" {
		t.Errorf("whitelist = %v", sec["whitelist"])
	}
	// The network is required and one of the policy's; the label short.
	for body, field := range map[string]string{
		`{"account":"acct-w","address":"bc1qaddr3"}`:                                                           "network",
		`{"account":"acct-w","address":"bc1qaddr3","network":"DOGE"}`:                                          "network",
		`{"account":"acct-w","address":"bc1qaddr3","network":"BTC","label":"` + strings.Repeat("x", 41) + `"}`: "label",
		`{"account":"acct-w","address":"bc1qaddr1","network":"ETH"}`:                                           "network",
	} {
		status, got := e.call("self", "AddWhitelistAddress", body)
		code := "invalid_argument"
		if strings.Contains(body, `"bc1qaddr1","network":"ETH"`) {
			code = "conflict" // whitelisted on BTC already
		}
		if d := detail(t, got, code); status == 200 || d["field"] != field {
			t.Errorf("AddWhitelistAddress %s: %d %v, want %s on %s", body, status, got, code, field)
		}
	}
	status, got := e.call("self", "SetWhitelist", `{"account":"acct-w"}`)
	if status != 400 || detail(t, got, "invalid_argument")["field"] != "enabled" {
		t.Errorf("set_whitelist without enabled: %d %v", status, got)
	}

	e.ingestJSON(`{"type":"password_changed","account":"acct-c","device":"d1"}`)
	status, got = e.call("self", "AddWhitelistAddress", `{"account":"acct-c","address":"bc1qaddr2","network":"ETH"}`)
	d := detail(t, got, "failed_precondition")
	if status != 400 || got["code"] != "failed_precondition" || causeWith(d["causes"], "kind", "cooling_off") == nil {
		t.Fatalf("whitelist add during a cooling_off: %d %v", status, got)
	}
	if sec := e.ok("self", "GetSecurity", `{"account":"acct-c"}`); len(sec["whitelist"].(map[string]any)["addresses"].([]any)) != 0 {
		t.Errorf("refused address was kept: %v", sec["whitelist"])
	}
}

// TestSettingsLockJSON: a locked account refuses security changes until the
// unlock delay has run after a request; cancelling drops the end again.
func TestSettingsLockJSON(t *testing.T) {
	e := newEnv(t)
	status, got := e.call("self", "LockSettings", `{"account":"acct-l","unlock_delay":"3 weeks"}`)
	if status != 400 || detail(t, got, "invalid_argument")["field"] != "unlock_delay" {
		t.Fatalf("bad unlock_delay: %d %v", status, got)
	}
	res := e.ok("self", "LockSettings", `{"account":"acct-l","unlock_delay":"7d"}`)
	lock, _ := res["restriction"].(map[string]any)
	if lock["kind"] != "settings_lock" || lock["ends_at"] != nil {
		t.Fatalf("lock_settings = %v", res)
	}
	status, got = e.call("self", "AddTrustedContact", `{"account":"acct-l","contact":"friend-1"}`)
	if d := detail(t, got, "failed_precondition"); status != 400 || causeWith(d["causes"], "kind", "settings_lock") == nil {
		t.Fatalf("add_trusted_contact while locked: %d %v", status, got)
	}

	res = e.ok("self", "RequestSettingsUnlock", `{"account":"acct-l"}`)
	ends, err := time.Parse(time.RFC3339, fmt.Sprint(res["restriction"].(map[string]any)["ends_at"]))
	if err != nil || time.Until(ends) < 6*24*time.Hour || time.Until(ends) > 7*24*time.Hour {
		t.Fatalf("request_settings_unlock = %v", res)
	}
	sec := e.ok("self", "GetSecurity", `{"account":"acct-l"}`)
	sl, _ := sec["settings_lock"].(map[string]any)
	if sl["restriction"] != lock["id"] || sl["unlock_delay"] != "7d" || sl["unlock_requested_at"] == nil || sl["unlock_attempts"] != 1.0 {
		t.Errorf("settings_lock = %v", sec["settings_lock"])
	}
	res = e.ok("self", "CancelSettingsUnlock", `{"account":"acct-l"}`)
	if r := res["restriction"].(map[string]any); r["ends_at"] != nil {
		t.Errorf("cancel_settings_unlock = %v", res)
	}
	if status, got := e.call("self", "CancelSettingsUnlock", `{"account":"acct-l"}`); status != 400 {
		t.Errorf("second cancel: %d %v", status, got)
	} else {
		detail(t, got, "failed_precondition")
	}
}

// TestTrustedContactJSON: the exchange's backend freezes and panic-locks
// for a contact the holder named and who accepted; anyone else is
// refused, an invited contact too.
func TestTrustedContactJSON(t *testing.T) {
	e := newEnv(t)
	e.holder("friend-1")
	for _, tt := range []struct{ contact, code string }{{"acct-t", "invalid_argument"}, {"nobody-1", "not_found"}} {
		status, got := e.call("self", "AddTrustedContact", `{"account":"acct-t","contact":"`+tt.contact+`"}`)
		if d := detail(t, got, tt.code); status == 200 || d["field"] != "contact" {
			t.Errorf("add %s as a contact: %d %v", tt.contact, status, got)
		}
	}
	e.ok("self", "AddTrustedContact", `{"account":"acct-t","contact":"friend-1"}`)
	if sec := e.ok("self", "GetSecurity", `{"account":"acct-t"}`); fmt.Sprint(sec["trusted_contacts"]) != "[]" {
		t.Fatalf("trusted_contacts before accepting = %v", sec["trusted_contacts"])
	}
	status, got := e.call("self", "Freeze", `{"account":"acct-t","duration":"24h","trusted_contact":"friend-1"}`)
	if detail(t, got, "permission_denied"); status != 403 {
		t.Fatalf("freeze by an invited contact: %d %v", status, got)
	}
	// Both sides see the invitation; the invited holder answers through
	// the API as in the Security Center.
	if sec := e.ok("self", "GetSecurity", `{"account":"acct-t"}`); !strings.Contains(fmt.Sprint(sec["invited_contacts"]), "account:friend-1") {
		t.Errorf("invited_contacts = %v", sec["invited_contacts"])
	}
	if sec := e.ok("self", "GetSecurity", `{"account":"friend-1"}`); !strings.Contains(fmt.Sprint(sec["contact_invitations"]), "account:acct-t") {
		t.Errorf("contact_invitations = %v", sec["contact_invitations"])
	}
	status, got = e.call("self", "AcceptContactInvitation", `{"account":"friend-1","inviter":"acct-other"}`)
	if d := detail(t, got, "not_found"); status == 200 || d["field"] != "inviter" {
		t.Errorf("accept an invitation nobody sent: %d %v", status, got)
	}
	e.ok("self", "AcceptContactInvitation", `{"account":"friend-1","inviter":"acct-t"}`)
	if sec := e.ok("self", "GetSecurity", `{"account":"acct-t"}`); fmt.Sprint(sec["trusted_contacts"]) != "[friend-1]" || fmt.Sprint(sec["invited_contacts"]) != "[]" {
		t.Fatalf("trusted_contacts = %v, invited_contacts = %v", sec["trusted_contacts"], sec["invited_contacts"])
	}
	// A declined invitation is gone on both sides.
	e.holder("friend-2")
	e.ok("self", "AddTrustedContact", `{"account":"acct-t","contact":"friend-2"}`)
	e.ok("self", "DeclineContactInvitation", `{"account":"friend-2","inviter":"acct-t"}`)
	if sec := e.ok("self", "GetSecurity", `{"account":"acct-t"}`); fmt.Sprint(sec["trusted_contacts"]) != "[friend-1]" || fmt.Sprint(sec["invited_contacts"]) != "[]" {
		t.Errorf("after a decline: trusted_contacts = %v, invited_contacts = %v", sec["trusted_contacts"], sec["invited_contacts"])
	}

	res := e.ok("self", "Freeze", `{"account":"acct-t","duration":"24h","trusted_contact":"friend-1"}`)
	if r := res["restriction"].(map[string]any); r["kind"] != "self_freeze" || r["applied_by"] != "trusted_contact:friend-1" {
		t.Fatalf("freeze by a contact = %v", res)
	}
	res = e.ok("self", "PanicLock", `{"account":"acct-t","trusted_contact":"friend-1"}`)
	if r := res["restriction"].(map[string]any); r["kind"] != "panic_lock" || r["applied_by"] != "trusted_contact:friend-1" {
		t.Fatalf("panic lock by a contact = %v", res)
	}
	if got := e.check(`{"account":"acct-t","action":"withdraw"}`); got["effect"] != "deny" {
		t.Errorf("withdraw after the contact's locks = %v", got)
	}

	tests := []struct {
		name, token, method, body, code, field string
	}{
		{"unknown contact freezes", "self", "Freeze", `{"account":"acct-t","duration":"24h","trusted_contact":"stranger"}`, "permission_denied", ""},
		{"unknown contact panic-locks", "self", "PanicLock", `{"account":"acct-t","trusted_contact":"stranger"}`, "permission_denied", ""},
		{"a contact of another account", "self", "Freeze", `{"account":"acct-other","duration":"24h","trusted_contact":"friend-1"}`, "permission_denied", ""},
		{"staff token as a contact", "alice", "Freeze", `{"account":"acct-t","duration":"24h","trusted_contact":"friend-1"}`, "permission_denied", "trusted_contact"},
		{"bad contact id", "self", "Freeze", `{"account":"acct-t","duration":"24h","trusted_contact":"a b"}`, "invalid_argument", "trusted_contact"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, got := e.call(tt.token, tt.method, tt.body)
			d := detail(t, got, tt.code)
			if status == 200 || (tt.field != "" && d["field"] != tt.field) {
				t.Fatalf("%d %v", status, got)
			}
		})
	}
	// While frozen, the contact cannot be removed (a security change)...
	status, got = e.call("self", "RemoveTrustedContact", `{"account":"acct-t","contact":"friend-1"}`)
	if d := detail(t, got, "failed_precondition"); status != 400 || causeWith(d["causes"], "kind", "self_freeze") == nil {
		t.Errorf("remove a contact while frozen: %d %v", status, got)
	}
	// ...otherwise removing one takes the power away.
	e.contact("acct-t2", "friend-2")
	e.ok("self", "RemoveTrustedContact", `{"account":"acct-t2","contact":"friend-2"}`)
	status, got = e.call("self", "Freeze", `{"account":"acct-t2","duration":"48h","trusted_contact":"friend-2"}`)
	if detail(t, got, "permission_denied"); status != 403 {
		t.Errorf("freeze by a removed contact: %d %v", status, got)
	}
}

// TestSecurityOverviewJSON: the overview says a code is set but never
// shows it, to the holder or staff; login history and the checkup read
// what the events reported.
func TestSecurityOverviewJSON(t *testing.T) {
	e := newEnv(t)
	const code = "Tulip-7781"
	e.ingestJSON(`{"id":"login-1","type":"login","account":"acct-o","device":"d1","country":"DE","ip":"203.0.113.7","session":"s1"}`)
	e.ingestJSON(`{"id":"login-2","type":"login","account":"acct-o","device":"d1","country":"DE","ip":"203.0.113.8","session":"s2"}`)
	e.ok("self", "SetAntiPhishingCode", `{"account":"acct-o","code":"`+code+`"}`)
	status, got := e.call("self", "SetAntiPhishingCode", `{"account":"acct-o","code":"ab"}`)
	if d := detail(t, got, "invalid_argument"); status != 400 || d["field"] != "code" {
		t.Errorf("short code: %d %v", status, got)
	}

	for _, token := range []string{"self", "alice"} {
		status, body := e.post(token, selfPath+"GetSecurity", `{"account":"acct-o"}`)
		if status != 200 || strings.Contains(string(body), code) || !strings.Contains(string(body), `"anti_phishing_code_set":true`) {
			t.Errorf("GetSecurity as %s: %d %s", token, status, body)
		}
		sec := decode(t, body)
		if s := causeWith(sec["sessions"], "id", "s2"); s == nil || s["active"] != true || s["device"] != "d1" || s["ip"] != "203.0.113.8" {
			t.Errorf("sessions = %v", sec["sessions"])
		}
		if d := causeWith(sec["devices"], "id", "d1"); d == nil || d["first_seen"] == nil {
			t.Errorf("devices = %v", sec["devices"])
		}
	}
	// A holder signs one device out.
	e.ok("self", "RevokeSession", `{"account":"acct-o","session":"s1"}`)
	if got := e.check(`{"account":"acct-o","action":"view","session":"s1"}`); got["effect"] != "deny" || causeWith(got["causes"], "code", "unauthenticated") == nil {
		t.Errorf("revoked session = %v", got)
	}
	if got := e.check(`{"account":"acct-o","action":"view","session":"s2"}`); got["effect"] != "allow" {
		t.Errorf("other session = %v", got)
	}
	status, got = e.call("self", "RevokeSession", `{"account":"acct-o","session":"s9"}`)
	if d := detail(t, got, "not_found"); status != 404 || d["field"] != "session" {
		t.Errorf("unknown session: %d %v", status, got)
	}

	logins := e.ok("self", "LoginHistory", `{"account":"acct-o","limit":1}`)["logins"].([]any)
	if len(logins) != 1 {
		t.Fatalf("logins = %v", logins)
	}
	if l := logins[0].(map[string]any); l["id"] != "login-2" || l["session"] != "s2" || l["device"] != "d1" || l["country"] != "DE" || l["ip"] != "203.0.113.8" || l["at"] == nil {
		t.Errorf("latest login = %v", l)
	}
	if all := e.ok("alice", "LoginHistory", `{"account":"acct-o"}`)["logins"].([]any); len(all) != 2 {
		t.Errorf("staff login history = %v", all)
	}
	status, got = e.call("self", "LoginHistory", `{"account":"acct-o","limit":-1}`)
	if d := detail(t, got, "invalid_argument"); status != 400 || d["field"] != "limit" {
		t.Errorf("negative limit: %d %v", status, got)
	}
}

// TestSecurityStaff: staff read the checkup but may not act for the holder;
// a token without the scope may do neither.
func TestSecurityStaff(t *testing.T) {
	e := newEnv(t)
	got := e.ok("alice", "SecurityCheckup", `{"account":"acct-x"}`)
	findings, _ := got["findings"].([]any)
	if got["account"] != "acct-x" || got["at"] == nil || len(findings) == 0 {
		t.Fatalf("checkup = %v", got)
	}
	f := causeWith(findings, "code", "whitelist_off")
	if f == nil || f["severity"] != "medium" || f["message"] == "" || f["fix"] == "" {
		t.Errorf("findings = %v", findings)
	}
	if _, ok := f["subject"]; ok {
		t.Errorf("a finding without a subject shows one: %v", f)
	}
	e.ok("self", "SecurityCheckup", `{"account":"acct-x"}`)

	for _, tt := range []struct{ token, method, body string }{
		{"alice", "SecureAccount", `{"account":"acct-x"}`},
		{"admin", "SetWhitelist", `{"account":"acct-x","enabled":false}`},
		{"admin", "AddTrustedContact", `{"account":"acct-x","contact":"friend-1"}`},
		{"events", "SecureAccount", `{"account":"acct-x"}`},
		{"check", "GetSecurity", `{"account":"acct-x"}`},
	} {
		status, got := e.call(tt.token, tt.method, tt.body)
		if detail(t, got, "permission_denied"); status != 403 {
			t.Errorf("%s as %s: %d %v", tt.method, tt.token, status, got)
		}
	}
	if n := e.history("acct-x"); n != 0 {
		t.Errorf("refused calls left %d audit entries", n)
	}
}

// TestSecurityRateLimit: each operation is limited per account (the
// default policy: 10 a minute); another account is unaffected.
func TestSecurityRateLimit(t *testing.T) {
	e := newEnv(t)
	for i := range 10 {
		if status, got := e.call("self", "SetWhitelist", `{"account":"acct-r","enabled":true}`); status != 200 {
			t.Fatalf("call %d: %d %v", i+1, status, got)
		}
	}
	status, got := e.call("self", "SetWhitelist", `{"account":"acct-r","enabled":true}`)
	if detail(t, got, "resource_exhausted"); status != 429 {
		t.Fatalf("11th call: %d %v", status, got)
	}
	e.ok("self", "SetWhitelist", `{"account":"acct-r2","enabled":true}`)
}
