package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/holdfast/holdfast"
)

// Freeze receipts: after a freeze, a panic lock or securing the account,
// the home page offers the change's receipt, proof that it is in the
// audit log, as a file the holder keeps and anyone can check with the
// log's public key (holdfast receipt verify).

// withReceipt adds to a page's address the entry whose receipt it offers,
// when this server signs the log (with no key there is no receipt to
// offer).
func (s *Server) withReceipt(next string, entry int64) string {
	if entry == 0 || s.cfg.Engine.LogVerifierKey() == "" {
		return next
	}
	return next + "&receipt=" + strconv.FormatInt(entry, 10)
}

// receipt serves the receipt of one of the holder's own entries as a
// download. The engine decides which entries have one: any other, or
// another account's, reads as not found.
func (s *Server) receipt(w http.ResponseWriter, r *http.Request, account string) {
	seq, err := strconv.ParseInt(r.URL.Query().Get("entry"), 10, 64)
	if err != nil || seq < 1 {
		s.holderFailure(w, r, account, userError("entry", "Name the receipt's entry by its number."))
		return
	}
	rc, err := s.cfg.Engine.Receipt(r.Context(), account, seq, holdfast.User(account))
	if err != nil {
		s.holderFailure(w, r, account, err)
		return
	}
	body, err := json.Marshal(rc)
	if err != nil {
		s.holderFailure(w, r, account, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", fmt.Sprintf("holdfast-receipt-%s-%d.json", account, seq)))
	w.Write(append(body, '\n'))
}
