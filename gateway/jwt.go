package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/holdfast/holdfast"
)

// jwtAlgs are the signatures a token may carry: asymmetric only. "none"
// and the HMAC algorithms are never accepted (a key set publishes public
// keys; an HS256 token "signed" with one would be forgeable by anyone).
var jwtAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512, oidc.PS256, oidc.PS384, oidc.PS512,
	oidc.ES256, oidc.ES384, oidc.ES512, oidc.EdDSA,
}

// jwtVerifier verifies bearer tokens against the policy's key set and
// takes the account from a claim. Verified tokens are remembered (by
// hash) until their expiry or jwtCacheTTL, whichever comes first, so a
// busy account costs one signature check per jwtCacheTTL, not per request.
type jwtVerifier struct {
	verifier *oidc.IDTokenVerifier
	claim    string
	now      func() time.Time

	mu    sync.Mutex
	cache map[[32]byte]verifiedToken
}

type verifiedToken struct {
	account string
	until   time.Time
}

const (
	jwtCacheTTL = 30 * time.Second
	jwtCacheMax = 100_000
)

// newJWTVerifier builds the verifier of cfg. A key set from a URL is
// fetched on first use and again when a token names a key it lacks
// (go-oidc's RemoteKeySet), through client.
func newJWTVerifier(ctx context.Context, cfg *holdfast.GatewayJWT, client *http.Client) (*jwtVerifier, error) {
	var keys oidc.KeySet
	if cfg.JWKSFile != "" {
		b, err := os.ReadFile(cfg.JWKSFile)
		if err != nil {
			return nil, holdfast.Errorf(holdfast.InvalidArgument, "gateway.account.jwt.jwks_file", "%v", err)
		}
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(b, &set); err != nil {
			return nil, holdfast.Errorf(holdfast.InvalidArgument, "gateway.account.jwt.jwks_file", "%s is not a JSON Web Key Set: %v", cfg.JWKSFile, err)
		}
		static := &oidc.StaticKeySet{}
		for _, k := range set.Keys {
			if k.IsPublic() {
				static.PublicKeys = append(static.PublicKeys, k.Key)
			} else {
				static.PublicKeys = append(static.PublicKeys, k.Public().Key)
			}
		}
		if len(static.PublicKeys) == 0 {
			return nil, holdfast.Errorf(holdfast.InvalidArgument, "gateway.account.jwt.jwks_file", "%s holds no key", cfg.JWKSFile)
		}
		keys = static
	} else {
		if client == nil {
			client = &http.Client{Timeout: 5 * time.Second}
		}
		keys = oidc.NewRemoteKeySet(oidc.ClientContext(ctx, client), cfg.JWKSURL)
	}
	v := &jwtVerifier{claim: cfg.Claim, now: time.Now, cache: map[[32]byte]verifiedToken{}}
	v.verifier = oidc.NewVerifier(cfg.Issuer, keys, &oidc.Config{
		ClientID:             cfg.Audience,
		SkipClientIDCheck:    cfg.Audience == "",
		SkipIssuerCheck:      cfg.Issuer == "",
		SupportedSigningAlgs: jwtAlgs,
		Now:                  func() time.Time { return v.now() },
	})
	return v, nil
}

// account verifies raw and returns its account claim. Every refusal is
// unauthenticated, saying why (expired, bad signature, wrong issuer…):
// the reason helps the exchange's own developers and tells an attacker
// nothing they do not know.
func (v *jwtVerifier) account(ctx context.Context, raw string) (string, error) {
	key := sha256.Sum256([]byte(raw))
	now := v.now()
	v.mu.Lock()
	c, ok := v.cache[key]
	v.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.account, nil
	}
	tok, err := v.verifier.Verify(ctx, raw)
	if err != nil {
		var exp *oidc.TokenExpiredError
		if errors.As(err, &exp) {
			return "", accountError("the bearer token expired at %s", exp.Expiry.UTC().Format(time.RFC3339))
		}
		return "", accountError("the bearer token was refused: %s", tokenReason(err))
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return "", accountError("the bearer token's claims cannot be read: %v", err)
	}
	acct, ok := claims[v.claim].(string)
	if !ok || acct == "" {
		return "", accountError("the bearer token has no %q claim naming the account", v.claim)
	}
	if err := holdfast.ValidateID("account", acct); err != nil {
		return "", accountError("the bearer token's %q claim is not an account id: %s", v.claim, holdfast.ErrorMessage(err))
	}
	until := now.Add(jwtCacheTTL)
	if tok.Expiry.Before(until) {
		until = tok.Expiry
	}
	v.mu.Lock()
	if len(v.cache) >= jwtCacheMax {
		for k, e := range v.cache {
			if !now.Before(e.until) {
				delete(v.cache, k)
			}
		}
	}
	if len(v.cache) < jwtCacheMax {
		v.cache[key] = verifiedToken{account: acct, until: until}
	}
	v.mu.Unlock()
	return acct, nil
}

// tokenReason shortens go-oidc's error ("oidc: malformed jwt: …") to the
// part a caller can act on.
func tokenReason(err error) string { return strings.TrimPrefix(err.Error(), "oidc: ") }
