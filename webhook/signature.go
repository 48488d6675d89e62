package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/holdfast/holdfast"
)

// Every delivery carries these headers. The body is the command as JSON
// (holdfast.Command); the signature covers the timestamp and the body, so
// neither can be changed or replayed outside the tolerance.
const (
	// HeaderID is the command id: the receiver's idempotency key. It
	// repeats the body's (signed) "id"; ReadRequest checks they agree.
	HeaderID = "Holdfast-Id"
	// HeaderTimestamp is when the delivery was signed, in Unix seconds.
	HeaderTimestamp = "Holdfast-Timestamp"
	// HeaderSignature is "v1=" and the hex HMAC-SHA256, keyed with the
	// shared secret, of "<timestamp>.<body>". A receiver accepts a header
	// with several comma-separated values if any one matches, which lets a
	// secret be rotated.
	HeaderSignature = "Holdfast-Signature"
)

// Reasons Verify refuses a delivery.
var (
	ErrTimestamp = errors.New("webhook: timestamp missing, malformed or outside the tolerance")
	ErrSignature = errors.New("webhook: no valid v1 signature")
)

// Sign returns the HeaderSignature value for body sent at timestamp
// (Unix seconds).
func Sign(secret []byte, timestamp int64, body []byte) string {
	return "v1=" + hex.EncodeToString(mac(secret, timestamp, body))
}

func mac(secret []byte, timestamp int64, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(strconv.AppendInt(nil, timestamp, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a delivery as its receiver got it: timestamp and signature
// are the header values, body the exact bytes received. It refuses a
// timestamp more than tolerance away from now (either way), so a captured
// delivery cannot be replayed later, and a signature that does not match
// (compared in constant time). Within the tolerance a receiver drops
// repeats by the command id. Errors: ErrTimestamp, ErrSignature.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	if len(secret) == 0 {
		return fmt.Errorf("%w: no secret to verify with", ErrSignature)
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || timestamp[0] == '+' || timestamp[0] == '-' {
		return ErrTimestamp
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrTimestamp
	}
	want := mac(secret, ts, body)
	ok := false
	for v := range strings.SplitSeq(signature, ",") {
		hexSig, found := strings.CutPrefix(strings.TrimSpace(v), "v1=")
		if !found {
			continue
		}
		got, err := hex.DecodeString(hexSig)
		if err == nil && hmac.Equal(got, want) {
			ok = true // no early return: every candidate costs the same
		}
	}
	if !ok {
		return ErrSignature
	}
	return nil
}

// maxBody bounds what ReadRequest reads: a command is a few hundred bytes.
const maxBody = 64 << 10

// ReadRequest reads and verifies a delivery received by an HTTP handler and
// returns its command. Besides Verify's checks, the HeaderID must name the
// body's command. Errors: ErrTimestamp, ErrSignature, or a malformed body.
func ReadRequest(r *http.Request, secret []byte, now time.Time, tolerance time.Duration) (*holdfast.Command, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("webhook: read body: %w", err)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("webhook: body over %d bytes", maxBody)
	}
	if err := Verify(secret, r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body, now, tolerance); err != nil {
		return nil, err
	}
	var c holdfast.Command
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("webhook: body: %w", err)
	}
	if c.ID == "" || c.ID != r.Header.Get(HeaderID) {
		return nil, fmt.Errorf("webhook: %s %q does not name the body's command %q", HeaderID, r.Header.Get(HeaderID), c.ID)
	}
	return &c, nil
}
