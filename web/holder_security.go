package web

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/holdfast/holdfast"
)

// The Security Center's protection pages: the home's emergency buttons,
// sessions and devices, API keys, the withdrawal whitelist, settings
// (anti-phishing code, settings lock, trusted contacts) and the checkup.
// Every rule is the engine's; these handlers only call it as the holder.

func (s *Server) securityRoutes() {
	home := s.homeScreen()
	s.mux.Handle("GET /me/secure", s.showHolder(holderScreen{template: "holder/secure", section: "home", load: func(*http.Request, string) (any, error) {
		return s.cfg.Engine.Policy().SelfService.SecureAccountFreeze, nil
	}}))
	s.mux.Handle("POST /me/secure", s.actHolder(home, s.secureAccount))
	s.mux.Handle("POST /me/freeze", s.actHolder(home, s.freeze))
	s.mux.Handle("POST /me/unfreeze", s.actHolder(home, s.requestUnfreeze))

	devices := holderScreen{template: "holder/devices", section: "devices", load: s.overview}
	s.mux.Handle("GET /me/devices", s.showHolder(devices))
	s.mux.Handle("POST /me/devices/revoke", s.actHolder(devices, s.revokeSession))
	s.mux.Handle("POST /me/devices/revoke-all", s.actHolder(devices, s.revokeAllSessions))

	s.keyRoutes()

	whitelist := holderScreen{template: "holder/whitelist", section: "whitelist", load: s.whitelistData}
	s.mux.Handle("GET /me/whitelist", s.showHolder(whitelist))
	s.mux.Handle("POST /me/whitelist/add", s.actHolder(whitelist, s.whitelistAdd))
	s.mux.Handle("POST /me/whitelist/remove", s.actHolder(whitelist, s.whitelistRemove))
	s.mux.Handle("POST /me/whitelist/enabled", s.actHolder(whitelist, s.whitelistEnabled))

	settings := holderScreen{template: "holder/settings", section: "settings", load: s.settingsData}
	s.mux.Handle("GET /me/settings", s.showHolder(settings))
	s.mux.Handle("POST /me/settings/anti-phishing", s.actHolder(settings, s.setAntiPhishing))
	s.mux.Handle("POST /me/settings/lock", s.actHolder(settings, s.lockSettings))
	s.mux.Handle("POST /me/settings/unlock", s.actHolder(settings, s.requestUnlock))
	s.mux.Handle("POST /me/settings/cancel-unlock", s.actHolder(settings, s.cancelUnlock))
	s.mux.Handle("POST /me/settings/contacts/add", s.actHolder(settings, s.addContact))
	s.mux.Handle("POST /me/settings/contacts/remove", s.actHolder(settings, s.removeContact))
	s.mux.Handle("POST /me/settings/invitations/accept", s.actHolder(settings, s.answerInvitation(true)))
	s.mux.Handle("POST /me/settings/invitations/decline", s.actHolder(settings, s.answerInvitation(false)))

	s.mux.Handle("GET /me/checkup", s.showHolder(holderScreen{template: "holder/checkup", section: "checkup", load: func(r *http.Request, account string) (any, error) {
		return s.cfg.Engine.SecurityCheckup(r.Context(), account, holdfast.User(account))
	}}))
}

// homeData is the home's own: the freeze durations the policy offers,
// and what the holder waits for.
type homeData struct {
	FreezeDurations []holdfast.Duration
	// PanicDurations are the panic button's choices, offered again on
	// the lock's card to make it longer.
	PanicDurations []holdfast.Duration
	*holdfast.Progress
}

// UnfreezeOf is the early unfreeze the holder asked for of the
// self-freeze with this id, or nil.
func (d homeData) UnfreezeOf(id string) *holdfast.UnfreezeProgress {
	if u := d.Unfreeze; u != nil && slices.Contains(u.Restrictions, id) {
		return u
	}
	return nil
}

func (s *Server) homeScreen() holderScreen {
	return holderScreen{template: "holder/home", section: "home", load: func(r *http.Request, account string) (any, error) {
		ss := s.cfg.Engine.Policy().SelfService
		pr, err := s.cfg.Engine.Progress(r.Context(), account, holdfast.User(account))
		if err != nil {
			return nil, err
		}
		return homeData{FreezeDurations: ss.FreezeDurations, PanicDurations: panicChoices(ss), Progress: pr}, nil
	}}
}

// panicChoices are the panic button's durations: a day, three days and
// the policy's default, within the policy's bounds, shortest first.
func panicChoices(ss holdfast.SelfServicePolicy) []holdfast.Duration {
	var out []holdfast.Duration
	for _, d := range []holdfast.Duration{holdfast.Duration(24 * time.Hour), holdfast.Duration(72 * time.Hour), ss.PanicLockDefault} {
		if d >= ss.PanicLockMin && d <= ss.PanicLockMax && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

func (s *Server) secureAccount(w http.ResponseWriter, r *http.Request, account string) (string, error) {
	res, err := s.cfg.Engine.SecureAccount(r.Context(), account, holdfast.User(account))
	if err != nil {
		return "", err
	}
	// Every Security Center session of the account ended with the change,
	// on every node, this browser's too: it gets a new one, to the old
	// one's end, so the holder sees what they did. Another browser (an
	// attacker's) is signed out.
	if old, ok := r.Context().Value(holderSessionKey{}).(*holdfast.PageSession); ok {
		if err := s.startPageSession(w, r, holdfast.SiteHolder, account, 0, old.ExpiresAt); err != nil {
			s.cfg.Logger.WarnContext(r.Context(), "web: a new session after securing the account failed", "err", err)
		}
	}
	if res.Repeat {
		return flashURL("/me/", "secured_again"), nil
	}
	return s.withReceipt(flashURL("/me/", "secured"), res.Entry), nil
}

func (s *Server) freeze(_ http.ResponseWriter, r *http.Request, account string) (string, error) {
	d, err := holdfast.ParseDuration(r.FormValue("duration"))
	if err != nil {
		return "", err
	}
	a, err := s.cfg.Engine.FreezeApplied(r.Context(), account, d, holdfast.User(account))
	if err != nil {
		return "", err
	}
	return s.withReceipt(flashURL("/me/", "frozen"), a.Entry), nil
}

// requestUnfreeze records the holder's wish to end their freeze early
// and opens its unlock request case; the home then shows the steps:
// support lifts it once they have verified their identity.
func (s *Server) requestUnfreeze(_ http.ResponseWriter, r *http.Request, account string) (string, error) {
	a, err := s.cfg.Engine.RequestUnfreezeApplied(r.Context(), account, holdfast.User(account))
	if err != nil {
		return "", err
	}
	return s.withReceipt(flashURL("/me/", "unfreeze_requested"), a.Entry), nil
}

// overview loads the account's protections as the holder sees them.
func (s *Server) overview(r *http.Request, account string) (any, error) {
	return s.cfg.Engine.Security(r.Context(), account, holdfast.User(account))
}

func (s *Server) revokeSession(_ http.ResponseWriter, r *http.Request, account string) (string, error) {
	if err := s.cfg.Engine.RevokeSession(r.Context(), account, r.FormValue("session"), holdfast.User(account)); err != nil {
		return "", err
	}
	return flashURL("/me/devices", "session_revoked"), nil
}

// revokeAllSessions logs every active session out, one by one (the
// engine's secure_account does it in one step, with a freeze).
func (s *Server) revokeAllSessions(_ http.ResponseWriter, r *http.Request, account string) (string, error) {
	actor := holdfast.User(account)
	ov, err := s.cfg.Engine.Security(r.Context(), account, actor)
	if err != nil {
		return "", err
	}
	for _, ss := range ov.Sessions {
		if !ss.Active {
			continue
		}
		if err := s.cfg.Engine.RevokeSession(r.Context(), account, ss.ID, actor); err != nil {
			return "", err
		}
	}
	return flashURL("/me/devices", "sessions_revoked"), nil
}

// whitelistData is the whitelist page's own: the addresses, and the
// networks the form offers.
type whitelistData struct {
	*holdfast.SecurityOverview
	Networks []string
}

func (s *Server) whitelistData(r *http.Request, account string) (any, error) {
	ov, err := s.cfg.Engine.Security(r.Context(), account, holdfast.User(account))
	if err != nil {
		return nil, err
	}
	return whitelistData{SecurityOverview: ov, Networks: s.cfg.Engine.Policy().Security.WhitelistNetworks}, nil
}

func (s *Server) whitelistAdd(_ http.ResponseWriter, r *http.Request, account string) (string, error) {
	nw := holdfast.NewWhitelistAddress{Address: strings.TrimSpace(r.FormValue("address")), Network: r.FormValue("network"), Label: r.FormValue("label")}
	if _, err := s.cfg.Engine.AddWhitelistAddress(r.Context(), account, nw, holdfast.User(account)); err != nil {
		return "", err
	}
	return flashURL("/me/whitelist", "whitelist_added"), nil
}

func (s *Server) whitelistRemove(_ http.ResponseWriter, r *http.Request, account string) (string, error) {
	if err := s.cfg.Engine.RemoveWhitelistAddress(r.Context(), account, r.FormValue("address"), holdfast.User(account)); err != nil {
		return "", err
	}
	return flashURL("/me/whitelist", "whitelist_removed"), nil
}

func (s *Server) whitelistEnabled(_ http.ResponseWriter, r *http.Request, account string) (string, error) {
	on := r.FormValue("enabled") == "on"
	if err := s.cfg.Engine.SetWhitelist(r.Context(), account, on, holdfast.User(account)); err != nil {
		return "", err
	}
	if on {
		return flashURL("/me/whitelist", "whitelist_on"), nil
	}
	return flashURL("/me/whitelist", "whitelist_off"), nil
}

// settingsData is the settings page's own.
type settingsData struct {
	*holdfast.SecurityOverview
	// Locked: the settings lock is in force (maybe with an unlock
	// pending, at UnlocksAt).
	Locked    bool
	UnlocksAt time.Time
	// DelayMin and DelayMax bound the unlock delay.
	DelayMin, DelayMax holdfast.Duration
	MaxContacts        int
}

func (s *Server) settingsData(r *http.Request, account string) (any, error) {
	ov, err := s.cfg.Engine.Security(r.Context(), account, holdfast.User(account))
	if err != nil {
		return nil, err
	}
	sp := s.cfg.Engine.Policy().Security
	d := settingsData{SecurityOverview: ov, DelayMin: sp.SettingsUnlockDelayMin, DelayMax: sp.SettingsUnlockDelayMax, MaxContacts: sp.MaxTrustedContacts}
	if sl := ov.SettingsLock; sl != nil {
		d.Locked = true
		if !sl.UnlockRequestedAt.IsZero() {
			d.UnlocksAt = sl.UnlockRequestedAt.Add(sl.UnlockDelay.Std())
			// The lock ended when its delay ran out.
			d.Locked = time.Now().Before(d.UnlocksAt)
		}
	}
	return d, nil
}

func (s *Server) setAntiPhishing(_ http.ResponseWriter, r *http.Request, account string) (string, error) {
	if err := s.cfg.Engine.SetAntiPhishingCode(r.Context(), account, r.FormValue("code"), holdfast.User(account)); err != nil {
		return "", err
	}
	return flashURL("/me/settings", "anti_phishing_set"), nil
}

func (s *Server) lockSettings(_ http.ResponseWriter, r *http.Request, account string) (string, error) {
	d, err := holdfast.ParseDuration(strings.TrimSpace(r.FormValue("unlock_delay")))
	if err != nil {
		return "", err
	}
	if _, err := s.cfg.Engine.LockSettings(r.Context(), account, d, holdfast.User(account)); err != nil {
		return "", err
	}
	return flashURL("/me/settings", "settings_locked"), nil
}

func (s *Server) requestUnlock(_ http.ResponseWriter, r *http.Request, account string) (string, error) {
	if _, err := s.cfg.Engine.RequestSettingsUnlock(r.Context(), account, holdfast.User(account)); err != nil {
		return "", err
	}
	return flashURL("/me/settings", "unlock_requested"), nil
}

func (s *Server) cancelUnlock(_ http.ResponseWriter, r *http.Request, account string) (string, error) {
	if _, err := s.cfg.Engine.CancelSettingsUnlock(r.Context(), account, holdfast.User(account)); err != nil {
		return "", err
	}
	return flashURL("/me/settings", "unlock_cancelled"), nil
}

func (s *Server) addContact(_ http.ResponseWriter, r *http.Request, account string) (string, error) {
	if err := s.cfg.Engine.AddTrustedContact(r.Context(), account, strings.TrimSpace(r.FormValue("contact")), holdfast.User(account)); err != nil {
		return "", err
	}
	return flashURL("/me/settings", "contact_added"), nil
}

func (s *Server) removeContact(_ http.ResponseWriter, r *http.Request, account string) (string, error) {
	if err := s.cfg.Engine.RemoveTrustedContact(r.Context(), account, r.FormValue("contact"), holdfast.User(account)); err != nil {
		return "", err
	}
	return flashURL("/me/settings", "contact_removed"), nil
}

// answerInvitation accepts or declines another holder's invitation to be
// their trusted contact.
func (s *Server) answerInvitation(accept bool) holderAction {
	return func(_ http.ResponseWriter, r *http.Request, account string) (string, error) {
		answer, done := s.cfg.Engine.DeclineContactInvitation, "invitation_declined"
		if accept {
			answer, done = s.cfg.Engine.AcceptContactInvitation, "invitation_accepted"
		}
		if err := answer(r.Context(), account, r.FormValue("inviter"), holdfast.User(account)); err != nil {
			return "", err
		}
		return flashURL("/me/settings", done), nil
	}
}
