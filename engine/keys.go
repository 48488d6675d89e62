package engine

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/holdfast/holdfast"
)

// The holder's own API-key controls: revoking one key, and choosing the
// addresses a key may be used from. Keys are created by the exchange
// (api_key_created); what the holder changes here counts at once in
// checks (the credential index republishes with Security.Rev) and is
// told to the exchange through the outbox.

const (
	auditKeyRevoke      = holdfast.AuditKeyRevoke
	auditKeyIPWhitelist = holdfast.AuditKeyIPWhitelist
	noticeKeyRevoked    = "api_key_revoked"
	noticeKeyIPs        = "api_key_ip_whitelist_changed"
)

// maxKeyIPs bounds a key's IP whitelist as the holder sets it.
const maxKeyIPs = 20

// RevokeAPIKey revokes one of the account's API keys: a check naming it is
// unauthenticated from the commit on. Protective, so never blocked; a key
// revoked already stays as it was.
func (e *Engine) RevokeAPIKey(ctx context.Context, account, key string, actor holdfast.Actor) (*holdfast.APIKeyInfo, error) {
	if err := holdfast.ValidateID("api_key", key); err != nil {
		return nil, err
	}
	var out *holdfast.APIKeyInfo
	err := e.securityOpOn(ctx, account, actor, auditKeyRevoke, key, "", func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		a := tx.Account()
		k, err := accountKey(a, key)
		if err != nil {
			return false, err
		}
		if k.RevokedAt.IsZero() {
			k.RevokedAt = now
			a.Security.Rev++
			if err := tx.Enqueue(&holdfast.Command{ID: newID("cmd"), Account: a.ID, Type: holdfast.CommandRevokeAPIKey, Data: map[string]string{"api_key": key}, CreatedAt: now}); err != nil {
				return false, err
			}
			if err := e.notifyHolder(tx, now, noticeKeyRevoked, map[string]string{"api_key": key}); err != nil {
				return false, err
			}
		}
		out = keyInfo(key, k)
		return false, nil
	})
	return out, err
}

// SetAPIKeyIPWhitelist replaces the addresses a key may be used from
// (addresses or CIDR prefixes; none: any address). Narrowing only
// protects. A list that lets the key be used from an address it could not
// be used from before is a security change: blocked like one (a settings
// lock, a cooling-off) and it starts the security cooling-off, so that a
// thief who widens a key cannot withdraw with it at once.
func (e *Engine) SetAPIKeyIPWhitelist(ctx context.Context, account, key string, ips []string, actor holdfast.Actor) (*holdfast.APIKeyInfo, error) {
	if err := holdfast.ValidateID("api_key", key); err != nil {
		return nil, err
	}
	list, err := keyIPList(ips)
	if err != nil {
		return nil, err
	}
	var out *holdfast.APIKeyInfo
	err = e.securityOpOn(ctx, account, actor, auditKeyIPWhitelist, key, "", func(tx holdfast.AccountTx, now time.Time) (bool, error) {
		a := tx.Account()
		k, err := accountKey(a, key)
		if err != nil {
			return false, err
		}
		if !k.RevokedAt.IsZero() {
			return false, holdfast.Errorf(holdfast.FailedPrecondition, "api_key", "API key %s is revoked", key)
		}
		out = keyInfo(key, k)
		if slices.Equal(k.IPWhitelist, list) {
			return false, nil
		}
		widens := widensIPs(k.IPWhitelist, list)
		if widens {
			if err := e.gate(tx, now, holdfast.ActionChangeSecuritySettings); err != nil {
				return false, err
			}
		}
		k.IPWhitelist = list
		a.Security.Rev++
		out = keyInfo(key, k)
		data := map[string]string{"api_key": key, "ip_whitelist": strings.Join(list, ",")}
		if err := tx.Enqueue(&holdfast.Command{ID: newID("cmd"), Account: a.ID, Type: holdfast.CommandAPIKeyIPWhitelist, Data: data, CreatedAt: now}); err != nil {
			return false, err
		}
		if err := e.notifyHolder(tx, now, noticeKeyIPs, data); err != nil {
			return false, err
		}
		if !widens {
			return false, nil
		}
		return true, e.securityChange(tx, now, actor, auditKeyIPWhitelist)
	})
	return out, err
}

// accountKey is one of a's keys, or not_found.
func accountKey(a *holdfast.Account, key string) (*holdfast.APIKey, error) {
	k := a.Security.APIKeys[key]
	if k == nil {
		return nil, holdfast.Errorf(holdfast.NotFound, "api_key", "API key %s not found", key)
	}
	return k, nil
}

func keyInfo(id string, k *holdfast.APIKey) *holdfast.APIKeyInfo {
	c := *k
	c.Permissions, c.IPWhitelist = slices.Clone(k.Permissions), slices.Clone(k.IPWhitelist)
	return &holdfast.APIKeyInfo{ID: id, APIKey: c, Active: k.RevokedAt.IsZero()}
}

// keyIPList reads an IP whitelist: each entry an address or a CIDR
// prefix, kept in its canonical form ("203.0.113.0/24", "2001:db8::1"),
// each once, in the order given.
func keyIPList(ips []string) ([]string, error) {
	var out []string
	for _, s := range ips {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := holdfast.ParseIPPrefix(s)
		if err != nil {
			return nil, holdfast.Errorf(holdfast.InvalidArgument, "ip_whitelist", "%q is not an IP address or a CIDR prefix like 203.0.113.0/24", s)
		}
		c := p.String()
		if p.IsSingleIP() {
			c = p.Addr().String()
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	if len(out) > maxKeyIPs {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "ip_whitelist", "an API key's IP whitelist holds at most %d entries", maxKeyIPs)
	}
	return out, nil
}

// widensIPs reports whether the whitelist next lets a key be used from
// some address that old did not: an empty list allows any address.
func widensIPs(old, next []string) bool {
	if len(old) == 0 {
		return false
	}
	if len(next) == 0 {
		return true
	}
	var was []netip.Prefix
	for _, s := range old {
		if p, err := holdfast.ParseIPPrefix(s); err == nil {
			was = append(was, p)
		}
	}
	for _, s := range next {
		p, err := holdfast.ParseIPPrefix(s)
		if err != nil {
			return true
		}
		if !slices.ContainsFunc(was, func(w netip.Prefix) bool { return w.Bits() <= p.Bits() && w.Contains(p.Addr()) }) {
			return true
		}
	}
	return false
}
