package rpc_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/holdfast/holdfast/blob"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/notify"
	"github.com/holdfast/holdfast/web"
)

// TestHiddenHoldLooksLikeTermsViolation applies a disclosed terms_violation
// to one account and a law-enforcement hold (hidden by its kind) to
// another, renders every surface a holder reaches — checks, withdrawal
// decisions, status, security overview and checkup, a blocked operation's
// error, appeals naming the restriction, notifications and the Security
// Center's pages — and, with the account names, restriction ids and times
// made alike, requires the two to be identical: comparing notes with a
// holder under a real terms_violation must not reveal the hold.
func TestHiddenHoldLooksLikeTermsViolation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	evidence, err := blob.NewDir(filepath.Join(t.TempDir(), "evidence"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	holderKey := []byte("0123456789abcdef0123456789abcdef-holder")
	pages, err := web.New(web.Config{Engine: e.engine, Staff: e.db, Evidence: evidence, HolderKey: holderKey,
		SessionKey: []byte("0123456789abcdef0123456789abcdef-session"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	site := httptest.NewServer(pages)
	t.Cleanup(site.Close)

	const tv, le = "acct-tv", "acct-le"
	for _, a := range []string{tv, le} {
		// Both holders signed in once, from their first device.
		if status, body := e.post("events", "/holdfast.v1.EventService/Ingest", `{"event":{"type":"login","account":"`+a+`","device":"phone","session":"s1"}}`); status != 200 {
			t.Fatalf("login %s: %d %s", a, status, body)
		}
	}
	idTV := e.apply("carol", tv, holdfast.KindTermsViolation, "")
	idLE := e.apply("lee", le, holdfast.KindLawEnforcementHold, "")

	render := func(account, realID string) (map[string]string, string) {
		out := map[string]string{}
		api := func(name, token, procedure, body string) map[string]any {
			status, b := e.post(token, procedure, strings.ReplaceAll(body, "ACCT", account))
			out[name] = fmt.Sprintf("%d %s", status, b)
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			return m
		}
		for _, a := range holdfast.Actions {
			api("check "+string(a), "check", "/holdfast.v1.DecisionService/Check", `{"account":"ACCT","action":"`+string(a)+`","view":"holder"}`)
		}
		api("batch", "check", "/holdfast.v1.DecisionService/BatchCheck", `{"checks":[{"account":"ACCT","action":"withdraw","view":"holder"},{"account":"ACCT","action":"login","view":"holder"}]}`)
		for _, try := range []string{"withdrawal", "withdrawal replayed"} {
			api(try, "check", "/holdfast.v1.DecisionService/AuthorizeWithdrawal", `{"account":"ACCT","id":"w-1","asset":"USDT","amount":"5","usd_value":"5","address":"a1","view":"holder"}`)
		}
		st := api("status", "self", "/holdfast.v1.SelfService/Status", `{"account":"ACCT"}`)
		api("security", "self", "/holdfast.v1.SelfService/GetSecurity", `{"account":"ACCT"}`)
		api("checkup", "self", "/holdfast.v1.SelfService/SecurityCheckup", `{"account":"ACCT"}`)
		api("whitelist add", "self", "/holdfast.v1.SelfService/AddWhitelistAddress", `{"account":"ACCT","address":"addr-1","network":"BTC"}`)
		api("history", "self", "/holdfast.v1.SelfService/SecurityHistory", `{"account":"ACCT"}`)
		api("anti-phishing", "self", "/holdfast.v1.SelfService/SetAntiPhishingCode", `{"account":"ACCT","code":"kiwi"}`)
		// The holder appeals the restriction by the id their status shows.
		shown := ""
		if cs, _ := st["causes"].([]any); len(cs) == 1 {
			shown, _ = cs[0].(map[string]any)["id"].(string)
		}
		api("appeal by id", "self", "/holdfast.v1.CaseService/OpenCase", `{"account":"ACCT","type":"c2c_appeal","restriction":"`+shown+`"}`)
		api("appeal by kind", "self", "/holdfast.v1.CaseService/OpenCase", `{"account":"ACCT","type":"c2c_appeal","kind":"terms_violation"}`)
		api("appeal by type", "self", "/holdfast.v1.CaseService/OpenCase", `{"account":"ACCT","type":"unlock_request"}`)
		api("appeals", "self", "/holdfast.v1.CaseService/ListCases", `{"account":"ACCT"}`)

		// Notifications, as the holder would read them.
		n, err := notify.New(oneRecipient{}, notify.Config{})
		if err != nil {
			t.Fatal(err)
		}
		cmds, err := e.db.ListCommands(ctx, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		var notes []string
		for _, d := range slices.Backward(cmds) {
			c := d.Command
			if c.Account != account || c.Type != holdfast.CommandNotifyHolder {
				continue
			}
			subject, body, err := n.Render(&c, notify.Recipient{Email: "holder@example.com"})
			data, _ := json.Marshal(c.Data)
			notes = append(notes, fmt.Sprintf("%s %s\n%s\n%s\n%v", c.Notice, data, subject, body, err))
		}
		out["notifications"] = strings.Join(notes, "\n--\n")

		// The Security Center, signed in as the holder.
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		tok, err := web.MintHolderToken(holderKey, account, 10*time.Minute, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		page := func(name string, do func() (*http.Response, error)) {
			res, err := do()
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			out[name] = fmt.Sprintf("%d %s %s", res.StatusCode, res.Header.Get("Location"), b)
		}
		page("sign-in", func() (*http.Response, error) { return c.Get(site.URL + "/me/login?token=" + tok) })
		for _, p := range []string{"/me/", "/me/checkup", "/me/appeals", "/me/devices", "/me/keys", "/me/whitelist", "/me/settings", "/me/history"} {
			page("page "+p, func() (*http.Response, error) { return c.Get(site.URL + p) })
		}
		page("page whitelist add", func() (*http.Response, error) {
			return c.PostForm(site.URL+"/me/whitelist/add", url.Values{"address": {"addr-2"}, "network": {"BTC"}})
		})
		page("page appeal", func() (*http.Response, error) {
			return c.PostForm(site.URL+"/me/appeals", url.Values{"type": {"c2c_appeal"}, "statement": {"please"}})
		})

		all, _ := json.Marshal(out)
		if strings.Contains(string(all), realID) != (account == tv) {
			t.Errorf("%s: the real id %s shown: %v (only a disclosed one's may be)", account, realID, account == tv)
		}
		return out, shown
	}
	gotTV, shownTV := render(tv, idTV)
	gotLE, shownLE := render(le, idLE)
	if shownTV != idTV || !regexp.MustCompile(`^rst_[a-z2-7]{16}$`).MatchString(shownLE) {
		t.Errorf("ids shown: %q for the terms_violation (real %s), %q for the hold", shownTV, idTV, shownLE)
	}
	for _, k := range []string{"law_enforcement", "ref-" + le} {
		if all, _ := json.Marshal(gotLE); strings.Contains(string(all), k) {
			t.Errorf("the holder can read %q", k)
		}
	}

	// The hold's alias is stable: a second look shows the same id.
	if _, again := render(le, idLE); again != shownLE {
		t.Errorf("the hold's id changed between reads: %q, then %q", shownLE, again)
	}

	binary := regexp.MustCompile(`"value":"([A-Za-z0-9+/=]*)"`)
	norm := func(account, shown, s string) string {
		// An error's detail travels as a binary message too: compare it
		// as JSON.
		s = binary.ReplaceAllStringFunc(s, func(m string) string {
			raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(binary.FindStringSubmatch(m)[1], "="))
			var d holdfastv1.ErrorDetail
			if err != nil || proto.Unmarshal(raw, &d) != nil {
				return m
			}
			return `"value":` + protojson.Format(&d)
		})
		s = strings.ReplaceAll(s, account, "ACCT")
		if shown != "" {
			s = strings.ReplaceAll(s, shown, "RST")
		}
		s = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`).ReplaceAllString(s, "TIME")
		s = regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d UTC`).ReplaceAllString(s, "TIME")
		return regexp.MustCompile(`case_[a-z2-7]{16}`).ReplaceAllString(s, "CASE")
	}
	for _, name := range slices.Sorted(maps.Keys(gotTV)) {
		a, b := norm(tv, shownTV, gotTV[name]), norm(le, shownLE, gotLE[name])
		if a != b {
			t.Errorf("%s differs:\nterms_violation: %s\nhidden hold:     %s", name, a, b)
		}
	}

	// Staff with the right role still see the real kind.
	_, body := e.post("check", "/holdfast.v1.DecisionService/Check", `{"account":"`+le+`","action":"withdraw","view":"staff"}`)
	if !strings.Contains(string(body), `"kind":"law_enforcement_hold"`) || !strings.Contains(string(body), idLE) {
		t.Errorf("staff view of the hold's check: %s", body)
	}
	_, body = e.post("lee", "/holdfast.v1.SelfService/Status", `{"account":"`+le+`","view":"staff"}`)
	if !strings.Contains(string(body), `"kind":"law_enforcement_hold"`) || !strings.Contains(string(body), idLE) {
		t.Errorf("the LE liaison's status of the account: %s", body)
	}
}

// oneRecipient gives every holder the same address, for rendering notices.
type oneRecipient struct{}

func (oneRecipient) Recipient(context.Context, string) (notify.Recipient, error) {
	return notify.Recipient{Email: "holder@example.com"}, nil
}
