package web

import (
	"net/http"
	"strings"
	"unicode"

	"github.com/holdfast/holdfast"
)

// The API keys page: each key's permissions, the addresses it may be used
// from, when it was made and last used, and the holder's two controls on
// it: revoke it, or change its IP whitelist. The engine decides whether a
// change is protective or a security change (widening).

func (s *Server) keyRoutes() {
	keys := holderScreen{template: "holder/keys", section: "keys", load: s.overview}
	s.mux.Handle("GET /me/keys", s.showHolder(keys))
	s.mux.Handle("POST /me/keys/revoke", s.actHolder(keys, s.revokeKey))
	s.mux.Handle("POST /me/keys/ip-whitelist", s.actHolder(keys, s.setKeyIPs))
}

func (s *Server) revokeKey(_ http.ResponseWriter, r *http.Request, account string) (string, error) {
	if _, err := s.cfg.Engine.RevokeAPIKey(r.Context(), account, r.FormValue("key"), holdfast.User(account)); err != nil {
		return "", err
	}
	return flashURL("/me/keys", "key_revoked"), nil
}

// setKeyIPs saves a key's IP whitelist, typed as addresses and prefixes
// separated by commas, spaces or lines (none: any address).
func (s *Server) setKeyIPs(_ http.ResponseWriter, r *http.Request, account string) (string, error) {
	ips := strings.FieldsFunc(r.FormValue("ip_whitelist"), func(c rune) bool { return c == ',' || unicode.IsSpace(c) })
	if _, err := s.cfg.Engine.SetAPIKeyIPWhitelist(r.Context(), account, r.FormValue("key"), ips, holdfast.User(account)); err != nil {
		return "", err
	}
	return flashURL("/me/keys", "key_ips_saved"), nil
}
