package web

import (
	"context"
	"crypto/hmac"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
)

// The emergency freeze for a holder who cannot sign in. From the
// signed-out Security Center they name their account; Holdfast sends a
// one-time code through their notification channel (or hands them to the
// exchange's identity service, emergency_identity.go); the code entered
// secures the account as "Secure my account" does: a freeze, and every
// session and API key revoked. Whether the account exists never shows:
// every account gets the same pages, in the same time.

// CodeSender delivers a notify_holder command at once, outside the
// outbox, so that the code it carries is never stored: a
// *notify.Notifier, or the exchange's webhook (*webhook.Poster).
type CodeSender interface {
	Send(ctx context.Context, c *holdfast.Command) error
}

// EmergencyConfig configures the freeze of a holder who cannot sign in.
// With neither Sender nor IdentityURL the signed-out page tells the
// holder to contact support.
type EmergencyConfig struct {
	// Sender delivers the one-time codes (nil: no codes).
	Sender CodeSender
	// IdentityURL is the exchange's identity service, to which the page
	// hands a holder with a signed request; it sends them back to
	// /me/emergency/verified with a signed token ("": none).
	IdentityURL string
	// Store keeps the codes and rate limits (nil: Staff, when it is one).
	Store holdfast.EmergencyStore
	// ClientIPHeader names the header in which the exchange's reverse
	// proxy puts the client's address (its last entry counts); empty:
	// the connection's address.
	ClientIPHeader string
	// AccountLimit and ClientLimit bound the code requests per account
	// and the requests and confirmations per client address in each
	// LimitWindow (defaults 5, 20 and 1 h).
	AccountLimit, ClientLimit int
	LimitWindow               time.Duration
	// MinResponse is the least time a code request or confirmation
	// takes to answer, whatever the account (default 300 ms): it hides
	// the work only a real account causes.
	MinResponse time.Duration
}

func (s *Server) emergencyRoutes() error {
	ec := &s.cfg.Emergency
	if ec.Store == nil {
		ec.Store, _ = s.cfg.Staff.(holdfast.EmergencyStore)
	}
	if ec.Sender != nil && ec.Store == nil {
		return errors.New("web: emergency codes need a store that keeps them")
	}
	if err := checkIdentityURL(ec.IdentityURL); err != nil {
		return err
	}
	if ec.AccountLimit <= 0 {
		ec.AccountLimit = defaultAccountLimit
	}
	if ec.ClientLimit <= 0 {
		ec.ClientLimit = defaultClientLimit
	}
	if ec.LimitWindow <= 0 {
		ec.LimitWindow = defaultLimitWindow
	}
	if ec.MinResponse <= 0 {
		ec.MinResponse = defaultMinResponse
	}
	s.mux.HandleFunc("GET /me/emergency", s.emergencyForm)
	s.mux.HandleFunc("POST /me/emergency/code", s.emergencyRequest)
	s.mux.HandleFunc("POST /me/emergency/confirm", s.emergencyConfirm)
	s.mux.HandleFunc("GET /me/emergency/verify", s.identityHandoff)
	s.mux.HandleFunc("GET /me/emergency/verified", s.identityReturn)
	s.mux.HandleFunc("POST /me/emergency/verified", s.identityFreeze)
	return nil
}

func (s *Server) emergencyStore() holdfast.EmergencyStore { return s.cfg.Emergency.Store }

// emergencyPage is what the signed-out emergency pages show.
type emergencyPage struct {
	// Account is the account named (prefilled, or as entered).
	Account string
	// Expired: a form posted after the session ended brought the holder
	// here; nothing it asked for was done.
	Expired bool
	// Codes and Identity say which ways the exchange offers.
	Codes, Identity bool
	Error           string
	// Challenge names the code sent (the code page).
	Challenge string
	// Minutes a code lasts; Digits in a code.
	Minutes, Digits int
	// FreezeFor is how long the freeze lasts (the policy's
	// secure_account_freeze).
	FreezeFor holdfast.Duration
	// Result is the freeze (the answer page).
	Result *holdfast.SecureResult
	// Token is the identity service's token (its confirmation page).
	Token string
}

func (s *Server) emergencyData(account string) emergencyPage {
	ec := &s.cfg.Emergency
	return emergencyPage{Account: account, Codes: ec.Sender != nil, Identity: ec.IdentityURL != "", Minutes: int(codeTTL / time.Minute), Digits: codeDigits,
		FreezeFor: s.cfg.Engine.Policy().SelfService.SecureAccountFreeze}
}

// emergencyForm is where "I can't sign in" leads; ?account= prefills it
// (an exchange that finds the account by email links here with it).
func (s *Server) emergencyForm(w http.ResponseWriter, r *http.Request) {
	p := s.emergencyData(r.URL.Query().Get("account"))
	if holdfast.ValidateID("account", p.Account) != nil {
		p.Account = ""
	}
	s.render(w, r, http.StatusOK, "holder/emergency", p)
}

// paced renders what answer decides no sooner than MinResponse after
// start, so that an unknown account answers in the time a known one does.
func (s *Server) paced(w http.ResponseWriter, r *http.Request, answer func() (status int, page string, data emergencyPage)) {
	start := time.Now()
	status, page, data := answer()
	t := time.NewTimer(time.Until(start.Add(s.cfg.Emergency.MinResponse)))
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
		return
	}
	s.render(w, r, status, page, data)
}

// Messages of the signed-out pages: the same for every account.
const (
	msgTooMany  = "Too many requests for this account or from your network. Wait an hour and try again, or contact support."
	msgGone     = "This code has expired or was used already. Ask for a new code."
	msgExhaust  = "Too many wrong codes. Ask for a new code."
	msgFailed   = "Something went wrong. Please try again."
	msgBadCode  = "Enter the 8 digits of the code we sent you."
	msgNoCodes  = "Freezing by code is not available. Contact support."
	msgAccount  = "Enter your account ID as the exchange's app shows it."
	msgNotRight = "That code is not right."
)

// emergencyRequest sends a code to the account's holder, if the account
// is one Holdfast knows and has a contact for, and shows the code page
// either way.
func (s *Server) emergencyRequest(w http.ResponseWriter, r *http.Request) {
	s.paced(w, r, func() (int, string, emergencyPage) {
		p := s.emergencyData(r.PostFormValue("account"))
		if !p.Codes {
			p.Error = msgNoCodes
			return http.StatusNotFound, "holder/emergency", p
		}
		if holdfast.ValidateID("account", p.Account) != nil {
			p.Error = msgAccount
			return http.StatusUnprocessableEntity, "holder/emergency", p
		}
		ctx, client := r.Context(), s.clientAddr(r)
		ok, err := s.takeLimits(ctx, client, p.Account)
		if err != nil {
			s.cfg.Logger.ErrorContext(ctx, "web: emergency rate limit failed", "err", err)
			p.Error = msgFailed
			return http.StatusInternalServerError, "holder/emergency", p
		}
		if !ok {
			s.cfg.Logger.WarnContext(ctx, "web: emergency code request over the rate limit", "account", p.Account, "client", client)
			p.Error = msgTooMany
			return http.StatusTooManyRequests, "holder/emergency", p
		}
		challenge, err := s.issueCode(ctx, p.Account, client)
		if err != nil {
			s.cfg.Logger.ErrorContext(ctx, "web: issuing an emergency code failed", "err", err)
			p.Error = msgFailed
			return http.StatusInternalServerError, "holder/emergency", p
		}
		p.Challenge = challenge
		return http.StatusOK, "holder/emergency_code", p
	})
}

// issueCode stores a code for account and sends it when the account is
// known and has a contact on file; otherwise it stores the hash of a code
// nobody gets, so that what follows goes exactly as for a real account.
func (s *Server) issueCode(ctx context.Context, account, client string) (string, error) {
	challenge, code, err := newChallenge()
	if err != nil {
		return "", err
	}
	now := time.Now()
	expires := now.Add(codeTTL)
	channel := ""
	a, err := s.cfg.Engine.Account(ctx, account)
	switch {
	case err == nil:
		channel = "none"
		if a.Security.Email != "" {
			channel = "email"
		} else if a.Security.Phone != "" {
			channel = "phone"
		}
	case holdfast.ErrorCode(err) != holdfast.NotFound:
		return "", err
	}
	hashed := code
	if channel == "" || channel == "none" {
		// Nobody will see this code: store the hash of another.
		if _, hashed, err = newChallenge(); err != nil {
			return "", err
		}
	}
	c := &holdfast.EmergencyCode{ID: challenge, Account: account, Hash: codeHash(codeKey(s.cfg.HolderKey), challenge, hashed), CreatedAt: now, ExpiresAt: expires}
	if err := s.emergencyStore().PutEmergencyCode(ctx, c, now); err != nil {
		return "", err
	}
	if channel == "" {
		s.cfg.Logger.InfoContext(ctx, "web: emergency code asked for an account Holdfast does not know", "account", account, "client", client, "challenge", challenge)
		return challenge, nil
	}
	reason := "a freeze code was asked for from the signed-out Security Center and sent to the holder's " + channel
	if channel == "none" {
		reason = "a freeze code was asked for from the signed-out Security Center; the account has no email or phone on file, so none was sent"
	}
	rec := engine.EmergencyRecord{Challenge: challenge, Channel: channel, Client: client, ExpiresAt: expires}
	if err := s.cfg.Engine.RecordEmergency(ctx, account, holdfast.AuditEmergencyCodeSent, rec, reason); err != nil {
		return "", err
	}
	if channel != "none" {
		s.sendCode(account, challenge, code, client, expires)
	}
	return challenge, nil
}

// emergencyConfirm checks a code and, when it is right, secures the
// account.
func (s *Server) emergencyConfirm(w http.ResponseWriter, r *http.Request) {
	s.paced(w, r, func() (int, string, emergencyPage) {
		p := s.emergencyData(r.PostFormValue("account"))
		p.Challenge = r.PostFormValue("challenge")
		if !p.Codes {
			p.Error = msgNoCodes
			return http.StatusNotFound, "holder/emergency", p
		}
		code, ok := normalCode(r.PostFormValue("code"))
		if !ok || holdfast.ValidateID("challenge", p.Challenge) != nil {
			p.Error = msgBadCode
			return http.StatusUnprocessableEntity, "holder/emergency_code", p
		}
		ctx, client := r.Context(), s.clientAddr(r)
		ok, err := s.takeLimits(ctx, client, "")
		if err != nil {
			s.cfg.Logger.ErrorContext(ctx, "web: emergency rate limit failed", "err", err)
			p.Error = msgFailed
			return http.StatusInternalServerError, "holder/emergency_code", p
		}
		if !ok {
			s.cfg.Logger.WarnContext(ctx, "web: emergency code entered over the rate limit", "client", client)
			p.Error = msgTooMany
			return http.StatusTooManyRequests, "holder/emergency", p
		}
		c, err := s.emergencyStore().AttemptEmergencyCode(ctx, p.Challenge, time.Now(), codeAttempts)
		switch holdfast.ErrorCode(err) {
		case "":
		case holdfast.NotFound:
			p.Error = msgGone
			return http.StatusGone, "holder/emergency", p
		case holdfast.ResourceExhausted:
			p.Error = msgExhaust
			return http.StatusTooManyRequests, "holder/emergency", p
		default:
			s.cfg.Logger.ErrorContext(ctx, "web: checking an emergency code failed", "err", err)
			p.Error = msgFailed
			return http.StatusInternalServerError, "holder/emergency_code", p
		}
		p.Account = c.Account
		if !hmac.Equal([]byte(codeHash(codeKey(s.cfg.HolderKey), c.ID, code)), []byte(c.Hash)) {
			s.refused(ctx, c, client)
			if left := codeAttempts - c.Attempts; left > 0 {
				p.Error = msgNotRight + " " + triesLeft(left)
				return http.StatusUnprocessableEntity, "holder/emergency_code", p
			}
			p.Error = msgExhaust
			return http.StatusTooManyRequests, "holder/emergency", p
		}
		if err := s.emergencyStore().UseEmergencyCode(ctx, c.ID, time.Now()); err != nil {
			p.Error = msgGone
			return http.StatusGone, "holder/emergency", p
		}
		res, err := s.cfg.Engine.SecureAccountFrom(ctx, c.Account, holdfast.User(c.Account),
			"signed out: with a one-time code from the holder's notification channel, entered from "+client)
		if err != nil {
			p.Error = errorText(err)
			return emergencyStatus(err), "holder/emergency", p
		}
		p.Result = res
		return http.StatusOK, "holder/emergency_done", p
	})
}

// refused records a wrong code on the account, or logs it for an account
// Holdfast does not know.
func (s *Server) refused(ctx context.Context, c *holdfast.EmergencyCode, client string) {
	rec := engine.EmergencyRecord{Challenge: c.ID, Client: client, Attempt: c.Attempts, MaxAttempts: codeAttempts}
	err := s.cfg.Engine.RecordEmergency(ctx, c.Account, holdfast.AuditEmergencyCodeRefused, rec, "a wrong freeze code was entered on the signed-out Security Center")
	switch holdfast.ErrorCode(err) {
	case "":
	case holdfast.NotFound:
		s.cfg.Logger.InfoContext(ctx, "web: wrong emergency code for an account Holdfast does not know", "account", c.Account, "client", client, "challenge", c.ID, "attempt", c.Attempts)
	default:
		s.cfg.Logger.ErrorContext(ctx, "web: recording a wrong emergency code failed", "account", c.Account, "err", err)
	}
}

func triesLeft(n int) string {
	if n == 1 {
		return "You have 1 more try."
	}
	return "You have " + strconv.Itoa(n) + " more tries."
}

// emergencyStatus is the HTTP status of an engine error on a signed-out
// page.
func emergencyStatus(err error) int {
	switch holdfast.ErrorCode(err) {
	case holdfast.ResourceExhausted:
		return http.StatusTooManyRequests
	case holdfast.InvalidArgument:
		return http.StatusUnprocessableEntity
	case holdfast.FailedPrecondition:
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// protectivePosts are the forms a holder in a hurry sends: arriving
// without a session, they lead straight to the emergency freeze.
var protectivePosts = []string{"/me/panic", "/me/freeze", "/me/secure", "/me/devices/revoke", "/me/devices/revoke-all"}

// notSignedIn answers a request without a valid session: the sign-in
// page, which offers the emergency freeze; a protective form posted after
// the session ended gets the emergency page at once, prefilled with the
// account the form or the ended session named. The session is read for
// its account only: nothing is done on its strength.
func (s *Server) notSignedIn(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !slices.Contains(protectivePosts, r.URL.Path) {
		s.render(w, r, http.StatusUnauthorized, "holder/signin", nil)
		return
	}
	// The form names its account in a hidden field: the session's cookie
	// holds only a random id, and an ended session's row is gone.
	account := r.PostFormValue("account")
	if holdfast.ValidateID("account", account) != nil {
		account = ""
	}
	p := s.emergencyData(account)
	p.Expired = true
	s.render(w, r, http.StatusUnauthorized, "holder/emergency", p)
}
