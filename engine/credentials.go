package engine

import (
	"context"
	"hash/maphash"
	"net/netip"
	"sync"
	"time"

	"github.com/holdfast/holdfast"
)

// The credential index answers the part of a check that names a session or
// an API key. It is apart from the decision index so that checks without
// credentials (most of them) never pay for it, and it is filled lazily: the
// first check naming an account's credentials reads the account from the
// store, and every later commit that changes them publishes a new
// snapshot.

const credShards = 256

type credIndex struct {
	seed   maphash.Seed
	shards [credShards]credShard
}

type credShard struct {
	mu sync.RWMutex
	m  map[string]*credEntry
}

// credEntry is an immutable snapshot of an account's credentials as of
// audit sequence seq.
type credEntry struct {
	seq        int64
	validAfter int64
	sessions   map[string]credSession
	keys       map[string]*credKey
}

type credSession struct {
	started int64
	revoked bool
}

type credKey struct {
	revoked bool
	// allows says, per action (Action.Index), whether the key's
	// permissions grant it.
	allows [holdfast.NumActions]bool
	// withdrawNeedsWhitelist: the key may withdraw but has no IP whitelist
	// and the policy requires one.
	withdrawNeedsWhitelist bool
	withdrawActions        [holdfast.NumActions]bool
	ips                    []netip.Prefix
}

func newCredIndex() *credIndex {
	ci := &credIndex{seed: maphash.MakeSeed()}
	for i := range ci.shards {
		ci.shards[i].m = map[string]*credEntry{}
	}
	return ci
}

func (ci *credIndex) shard(account string) *credShard {
	return &ci.shards[maphash.String(ci.seed, account)%credShards]
}

func (ci *credIndex) get(account string) *credEntry {
	s := ci.shard(account)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.m[account]
}

// clear forgets every entry: each loads again from the store when a check
// next needs it.
func (ci *credIndex) clear() {
	for i := range ci.shards {
		s := &ci.shards[i]
		s.mu.Lock()
		clear(s.m)
		s.mu.Unlock()
	}
}

// put publishes ent unless a snapshot of a later commit is already there.
func (ci *credIndex) put(account string, ent *credEntry) *credEntry {
	s := ci.shard(account)
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.m[account]; cur != nil && cur.seq > ent.seq {
		return cur
	}
	s.m[account] = ent
	return ent
}

// credEntryFor lays out an account's credentials for checks.
func (e *Engine) credEntryFor(a *holdfast.Account) *credEntry {
	sec := &a.Security
	ent := &credEntry{
		seq:        a.AuditSeq,
		validAfter: unixNanos(sec.SessionsValidAfter),
		sessions:   make(map[string]credSession, len(sec.Sessions)),
		keys:       make(map[string]*credKey, len(sec.APIKeys)),
	}
	for id, s := range sec.Sessions {
		ent.sessions[id] = credSession{started: unixNanos(s.StartedAt), revoked: !s.RevokedAt.IsZero()}
	}
	sp := &e.policy().Security
	for id, k := range sec.APIKeys {
		ck := &credKey{revoked: !k.RevokedAt.IsZero()}
		for _, p := range k.Permissions {
			for _, a := range sp.KeyPermissions[p] {
				ck.allows[a.Index()] = true
				if p == holdfast.PermWithdraw {
					ck.withdrawActions[a.Index()] = true
				}
			}
		}
		for _, w := range k.IPWhitelist {
			if p, err := holdfast.ParseIPPrefix(w); err == nil {
				ck.ips = append(ck.ips, p)
			}
		}
		ck.withdrawNeedsWhitelist = sp.WithdrawKeysNeedIPWhitelist && k.HasPermission(holdfast.PermWithdraw) && len(ck.ips) == 0
		ent.keys[id] = ck
	}
	return ent
}

// credentials returns the account's credential snapshot, reading the
// account from the store on first use.
func (e *Engine) credentials(ctx context.Context, account string) (*credEntry, error) {
	if ent := e.creds.get(account); ent != nil {
		return ent, nil
	}
	a, err := e.store.Account(ctx, account)
	switch {
	case holdfast.ErrorCode(err) == holdfast.NotFound:
		a = &holdfast.Account{ID: account}
	case err != nil:
		return nil, err
	}
	return e.creds.put(account, e.credEntryFor(a)), nil
}

// credentialCauses appends the causes that the request's session and API
// key give: a credential problem denies whatever the restrictions say.
func credentialCauses(ent *credEntry, req *holdfast.CheckRequest, causes []holdfast.Cause) []holdfast.Cause {
	deny := func(code holdfast.Code, msg string) {
		causes = append(causes, holdfast.Cause{Code: code, Effect: holdfast.Deny, Message: msg})
	}
	if req.Session != "" {
		s, ok := ent.sessions[req.Session]
		switch {
		case !ok:
			deny(holdfast.Unauthenticated, "This session is not known. Sign in again.")
		case s.revoked || s.started < ent.validAfter:
			deny(holdfast.Unauthenticated, "This session was signed out. Sign in again.")
		}
	}
	if req.APIKey != "" {
		ai := req.Action.Index()
		k, ok := ent.keys[req.APIKey]
		switch {
		case !ok:
			deny(holdfast.Unauthenticated, "This API key is not known.")
		case k.revoked:
			deny(holdfast.Unauthenticated, "This API key was revoked.")
		case !k.allows[ai]:
			deny(holdfast.PermissionDenied, "This API key does not have the permission for "+string(req.Action)+".")
		case k.withdrawActions[ai] && k.withdrawNeedsWhitelist:
			deny(holdfast.PermissionDenied, "An API key that can withdraw needs an IP whitelist.")
		case len(k.ips) > 0 && !keyAllowsIP(k, req.IP):
			deny(holdfast.PermissionDenied, "This API key may not be used from this IP address.")
		}
	}
	return causes
}

func keyAllowsIP(k *credKey, ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false // no address named: a whitelisted key fails closed
	}
	a = a.Unmap()
	for _, p := range k.ips {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// unixNanos is t in Unix nanoseconds, 0 for the zero time.
func unixNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
