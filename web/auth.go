package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/argon2"
)

// Holder tokens: the exchange, which has signed its user in, mints a
// short-lived token naming the account and sends the user to
// /me/login?token=…. The token is base64url(JSON claims) "." base64url
// (HMAC-SHA256 of the claims under the shared key). Nothing else
// authenticates a holder here.

// HolderClaims are what a holder token says.
type HolderClaims struct {
	Account string `json:"account"`
	// Expires is Unix seconds.
	Expires int64 `json:"exp"`
	// Nonce makes each link unique. A link is used once (the store
	// remembers the hash of every link used until it expires), so two
	// links for one account in the same second need different nonces.
	Nonce string `json:"nonce,omitempty"`
}

// MinKeyBytes is the shortest signing key accepted.
const MinKeyBytes = 32

// MintHolderToken signs a token for account valid for ttl.
func MintHolderToken(key []byte, account string, ttl time.Duration, now time.Time) (string, error) {
	c, err := newHolderClaims(key, account, ttl, now)
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	return sign(key, body), nil
}

// newHolderClaims checks that key is long enough and makes the claims of
// a new token for account, with a fresh nonce.
func newHolderClaims(key []byte, account string, ttl time.Duration, now time.Time) (HolderClaims, error) {
	if len(key) < MinKeyBytes {
		return HolderClaims{}, fmt.Errorf("web: the holder token key must be at least %d bytes", MinKeyBytes)
	}
	var n [12]byte
	if _, err := rand.Read(n[:]); err != nil {
		return HolderClaims{}, err
	}
	return HolderClaims{Account: account, Expires: now.Add(ttl).Unix(), Nonce: base64.RawURLEncoding.EncodeToString(n[:])}, nil
}

// VerifyHolderToken checks the signature and expiry and returns the
// claims.
func VerifyHolderToken(key []byte, token string, now time.Time) (*HolderClaims, error) {
	var c HolderClaims
	if err := verifyClaims(key, token, now, &c, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// verifyClaims checks a token's signature, decodes its body into into
// (c, or a struct embedding it) and checks c's account and expiry.
func verifyClaims(key []byte, token string, now time.Time, into any, c *HolderClaims) error {
	body, err := verify(key, token)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, into); err != nil || c.Account == "" {
		return errors.New("web: malformed token")
	}
	if now.Unix() >= c.Expires {
		return errors.New("web: token expired")
	}
	return nil
}

// linkHash is what the store keeps of a used sign-in link.
func linkHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

func sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(body) + "." + enc.EncodeToString(m.Sum(nil))
}

func verify(key []byte, token string) ([]byte, error) {
	b64, sig64, ok := strings.Cut(token, ".")
	if !ok {
		return nil, errors.New("web: malformed token")
	}
	enc := base64.RawURLEncoding
	body, err1 := enc.DecodeString(b64)
	sig, err2 := enc.DecodeString(sig64)
	if err1 != nil || err2 != nil {
		return nil, errors.New("web: malformed token")
	}
	m := hmac.New(sha256.New, key)
	m.Write(body)
	if !hmac.Equal(sig, m.Sum(nil)) {
		return nil, errors.New("web: bad signature")
	}
	return body, nil
}

// Passwords are argon2id (RFC 9106's second recommended set: 64 MiB, 3
// passes, 4 lanes), stored as a PHC string.
const (
	argonTime    = 3
	argonMemory  = 64 << 10
	argonThreads = 4
	argonKeyLen  = 32
)

// HashPassword returns the PHC string of a new argon2id hash.
func HashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches the PHC string.
func CheckPassword(phc, password string) bool {
	var version int
	var mem, t uint32
	var threads uint8
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &threads); err != nil {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, mem, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// NewTOTPSecret makes a TOTP secret for a staff member and returns it with
// its otpauth:// URL, for an authenticator app.
func NewTOTPSecret(staff string) (secret, url string, err error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: "Holdfast Console", AccountName: staff})
	if err != nil {
		return "", "", err
	}
	return k.Secret(), k.URL(), nil
}

// totpPeriod is the authenticator codes' time step.
const totpPeriod = 30

// totpStep returns the time step (Unix seconds / 30) whose code code is,
// within one step of clock skew either way of now. The store remembers
// the last step that signed each member in, so a code works once.
func totpStep(secret, code string, now time.Time) (int64, bool) {
	code = strings.TrimSpace(code)
	opts := totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	found, step := false, int64(0)
	// Every candidate is computed and compared in constant time, so the
	// time taken does not say which step matched.
	for skew := int64(-1); skew <= 1; skew++ {
		at := now.Add(time.Duration(skew*totpPeriod) * time.Second)
		want, err := totp.GenerateCodeCustom(secret, at, opts)
		if err == nil && len(code) == len(want) && subtle.ConstantTimeCompare([]byte(code), []byte(want)) == 1 {
			found, step = true, at.Unix()/totpPeriod
		}
	}
	return step, found
}
