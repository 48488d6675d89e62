package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/holdfast/holdfast"
)

// The one-time codes of the signed-out emergency freeze, the requests'
// rate limits and the client's address they are counted by.

const (
	// codeDigits: 10⁸ codes, against at most codeAttempts guesses per
	// code and a few codes per account an hour.
	codeDigits   = 8
	codeTTL      = 10 * time.Minute
	codeAttempts = 5
)

// Defaults of EmergencyConfig.
const (
	defaultAccountLimit = 5
	defaultClientLimit  = 20
	defaultLimitWindow  = time.Hour
	defaultMinResponse  = 300 * time.Millisecond
)

// newChallenge returns a fresh challenge id and code.
func newChallenge() (id, code string, err error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	n, err := rand.Int(rand.Reader, big.NewInt(100_000_000))
	if err != nil {
		return "", "", err
	}
	return "emc_" + base64.RawURLEncoding.EncodeToString(b[:]), fmt.Sprintf("%0*d", codeDigits, n), nil
}

// codeKey keys the codes' hashes: derived from the holder key, which
// every node shares, so that a copy of the database alone cannot try the
// 10⁸ codes against a hash.
func codeKey(holderKey []byte) []byte {
	m := hmac.New(sha256.New, holderKey)
	m.Write([]byte("holdfast emergency code"))
	return m.Sum(nil)
}

// codeHash is what the store keeps of a challenge's code.
func codeHash(key []byte, challenge, code string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(challenge + ":" + code))
	return hex.EncodeToString(m.Sum(nil))
}

// normalCode strips what people type between digits ("1234 5678",
// "1234-5678"); ok is false unless codeDigits digits remain.
func normalCode(s string) (code string, ok bool) {
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, s)
	if len(code) != codeDigits {
		return "", false
	}
	for _, r := range code {
		if r < '0' || r > '9' {
			return "", false
		}
	}
	return code, true
}

// clientAddr is the address requests are counted by: the connection's,
// or the last entry of the header the exchange's proxy sets. IPv6
// addresses count by their /64, which one subscriber usually holds.
func (s *Server) clientAddr(r *http.Request) string {
	raw := ""
	if h := s.cfg.Emergency.ClientIPHeader; h != "" {
		vals := strings.Split(strings.Join(r.Header.Values(h), ","), ",")
		raw = strings.TrimSpace(vals[len(vals)-1])
	}
	if raw == "" {
		raw = r.RemoteAddr
		if host, _, err := net.SplitHostPort(raw); err == nil {
			raw = host
		}
	}
	a, err := netip.ParseAddr(raw)
	if err != nil {
		return "unknown"
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// takeLimits counts a signed-out request against the client's limit and,
// when account is named, the account's. Keys are hashed: the store keeps
// no client address.
func (s *Server) takeLimits(ctx context.Context, client, account string) (bool, error) {
	ec := &s.cfg.Emergency
	keys := []struct {
		key string
		max int
	}{{"client:" + client, ec.ClientLimit}}
	if account != "" {
		keys = append(keys, struct {
			key string
			max int
		}{"account:" + account, ec.AccountLimit})
	}
	for _, k := range keys {
		h := sha256.Sum256([]byte("emergency " + k.key))
		ok, err := s.emergencyStore().TakeLimit(ctx, hex.EncodeToString(h[:]), time.Now(), ec.LimitWindow, k.max)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// sendCode sends the code through the holder's notification channel, off
// the request: the page must answer alike whether a code went out or not.
// A failure is logged, without the code.
func (s *Server) sendCode(account, challenge, code, client string, expires time.Time) {
	now := time.Now()
	c := &holdfast.Command{ID: "ntf_" + strings.TrimPrefix(challenge, "emc_"), Account: account, Type: holdfast.CommandNotifyHolder,
		Notice: holdfast.NoticeEmergencyCode, CreatedAt: now,
		Data: map[string]string{"code": code, "expires_at": expires.UTC().Format(time.RFC3339), "client": client}}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.cfg.Emergency.Sender.Send(ctx, c); err != nil {
			s.cfg.Logger.ErrorContext(ctx, "web: sending an emergency code failed", "account", account, "challenge", challenge, "err", err)
		}
	}()
}
