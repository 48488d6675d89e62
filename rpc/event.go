package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"

	"connectrpc.com/connect"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/gen/holdfast/v1/holdfastv1connect"
)

// events serves holdfast.v1.EventService (scope events): the signals other
// services report, each run through the policy's rules by the engine.
type events struct{ *server }

// maxEventBatch bounds an IngestBatch.
const maxEventBatch = 1000

func (h *events) Ingest(ctx context.Context, req *connect.Request[holdfastv1.IngestRequest]) (*connect.Response[holdfastv1.IngestResponse], error) {
	if req.Msg.Event == nil {
		h.counted("", eventInvalid)
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "event", `name the event: {"event": {"type": ..., "account": ...}}`)
	}
	res, err := h.ingest(ctx, req.Msg.Event)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.IngestResponse{Result: res}), nil
}

// IngestBatch ingests each event on its own, in order: an invalid event
// gets its error in its place and the others go on. Only a caller that went
// away ends the batch early.
func (h *events) IngestBatch(ctx context.Context, req *connect.Request[holdfastv1.IngestBatchRequest]) (*connect.Response[holdfastv1.IngestBatchResponse], error) {
	evs := req.Msg.Events
	if len(evs) > maxEventBatch {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "events", "a batch holds at most %d events, not %d", maxEventBatch, len(evs))
	}
	undecodable := batchErrorsFrom(ctx)
	out := &holdfastv1.IngestBatchResponse{Results: make([]*holdfastv1.IngestBatchItem, len(evs))}
	for i, m := range evs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var (
			res *holdfastv1.IngestResult
			err error
		)
		if he := undecodable[i]; he != nil {
			h.counted("", eventInvalid)
			err = he
		} else {
			res, err = h.ingest(ctx, m)
		}
		if err != nil {
			out.Results[i] = &holdfastv1.IngestBatchItem{Outcome: &holdfastv1.IngestBatchItem_Error{Error: h.itemError(ctx, err)}}
			continue
		}
		out.Results[i] = &holdfastv1.IngestBatchItem{Outcome: &holdfastv1.IngestBatchItem_Result{Result: res}}
	}
	return connect.NewResponse(out), nil
}

// itemError is one batch item's error as the caller sees it: a domain
// error as it is, anything else logged and replaced by a generic internal
// error, as present does for a whole call.
func (h *events) itemError(ctx context.Context, err error) *holdfastv1.ErrorDetail {
	var he *holdfast.Error
	if !errors.As(err, &he) || connectCodes[he.Code] == 0 {
		h.log.ErrorContext(ctx, "internal error", "procedure", holdfastv1connect.EventServiceIngestBatchProcedure, "err", err)
		he = &holdfast.Error{Code: holdfast.Internal, Message: internalMessage}
	}
	return pbErrorDetail(he)
}

// Outcomes of one event, for holdfast_events_total.
const (
	eventIngested  = "ingested"
	eventDuplicate = "duplicate"
	eventInvalid   = "invalid"
	eventFailed    = "failed"
)

// ingest converts and runs one event, counting its outcome.
func (h *events) ingest(ctx context.Context, m *holdfastv1.Event) (*holdfastv1.IngestResult, error) {
	typ := holdfast.EventType(m.Type)
	ev, err := domainEvent(m)
	if err != nil {
		h.counted(typ, eventInvalid)
		return nil, err
	}
	res, err := h.engine.Ingest(ctx, ev)
	switch {
	case err == nil && res.Duplicate:
		h.counted(typ, eventDuplicate)
	case err == nil:
		h.counted(typ, eventIngested)
	case holdfast.ErrorCode(err) == holdfast.InvalidArgument:
		h.counted(typ, eventInvalid)
		return nil, err
	default:
		h.counted(typ, eventFailed)
		return nil, err
	}
	return pbIngestResult(res), nil
}

// counted counts one event; unknown types share one label so that a caller
// cannot grow the series without bound.
func (h *events) counted(t holdfast.EventType, outcome string) {
	label := string(t)
	if !t.Valid() {
		label = "unknown"
	}
	h.metrics.events.WithLabelValues(label, outcome).Inc()
}

// domainEvent reads an Event message. The fields a type may carry and their
// values are the engine's to check (holdfast.Event.Validate); this only
// parses what has a wire form of its own.
func domainEvent(m *holdfastv1.Event) (holdfast.Event, error) {
	ev := holdfast.Event{
		ID:              m.Id,
		Type:            holdfast.EventType(m.Type),
		Account:         m.Account,
		Device:          m.Device,
		Country:         m.Country,
		IP:              m.Ip,
		Session:         m.Session,
		Address:         m.Address,
		Asset:           m.Asset,
		Amount:          m.Amount,
		USDValue:        m.UsdValue,
		SourceAddress:   m.SourceAddress,
		SourceRisk:      m.SourceRisk,
		OrdersPerMinute: m.OrdersPerMinute,
		FailureRate:     m.FailureRate,
		OtherAccounts:   list(m.OtherAccounts),
		Severity:        m.Severity,
		Status:          m.Status,
		CaseRef:         m.CaseRef,
		Disclose:        m.Disclose,
		APIKey:          m.ApiKey,
		Permissions:     list(m.Permissions),
		IPWhitelist:     list(m.IpWhitelist),
		Email:           m.Email,
		Phone:           m.Phone,
	}
	if len(m.Factors) > 0 {
		ev.Factors = factors(m.Factors)
	}
	// An unknown type is the first thing to say, whatever else is wrong.
	if !ev.Type.Valid() {
		return ev, ev.Validate()
	}
	if s := m.NoticePeriod; s != "" {
		d, err := holdfast.ParseDurationField("notice_period", s)
		if err != nil {
			return ev, err
		}
		if d == holdfast.Permanent {
			return ev, holdfast.Errorf(holdfast.InvalidArgument, "notice_period", "invalid notice_period %q (write a duration like 30d, 72h or 2d12h)", s)
		}
		ev.NoticePeriod = d
	}
	if m.At != nil {
		if err := m.At.CheckValid(); err != nil {
			return ev, holdfast.Errorf(holdfast.InvalidArgument, "at", "at is not a valid time: %v", err)
		}
		ev.At = m.At.AsTime()
	}
	for _, f := range [...]struct {
		name string
		v    *float64
	}{{"orders_per_minute", m.OrdersPerMinute}, {"failure_rate", m.FailureRate}} {
		if f.v != nil && (math.IsNaN(*f.v) || math.IsInf(*f.v, 0)) {
			return ev, holdfast.Errorf(holdfast.InvalidArgument, f.name, "%s must be a finite number", f.name)
		}
	}
	return ev, nil
}

// list leaves an empty list unset: proto cannot tell "[]" from absent, and
// the engine counts a non-nil list as a field the event carries.
func list(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	return in
}

func pbIngestResult(r *holdfast.IngestResult) *holdfastv1.IngestResult {
	return &holdfastv1.IngestResult{
		Event:      r.Event,
		Duplicate:  r.Duplicate,
		Applied:    pbRestrictions(r.Applied),
		Extended:   pbRestrictions(r.Extended),
		Lifted:     pbRestrictions(r.Lifted),
		Tags:       strs(r.Tags),
		Commands:   nonNil(r.Commands),
		Rules:      nonNil(r.Rules),
		RuleErrors: pbRuleErrors(r.RuleErrors),
	}
}

// pbRuleErrors: CEL's reason names no secret (conditions read none), so
// the reporting service may see it.
func pbRuleErrors(in []holdfast.RuleError) []*holdfastv1.RuleError {
	out := make([]*holdfastv1.RuleError, len(in))
	for i, r := range in {
		out[i] = &holdfastv1.RuleError{Rule: r.Rule, Message: r.Message}
	}
	return out
}

func nonNil(in []string) []string {
	if in == nil {
		return []string{}
	}
	return in
}

// JSON batches, event by event. checkBody decodes a JSON body strictly
// before connect does; an IngestBatch body that fails only because some of
// its events do (an unknown field, a wrong type) is split here so that each
// bad event gets its own error in its place, as every other invalid event
// does, and the rest are ingested.

type batchErrorsKey struct{}

// batchErrorsFrom returns the events checkBody could not decode, by index.
func batchErrorsFrom(ctx context.Context) map[int]*holdfast.Error {
	m, _ := ctx.Value(batchErrorsKey{}).(map[int]*holdfast.Error)
	return m
}

// splitBatch reads an IngestBatch body as {"events": [...]} and decodes
// each event on its own. It returns a body in which every undecodable event
// is replaced by an empty one, and the errors of those events by index; ok
// is false for any other procedure, or when the body is wrong outside its
// events (then the whole-body error stands).
func splitBatch(procedure string, body []byte) (clean []byte, bad map[int]*holdfast.Error, ok bool) {
	if procedure != holdfastv1connect.EventServiceIngestBatchProcedure {
		return nil, nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, false
	}
	var raw []json.RawMessage
	seen := false
	for dec.More() {
		key, err := dec.Token()
		if err != nil || key != "events" || seen {
			return nil, nil, false
		}
		seen = true
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, false
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, nil, false
	}
	if _, err := dec.Token(); err == nil {
		return nil, nil, false // trailing data
	}
	bad = map[int]*holdfast.Error{}
	for i, r := range raw {
		if err := jsonIn.Unmarshal(r, &holdfastv1.Event{}); err != nil {
			bad[i] = jsonErrorIn("event", err, r)
			raw[i] = json.RawMessage("{}")
		}
	}
	if len(bad) == 0 {
		return nil, nil, false
	}
	clean, err := json.Marshal(map[string][]json.RawMessage{"events": raw})
	if err != nil || jsonIn.Unmarshal(clean, &holdfastv1.IngestBatchRequest{}) != nil {
		return nil, nil, false
	}
	return clean, bad, true
}

// ParseEventJSON reads one event in the API's JSON (a line of an events
// file), as strictly as the server does: an unknown field or a wrong type is
// invalid_argument naming the field.
func ParseEventJSON(b []byte) (*holdfastv1.Event, error) {
	m := &holdfastv1.Event{}
	if err := jsonIn.Unmarshal(b, m); err != nil {
		return nil, jsonErrorIn("event", err, b)
	}
	return m, nil
}
