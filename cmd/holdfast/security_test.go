package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// TestSecurityCLI: the holder's security commands against a running server,
// with a token that acts for holders (self_service) and reports events.
func TestSecurityCLI(t *testing.T) {
	url, dir := server(t)
	t.Setenv("HOLDFAST_SERVER", url)
	t.Setenv("HOLDFAST_TOKEN", "")
	code, tok, errw := cli(t, "token", "create", "--data", dir, "--scopes", "self_service,events,check")
	if code != 0 {
		t.Fatal(errw)
	}
	t.Setenv("HOLDFAST_TOKEN", strings.TrimSpace(tok))
	for _, a := range []string{"acct-1", "friend-1"} {
		if code, _, errw := cli(t, "event", "--type", "login", "--account", a, "--device", "d1", "--country", "DE", "--session", "s1"); code != 0 {
			t.Fatal(errw)
		}
	}

	for _, k := range []string{"k1", "k2"} {
		if code, _, errw := cli(t, "event", "--type", "api_key_created", "--account", "acct-5", "--api-key", k, "--permissions", "read,trade", "--ip-whitelist", "10.0.0.0/8"); code != 0 {
			t.Fatal(errw)
		}
	}

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // regexp
		stderr string // prefix
	}{
		{"session works", []string{"check", "--account", "acct-1", "--action", "trade", "--session", "s1"}, 0, `^allow\n`, ""},
		{"secure", []string{"secure", "acct-1"}, 0,
			`(?s)^secured acct-1\nrevoked 1 session\(s\) and 0 API key\(s\)\nrst_\w+  self_freeze on acct-1\n  from \S+ until \S+, applied by user:acct-1\n`, ""},
		{"session revoked", []string{"check", "--account", "acct-1", "--action", "trade", "--session", "s1", "--json"}, 0,
			`(?s)"effect": "deny".*\{\s*"code": "unauthenticated",\s*"effect": "deny",`, ""},
		{"secure again", []string{"secure", "acct-1", "--json"}, 0, `(?s)"sessions_revoked": 0,.*"repeat": true`, ""},
		{"secure needs an account", []string{"secure"}, 2, ``, "error: invalid_argument: holdfast secure takes ACCOUNT, got 0 argument(s)"},
		{"whitelist add", []string{"whitelist", "add", "acct-2", "bc1qaddr", "--network", "btc", "--label", "Cold wallet"}, 0, `^bc1qaddr \(BTC\) is on acct-2's whitelist, usable from \S+Z\n$`, ""},
		{"whitelist add as JSON", []string{"whitelist", "add", "acct-2", "bc1qaddr", "--network", "BTC", "--json"}, 0, `(?s)"address": "bc1qaddr",.*"usable": false,.*"network": "BTC",.*"label": "Cold wallet"`, ""},
		{"whitelist add needs a network", []string{"whitelist", "add", "acct-2", "bc1qother"}, 1, ``, "error: invalid_argument: network is required"},
		{"whitelist add while frozen", []string{"whitelist", "add", "acct-1", "bc1qaddr", "--network", "BTC"}, 1, ``,
			"error: failed_precondition: add_withdrawal_address is blocked on this account now (field account)"},
		{"whitelist add needs an address", []string{"whitelist", "add", "acct-2"}, 2, ``, "error: invalid_argument: holdfast whitelist add takes ACCOUNT ADDRESS"},
		{"checkup", []string{"security", "checkup", "acct-2"}, 0,
			`(?s)^security checkup of acct-2 at \S+: \d+ findings\n.*  \[medium\] whitelist_off: Withdrawals can go to any address.\n    fix: Turn on the withdrawal whitelist.\n`, ""},
		{"whitelist enable", []string{"whitelist", "enable", "acct-2"}, 0, `^withdrawal whitelist on for acct-2\n$`, ""},
		{"show", []string{"security", "show", "acct-2"}, 0, `(?s)withdrawal whitelist: on, 1 address\(es\)\n    bc1qaddr  BTC "Cold wallet", added `, ""},
		{"history", []string{"security", "history", "acct-2", "--limit", "2"}, 0,
			`(?s)^AT\s+WHAT\s+BY\s+KIND\s+DETAILS\n\S+\s+whitelist_enabled\s+holder\s+-\s+-\n\S+\s+whitelist_address_added\s+holder\s+-\s+bc1qaddr BTC\nolder: --before \d+\n$`, ""},
		{"logins", []string{"security", "logins", "acct-1", "--limit", "5"}, 0, `(?s)^AT\s+DEVICE\s+COUNTRY\s+IP\s+SESSION\s+EVENT\n\S+\s+d1\s+DE\s+-\s+s1\s+evt_\w+\n$`, ""},
		{"anti-phishing code", []string{"anti-phishing", "set", "acct-2", "Tulip-7781"}, 0, `^anti-phishing code set for acct-2\n$`, ""},
		{"show hides the code", []string{"security", "show", "acct-2", "--json"}, 0, `"anti_phishing_code_set": true`, ""},
		{"lock needs a delay", []string{"settings", "lock", "acct-3"}, 2, ``, "error: invalid_argument: --unlock-delay is required"},
		{"unknown contact", []string{"freeze", "--account", "acct-3", "--duration", "24h", "--as-contact", "friend-1"}, 1, ``, "error: permission_denied: "},
		{"a contact needs an account", []string{"contacts", "add", "acct-3", "nobody-1"}, 1, ``, "error: not_found: there is no account nobody-1"},
		{"invite a contact", []string{"contacts", "add", "acct-3", "friend-1"}, 0, `^friend-1 is invited to be a trusted contact of acct-3: they may act once they accept`, ""},
		{"an invited contact cannot act", []string{"freeze", "--account", "acct-3", "--duration", "24h", "--as-contact", "friend-1"}, 1, ``, "error: permission_denied: trusted_contact:friend-1 is invited as a trusted contact of this account but has not accepted yet"},
		{"accept an invitation nobody sent", []string{"contacts", "accept", "friend-1", "acct-4"}, 1, ``, "error: not_found: "},
		{"accept the invitation", []string{"contacts", "accept", "friend-1", "acct-3"}, 0, `^friend-1 is now a trusted contact of acct-3\n$`, ""},
		{"an accepted contact acts", []string{"freeze", "--account", "acct-3", "--duration", "24h", "--as-contact", "friend-1"}, 0, `self_freeze`, ""},
		{"lock", []string{"settings", "lock", "acct-4", "--unlock-delay", "7d"}, 0, `(?s)^security settings of acct-4 locked; .*settings_lock on acct-4\n`, ""},
		{"unlock", []string{"settings", "unlock", "acct-4"}, 0, `^unlock requested for acct-4: the settings unlock at \S+Z\n`, ""},
		{"cancel unlock", []string{"settings", "cancel-unlock", "acct-4"}, 0, `(?s)^unlock cancelled for acct-4: .*until lifted`, ""},
		{"contact while locked", []string{"contacts", "add", "acct-4", "friend-1"}, 1, ``, "error: failed_precondition: "},
		{"revoke a key", []string{"keys", "revoke", "acct-5", "k1"}, 0, `^API key k1 of acct-5 revoked\n$`, ""},
		{"revoked key", []string{"check", "--account", "acct-5", "--action", "trade", "--api-key", "k1", "--ip", "10.1.2.3", "--json"}, 0,
			`(?s)"effect": "deny".*"code": "unauthenticated"`, ""},
		{"narrow a key", []string{"keys", "ip-whitelist", "acct-5", "k2", "--ips", "10.1.0.0/16, 10.2.3.4"}, 0, `^API key k2 of acct-5 may be used from 10.1.0.0/16, 10.2.3.4\n$`, ""},
		{"key whitelist needs --ips", []string{"keys", "ip-whitelist", "acct-5", "k2"}, 2, ``, "error: invalid_argument: --ips is required"},
		{"revoke an unknown session", []string{"sessions", "revoke", "acct-1", "s9"}, 1, ``, "error: not_found: session s9 not found (field session)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errw := cli(t, tt.args...)
			if code != tt.code || !regexp.MustCompile(tt.stdout).MatchString(out) || !strings.HasPrefix(errw, tt.stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout matching %q, stderr starting %q", code, out, errw, tt.code, tt.stdout, tt.stderr)
			}
		})
	}

	// --json is the API's own answer, and never carries the code.
	_, out, _ := cli(t, "security", "show", "acct-2", "--json")
	var sec map[string]any
	if err := json.Unmarshal([]byte(out), &sec); err != nil || strings.Contains(out, "Tulip-7781") || sec["whitelist"] == nil {
		t.Fatalf("security show --json: %v\n%s", err, out)
	}
}
