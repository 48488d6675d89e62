package rpc

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
)

// The transparency log over plain HTTP, for witnesses, auditors and
// scripts with no gRPC: checkpoints and proofs reveal only tree sizes and
// hashes, so they need no token; an entry by name (account and seq) is
// staff's, like the audit history.
const (
	checkpointPath  = "/audit/checkpoint"
	publishPath     = "/audit/publish"
	keyPath         = "/audit/key"
	inclusionPath   = "/audit/proof/inclusion"
	consistencyPath = "/audit/proof/consistency"
	entryProofPath  = "/audit/proof/entry"
)

// Proof is a Merkle proof as the proof endpoints serve it (hashes in
// standard base64, as encoding/json writes []byte).
type Proof struct {
	Index  *uint64  `json:"index,omitempty"`
	Size   *uint64  `json:"size,omitempty"`
	Old    *uint64  `json:"old,omitempty"`
	New    *uint64  `json:"new,omitempty"`
	Hashes [][]byte `json:"hashes"`
}

func handleAudit(mux *http.ServeMux, e *engine.Engine, fail func(http.ResponseWriter, *http.Request, error)) {
	note := func(w http.ResponseWriter, r *http.Request, publish bool) {
		c, err := e.Checkpoint(r.Context())
		if publish {
			c, err = e.PublishCheckpoint(r.Context())
		}
		if err == nil && c == nil {
			err = holdfast.Errorf(holdfast.NotFound, "checkpoint", "no checkpoint has been published yet: the log is empty")
		}
		if err != nil {
			fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(c.Note)
	}
	mux.HandleFunc("GET "+checkpointPath, func(w http.ResponseWriter, r *http.Request) { note(w, r, false) })
	mux.HandleFunc("POST "+publishPath, func(w http.ResponseWriter, r *http.Request) { note(w, r, true) })
	mux.HandleFunc("GET "+keyPath, func(w http.ResponseWriter, r *http.Request) {
		if e.LogVerifierKey() == "" {
			fail(w, r, holdfast.Errorf(holdfast.NotFound, "audit_key", "this server signs no checkpoints"))
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, e.LogVerifierKey()+"\n")
	})
	mux.HandleFunc("GET "+inclusionPath, func(w http.ResponseWriter, r *http.Request) {
		index, size, err := uintParams(r, "index", "size")
		if err == nil {
			var hashes [][]byte
			if hashes, err = e.LogInclusion(r.Context(), index, size); err == nil {
				writeJSON(w, Proof{Index: &index, Size: &size, Hashes: hashes})
				return
			}
		}
		fail(w, r, err)
	})
	mux.HandleFunc("GET "+consistencyPath, func(w http.ResponseWriter, r *http.Request) {
		old, new, err := uintParams(r, "old", "new")
		if err == nil {
			var hashes [][]byte
			if hashes, err = e.LogConsistency(r.Context(), old, new); err == nil {
				writeJSON(w, Proof{Old: &old, New: &new, Hashes: hashes})
				return
			}
		}
		fail(w, r, err)
	})
	mux.HandleFunc("GET "+entryProofPath, func(w http.ResponseWriter, r *http.Request) {
		account := r.URL.Query().Get("account")
		seq, err := strconv.ParseInt(r.URL.Query().Get("seq"), 10, 64)
		switch {
		case holdfast.ValidateID("account", account) != nil:
			err = holdfast.ValidateID("account", account)
		case err != nil || seq < 1:
			err = holdfast.Errorf(holdfast.InvalidArgument, "seq", "seq must be an entry number from 1")
		}
		if err == nil {
			var rc *holdfast.Receipt
			if rc, err = e.EntryProof(r.Context(), account, seq); err == nil {
				writeJSON(w, rc)
				return
			}
		}
		fail(w, r, err)
	})
}

// uintParams reads two unsigned query parameters.
func uintParams(r *http.Request, a, b string) (uint64, uint64, error) {
	var out [2]uint64
	for i, name := range []string{a, b} {
		v, err := strconv.ParseUint(r.URL.Query().Get(name), 10, 64)
		if err != nil {
			return 0, 0, holdfast.Errorf(holdfast.InvalidArgument, name, "%s must be a whole number of leaves", name)
		}
		out[i] = v
	}
	return out[0], out[1], nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
