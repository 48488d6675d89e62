package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/holdfast/holdfast"
)

// The identity-service hook of the emergency freeze: the signed-out page
// sends the holder to the exchange's identity service with a signed
// request; the service verifies them its own way (documents, a selfie,
// a call) and sends them back to /me/emergency/verified, at the address
// it is configured with, with a token in the sign-in link's format that
// also says what it is for. The holder confirms once more on that page,
// and the token works once. Requests and tokens are signed with keys
// derived from the holder key, each its own: neither is ever a sign-in
// link, nor a sign-in link either of them.

// EmergencyPurpose is the purpose an identity service's token must name.
const EmergencyPurpose = "emergency_freeze"

// emergencyTTL bounds a hand-off request.
const emergencyTTL = 10 * time.Minute

// EmergencyRequest is what the hand-off asks the identity service.
type EmergencyRequest struct {
	Purpose string `json:"purpose"`
	// Account is the account the holder named, a hint ("" when none):
	// the service decides who the holder is.
	Account string `json:"account,omitempty"`
	Expires int64  `json:"exp"`
	Nonce   string `json:"nonce"`
}

// emergencyClaims are an identity service's token: a holder token that
// names its purpose.
type emergencyClaims struct {
	HolderClaims
	Purpose string `json:"purpose"`
}

// emergencyRequestKey signs hand-off requests.
func emergencyRequestKey(key []byte) []byte { return derive(key, "holdfast emergency request") }

// emergencyTokenKey signs the identity service's tokens.
func emergencyTokenKey(key []byte) []byte { return derive(key, "holdfast emergency token") }

func derive(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// VerifyEmergencyRequest checks a hand-off request's signature (under the
// key derived from the holder key) and expiry: for the identity service.
func VerifyEmergencyRequest(holderKey []byte, token string, now time.Time) (*EmergencyRequest, error) {
	body, err := verify(emergencyRequestKey(holderKey), token)
	if err != nil {
		return nil, err
	}
	var q EmergencyRequest
	if err := json.Unmarshal(body, &q); err != nil || q.Purpose != EmergencyPurpose {
		return nil, errors.New("web: malformed request")
	}
	if now.Unix() >= q.Expires {
		return nil, errors.New("web: request expired")
	}
	return &q, nil
}

// MintEmergencyToken signs the token with which an identity service sends
// a verified holder of account back: the sign-in link's claims with
// purpose "emergency_freeze", under the key derived from the holder key.
func MintEmergencyToken(key []byte, account string, ttl time.Duration, now time.Time) (string, error) {
	c, err := newHolderClaims(key, account, ttl, now)
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(emergencyClaims{c, EmergencyPurpose})
	if err != nil {
		return "", err
	}
	return sign(emergencyTokenKey(key), body), nil
}

// verifyEmergencyToken checks an identity service's token: signature,
// expiry and purpose (a plain sign-in link freezes nothing).
func verifyEmergencyToken(key []byte, token string, now time.Time) (*emergencyClaims, error) {
	var ec emergencyClaims
	if err := verifyClaims(emergencyTokenKey(key), token, now, &ec, &ec.HolderClaims); err != nil {
		return nil, err
	}
	if ec.Purpose != EmergencyPurpose || holdfast.ValidateID("account", ec.Account) != nil {
		return nil, errors.New("web: not an emergency token")
	}
	return &ec, nil
}

func checkIdentityURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("web: the identity service URL %q is not an http(s) URL", raw)
	}
	return nil
}

// identityHandoff sends the holder to the identity service with a signed
// request.
func (s *Server) identityHandoff(w http.ResponseWriter, r *http.Request) {
	ec := &s.cfg.Emergency
	p := s.emergencyData("")
	if ec.IdentityURL == "" {
		p.Error = "Verifying your identity online is not available. Contact support."
		s.render(w, r, http.StatusNotFound, "holder/emergency", p)
		return
	}
	account := r.URL.Query().Get("account")
	if holdfast.ValidateID("account", account) != nil {
		account = ""
	}
	var n [12]byte
	if _, err := rand.Read(n[:]); err != nil {
		http.Error(w, msgFailed, http.StatusInternalServerError)
		return
	}
	body, err := json.Marshal(EmergencyRequest{Purpose: EmergencyPurpose, Account: account,
		Expires: time.Now().Add(emergencyTTL).Unix(), Nonce: base64.RawURLEncoding.EncodeToString(n[:])})
	if err != nil {
		http.Error(w, msgFailed, http.StatusInternalServerError)
		return
	}
	sep := "?"
	if strings.Contains(ec.IdentityURL, "?") {
		sep = "&"
	}
	http.Redirect(w, r, ec.IdentityURL+sep+"request="+url.QueryEscape(sign(emergencyRequestKey(s.cfg.HolderKey), body)), http.StatusSeeOther)
}

// identityReturn shows the holder the identity service sent back what
// confirming will do; the token is checked, not used.
func (s *Server) identityReturn(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	c, err := verifyEmergencyToken(s.cfg.HolderKey, token, time.Now())
	if err != nil {
		p := s.emergencyData("")
		p.Error = "This identity check is not valid or has expired. Start again."
		s.render(w, r, http.StatusUnauthorized, "holder/emergency", p)
		return
	}
	p := s.emergencyData(c.Account)
	p.Token = token
	s.render(w, r, http.StatusOK, "holder/emergency_verified", p)
}

// identityFreeze secures the account the token names; the token works
// once, on every node (it is marked used like a sign-in link).
func (s *Server) identityFreeze(w http.ResponseWriter, r *http.Request) {
	token := r.PostFormValue("token")
	now := time.Now()
	c, err := verifyEmergencyToken(s.cfg.HolderKey, token, now)
	p := s.emergencyData("")
	if err != nil {
		p.Error = "This identity check is not valid or has expired. Start again."
		s.render(w, r, http.StatusUnauthorized, "holder/emergency", p)
		return
	}
	p.Account = c.Account
	if err := s.cfg.Staff.UseLink(r.Context(), linkHash(token), time.Unix(c.Expires, 0), now); err != nil {
		if holdfast.ErrorCode(err) != holdfast.Unauthenticated {
			s.cfg.Logger.ErrorContext(r.Context(), "web: recording an identity token failed", "err", err)
			p.Error = msgFailed
			s.render(w, r, http.StatusInternalServerError, "holder/emergency", p)
			return
		}
		p.Error = "This identity check was used already. Start again if your account is not frozen."
		s.render(w, r, http.StatusUnauthorized, "holder/emergency", p)
		return
	}
	res, err := s.cfg.Engine.SecureAccountFrom(r.Context(), c.Account, holdfast.User(c.Account),
		"signed out: identity verified by the exchange's identity service, from "+s.clientAddr(r))
	if err != nil {
		p.Error = errorText(err)
		s.render(w, r, emergencyStatus(err), "holder/emergency", p)
		return
	}
	p.Result = res
	s.render(w, r, http.StatusOK, "holder/emergency_done", p)
}
