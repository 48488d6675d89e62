package web

import (
	"errors"
	"net/http"
	"net/url"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/blob"
)

// The holder's appeals: the list of their cases, opening one, and a
// case's page (its timeline, a statement, a file, withdrawing it).

// maxUploadBody bounds an evidence upload request; the evidence store
// applies its own (smaller) limit to the file.
const maxUploadBody = 32 << 20

// maxFileName bounds the name kept for an uploaded file.
const maxFileName = 200

func (s *Server) appealRoutes() {
	list := holderScreen{template: "holder/appeals", section: "appeals", load: s.appealsData}
	s.mux.Handle("GET /me/appeals", s.showHolder(list))
	s.mux.Handle("POST /me/appeals", s.actHolder(list, s.openCase))

	one := holderScreen{template: "holder/case", section: "appeals", load: s.caseData}
	s.mux.Handle("GET /me/appeals/{id}", s.showHolder(one))
	s.mux.Handle("POST /me/appeals/{id}/statement", s.actHolder(one, s.caseStatement))
	s.mux.Handle("POST /me/appeals/{id}/evidence", s.actHolder(one, s.caseEvidence))
	s.mux.Handle("POST /me/appeals/{id}/withdraw", s.actHolder(one, s.caseWithdraw))
}

// appealsData is the appeals page's own.
type appealsData struct {
	Cases []*holdfast.Case
	Types []holdfast.CaseType
	// Type and Statement keep what the holder wrote when opening failed.
	Type      string
	Statement string
}

func (s *Server) appealsData(r *http.Request, account string) (any, error) {
	cs, err := s.cfg.Engine.Cases(r.Context(), holdfast.CaseFilter{}, holdfast.User(account))
	if err != nil {
		return nil, err
	}
	d := appealsData{Cases: cs, Types: holdfast.CaseTypes}
	if r.Method == http.MethodPost {
		d.Type, d.Statement = r.FormValue("type"), r.FormValue("statement")
	}
	return d, nil
}

func (s *Server) openCase(_ http.ResponseWriter, r *http.Request, account string) (string, error) {
	c, err := s.cfg.Engine.OpenCase(r.Context(), holdfast.OpenCaseRequest{
		Account: account, Type: holdfast.CaseType(r.FormValue("type")), Statement: r.FormValue("statement"), Actor: holdfast.User(account),
	})
	if err != nil {
		return "", err
	}
	return flashURL(casePath(c.ID), "case_opened"), nil
}

func casePath(id string) string { return "/me/appeals/" + url.PathEscape(id) }

// caseData is a case page's own.
type caseData struct {
	Case *holdfast.Case
	// Statement keeps what the holder wrote when adding it failed.
	Statement string
}

func (s *Server) caseData(r *http.Request, account string) (any, error) {
	c, err := s.cfg.Engine.Case(r.Context(), r.PathValue("id"), holdfast.User(account))
	if err != nil {
		return nil, err
	}
	d := caseData{Case: c}
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/statement") {
		d.Statement = r.FormValue("text")
	}
	return d, nil
}

func (s *Server) caseStatement(_ http.ResponseWriter, r *http.Request, account string) (string, error) {
	id := r.PathValue("id")
	if _, err := s.cfg.Engine.AddCaseEntry(r.Context(), holdfast.CaseEntryRequest{Case: id, Type: holdfast.EntryStatement, Text: r.FormValue("text"), Actor: holdfast.User(account)}); err != nil {
		return "", err
	}
	return flashURL(casePath(id), "statement_added"), nil
}

// caseEvidence stores an uploaded file in the evidence store (which
// accepts only PDF, PNG and JPEG, detected from the content, up to its
// size limit) and adds it to the case.
func (s *Server) caseEvidence(w http.ResponseWriter, r *http.Request, account string) (string, error) {
	id := r.PathValue("id")
	actor := holdfast.User(account)
	// The case first: nothing is stored for a case the holder cannot add to.
	c, err := s.cfg.Engine.Case(r.Context(), id, actor)
	if err != nil {
		return "", err
	}
	if c.State.Final() {
		return "", holdfast.Errorf(holdfast.FailedPrecondition, "case", "this case is %s: nothing more can be added", c.State)
	}
	if s.cfg.Evidence == nil {
		return "", userError("file", "File uploads are not available right now. Please try again later.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxUploadBody)
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return "", userError("file", "The file is too large.")
		}
		return "", userError("file", "The upload could not be read. Please choose the file again.")
	}
	defer r.MultipartForm.RemoveAll()
	f, fh, err := r.FormFile("file")
	if err != nil {
		return "", userError("file", "Choose a file to upload.")
	}
	defer f.Close()
	ref, err := s.cfg.Evidence.Put(r.Context(), f)
	switch {
	case errors.Is(err, blob.ErrType):
		return "", userError("file", "This type of file is not accepted: upload a PDF, PNG or JPEG.")
	case errors.Is(err, blob.ErrTooLarge):
		return "", userError("file", "The file is too large.")
	case err != nil:
		s.cfg.Logger.ErrorContext(r.Context(), "web: storing evidence failed", "case", id, "err", err)
		return "", userError("file", "The file could not be stored. Please try again.")
	}
	ev := &holdfast.EvidenceRef{SHA256: ref.SHA256, Name: fileName(fh.Filename), ContentType: ref.ContentType, Size: ref.Size}
	if _, err := s.cfg.Engine.AddCaseEntry(r.Context(), holdfast.CaseEntryRequest{Case: id, Type: holdfast.EntryEvidence, Text: strings.TrimSpace(r.FormValue("description")), Evidence: ev, Actor: actor}); err != nil {
		return "", err
	}
	return flashURL(casePath(id), "evidence_added"), nil
}

// fileName keeps the base of an uploaded file's name, bounded.
func fileName(name string) string {
	name = path.Base(strings.ReplaceAll(name, `\`, "/"))
	name = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, name)
	if name == "." || name == "/" || name == "" {
		return "upload"
	}
	for utf8.RuneCountInString(name) > maxFileName {
		_, n := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-n]
	}
	return name
}

func (s *Server) caseWithdraw(_ http.ResponseWriter, r *http.Request, account string) (string, error) {
	id := r.PathValue("id")
	if _, err := s.cfg.Engine.SetCaseState(r.Context(), id, holdfast.CaseWithdrawn, strings.TrimSpace(r.FormValue("reason")), holdfast.User(account)); err != nil {
		return "", err
	}
	return flashURL(casePath(id), "case_withdrawn"), nil
}
