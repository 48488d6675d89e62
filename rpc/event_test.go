package rpc_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
)

func ptr[T any](v T) *T { return &v }

const (
	ingestPath = "/holdfast.v1.EventService/Ingest"
	batchPath  = "/holdfast.v1.EventService/IngestBatch"
)

// ingestJSON posts one event as curl would and returns its result object.
func (e *env) ingestJSON(event string) map[string]any {
	e.t.Helper()
	status, body := e.post("events", ingestPath, `{"event":`+event+`}`)
	if status != 200 {
		e.t.Fatalf("ingest %s: status %d: %s", event, status, body)
	}
	res, ok := decode(e.t, body)["result"].(map[string]any)
	if !ok {
		e.t.Fatalf("no result in %s", body)
	}
	return res
}

// kinds lists the kinds of a JSON list of restrictions.
func kinds(t *testing.T, v any) []string {
	t.Helper()
	list, ok := v.([]any)
	if !ok {
		t.Fatalf("not a list: %v", v)
	}
	var out []string
	for _, r := range list {
		out = append(out, r.(map[string]any)["kind"].(string))
	}
	return out
}

// TestIngestJSON: a password change reported over JSON starts a cooling-off
// that Check then shows; a replayed id changes nothing; a second change
// inside the window moves its end.
func TestIngestJSON(t *testing.T) {
	e := newEnv(t)
	res := e.ingestJSON(`{"id":"evt-1","type":"password_changed","account":"acct-1","device":"d1","ip":"10.0.0.1"}`)
	if res["event"] != "evt-1" || res["duplicate"] != false {
		t.Fatalf("result = %v", res)
	}
	if got := kinds(t, res["applied"]); !slices.Equal(got, []string{"cooling_off"}) {
		t.Fatalf("applied = %v", got)
	}
	applied := res["applied"].([]any)[0].(map[string]any)
	if applied["applied_by"] != "rule:security_change_cooling_off" || applied["origin"].(map[string]any)["event"] != "evt-1" {
		t.Errorf("applied = %v", applied)
	}
	for _, k := range []string{"extended", "lifted", "tags"} {
		if l, ok := res[k].([]any); !ok || len(l) != 0 {
			t.Errorf("%s = %v, want []", k, res[k])
		}
	}
	if r, _ := res["rules"].([]any); len(r) != 1 || r[0] != "security_change_cooling_off" {
		t.Errorf("rules = %v", res["rules"])
	}
	if _, ok := res["commands"].([]any); !ok {
		t.Errorf("commands = %v, want a list", res["commands"])
	}

	_, body := e.post("check", "/holdfast.v1.DecisionService/Check", `{"account":"acct-1","action":"withdraw"}`)
	check := decode(t, body)
	if check["effect"] != "deny" || !slices.Equal(kinds(t, check["causes"]), []string{"cooling_off"}) {
		t.Fatalf("check after the password change: %s", body)
	}
	end := check["causes"].([]any)[0].(map[string]any)["ends_at"]

	// The same id again: duplicate, nothing applied, nothing written.
	before := e.history("acct-1")
	again := e.ingestJSON(`{"id":"evt-1","type":"password_changed","account":"acct-1","device":"d1","ip":"10.0.0.1"}`)
	if again["event"] != "evt-1" || again["duplicate"] != true || len(again["applied"].([]any)) != 0 || len(again["rules"].([]any)) != 0 {
		t.Fatalf("replay = %v", again)
	}
	if after := e.history("acct-1"); after != before {
		t.Errorf("a replayed event changed the history: %d → %d entries", before, after)
	}
	_, body = e.post("check", "/holdfast.v1.DecisionService/Check", `{"account":"acct-1","action":"withdraw"}`)
	if got := decode(t, body)["causes"].([]any)[0].(map[string]any)["ends_at"]; got != end {
		t.Errorf("a replay moved the end from %v to %v", end, got)
	}

	// Another change inside the window: the rolling window moves on.
	time.Sleep(10 * time.Millisecond)
	next := e.ingestJSON(`{"type":"email_changed","account":"acct-1"}`)
	if !strings.HasPrefix(next["event"].(string), "evt_") || len(next["applied"].([]any)) != 0 || !slices.Equal(kinds(t, next["extended"]), []string{"cooling_off"}) {
		t.Fatalf("second change = %v", next)
	}
	if got := next["extended"].([]any)[0].(map[string]any)["ends_at"].(string); got <= end.(string) {
		t.Errorf("extended end %s is not after %s", got, end)
	}

	_, metrics := e.get("/metrics")
	for _, want := range []string{
		`holdfast_events_total{outcome="ingested",type="password_changed"} 1`,
		`holdfast_events_total{outcome="duplicate",type="password_changed"} 1`,
		`holdfast_events_total{outcome="ingested",type="email_changed"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestIngestInvalid: every malformed event is invalid_argument naming the
// field, and nothing is written.
func TestIngestInvalid(t *testing.T) {
	e := newEnv(t)
	e.ingestJSON(`{"type":"login","account":"acct-1","device":"d1","country":"DE"}`)
	before := e.history("acct-1")

	tests := []struct{ name, body, field string }{
		{"unknown type", `{"event":{"type":"coffee_break","account":"acct-1"}}`, "type"},
		{"no type", `{"event":{"account":"acct-1"}}`, "type"},
		{"no account", `{"event":{"type":"login"}}`, "account"},
		{"no event", `{}`, "event"},
		{"unknown field", `{"event":{"type":"login","account":"acct-1","colour":"red"}}`, "colour"},
		{"unknown field outside the event", `{"event":{"type":"login","account":"acct-1"},"colour":"red"}`, "colour"},
		{"field the type does not carry", `{"event":{"type":"login","account":"acct-1","amount":"5"}}`, "amount"},
		{"disclose on a deposit", `{"event":{"type":"deposit","account":"acct-1","disclose":false}}`, "disclose"},
		{"bad notice_period", `{"event":{"type":"sanctions_match","account":"acct-1","notice_period":"a month"}}`, "notice_period"},
		{"permanent notice_period", `{"event":{"type":"sanctions_match","account":"acct-1","notice_period":"permanent"}}`, "notice_period"},
		{"notice_period on a login", `{"event":{"type":"login","account":"acct-1","notice_period":"30d"}}`, "notice_period"},
		{"bad at", `{"event":{"type":"login","account":"acct-1","at":"yesterday"}}`, "at"},
		{"bad source_risk", `{"event":{"type":"deposit","account":"acct-1","source_risk":"spicy"}}`, "source_risk"},
		{"bad amount", `{"event":{"type":"deposit","account":"acct-1","amount":"lots"}}`, "amount"},
		{"rate not a number", `{"event":{"type":"api_activity","account":"acct-1","orders_per_minute":"NaN"}}`, "orders_per_minute"},
		{"negative rate", `{"event":{"type":"api_activity","account":"acct-1","orders_per_minute":-1}}`, "orders_per_minute"},
		{"bad factor", `{"event":{"type":"verification_completed","account":"acct-1","factors":["retina"]}}`, "factors"},
		{"wrong type", `{"event":{"type":"login","account":"acct-1","device":7}}`, "device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.post("events", ingestPath, tt.body)
			if status != 400 {
				t.Fatalf("status %d, want 400: %s", status, body)
			}
			got := decode(t, body)
			details, _ := got["details"].([]any)
			if got["code"] != "invalid_argument" || len(details) != 1 {
				t.Fatalf("error = %s", body)
			}
			debug, _ := details[0].(map[string]any)["debug"].(map[string]any)
			if debug["code"] != "invalid_argument" || debug["field"] != tt.field {
				t.Errorf("detail = %v, want field %q", debug, tt.field)
			}
		})
	}
	if after := e.history("acct-1"); after != before {
		t.Errorf("history grew from %d to %d entries on invalid events", before, after)
	}
	_, metrics := e.get("/metrics")
	if !strings.Contains(metrics, `holdfast_events_total{outcome="invalid",type="unknown"}`) || !strings.Contains(metrics, `holdfast_events_total{outcome="invalid",type="login"}`) {
		t.Errorf("invalid events not counted:\n%s", grep(metrics, "holdfast_events_total"))
	}
}

func grep(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestIngestBatchJSON: bad events, whether the engine or the JSON decoder
// finds them bad, get their errors in their places; the good ones around
// them are ingested.
func TestIngestBatchJSON(t *testing.T) {
	e := newEnv(t)
	status, body := e.post("events", batchPath, `{"events":[
		{"id":"b-1","type":"password_changed","account":"acct-b1"},
		{"id":"b-2","type":"login","account":"acct-b2","amount":"5"},
		{"id":"b-3","type":"login","account":"acct-b3","colour":"red"},
		{"id":"b-4","type":"deposit","account":"acct-b4","asset":"BTC","amount":"1","usd_value":"65000","source_risk":"mixer"},
		{"id":"b-5","type":"coffee_break","account":"acct-b5"},
		{"id":"b-1","type":"password_changed","account":"acct-b1"}
	]}`)
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	results, _ := decode(t, body)["results"].([]any)
	if len(results) != 6 {
		t.Fatalf("results = %s", body)
	}
	type want struct {
		field     string // error's field, or "" for a result
		kinds     []string
		duplicate bool
	}
	for i, w := range []want{
		{kinds: []string{"cooling_off"}},
		{field: "amount"},
		{field: "colour"},
		{kinds: []string{"withdrawal_freeze"}},
		{field: "type"},
		{duplicate: true},
	} {
		item := results[i].(map[string]any)
		if w.field != "" {
			e, _ := item["error"].(map[string]any)
			if _, ok := item["result"]; ok || e["code"] != "invalid_argument" || e["field"] != w.field || e["message"] == "" {
				t.Errorf("results[%d] = %v, want an invalid_argument error on %s", i, item, w.field)
			}
			continue
		}
		res, ok := item["result"].(map[string]any)
		if _, bad := item["error"]; !ok || bad {
			t.Errorf("results[%d] = %v, want a result", i, item)
			continue
		}
		if res["event"] != fmt.Sprintf("b-%d", i%5+1) || res["duplicate"] != w.duplicate || !slices.Equal(kinds(t, res["applied"]), w.kinds) {
			t.Errorf("results[%d] = %v", i, res)
		}
	}
	for _, acct := range []string{"acct-b2", "acct-b3", "acct-b5"} {
		if n := e.history(acct); n != 0 {
			t.Errorf("%s has %d audit entries after its invalid event", acct, n)
		}
	}
	_, body = e.post("check", "/holdfast.v1.DecisionService/Check", `{"account":"acct-b4","action":"withdraw"}`)
	if decode(t, body)["effect"] != "deny" {
		t.Errorf("the mixer deposit froze nothing: %s", body)
	}

	// What is wrong outside the events still fails the whole batch.
	for _, tt := range []struct{ body, field string }{
		{`{"events":[{"type":"login","account":"a"}],"colour":"red"}`, "colour"},
		{`{"events":{"type":"login"}}`, "body"},
		{`{"events":[{"type":"login","account":"a"}`, "body"},
	} {
		status, body := e.post("events", batchPath, tt.body)
		if status != 400 || !strings.Contains(string(body), `"field":"`+tt.field+`"`) {
			t.Errorf("%s: %d %s, want invalid_argument on %s", tt.body, status, body, tt.field)
		}
	}
}

// TestIngestGRPC ingests through the generated client over gRPC, single
// and batched, and checks the scope.
func TestIngestGRPC(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.grpc("events").Event
	at := time.Now().Add(-time.Minute).UTC()
	res, err := c.Ingest(ctx, connect.NewRequest(&holdfastv1.IngestRequest{Event: &holdfastv1.Event{
		Id: "g-1", Type: "api_activity", Account: "acct-g", ApiKey: "k1", OrdersPerMinute: ptr(150.0),
	}}))
	if err != nil {
		t.Fatal(err)
	}
	r := res.Msg.Result
	if r.Event != "g-1" || len(r.Applied) != 1 || r.Applied[0].Kind != "reduce_only" || !slices.Contains(r.Commands, "cancel_spot_orders") {
		t.Fatalf("result = %v", r)
	}
	if ev := r.Applied[0].Origin.GetEvidence(); len(ev) == 0 {
		t.Errorf("no evidence on %v", r.Applied[0])
	}

	batch, err := c.IngestBatch(ctx, connect.NewRequest(&holdfastv1.IngestBatchRequest{Events: []*holdfastv1.Event{
		{Id: "g-2", Type: "law_enforcement_request", Account: "acct-g", CaseRef: "le-7", Disclose: ptr(false), At: timestamppb.New(at)},
		{Id: "g-3", Type: "api_activity", Account: "acct-g", FailureRate: ptr(0.2), Amount: "5"},
		{Id: "g-4", Type: "api_activity", Account: "acct-g", FailureRate: ptr(0.2)},
	}}))
	if err != nil {
		t.Fatal(err)
	}
	items := batch.Msg.Results
	if len(items) != 3 {
		t.Fatalf("results = %v", items)
	}
	if le := items[0].GetResult(); le == nil || len(le.Applied) != 1 || le.Applied[0].Kind != "law_enforcement_hold" || le.Applied[0].Disclose {
		t.Errorf("results[0] = %v", items[0])
	}
	if e := items[1].GetError(); e == nil || e.Code != "invalid_argument" || e.GetField() != "amount" {
		t.Errorf("results[1] = %v", items[1])
	}
	if ok := items[2].GetResult(); ok == nil || len(ok.Applied)+len(ok.Rules) != 0 {
		t.Errorf("results[2] = %v, want a result with no rule fired", items[2])
	}

	// Only the events scope may report events.
	for _, token := range []string{"check", "self", "admin"} {
		_, err := e.grpc(token).Event.Ingest(ctx, connect.NewRequest(&holdfastv1.IngestRequest{Event: &holdfastv1.Event{Type: "login", Account: "acct-g"}}))
		wantErr(t, err, holdfast.PermissionDenied, "authorization")
		_, err = e.as(token).Event.IngestBatch(ctx, connect.NewRequest(&holdfastv1.IngestBatchRequest{}))
		wantErr(t, err, holdfast.PermissionDenied, "authorization")
	}
	_, err = rpc.NewClients(e.srv.Client(), e.srv.URL, "").Event.Ingest(ctx, connect.NewRequest(&holdfastv1.IngestRequest{}))
	wantErr(t, err, holdfast.Unauthenticated, "authorization")

	// A batch holds at most 1000 events.
	big := make([]*holdfastv1.Event, 1001)
	for i := range big {
		big[i] = &holdfastv1.Event{Type: "login", Account: "acct-g"}
	}
	_, err = c.IngestBatch(ctx, connect.NewRequest(&holdfastv1.IngestBatchRequest{Events: big}))
	wantErr(t, err, holdfast.InvalidArgument, "events")
}
