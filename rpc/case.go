package rpc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"connectrpc.com/connect"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/blob"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
)

// cases serves holdfast.v1.CaseService. With a self_service token the
// exchange's app backend acts for the holder the request names (actor
// user:<account>); with a staff token, the staff member acts. The engine
// decides who may see and do what; files go to the evidence store.
type cases struct{ *server }

func (h *cases) OpenCase(ctx context.Context, req *connect.Request[holdfastv1.OpenCaseRequest]) (*connect.Response[holdfastv1.OpenCaseResponse], error) {
	m := req.Msg
	actor, err := holderActor(ctx, m.Account, false)
	if err != nil {
		return nil, err
	}
	c, err := h.engine.OpenCase(ctx, holdfast.OpenCaseRequest{
		Account:     m.Account,
		Type:        holdfast.CaseType(m.Type),
		Restriction: m.Restriction,
		Kind:        holdfast.Kind(m.Kind),
		Statement:   m.Statement,
		Actor:       actor,
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.OpenCaseResponse{Case: pbCase(c, h.engine.Now())}), nil
}

func (h *cases) AddCaseEntry(ctx context.Context, req *connect.Request[holdfastv1.AddCaseEntryRequest]) (*connect.Response[holdfastv1.AddCaseEntryResponse], error) {
	m := req.Msg
	actor, err := caseActor(ctx, m.Account)
	if err != nil {
		return nil, err
	}
	// Files arrive through UploadEvidence, which stores them first.
	switch t := holdfast.CaseEntryType(m.Type); t {
	case holdfast.EntryStatement, holdfast.EntryTemplate, holdfast.EntryNote:
	default:
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "type", "an entry is a statement, template or note, not %q (files go through UploadEvidence)", m.Type)
	}
	c, err := h.engine.AddCaseEntry(ctx, holdfast.CaseEntryRequest{
		Case:     m.Case,
		Type:     holdfast.CaseEntryType(m.Type),
		Text:     m.Text,
		Template: m.Template,
		Fields:   m.Fields,
		Actor:    actor,
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.AddCaseEntryResponse{Case: pbCase(c, h.engine.Now())}), nil
}

// maxEvidenceName bounds a file's name.
const maxEvidenceName = 255

// evidenceName checks a file name as the holder gave it: shown to staff,
// never used as a path.
func evidenceName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return holdfast.Errorf(holdfast.InvalidArgument, "name", "name the file")
	case len(name) > maxEvidenceName:
		return holdfast.Errorf(holdfast.InvalidArgument, "name", "name is longer than %d bytes", maxEvidenceName)
	case !utf8.ValidString(name), strings.ContainsAny(name, `/\`), strings.ContainsFunc(name, unicode.IsControl):
		return holdfast.Errorf(holdfast.InvalidArgument, "name", "name must be a plain file name (no path, no control characters)")
	}
	return nil
}

func (h *cases) store() (blob.Store, error) {
	if h.evidence == nil {
		return nil, holdfast.Errorf(holdfast.FailedPrecondition, "content", "this server keeps no evidence store")
	}
	return h.evidence, nil
}

func (h *cases) UploadEvidence(ctx context.Context, req *connect.Request[holdfastv1.UploadEvidenceRequest]) (*connect.Response[holdfastv1.UploadEvidenceResponse], error) {
	m := req.Msg
	actor, err := caseActor(ctx, m.Account)
	if err != nil {
		return nil, err
	}
	if err := evidenceName(m.Name); err != nil {
		return nil, err
	}
	// The access check comes before anything is stored: a file for a case
	// the caller may not touch costs no write.
	c, err := h.engine.Case(ctx, m.Case, actor)
	if err != nil {
		return nil, err
	}
	if c.State.Final() {
		return nil, holdfast.Errorf(holdfast.FailedPrecondition, "case", "case %s is %s", c.ID, c.State)
	}
	st, err := h.store()
	if err != nil {
		return nil, err
	}
	ref, err := st.Put(ctx, bytes.NewReader(m.Content))
	switch {
	case errors.Is(err, blob.ErrTooLarge), errors.Is(err, blob.ErrType):
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "content", "%s", strings.TrimPrefix(err.Error(), "blob: "))
	case err != nil:
		return nil, err
	}
	ev := &holdfast.EvidenceRef{SHA256: ref.SHA256, Name: m.Name, ContentType: ref.ContentType, Size: ref.Size}
	c, err = h.engine.AddCaseEntry(ctx, holdfast.CaseEntryRequest{Case: m.Case, Type: holdfast.EntryEvidence, Evidence: ev, Actor: actor})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.UploadEvidenceResponse{Case: pbCase(c, h.engine.Now()), Evidence: pbEvidence(ev)}), nil
}

func (h *cases) GetEvidence(ctx context.Context, req *connect.Request[holdfastv1.GetEvidenceRequest]) (*connect.Response[holdfastv1.GetEvidenceResponse], error) {
	m := req.Msg
	actor, err := caseActor(ctx, m.Account)
	if err != nil {
		return nil, err
	}
	c, err := h.engine.Case(ctx, m.Case, actor)
	if err != nil {
		return nil, err
	}
	// Only a file of this case, as the caller sees it: a hash alone opens
	// nothing.
	var ev *holdfast.EvidenceRef
	for _, en := range c.Entries {
		if en.Type == holdfast.EntryEvidence && en.Evidence != nil && en.Evidence.SHA256 == m.Sha256 {
			ev = en.Evidence
			break
		}
	}
	notFound := holdfast.Errorf(holdfast.NotFound, "sha256", "case %s has no file %s", c.ID, m.Sha256)
	if ev == nil {
		return nil, notFound
	}
	st, err := h.store()
	if err != nil {
		return nil, err
	}
	rc, err := st.Open(ctx, ev.SHA256)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	content, err := io.ReadAll(rc)
	if err != nil {
		return nil, err // a corrupt file is the server's problem: internal
	}
	return connect.NewResponse(&holdfastv1.GetEvidenceResponse{Name: ev.Name, ContentType: ev.ContentType, Content: content}), nil
}

func (h *cases) SetCaseState(ctx context.Context, req *connect.Request[holdfastv1.SetCaseStateRequest]) (*connect.Response[holdfastv1.SetCaseStateResponse], error) {
	m := req.Msg
	actor, err := caseActor(ctx, m.Account)
	if err != nil {
		return nil, err
	}
	c, err := h.engine.SetCaseState(ctx, m.Case, holdfast.CaseState(m.State), m.Reason, actor)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.SetCaseStateResponse{Case: pbCase(c, h.engine.Now())}), nil
}

func (h *cases) AssignCase(ctx context.Context, req *connect.Request[holdfastv1.AssignCaseRequest]) (*connect.Response[holdfastv1.AssignCaseResponse], error) {
	actor, err := staffActor(ctx)
	if err != nil {
		return nil, err
	}
	c, err := h.engine.AssignCase(ctx, req.Msg.Case, req.Msg.Assignee, actor)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.AssignCaseResponse{Case: pbCase(c, h.engine.Now())}), nil
}

func (h *cases) DecideCase(ctx context.Context, req *connect.Request[holdfastv1.DecideCaseRequest]) (*connect.Response[holdfastv1.DecideCaseResponse], error) {
	actor, err := staffActor(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	dr := holdfast.DecideCaseRequest{
		Case:      m.Case,
		Decision:  holdfast.CaseDecision(m.Decision),
		Reason:    m.Reason,
		NextSteps: m.NextSteps,
		Actor:     actor,
	}
	if k := m.KeepHeld; k != nil {
		dr.KeepHeld = &holdfast.AmountHold{Asset: k.Asset, Amount: k.Amount}
	}
	c, err := h.engine.DecideCase(ctx, dr)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.DecideCaseResponse{Case: pbCase(c, h.engine.Now())}), nil
}

func (h *cases) GetCase(ctx context.Context, req *connect.Request[holdfastv1.GetCaseRequest]) (*connect.Response[holdfastv1.GetCaseResponse], error) {
	actor, err := caseActor(ctx, req.Msg.Account)
	if err != nil {
		return nil, err
	}
	c, err := h.engine.Case(ctx, req.Msg.Case, actor)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.GetCaseResponse{Case: pbCase(c, h.engine.Now())}), nil
}

// maxCaseList bounds ListCases' limit.
const maxCaseList = 1000

func (h *cases) ListCases(ctx context.Context, req *connect.Request[holdfastv1.ListCasesRequest]) (*connect.Response[holdfastv1.ListCasesResponse], error) {
	m := req.Msg
	actor, err := caseActor(ctx, m.Account)
	if err != nil {
		return nil, err
	}
	if m.Account != "" {
		if err := holdfast.ValidateID("account", m.Account); err != nil {
			return nil, err
		}
	}
	if m.Limit < 0 || m.Limit > maxCaseList {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "limit", "limit must be between 0 and %d", maxCaseList)
	}
	cs, err := h.engine.Cases(ctx, holdfast.CaseFilter{
		Account:  m.Account,
		State:    holdfast.CaseState(m.State),
		Type:     holdfast.CaseType(m.Type),
		Assignee: m.Assignee,
		Open:     m.Open,
		Limit:    int(m.Limit),
	}, actor)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.ListCasesResponse{Cases: pbCases(cs, h.engine.Now())}), nil
}

// compliance serves holdfast.v1.ComplianceService (scope staff).
type compliance struct{ *server }

func (h *compliance) RecordSeizure(ctx context.Context, req *connect.Request[holdfastv1.RecordSeizureRequest]) (*connect.Response[holdfastv1.RecordSeizureResponse], error) {
	actor, err := staffActor(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if err := h.engine.RecordSeizure(ctx, holdfast.SeizureRequest{Account: m.Account, Asset: m.Asset, Amount: m.Amount, Reference: m.Reference, Actor: actor}); err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.RecordSeizureResponse{}), nil
}

func (h *compliance) ListInNotice(ctx context.Context, _ *connect.Request[holdfastv1.ListInNoticeRequest]) (*connect.Response[holdfastv1.ListInNoticeResponse], error) {
	actor, err := staffActor(ctx)
	if err != nil {
		return nil, err
	}
	rs, err := h.engine.InNotice(ctx, actor)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&holdfastv1.ListInNoticeResponse{Restrictions: pbRestrictions(rs)}), nil
}

func (h *compliance) AccountReport(ctx context.Context, req *connect.Request[holdfastv1.AccountReportRequest]) (*connect.Response[holdfastv1.AccountReportResponse], error) {
	actor, err := staffActor(ctx)
	if err != nil {
		return nil, err
	}
	rep, err := h.engine.AccountReport(ctx, req.Msg.Account, actor)
	if err != nil {
		return nil, err
	}
	out, err := pbReport(rep, h.engine.Now())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(out), nil
}
