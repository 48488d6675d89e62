// Package blob stores case evidence (PDF, PNG and JPEG files attached to an
// appeal case) content-addressed by SHA-256, either in a local directory
// ([Dir]) or in an S3-compatible bucket ([S3]).
//
// The content type is always detected from the content itself, never from a
// file name, and only the three allowed types are accepted.
package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
)

// Ref identifies stored content.
type Ref struct {
	SHA256      string // lowercase hex of the content: the key
	Size        int64
	ContentType string // "application/pdf", "image/png" or "image/jpeg"
}

// Store keeps content by its SHA-256. Put of content already stored is a
// no-op returning the same Ref.
type Store interface {
	Put(ctx context.Context, r io.Reader) (Ref, error)
	// Open returns the content; errors.Is(err, ErrNotFound) when absent.
	Open(ctx context.Context, sha256 string) (io.ReadCloser, error)
}

// ErrNotFound is returned (wrapped) by Open when no content has the key. A
// malformed key is reported as not found too.
var ErrNotFound = errors.New("blob: not found")

// Errors a caller maps to invalid_argument; they are always wrapped with
// details, so test them with errors.Is.
var (
	ErrTooLarge = errors.New("blob: content too large")
	ErrType     = errors.New("blob: content type not allowed")
)

// ErrCorrupt is returned by a reader from Open, in place of io.EOF, when the
// content read does not hash to its key.
var ErrCorrupt = errors.New("blob: stored content does not match its hash")

// Content types accepted by Put.
const (
	TypePDF  = "application/pdf"
	TypePNG  = "image/png"
	TypeJPEG = "image/jpeg"
)

const sniffLen = 512

var magics = map[string][]byte{
	TypePDF:  []byte("%PDF-"),
	TypePNG:  []byte("\x89PNG\r\n\x1a\n"),
	TypeJPEG: []byte("\xFF\xD8\xFF"),
}

// DetectType returns the content type of a file starting with head (its first
// 512 bytes, or all of it if shorter) when it is one of the allowed types;
// otherwise an error wrapping ErrType that names the detected type.
func DetectType(head []byte) (string, error) {
	if len(head) == 0 {
		return "", fmt.Errorf("%w: empty content", ErrType)
	}
	if len(head) > sniffLen {
		head = head[:sniffLen]
	}
	ct := http.DetectContentType(head)
	magic, ok := magics[ct]
	if !ok {
		return "", fmt.Errorf("%w: detected %q (allowed: %s, %s, %s)", ErrType, ct, TypePDF, TypePNG, TypeJPEG)
	}
	if !bytes.HasPrefix(head, magic) {
		return "", fmt.Errorf("%w: detected %q without its magic number", ErrType, ct)
	}
	return ct, nil
}

// ValidKey reports whether s is a well-formed key: 64 lowercase hex digits.
func ValidKey(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func checkKey(key string) error {
	if !ValidKey(key) {
		return fmt.Errorf("%w: malformed key %q", ErrNotFound, key)
	}
	return nil
}

// ingest copies at most maxSize bytes of r to w, detecting the content type
// from the first bytes (before anything is written, so a refused type costs
// no write) and hashing everything that was read.
func ingest(ctx context.Context, r io.Reader, maxSize int64, w io.Writer) (Ref, error) {
	if err := ctx.Err(); err != nil {
		return Ref{}, err
	}
	lr := &io.LimitedReader{R: ctxReader{ctx, r}, N: maxSize + 1}
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(lr, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return Ref{}, fmt.Errorf("blob: read: %w", err)
	}
	head = head[:n]
	if int64(n) > maxSize {
		return Ref{}, tooLarge(maxSize)
	}
	ct, err := DetectType(head)
	if err != nil {
		return Ref{}, err
	}
	h := sha256.New()
	h.Write(head)
	if _, err := w.Write(head); err != nil {
		return Ref{}, fmt.Errorf("blob: write: %w", err)
	}
	rest, err := io.Copy(io.MultiWriter(h, w), lr)
	if err != nil {
		return Ref{}, fmt.Errorf("blob: copy: %w", err)
	}
	size := int64(n) + rest
	if size > maxSize {
		return Ref{}, tooLarge(maxSize)
	}
	return Ref{SHA256: hex.EncodeToString(h.Sum(nil)), Size: size, ContentType: ct}, nil
}

func tooLarge(maxSize int64) error {
	return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, maxSize)
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// verifyReader hashes what is read and, at EOF, returns ErrCorrupt instead of
// io.EOF when the content does not hash to want.
type verifyReader struct {
	rc   io.ReadCloser
	h    hash.Hash
	want string
	err  error
}

func newVerifyReader(rc io.ReadCloser, want string) *verifyReader {
	return &verifyReader{rc: rc, h: sha256.New(), want: want}
}

func (v *verifyReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.rc.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want {
			err = fmt.Errorf("%w: key %s, content %s", ErrCorrupt, v.want, got)
		}
	}
	if err != nil {
		v.err = err
	}
	return n, err
}

func (v *verifyReader) Close() error { return v.rc.Close() }
