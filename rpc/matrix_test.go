package rpc_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/policy"
)

// The role matrix: every procedure the schema defines, called with a token
// of every scope and, for staff, of every role. Expectations come from the
// API's documented scopes and from the default policy, never from the
// engine's answers.

// Make sure the generated files are linked in (the registry is filled by
// their init functions).
var _ = []protoreflect.FileDescriptor{
	holdfastv1.File_holdfast_v1_decision_proto, holdfastv1.File_holdfast_v1_restriction_proto,
	holdfastv1.File_holdfast_v1_selfservice_proto, holdfastv1.File_holdfast_v1_event_proto,
	holdfastv1.File_holdfast_v1_case_proto,
}

// callSpec is who may call a procedure and a minimal valid request for it;
// {account}, {rst} and {case} are filled in.
type callSpec struct {
	scopes []holdfast.Scope
	body   string
}

var (
	checkOnly  = []holdfast.Scope{holdfast.ScopeCheck}
	eventsOnly = []holdfast.Scope{holdfast.ScopeEvents}
	staffOnly  = []holdfast.Scope{holdfast.ScopeStaff}
	holderOrSt = []holdfast.Scope{holdfast.ScopeSelfService, holdfast.ScopeStaff}
	eventsOrSt = []holdfast.Scope{holdfast.ScopeEvents, holdfast.ScopeStaff}
)

// matrix is docs/api.md's scope table (and the CaseService's and
// ComplianceService's): a procedure missing here fails the test.
var matrix = map[string]callSpec{
	"/holdfast.v1.DecisionService/Check":               {checkOnly, `{"account":"{account}","action":"trade"}`},
	"/holdfast.v1.DecisionService/BatchCheck":          {checkOnly, `{"checks":[{"account":"{account}","action":"trade"}]}`},
	"/holdfast.v1.DecisionService/CheckStream":         {checkOnly, `{"checks":[{"account":"{account}","action":"trade"}]}`},
	"/holdfast.v1.DecisionService/AuthorizeWithdrawal": {checkOnly, `{"account":"{account}","id":"wd-{n}","asset":"BTC","amount":"0.1","address":"bc1q"}`},

	"/holdfast.v1.RestrictionService/Apply":          {staffOnly, `{"account":"{account}","kind":"reduce_only","reason":"m"}`},
	"/holdfast.v1.RestrictionService/Lift":           {staffOnly, `{"restriction":"{rst}","reason":"m"}`},
	"/holdfast.v1.RestrictionService/Extend":         {staffOnly, `{"restriction":"{rst}","by":"1h"}`},
	"/holdfast.v1.RestrictionService/Approve":        {staffOnly, `{"request":"apr_nosuch"}`},
	"/holdfast.v1.RestrictionService/ListApprovals":  {staffOnly, `{}`},
	"/holdfast.v1.RestrictionService/Get":            {staffOnly, `{"restriction":"{rst}"}`},
	"/holdfast.v1.RestrictionService/List":           {staffOnly, `{"account":"{account}"}`},
	"/holdfast.v1.RestrictionService/History":        {staffOnly, `{"account":"{account}"}`},
	"/holdfast.v1.RestrictionService/VerifyAudit":    {staffOnly, `{"account":"{account}"}`},
	"/holdfast.v1.RestrictionService/ListCommands":   {staffOnly, `{}`},
	"/holdfast.v1.RestrictionService/RedriveCommand": {staffOnly, `{"id":"cmd_nosuch"}`},

	"/holdfast.v1.SelfService/Freeze":                   {holderOrSt, `{"account":"{account}","duration":"24h"}`},
	"/holdfast.v1.SelfService/PanicLock":                {holderOrSt, `{"account":"{account}","duration":"24h"}`},
	"/holdfast.v1.SelfService/RequestUnfreeze":          {holderOrSt, `{"account":"{account}"}`},
	"/holdfast.v1.SelfService/Status":                   {holderOrSt, `{"account":"{account}"}`},
	"/holdfast.v1.SelfService/Verify":                   {eventsOrSt, `{"account":"{account}","factors":["email"]}`},
	"/holdfast.v1.SelfService/SecureAccount":            {holderOrSt, `{"account":"{account}"}`},
	"/holdfast.v1.SelfService/RevokeSession":            {holderOrSt, `{"account":"{account}","session":"s1"}`},
	"/holdfast.v1.SelfService/AddWhitelistAddress":      {holderOrSt, `{"account":"{account}","address":"bc1q{n}","network":"BTC"}`},
	"/holdfast.v1.SelfService/RemoveWhitelistAddress":   {holderOrSt, `{"account":"{account}","address":"bc1q"}`},
	"/holdfast.v1.SelfService/SetWhitelist":             {holderOrSt, `{"account":"{account}","enabled":true}`},
	"/holdfast.v1.SelfService/SetAntiPhishingCode":      {holderOrSt, `{"account":"{account}","code":"blue-heron"}`},
	"/holdfast.v1.SelfService/LockSettings":             {holderOrSt, `{"account":"{account}","unlock_delay":"1d"}`},
	"/holdfast.v1.SelfService/RequestSettingsUnlock":    {holderOrSt, `{"account":"{account}"}`},
	"/holdfast.v1.SelfService/CancelSettingsUnlock":     {holderOrSt, `{"account":"{account}"}`},
	"/holdfast.v1.SelfService/AddTrustedContact":        {holderOrSt, `{"account":"{account}","contact":"friend"}`},
	"/holdfast.v1.SelfService/RemoveTrustedContact":     {holderOrSt, `{"account":"{account}","contact":"friend"}`},
	"/holdfast.v1.SelfService/AcceptContactInvitation":  {holderOrSt, `{"account":"{account}","inviter":"friend"}`},
	"/holdfast.v1.SelfService/DeclineContactInvitation": {holderOrSt, `{"account":"{account}","inviter":"friend"}`},
	"/holdfast.v1.SelfService/GetSecurity":              {holderOrSt, `{"account":"{account}"}`},
	"/holdfast.v1.SelfService/LoginHistory":             {holderOrSt, `{"account":"{account}"}`},
	"/holdfast.v1.SelfService/SecurityCheckup":          {holderOrSt, `{"account":"{account}"}`},
	"/holdfast.v1.SelfService/SecurityHistory":          {holderOrSt, `{"account":"{account}"}`},
	"/holdfast.v1.SelfService/RevokeApiKey":             {holderOrSt, `{"account":"{account}","api_key":"k1"}`},
	"/holdfast.v1.SelfService/SetApiKeyIpWhitelist":     {holderOrSt, `{"account":"{account}","api_key":"k1","ip_whitelist":["10.0.0.1"]}`},

	"/holdfast.v1.EventService/Ingest":      {eventsOnly, `{"event":{"id":"mx-{n}","type":"login","account":"{account}","device":"d1"}}`},
	"/holdfast.v1.EventService/IngestBatch": {eventsOnly, `{"events":[{"id":"mxb-{n}","type":"login","account":"{account}","device":"d1"}]}`},

	"/holdfast.v1.CaseService/OpenCase":       {holderOrSt, `{"account":"{account}","type":"source_of_funds"}`},
	"/holdfast.v1.CaseService/AddCaseEntry":   {holderOrSt, `{"case":"{case}","account":"{account}","type":"statement","text":"hello"}`},
	"/holdfast.v1.CaseService/UploadEvidence": {holderOrSt, `{"case":"{case}","account":"{account}","name":"a.pdf","content":"JVBERi0xLjQK"}`},
	"/holdfast.v1.CaseService/GetEvidence":    {holderOrSt, `{"case":"{case}","account":"{account}","sha256":"{sha}"}`},
	"/holdfast.v1.CaseService/SetCaseState":   {holderOrSt, `{"case":"{case}","account":"{account}","state":"under_review"}`},
	"/holdfast.v1.CaseService/AssignCase":     {staffOnly, `{"case":"{case}","assignee":"admin"}`},
	"/holdfast.v1.CaseService/DecideCase":     {staffOnly, `{"case":"{case}","decision":"reject"}`},
	"/holdfast.v1.CaseService/GetCase":        {holderOrSt, `{"case":"{case}","account":"{account}"}`},
	"/holdfast.v1.CaseService/ListCases":      {holderOrSt, `{"account":"{account}"}`},

	"/holdfast.v1.ComplianceService/RecordSeizure": {staffOnly, `{"account":"{account}","asset":"BTC","amount":"1","reference":"ref-1"}`},
	"/holdfast.v1.ComplianceService/ListInNotice":  {staffOnly, `{}`},
	"/holdfast.v1.ComplianceService/AccountReport": {staffOnly, `{"account":"{account}"}`},

	"/holdfast.v1.PolicyService/PushPolicy":             {staffOnly, `{"yaml":"version: 1","comment":"m"}`},
	"/holdfast.v1.PolicyService/ListPolicyVersions":     {staffOnly, `{}`},
	"/holdfast.v1.PolicyService/GetPolicyVersion":       {staffOnly, `{"version":"deadbeef00"}`},
	"/holdfast.v1.PolicyService/DiffPolicy":             {staffOnly, `{"from":"deadbeef00","to":"deadbeef01"}`},
	"/holdfast.v1.PolicyService/ActivatePolicy":         {staffOnly, `{"version":"deadbeef00","reason":"m"}`},
	"/holdfast.v1.PolicyService/DecidePolicyActivation": {staffOnly, `{"id":"pac_nosuch"}`},
	"/holdfast.v1.PolicyService/ListPolicyActivations":  {staffOnly, `{}`},
	"/holdfast.v1.PolicyService/ShadowPolicy":           {staffOnly, `{"version":"deadbeef00","reason":"m"}`},
	"/holdfast.v1.PolicyService/ShadowReport":           {staffOnly, `{"version":"deadbeef00"}`},
	"/holdfast.v1.PolicyService/GetPolicyBacktest":      {staffOnly, `{"version":"deadbeef00"}`},
}

// roleTokens are the test staff, one per role (env_test.go's testStaff).
var roleTokens = map[holdfast.Role]string{
	holdfast.RoleSupport:    "alice",
	holdfast.RoleCompliance: "carol",
	holdfast.RoleLELiaison:  "lee",
	holdfast.RoleAdmin:      "admin",
}

// scopeTokens are a token of each scope: staff ones are every role's.
func scopeTokens() map[string]holdfast.Scope {
	out := map[string]holdfast.Scope{"check": holdfast.ScopeCheck, "events": holdfast.ScopeEvents, "self": holdfast.ScopeSelfService}
	for _, tok := range roleTokens {
		out[tok] = holdfast.ScopeStaff
	}
	return out
}

// procedures lists every method of every service of package holdfast.v1.
func procedures(t *testing.T) []string {
	t.Helper()
	var out []string
	protoregistry.GlobalFiles.RangeFilesByPackage("holdfast.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				out = append(out, "/"+string(sd.FullName())+"/"+string(sd.Methods().Get(j).Name()))
			}
		}
		return true
	})
	slices.Sort(out)
	if len(out) < 40 {
		t.Fatalf("found only %d procedures: %v", len(out), out)
	}
	return out
}

// outcome reads an answer: "ok", or the docs/design.md code of the error, and
// the error's field and message.
func outcome(t *testing.T, status int, body []byte) (code, field, msg string) {
	t.Helper()
	if status == 200 {
		return "ok", "", ""
	}
	got := decode(t, body)
	details, _ := got["details"].([]any)
	if len(details) != 1 {
		t.Fatalf("an error without its detail: %d %s", status, body)
	}
	d, _ := details[0].(map[string]any)["debug"].(map[string]any)
	field, _ = d["field"].(string)
	return fmt.Sprint(d["code"]), field, fmt.Sprint(d["message"])
}

// try calls and reads the answer: "ok" or the error's code, and the body.
func (e *caseEnv) try(token, procedure, body string) (string, []byte) {
	e.t.Helper()
	status, b := e.post(token, procedure, body)
	code, _, _ := outcome(e.t, status, b)
	return code, b
}

func TestScopeMatrix(t *testing.T) {
	e := newCaseEnv(t, 1<<20)
	ctx := context.Background()
	mixerDeposit(e.env, "mx-dep", "acct-m")
	rst := e.apply("carol", "acct-m", holdfast.KindReduceOnly, "")
	c, err := e.cases("self").OpenCase(ctx, req(&holdfastv1.OpenCaseRequest{Account: "acct-m", Type: "source_of_funds"}))
	if err != nil {
		t.Fatal(err)
	}
	up, err := e.cases("self").UploadEvidence(ctx, req(&holdfastv1.UploadEvidenceRequest{Case: c.Msg.Case.Id, Account: "acct-m", Name: "s.pdf", Content: []byte(pdfFile)}))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, proc := range procedures(t) {
		spec, ok := matrix[proc]
		if !ok {
			t.Errorf("%s has no expectation in the role matrix: add it", proc)
			continue
		}
		for tok, scope := range scopeTokens() {
			n++
			body := strings.NewReplacer("{account}", "acct-m", "{rst}", rst, "{case}", c.Msg.Case.Id, "{sha}", up.Msg.Evidence.Sha256, "{n}", fmt.Sprint(n)).Replace(spec.body)
			if tok != "self" {
				// Staff act as themselves; "account" on a case call
				// would make a token with self_service act as the holder.
				body = strings.Replace(body, `,"account":"acct-m"`, "", 1)
			}
			status, b := e.post(tok, proc, body)
			code, field, msg := outcome(t, status, b)
			allowed := slices.Contains(spec.scopes, scope)
			switch {
			case !allowed && code != "unauthenticated" && code != "permission_denied":
				t.Errorf("%s with a %s token (%s): %s %s; want unauthenticated or permission_denied", proc, scope, tok, code, b)
			case allowed && (code == "unauthenticated" || code == "internal" || (field == "authorization" && strings.Contains(msg, "lacks the scope"))):
				t.Errorf("%s with a %s token (%s): refused %s: %s", proc, scope, tok, code, b)
			}
		}
	}
	for proc := range matrix {
		if !slices.Contains(procedures(t), proc) {
			t.Errorf("the matrix names %s, which the schema does not define", proc)
		}
	}
}

// liftExpectation is the default policy's answer to role ending a
// restriction of kind early: directly (Lift), or by approving a case
// about it (viaCase). "ok", "pending" (a four-eyes request) or a code. A
// fresh account has met no precondition.
func liftExpectation(kp *holdfast.KindPolicy, role holdfast.Role, viaCase bool) string {
	if viaCase && !slices.Contains(kp.DecideCases, role) {
		return "permission_denied"
	}
	switch kp.Lift.Mode {
	case holdfast.LiftImmutable:
		return "immutable"
	case holdfast.LiftByCase:
		if viaCase {
			return "ok"
		}
		return "permission_denied"
	case holdfast.LiftByVerification:
		return "permission_denied"
	case holdfast.LiftFourEyes:
		if slices.Contains(kp.Lift.Ask, role) {
			return "pending"
		}
		return "permission_denied"
	}
	if !slices.Contains(kp.Lift.Roles, role) {
		return "permission_denied"
	}
	if len(kp.Lift.Requires[role]) > 0 {
		return "failed_precondition"
	}
	return "ok"
}

// seed applies kind to account as the system (which may apply any kind),
// with a reason only some roles may read.
func seed(t *testing.T, e *caseEnv, account string, kind holdfast.Kind) string {
	t.Helper()
	kp := e.engine.Policy().Kind(kind)
	d := kp.DefaultDuration
	if d == 0 {
		d = kp.MinDuration
	}
	if len(kp.Durations) > 0 {
		d = kp.Durations[0]
	}
	ar := holdfast.ApplyRequest{Account: account, Kind: kind, Duration: d, Reason: "matrix-reason", Reference: "ref-1", Actor: holdfast.System}
	if kind == holdfast.KindStepUpVerification {
		ar.Device = "d1"
	}
	r, err := e.engine.Apply(context.Background(), ar)
	if err != nil {
		t.Fatalf("seed %s on %s: %v", kind, account, err)
	}
	return r.ID
}

// TestPolicyMatrix: for every kind and staff role, Apply, Lift, reading
// the reason, deciding a case and recording a seizure answer as the
// default policy says.
func TestPolicyMatrix(t *testing.T) {
	e := newCaseEnv(t, 1<<20)
	pol := policy.Default()
	seizureRoles := pol.Kind(holdfast.KindLawEnforcementHold).Apply
	for _, kind := range holdfast.Kinds {
		kp := pol.Kind(kind)
		var caseType holdfast.CaseType
		for _, ct := range holdfast.CaseTypes {
			if tp := pol.Cases.Types[ct]; tp != nil && slices.Contains(tp.Ends, kind) {
				caseType = ct
				break
			}
		}
		seized := "sz-" + string(kind)
		seed(t, e, seized, kind)
		for _, role := range holdfast.Roles {
			tok := roleTokens[role]
			acct := func(what string) string { return what + "-" + string(kind) + "-" + string(role) }
			label := fmt.Sprintf("%s by %s", kind, role)

			// Apply.
			got, b := e.try(tok, "/holdfast.v1.RestrictionService/Apply", fmt.Sprintf(`{"account":%q,"kind":%q,"reason":"m","reference":"ref-1"%s}`, acct("ap"), kind, map[bool]string{true: `,"device":"d1"`}[kind == holdfast.KindStepUpVerification]))
			want := "permission_denied"
			if slices.Contains(kp.Apply, role) {
				want = "ok"
			}
			if got != want {
				t.Errorf("apply %s: %s, want %s: %s", label, got, want, b)
			}

			// Reading the reason.
			rst := seed(t, e, acct("lf"), kind)
			status, b := e.post(tok, "/holdfast.v1.RestrictionService/Get", fmt.Sprintf(`{"restriction":%q}`, rst))
			if status != 200 {
				t.Fatalf("get %s: %s", label, b)
			}
			sees := len(kp.SeeReason) == 0 || slices.Contains(kp.SeeReason, role)
			if got := strings.Contains(string(b), "matrix-reason"); got != sees {
				t.Errorf("reason of %s shown=%v, want %v: %s", label, got, sees, b)
			}

			// Lift.
			got, b = e.try(tok, "/holdfast.v1.RestrictionService/Lift", fmt.Sprintf(`{"restriction":%q,"reason":"m"}`, rst))
			if got, want := liftOutcome(t, got, b), liftExpectation(kp, role, false); got != want {
				t.Errorf("lift %s: %s, want %s: %s", label, got, want, b)
			}

			// Seizure records: the LE roles, on an account under an LE hold.
			got, b = e.try(tok, "/holdfast.v1.ComplianceService/RecordSeizure", fmt.Sprintf(`{"account":%q,"asset":"BTC","amount":"1","reference":"ref-1"}`, seized))
			want = "permission_denied"
			if slices.Contains(seizureRoles, role) {
				want = "failed_precondition"
				if kind == holdfast.KindLawEnforcementHold {
					want = "ok"
				}
			}
			if got != want {
				t.Errorf("seizure on %s: %s, want %s: %s", label, got, want, b)
			}

			// Deciding a case about the kind.
			if caseType == "" {
				status, b := e.post(tok, "/holdfast.v1.CaseService/OpenCase", fmt.Sprintf(`{"account":%q,"type":"source_of_funds","kind":%q}`, seized, kind))
				if got, field, _ := outcome(t, status, b); got != "invalid_argument" || field != "kind" {
					t.Errorf("no case type ends %s, yet a case about it: %s", kind, b)
				}
				continue
			}
			for _, decision := range []string{"reject", "approve"} {
				account := acct("dc" + decision[:1])
				seed(t, e, account, kind)
				code, b := e.try("self", "/holdfast.v1.CaseService/OpenCase", fmt.Sprintf(`{"account":%q,"type":%q,"kind":%q}`, account, caseType, kind))
				if code != "ok" {
					t.Fatalf("open a %s case about %s: %s", caseType, kind, b)
				}
				id := decode(t, b)["case"].(map[string]any)["id"].(string)
				code, b = e.try(tok, "/holdfast.v1.CaseService/DecideCase", fmt.Sprintf(`{"case":%q,"decision":%q,"reason":"m"}`, id, decision))
				want := liftExpectation(kp, role, true)
				if decision == "reject" {
					want = "permission_denied"
					if slices.Contains(kp.DecideCases, role) {
						want = "ok"
					}
				}
				if got := liftOutcome(t, code, b); got != want {
					t.Errorf("%s a %s case about %s: %s, want %s: %s", decision, caseType, label, got, want, b)
				}
			}
		}
	}
}

// liftOutcome reads a successful Lift or DecideCase answer: "pending"
// when it opened a four-eyes request, else "ok".
func liftOutcome(t *testing.T, code string, b []byte) string {
	t.Helper()
	if code != "ok" {
		return code
	}
	m := decode(t, b)
	if _, ok := m["pending"].(map[string]any); ok {
		return "pending"
	}
	if c, ok := m["case"].(map[string]any); ok {
		if p, _ := c["pending"].([]any); len(p) > 0 {
			return "pending"
		}
	}
	return "ok"
}
