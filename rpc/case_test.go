package rpc_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/blob"
	"github.com/holdfast/holdfast/engine"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/gen/holdfast/v1/holdfastv1connect"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/rpc"
	"github.com/holdfast/holdfast/sqlite"
)

// shiftClock is the wall clock moved forward by what a test advanced it.
type shiftClock struct{ off atomic.Int64 }

func (c *shiftClock) Now() time.Time          { return time.Now().UTC().Add(time.Duration(c.off.Load())) }
func (c *shiftClock) advance(d time.Duration) { c.off.Add(int64(d)) }

// caseEnv is env with an evidence store (a real directory) and a clock the
// test can move.
type caseEnv struct {
	*env
	clock *shiftClock
}

// newCaseEnv is newEnv with Evidence (at most maxEvidence bytes a file)
// and a movable clock.
func newCaseEnv(t *testing.T, maxEvidence int64) *caseEnv {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	evidence, err := blob.NewDir(t.TempDir(), maxEvidence)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := rpc.NewMetrics()
	clock := &shiftClock{}
	eng, err := engine.New(ctx, engine.Config{Store: m.Store(db), Policy: policy.Default(), Clock: clock, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(rpc.Handler(rpc.Config{Engine: eng, Staff: db, Metrics: m, Logger: log, Evidence: evidence, MaxEvidenceBytes: maxEvidence}))
	srv.Config.Protocols = rpc.NewHTTPServer("", nil).Protocols
	srv.Start()
	t.Cleanup(srv.Close)

	e := &env{t: t, db: db, engine: eng, srv: srv, tokens: map[string]string{}}
	for id, roles := range testStaff {
		if err := db.PutStaff(ctx, &holdfast.StaffMember{ID: id, Roles: roles, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		e.mint(id, []holdfast.Scope{holdfast.ScopeStaff}, id)
	}
	for name, scopes := range testTokens {
		e.mint(name, scopes, "")
	}
	return &caseEnv{env: e, clock: clock}
}

// withBearer sends the named token.
func (e *caseEnv) withBearer(name string) connect.ClientOption {
	secret := e.tokens[name]
	return connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+secret)
			return next(ctx, req)
		}
	}))
}

func (e *caseEnv) cases(token string) holdfastv1connect.CaseServiceClient {
	return holdfastv1connect.NewCaseServiceClient(e.srv.Client(), e.srv.URL, e.withBearer(token))
}

func (e *caseEnv) compliance(token string) holdfastv1connect.ComplianceServiceClient {
	return holdfastv1connect.NewComplianceServiceClient(e.srv.Client(), e.srv.URL, e.withBearer(token))
}

func req[T any](m *T) *connect.Request[T] { return connect.NewRequest(m) }

// pngFile is a real PNG of a w×h gradient.
func pngFile(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			img.Set(x, y, color.RGBA{uint8(x * 7), uint8(y * 13), uint8((x * y) % 251), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

const pdfFile = "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func mixerDeposit(e *env, id, account string) {
	e.t.Helper()
	res := e.ingestJSON(`{"id":"` + id + `","type":"deposit","account":"` + account + `","asset":"BTC","amount":"0.5","usd_value":"30000","source_risk":"mixer"}`)
	if got := kinds(e.t, res["applied"]); len(got) != 1 || got[0] != "withdrawal_freeze" {
		e.t.Fatalf("mixer deposit applied %v, want a withdrawal_freeze", got)
	}
}

// TestSourceOfFundsCase: a holder appeals a mixer-deposit freeze with a
// statement and files, staff review it, and compliance approves keeping
// the suspicious amount held.
func TestSourceOfFundsCase(t *testing.T) {
	e := newCaseEnv(t, rpc.DefaultMaxEvidenceBytes)
	ctx := context.Background()
	mixerDeposit(e.env, "dep-1", "acct-sof")

	holder := e.cases("self")
	opened, err := holder.OpenCase(ctx, req(&holdfastv1.OpenCaseRequest{Account: "acct-sof", Type: "source_of_funds", Statement: "The BTC came from my own wallet."}))
	if err != nil {
		t.Fatal(err)
	}
	c := opened.Msg.Case
	if c.State != "open" || c.Account != "acct-sof" || len(c.Restrictions) != 1 || c.OpenedBy != "user:acct-sof" || c.DueAt == nil || c.Overdue {
		t.Fatalf("opened %v", c)
	}

	// Files: a PNG and a PDF are kept, with their type read from the bytes.
	pngBytes, pdfBytes := pngFile(t, 64, 48), []byte(pdfFile)
	for _, f := range []struct {
		name, ct string
		content  []byte
	}{{"statement.png", blob.TypePNG, pngBytes}, {"bank.pdf", blob.TypePDF, pdfBytes}} {
		up, err := holder.UploadEvidence(ctx, req(&holdfastv1.UploadEvidenceRequest{Case: c.Id, Account: "acct-sof", Name: f.name, Content: f.content}))
		if err != nil {
			t.Fatalf("upload %s: %v", f.name, err)
		}
		ev := up.Msg.Evidence
		if ev.Sha256 != sum(f.content) || ev.ContentType != f.ct || ev.Size != int64(len(f.content)) || ev.Name != f.name {
			t.Fatalf("upload %s: %v", f.name, ev)
		}
		last := up.Msg.Case.Entries[len(up.Msg.Case.Entries)-1]
		if last.Type != "evidence" || last.Evidence.GetSha256() != ev.Sha256 || last.Actor != "user:acct-sof" {
			t.Fatalf("upload %s: last entry %v", f.name, last)
		}
	}
	// A text file is not a PDF because of its name.
	_, err = holder.UploadEvidence(ctx, req(&holdfastv1.UploadEvidenceRequest{Case: c.Id, Account: "acct-sof", Name: "x.pdf", Content: []byte("just some text, honestly a PDF")}))
	wantErr(t, err, holdfast.InvalidArgument, "content")

	// Compliance downloads the PNG byte for byte.
	got, err := e.cases("carol").GetEvidence(ctx, req(&holdfastv1.GetEvidenceRequest{Case: c.Id, Sha256: sum(pngBytes)}))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Msg.Content, pngBytes) || got.Msg.ContentType != blob.TypePNG || got.Msg.Name != "statement.png" {
		t.Fatalf("download: %s %s %d bytes", got.Msg.Name, got.Msg.ContentType, len(got.Msg.Content))
	}
	// A hash that is not this case's opens nothing.
	_, err = e.cases("carol").GetEvidence(ctx, req(&holdfastv1.GetEvidenceRequest{Case: c.Id, Sha256: sum([]byte("other"))}))
	wantErr(t, err, holdfast.NotFound, "sha256")

	// Another holder learns nothing: not the case, not its files.
	_, err = holder.GetCase(ctx, req(&holdfastv1.GetCaseRequest{Case: c.Id, Account: "acct-other"}))
	wantErr(t, err, holdfast.NotFound, "case")
	_, err = holder.GetEvidence(ctx, req(&holdfastv1.GetEvidenceRequest{Case: c.Id, Account: "acct-other", Sha256: sum(pngBytes)}))
	wantErr(t, err, holdfast.NotFound, "case")
	_, err = holder.UploadEvidence(ctx, req(&holdfastv1.UploadEvidenceRequest{Case: c.Id, Account: "acct-other", Name: "a.png", Content: pngBytes}))
	wantErr(t, err, holdfast.NotFound, "case")
	other, err := holder.ListCases(ctx, req(&holdfastv1.ListCasesRequest{Account: "acct-other"}))
	if err != nil || len(other.Msg.Cases) != 0 {
		t.Fatalf("another holder's list: %v %v", other, err)
	}

	// A staff note stays with staff.
	if _, err := e.cases("carol").AddCaseEntry(ctx, req(&holdfastv1.AddCaseEntryRequest{Case: c.Id, Type: "note", Text: "wallet cluster looks clean"})); err != nil {
		t.Fatal(err)
	}
	hv, err := holder.GetCase(ctx, req(&holdfastv1.GetCaseRequest{Case: c.Id, Account: "acct-sof"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range hv.Msg.Case.Entries {
		if en.Type == "note" || strings.Contains(en.GetText(), "wallet cluster") {
			t.Fatalf("the holder sees a staff note: %v", en)
		}
	}
	sv, err := e.cases("carol").GetCase(ctx, req(&holdfastv1.GetCaseRequest{Case: c.Id}))
	if err != nil || sv.Msg.Case.Entries[len(sv.Msg.Case.Entries)-1].Type != "note" {
		t.Fatalf("staff view lacks the note: %v %v", sv, err)
	}
	// And a holder cannot write one.
	_, err = holder.AddCaseEntry(ctx, req(&holdfastv1.AddCaseEntryRequest{Case: c.Id, Account: "acct-sof", Type: "note", Text: "hi"}))
	wantErr(t, err, holdfast.PermissionDenied, "")

	// Support may not decide a source_of_funds case.
	_, err = e.cases("alice").DecideCase(ctx, req(&holdfastv1.DecideCaseRequest{Case: c.Id, Decision: "approve"}))
	wantErr(t, err, holdfast.PermissionDenied, "")

	dec, err := e.cases("carol").DecideCase(ctx, req(&holdfastv1.DecideCaseRequest{Case: c.Id, Decision: "approve", Reason: "own wallet", KeepHeld: &holdfastv1.KeepHeld{Asset: "BTC", Amount: "0.5"}}))
	if err != nil {
		t.Fatal(err)
	}
	if d := dec.Msg.Case; d.State != "approved" || d.Hold.GetAmount() != "0.5" || d.Hold.GetAsset() != "BTC" || d.GetDecidedBy() != "staff:carol" {
		t.Fatalf("decided %v", d)
	}
	// The freeze is over; the held amount still may not leave.
	if got := e.check(`{"account":"acct-sof","action":"withdraw"}`); got["effect"] != "allow" {
		t.Fatalf("withdraw after approval: %v", got)
	}
	dc := e.as("check").Decision
	below, err := dc.AuthorizeWithdrawal(ctx, req(&holdfastv1.AuthorizeWithdrawalRequest{Account: "acct-sof", Id: "wd-1", Asset: "BTC", Amount: "0.1", UsdValue: "6500", Address: "bc1q", AvailableBalance: "0.55"}))
	if err != nil || below.Msg.Outcome != "deny" {
		t.Fatalf("withdrawal below the hold: %v %v", below, err)
	}
	above, err := dc.AuthorizeWithdrawal(ctx, req(&holdfastv1.AuthorizeWithdrawalRequest{Account: "acct-sof", Id: "wd-2", Asset: "BTC", Amount: "0.1", UsdValue: "6500", Address: "bc1q", AvailableBalance: "2"}))
	if err != nil || above.Msg.Outcome != "approve" {
		t.Fatalf("withdrawal above the hold: %v %v", above, err)
	}
	// A decided case takes no more files.
	_, err = holder.UploadEvidence(ctx, req(&holdfastv1.UploadEvidenceRequest{Case: c.Id, Account: "acct-sof", Name: "late.pdf", Content: pdfBytes}))
	wantErr(t, err, holdfast.FailedPrecondition, "case")
	// The report has the hold on the account.
	rep, err := e.compliance("carol").AccountReport(ctx, req(&holdfastv1.AccountReportRequest{Account: "acct-sof"}))
	if err != nil {
		t.Fatal(err)
	}
	if a := rep.Msg.Account; len(a.Holds) != 1 || a.Holds[0].Case != c.Id || len(rep.Msg.Cases) != 1 || !rep.Msg.Audit.Ok || len(rep.Msg.History) == 0 {
		t.Fatalf("report: %v", rep.Msg)
	}
}

// TestCaseListOverdueFirst: a case past its service level comes first and
// says so.
func TestCaseListOverdueFirst(t *testing.T) {
	e := newCaseEnv(t, rpc.DefaultMaxEvidenceBytes)
	ctx := context.Background()
	mixerDeposit(e.env, "dep-a", "acct-a")
	mixerDeposit(e.env, "dep-b", "acct-b")
	holder := e.cases("self")
	a, err := holder.OpenCase(ctx, req(&holdfastv1.OpenCaseRequest{Account: "acct-a", Type: "source_of_funds"}))
	if err != nil {
		t.Fatal(err)
	}
	e.clock.advance(6 * 24 * time.Hour) // source_of_funds is due in 5d
	b, err := holder.OpenCase(ctx, req(&holdfastv1.OpenCaseRequest{Account: "acct-b", Type: "source_of_funds"}))
	if err != nil {
		t.Fatal(err)
	}
	// Assigning b gives it a newer update; overdue still comes first.
	if _, err := e.cases("carol").AssignCase(ctx, req(&holdfastv1.AssignCaseRequest{Case: b.Msg.Case.Id, Assignee: "dave"})); err != nil {
		t.Fatal(err)
	}
	list, err := e.cases("carol").ListCases(ctx, req(&holdfastv1.ListCasesRequest{Open: true}))
	if err != nil {
		t.Fatal(err)
	}
	cs := list.Msg.Cases
	if len(cs) != 2 || cs[0].Id != a.Msg.Case.Id || !cs[0].Overdue || cs[1].Overdue {
		t.Fatalf("list: %v", cs)
	}
	mine, err := e.cases("dave").ListCases(ctx, req(&holdfastv1.ListCasesRequest{Assignee: "dave"}))
	if err != nil || len(mine.Msg.Cases) != 1 || mine.Msg.Cases[0].GetAssignee() != "dave" {
		t.Fatalf("assigned to dave: %v %v", mine, err)
	}
	_, err = e.cases("carol").ListCases(ctx, req(&holdfastv1.ListCasesRequest{Limit: -1}))
	wantErr(t, err, holdfast.InvalidArgument, "limit")
}

// TestEvidenceBodyLimit: the CaseService reads bodies beyond the server's
// 1 MiB, up to the evidence limit; a file over it is refused as content.
func TestEvidenceBodyLimit(t *testing.T) {
	const limit = 3 << 20
	e := newCaseEnv(t, limit)
	ctx := context.Background()
	mixerDeposit(e.env, "dep-big", "acct-big")
	c, err := e.cases("self").OpenCase(ctx, req(&holdfastv1.OpenCaseRequest{Account: "acct-big", Type: "source_of_funds"}))
	if err != nil {
		t.Fatal(err)
	}
	big := append([]byte(pdfFile), bytes.Repeat([]byte("%"), 2<<20)...) // 2 MiB: over the server's 1 MiB
	for _, proto := range []struct {
		name   string
		client holdfastv1connect.CaseServiceClient
	}{
		{"binary", e.cases("self")},
		{"json", holdfastv1connect.NewCaseServiceClient(e.srv.Client(), e.srv.URL, e.withBearer("self"), connect.WithProtoJSON())},
		{"grpc", holdfastv1connect.NewCaseServiceClient(rpc.H2CClient(), e.srv.URL, e.withBearer("self"), connect.WithGRPC())},
	} {
		up, err := proto.client.UploadEvidence(ctx, req(&holdfastv1.UploadEvidenceRequest{Case: c.Msg.Case.Id, Account: "acct-big", Name: "big.pdf", Content: big}))
		if err != nil || up.Msg.Evidence.Size != int64(len(big)) {
			t.Fatalf("%s: 2 MiB upload: %v", proto.name, err)
		}
	}
	over := append([]byte(pdfFile), bytes.Repeat([]byte("%"), limit)...)
	_, err = e.cases("self").UploadEvidence(ctx, req(&holdfastv1.UploadEvidenceRequest{Case: c.Msg.Case.Id, Account: "acct-big", Name: "over.pdf", Content: over}))
	wantErr(t, err, holdfast.InvalidArgument, "content")
	// Other services keep the server's limit.
	status, body := e.post("check", "/holdfast.v1.DecisionService/Check", `{"account":"`+strings.Repeat("a", 2<<20)+`","action":"trade"}`)
	if status != 400 || !strings.Contains(string(body), `"field":"body"`) {
		t.Fatalf("a 2 MiB Check: %d %.200s", status, body)
	}
}

// TestLawEnforcementNeverReachesTheHolder: an LE hold (with its reference)
// and a seizure leave no trace in anything the holder is shown.
func TestLawEnforcementNeverReachesTheHolder(t *testing.T) {
	e := newCaseEnv(t, rpc.DefaultMaxEvidenceBytes)
	ctx := context.Background()
	const ref = "LEREF-2026-0042"

	// The API refuses an LE hold without the authority's reference.
	_, err := e.as("lee").Restriction.Apply(ctx, req(&holdfastv1.ApplyRequest{Account: "acct-le", Kind: "law_enforcement_hold", Reason: "order " + ref}))
	wantErr(t, err, holdfast.InvalidArgument, "reference")
	le, err := e.as("lee").Restriction.Apply(ctx, req(&holdfastv1.ApplyRequest{Account: "acct-le", Kind: "law_enforcement_hold", Reason: "order " + ref, Reference: ref}))
	if err != nil {
		t.Fatal(err)
	}
	// Seizure: only while the hold lasts, and only by the LE roles.
	_, err = e.compliance("carol").RecordSeizure(ctx, req(&holdfastv1.RecordSeizureRequest{Account: "acct-le", Asset: "BTC", Amount: "1.5", Reference: ref}))
	wantErr(t, err, holdfast.PermissionDenied, "")
	if _, err := e.compliance("lee").RecordSeizure(ctx, req(&holdfastv1.RecordSeizureRequest{Account: "acct-le", Asset: "BTC", Amount: "1.5", Reference: ref})); err != nil {
		t.Fatal(err)
	}
	_, err = e.compliance("lee").RecordSeizure(ctx, req(&holdfastv1.RecordSeizureRequest{Account: "acct-free", Asset: "BTC", Amount: "1", Reference: ref}))
	wantErr(t, err, holdfast.FailedPrecondition, "")

	// The holder also has an ordinary freeze and a case about it.
	mixerDeposit(e.env, "dep-le", "acct-le")
	status, b := e.post("self", "/holdfast.v1.CaseService/OpenCase", `{"account":"acct-le","type":"source_of_funds","statement":"mine"}`)
	if status != 200 {
		t.Fatalf("open: %d %s", status, b)
	}
	caseID := decode(t, b)["case"].(map[string]any)["id"].(string)

	leID := le.Msg.Restriction.Id
	leak := func(what string, body []byte) {
		t.Helper()
		// Naming the hold by its id is only echoed back, exactly as an
		// unknown id would be.
		low := strings.ReplaceAll(strings.ToLower(string(body)), "no active restriction "+leID, "no active restriction rst_unknown")
		for _, word := range []string{"law_enforcement", strings.ToLower(ref), "seizure", "seized", leID} {
			if strings.Contains(low, word) {
				t.Errorf("%s shows the holder %q: %s", what, word, body)
			}
		}
	}
	leak("OpenCase", b)
	_, hidden := e.post("self", "/holdfast.v1.CaseService/OpenCase", `{"account":"acct-le","type":"source_of_funds","restriction":"`+leID+`"}`)
	_, unknown := e.post("self", "/holdfast.v1.CaseService/OpenCase", `{"account":"acct-le","type":"source_of_funds","restriction":"rst_unknown"}`)
	if d1, d2 := detail(t, decode(t, hidden), "not_found"), detail(t, decode(t, unknown), "not_found"); strings.ReplaceAll(d1["message"].(string), leID, "rst_unknown") != d2["message"] {
		t.Errorf("naming the hidden hold reads %q, an unknown id %q", d1["message"], d2["message"])
	}
	for _, call := range []struct{ token, path, body string }{
		{"check", "/holdfast.v1.DecisionService/Check", `{"account":"acct-le","action":"withdraw","view":"holder"}`},
		{"check", "/holdfast.v1.DecisionService/Check", `{"account":"acct-le","action":"trade","view":"holder"}`},
		{"self", "/holdfast.v1.SelfService/Status", `{"account":"acct-le"}`},
		{"self", "/holdfast.v1.CaseService/ListCases", `{"account":"acct-le"}`},
		{"self", "/holdfast.v1.CaseService/GetCase", `{"account":"acct-le","case":"` + caseID + `"}`},
		// Errors too: the hold cannot be named, appealed or guessed at.
		{"self", "/holdfast.v1.CaseService/OpenCase", `{"account":"acct-le","type":"source_of_funds","restriction":"` + le.Msg.Restriction.Id + `"}`},
		{"self", "/holdfast.v1.CaseService/OpenCase", `{"account":"acct-le","type":"kyc_document"}`},
		{"self", "/holdfast.v1.CaseService/OpenCase", `{"account":"acct-le","type":"source_of_funds"}`},
		{"self", "/holdfast.v1.CaseService/GetCase", `{"account":"acct-le","case":"case_nosuch"}`},
		{"self", "/holdfast.v1.SelfService/Freeze", `{"account":"acct-le","duration":"24h"}`},
		{"self", "/holdfast.v1.SelfService/AddWhitelistAddress", `{"account":"acct-le","address":"bc1qxyz","network":"BTC"}`},
	} {
		_, body := e.post(call.token, call.path, call.body)
		leak(call.path+" "+call.body, body)
	}

	// Support's report: the hold is there, but not why, nor the seizure's
	// details; the LE liaison's has both.
	for _, who := range []string{"alice", "lee"} {
		rep, err := e.compliance(who).AccountReport(ctx, req(&holdfastv1.AccountReportRequest{Account: "acct-le"}))
		if err != nil {
			t.Fatal(err)
		}
		var seizure *holdfastv1.AuditEntry
		for _, en := range rep.Msg.History {
			if en.Action == "seizure" {
				seizure = en
			}
		}
		if seizure == nil {
			t.Fatalf("%s: no seizure entry in the report's history", who)
		}
		b, _ := rpc.MarshalJSON(seizure)
		redacted := seizure.Reason == nil && seizure.After == nil && !strings.Contains(string(b), ref)
		if who == "alice" && !redacted {
			t.Errorf("support sees the seizure's details: %s", b)
		}
		if who == "lee" && (redacted || !strings.Contains(string(b), "1.5")) {
			t.Errorf("the LE liaison does not see the seizure: %s", b)
		}
		for _, r := range rep.Msg.Restrictions {
			if r.Kind == "law_enforcement_hold" && (r.Reason != nil) != (who == "lee") {
				t.Errorf("%s: LE reason shown=%v", who, r.Reason != nil)
			}
		}
	}
}

// TestListInNotice: a sanctions match tells the holder now and starts
// withdraw-only after the notice period; compliance sees the account in
// notice with the date.
func TestListInNotice(t *testing.T) {
	e := newCaseEnv(t, rpc.DefaultMaxEvidenceBytes)
	ctx := context.Background()
	before := e.clock.Now()
	e.ingestJSON(`{"id":"sm-1","type":"sanctions_match","account":"acct-sanc","notice_period":"30d"}`)
	res, err := e.compliance("carol").ListInNotice(ctx, req(&holdfastv1.ListInNoticeRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	rs := res.Msg.Restrictions
	if len(rs) != 1 || rs[0].Account != "acct-sanc" || rs[0].Kind != "sanctions_withdraw_only" || rs[0].StartsAt == nil {
		t.Fatalf("in notice: %v", rs)
	}
	if start := rs[0].StartsAt.AsTime(); start.Before(before.Add(30*24*time.Hour)) || start.After(e.clock.Now().Add(30*24*time.Hour)) {
		t.Fatalf("starts_at %v, want 30d after %v", start, before)
	}
	// Once the notice is over, it is no longer "in notice".
	e.clock.advance(31 * 24 * time.Hour)
	res, err = e.compliance("carol").ListInNotice(ctx, req(&holdfastv1.ListInNoticeRequest{}))
	if err != nil || len(res.Msg.Restrictions) != 0 {
		t.Fatalf("after the notice period: %v %v", res, err)
	}
}
