package rpc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/gen/holdfast/v1/holdfastv1connect"
)

// Bearer tokens are "hf_" and 32 random bytes in unpadded base64url. Only
// their SHA-256 is stored, so a copy of the database grants nothing.
const (
	tokenPrefix = "hf_"
	tokenLen    = len(tokenPrefix) + 43
)

// NewToken mints a token for the given scopes (and staff member, for the
// staff scope). It returns the secret, to be shown once, and the record to
// store.
func NewToken(scopes []holdfast.Scope, staff string, now time.Time) (secret string, t *holdfast.Token, err error) {
	if len(scopes) == 0 {
		return "", nil, holdfast.Errorf(holdfast.InvalidArgument, "scopes", "name at least one scope: %s", strs(holdfast.Scopes))
	}
	for i, s := range scopes {
		if !slices.Contains(holdfast.Scopes, s) {
			return "", nil, holdfast.Errorf(holdfast.InvalidArgument, "scopes", "unknown scope %q (want %s)", s, strings.Join(strs(holdfast.Scopes), ", "))
		}
		if slices.Contains(scopes[:i], s) {
			return "", nil, holdfast.Errorf(holdfast.InvalidArgument, "scopes", "scope %q named twice", s)
		}
	}
	switch hasStaff := slices.Contains(scopes, holdfast.ScopeStaff); {
	case hasStaff && staff == "":
		return "", nil, holdfast.Errorf(holdfast.InvalidArgument, "staff", "a token with the staff scope must name its staff member")
	case !hasStaff && staff != "":
		return "", nil, holdfast.Errorf(holdfast.InvalidArgument, "staff", "only a token with the staff scope names a staff member")
	case staff != "":
		if err := holdfast.ValidateID("staff", staff); err != nil {
			return "", nil, err
		}
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	secret = tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", nil, err
	}
	t = &holdfast.Token{
		Hash:      HashToken(secret),
		ID:        "tok_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(id[:])),
		Scopes:    slices.Clone(scopes),
		Staff:     staff,
		CreatedAt: now,
	}
	return secret, t, nil
}

// HashToken is the stored form of a token: hex SHA-256.
func HashToken(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// Principal is who a request's token speaks for.
type Principal struct {
	TokenID string
	Scopes  []holdfast.Scope
	// Staff is the token's staff member with their current roles, for
	// tokens with the staff scope.
	Staff *holdfast.StaffMember
	// expiresAt is the token's expiry (zero: none), checked on every call,
	// cached or not.
	expiresAt time.Time
}

// Has reports whether the token carries s.
func (p *Principal) Has(s holdfast.Scope) bool { return slices.Contains(p.Scopes, s) }

type principalKey struct{}

// PrincipalFrom returns the request's principal (set by the auth layer).
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// procedureScopes says which scopes may call each procedure; any one
// suffices. A procedure missing here is not served.
var procedureScopes = map[string][]holdfast.Scope{
	// The transparency log's staff endpoints (audit.go); its checkpoints
	// and proofs by index are public.
	entryProofPath: {holdfast.ScopeStaff},
	publishPath:    {holdfast.ScopeStaff},
	holdfastv1connect.DecisionServiceCheckProcedure:               {holdfast.ScopeCheck},
	holdfastv1connect.DecisionServiceBatchCheckProcedure:          {holdfast.ScopeCheck},
	holdfastv1connect.DecisionServiceCheckStreamProcedure:         {holdfast.ScopeCheck},
	holdfastv1connect.DecisionServiceAuthorizeWithdrawalProcedure: {holdfast.ScopeCheck},
	// Gateways (gateway.go, extauthz.go).
	forwardAuthPath:   {holdfast.ScopeCheck},
	extAuthzProcedure: {holdfast.ScopeCheck},

	holdfastv1connect.RestrictionServiceApplyProcedure:          {holdfast.ScopeStaff},
	holdfastv1connect.RestrictionServiceLiftProcedure:           {holdfast.ScopeStaff},
	holdfastv1connect.RestrictionServiceExtendProcedure:         {holdfast.ScopeStaff},
	holdfastv1connect.RestrictionServiceApproveProcedure:        {holdfast.ScopeStaff},
	holdfastv1connect.RestrictionServiceListApprovalsProcedure:  {holdfast.ScopeStaff},
	holdfastv1connect.RestrictionServiceGetProcedure:            {holdfast.ScopeStaff},
	holdfastv1connect.RestrictionServiceListProcedure:           {holdfast.ScopeStaff},
	holdfastv1connect.RestrictionServiceHistoryProcedure:        {holdfast.ScopeStaff},
	holdfastv1connect.RestrictionServiceVerifyAuditProcedure:    {holdfast.ScopeStaff},
	holdfastv1connect.RestrictionServiceListCommandsProcedure:   {holdfast.ScopeStaff},
	holdfastv1connect.RestrictionServiceRedriveCommandProcedure: {holdfast.ScopeStaff},

	holdfastv1connect.SelfServiceFreezeProcedure:          {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.SelfServicePanicLockProcedure:       {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.SelfServiceRequestUnfreezeProcedure: {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.SelfServiceStatusProcedure:          {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.SelfServiceVerifyProcedure:          {holdfast.ScopeEvents, holdfast.ScopeStaff},

	// The holder's security operations: the engine lets only the holder
	// change them, and staff read them.
	holdfastv1connect.SelfServiceSecureAccountProcedure:            {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.SelfServiceRevokeSessionProcedure:            {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.SelfServiceAddWhitelistAddressProcedure:      {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.SelfServiceRemoveWhitelistAddressProcedure:   {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.SelfServiceSetWhitelistProcedure:             {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.SelfServiceSetAntiPhishingCodeProcedure:      {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.SelfServiceLockSettingsProcedure:             {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.SelfServiceRequestSettingsUnlockProcedure:    {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.SelfServiceCancelSettingsUnlockProcedure:     {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.SelfServiceAddTrustedContactProcedure:        {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.SelfServiceRemoveTrustedContactProcedure:     {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.SelfServiceAcceptContactInvitationProcedure:  {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.SelfServiceDeclineContactInvitationProcedure: {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.SelfServiceGetSecurityProcedure:              {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.SelfServiceLoginHistoryProcedure:             {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.SelfServiceSecurityCheckupProcedure:          {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.SelfServiceRevokeApiKeyProcedure:             {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.SelfServiceSetApiKeyIpWhitelistProcedure:     {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.SelfServiceSecurityHistoryProcedure:          {holdfast.ScopeSelfService, holdfast.ScopeStaff},

	holdfastv1connect.EventServiceIngestProcedure:      {holdfast.ScopeEvents},
	holdfastv1connect.EventServiceIngestBatchProcedure: {holdfast.ScopeEvents},

	// Appeals: the holder (through the app backend) and staff; only staff
	// assign and decide.
	holdfastv1connect.CaseServiceOpenCaseProcedure:       {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.CaseServiceAddCaseEntryProcedure:   {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.CaseServiceUploadEvidenceProcedure: {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.CaseServiceGetEvidenceProcedure:    {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.CaseServiceSetCaseStateProcedure:   {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.CaseServiceGetCaseProcedure:        {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.CaseServiceListCasesProcedure:      {holdfast.ScopeSelfService, holdfast.ScopeStaff},
	holdfastv1connect.CaseServiceAssignCaseProcedure:     {holdfast.ScopeStaff},
	holdfastv1connect.CaseServiceDecideCaseProcedure:     {holdfast.ScopeStaff},

	holdfastv1connect.ComplianceServiceRecordSeizureProcedure: {holdfast.ScopeStaff},
	holdfastv1connect.ComplianceServiceListInNoticeProcedure:  {holdfast.ScopeStaff},
	holdfastv1connect.ComplianceServiceAccountReportProcedure: {holdfast.ScopeStaff},

	holdfastv1connect.PolicyServicePushPolicyProcedure:             {holdfast.ScopeStaff},
	holdfastv1connect.PolicyServiceListPolicyVersionsProcedure:     {holdfast.ScopeStaff},
	holdfastv1connect.PolicyServiceGetPolicyVersionProcedure:       {holdfast.ScopeStaff},
	holdfastv1connect.PolicyServiceDiffPolicyProcedure:             {holdfast.ScopeStaff},
	holdfastv1connect.PolicyServiceActivatePolicyProcedure:         {holdfast.ScopeStaff},
	holdfastv1connect.PolicyServiceDecidePolicyActivationProcedure: {holdfast.ScopeStaff},
	holdfastv1connect.PolicyServiceListPolicyActivationsProcedure:  {holdfast.ScopeStaff},
	holdfastv1connect.PolicyServiceShadowPolicyProcedure:           {holdfast.ScopeStaff},
	holdfastv1connect.PolicyServiceShadowReportProcedure:           {holdfast.ScopeStaff},
	holdfastv1connect.PolicyServiceGetPolicyBacktestProcedure:      {holdfast.ScopeStaff},
}

// authenticator resolves bearer tokens against the store. Successful
// lookups are cached briefly so that Check costs no store read; a revoked
// or expired token, a disabled staff member or a changed role takes effect
// within cacheTTL on every node (RevocationBound, documented, leaves room
// for a slow store read and the call's own time).
type authenticator struct {
	store holdfast.StaffStore
	ttl   time.Duration
	now   func() time.Time

	mu sync.RWMutex
	// cache is keyed by the token's SHA-256: never the secret itself, and
	// no hex encoding on the hot path.
	cache map[[sha256.Size]byte]cachedPrincipal
	// gen counts AuthCache.Forget calls (changed under mu): a lookup that
	// began before one is not cached.
	gen atomic.Uint64

	limits *tokenLimits
	// rejected counts refused calls by reason (nil: not counted).
	rejected *prometheus.CounterVec
	// touching holds the ids of tokens whose last use is being written.
	touching sync.Map
}

type cachedPrincipal struct {
	p       *Principal
	expires time.Time
}

const (
	// cacheTTL is how long a resolved token is trusted without the store.
	// The entry's clock starts before the store read that filled it, so a
	// revocation committed after that read is seen within cacheTTL.
	cacheTTL = 2 * time.Second
	// RevocationBound is the documented bound: from the moment a token is
	// revoked or expires, or its staff member is disabled or removed,
	// every node refuses it within this time.
	RevocationBound = 5 * time.Second
	// cacheMax bounds the cache; past it, expired entries are swept.
	cacheMax = 10_000
	// touchEvery is how precisely a token's last use is kept: at most one
	// store write per token and node this often.
	touchEvery = time.Minute
)

// Reasons a call is refused, the label of holdfast_auth_rejected_total.
const (
	rejectBadToken   = "bad_token" // missing, malformed or unknown
	rejectExpired    = "expired"
	rejectRevoked    = "revoked"
	rejectDisabled   = "disabled" // the staff member is disabled or removed
	rejectWrongScope = "wrong_scope"
	rejectRateLimit  = "rate_limited" // over the token's rate limit
)

var rejectReasons = []string{rejectBadToken, rejectExpired, rejectRevoked, rejectDisabled, rejectWrongScope, rejectRateLimit}

func newAuthenticator(store holdfast.StaffStore, rates TokenRates) *authenticator {
	return &authenticator{store: store, ttl: cacheTTL, now: time.Now, cache: map[[sha256.Size]byte]cachedPrincipal{}, limits: newTokenLimits(rates)}
}

// refusal is an authentication failure with the reason it is counted
// under.
type refusal struct {
	reason string
	err    error
}

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

func refuse(reason, format string, args ...any) error {
	return &refusal{reason, errorf(holdfast.Unauthenticated, "authorization", format, args...)}
}

// authenticate resolves an Authorization header. Errors: unauthenticated
// (a *refusal), or the store's own failure.
func (a *authenticator) authenticate(ctx context.Context, header string) (*Principal, error) {
	gen := a.gen.Load()
	scheme, secret, _ := strings.Cut(header, " ")
	if header == "" {
		return nil, refuse(rejectBadToken, "missing bearer token: send Authorization: Bearer hf_...")
	}
	if !strings.EqualFold(scheme, "Bearer") || len(secret) != tokenLen || !strings.HasPrefix(secret, tokenPrefix) {
		return nil, refuse(rejectBadToken, "malformed bearer token: send Authorization: Bearer hf_...")
	}
	// The store is searched by hash, so no comparison ever touches the
	// secret itself; only the hash (useless to an attacker) is compared.
	var buf [tokenLen]byte // on the stack: no allocation per call
	sum := sha256.Sum256(append(buf[:0], secret...))
	// now is taken before the store read: a cache entry never outlives
	// the read that filled it by more than the TTL.
	now := a.now()
	a.mu.RLock()
	c, ok := a.cache[sum]
	a.mu.RUnlock()
	if ok && now.Before(c.expires) {
		if !c.p.expiresAt.IsZero() && !now.Before(c.p.expiresAt) {
			return nil, refuse(rejectExpired, "token %s expired at %s", c.p.TokenID, c.p.expiresAt.UTC().Format(time.RFC3339))
		}
		return c.p, nil
	}
	hash := hex.EncodeToString(sum[:])
	t, err := a.store.TokenByHash(ctx, hash)
	switch holdfast.ErrorCode(err) {
	case "":
	case holdfast.Unauthenticated, holdfast.NotFound:
		return nil, refuse(rejectBadToken, "unknown or revoked token")
	default:
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(t.Hash), []byte(hash)) != 1 {
		return nil, refuse(rejectBadToken, "unknown or revoked token")
	}
	switch t.State(now) {
	case "revoked":
		return nil, refuse(rejectRevoked, "token %s was revoked", t.ID)
	case "expired":
		return nil, refuse(rejectExpired, "token %s expired at %s", t.ID, t.ExpiresAt.UTC().Format(time.RFC3339))
	}
	p := &Principal{TokenID: t.ID, Scopes: t.Scopes, expiresAt: t.ExpiresAt}
	if t.Staff != "" {
		s, err := a.store.Staff(ctx, t.Staff)
		if holdfast.ErrorCode(err) == holdfast.NotFound {
			return nil, refuse(rejectDisabled, "the token's staff member no longer exists")
		}
		if err != nil {
			return nil, err
		}
		if !s.Active() {
			return nil, refuse(rejectDisabled, "the token's staff member %s is disabled", s.ID)
		}
		p.Staff = s
	}
	a.touch(t, now)
	a.mu.Lock()
	if len(a.cache) >= cacheMax {
		for k, v := range a.cache {
			if !now.Before(v.expires) {
				delete(a.cache, k)
			}
		}
	}
	if len(a.cache) < cacheMax && a.gen.Load() == gen {
		a.cache[sum] = cachedPrincipal{p: p, expires: now.Add(a.ttl)}
	}
	a.mu.Unlock()
	return p, nil
}

// touch records the token's use in the background, at most once per
// touchEvery: the last use is for people reading `token list`, and no
// call waits for it.
func (a *authenticator) touch(t *holdfast.Token, now time.Time) {
	if now.Sub(t.LastUsedAt) < touchEvery {
		return
	}
	if _, busy := a.touching.LoadOrStore(t.ID, true); busy {
		return
	}
	go func() {
		defer a.touching.Delete(t.ID)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.store.TouchToken(ctx, t.ID, now) // best effort: a lost write only makes the listing older
	}()
}

// reject counts a refused call (store failures are not refusals).
func (a *authenticator) reject(err error) {
	var r *refusal
	if errors.As(err, &r) {
		a.count(r.reason)
	}
}

func (a *authenticator) count(reason string) {
	if a.rejected != nil {
		a.rejected.WithLabelValues(reason).Inc()
	}
}

// authorize is the HTTP layer that authenticates every API call and checks
// its scope before the body is even read. It never logs the header.
func (a *authenticator) authorize(next http.Handler, fail func(http.ResponseWriter, *http.Request, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scopes, ok := procedureScopes[r.URL.Path]
		_, unary := inputTypes[r.URL.Path]
		switch {
		case publicProcedures[r.URL.Path]:
			// Reflection and health, deliberately open (discovery.go);
			// they carry no principal, so nothing else can trust them.
			next.ServeHTTP(w, r)
			return
		case !ok && (unary || streamingProcedures[r.URL.Path]):
			// A procedure nobody has given scopes to is never served.
			fail(w, r, errorf(holdfast.PermissionDenied, "authorization", "%s is not open to any token", r.URL.Path))
			return
		case !ok:
			next.ServeHTTP(w, r) // not an API procedure: connect answers 404
			return
		}
		header := r.Header.Get("Authorization")
		if r.URL.Path == forwardAuthPath {
			// The client's own Authorization (a JWT) travels beside the
			// gateway's token.
			if v := r.Header.Get(gatewayCredentialHeader); v != "" {
				header = v
			}
		}
		ctx, err := a.enter(r.Context(), r.URL.Path, scopes, header)
		if err != nil {
			fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// enter admits a call to procedure (which needs one of scopes) made with
// the Authorization header, takes it from its token's rate limit and
// returns the call's context carrying its principal. Both transports (this
// HTTP layer and the native gRPC handlers) call it, so that a call is
// judged the same way whichever way it came.
func (a *authenticator) enter(ctx context.Context, procedure string, scopes []holdfast.Scope, header string) (context.Context, error) {
	p, err := a.admit(ctx, header, procedure, scopes)
	if err != nil {
		return nil, err
	}
	if !a.limits.allow(p.TokenID, scopes[slices.IndexFunc(scopes, p.Has)]) {
		a.count(rejectRateLimit)
		return nil, errorf(holdfast.ResourceExhausted, "authorization", "token %s is over its rate limit for %s; slow down and retry", p.TokenID, procedure)
	}
	ctx = context.WithValue(ctx, principalKey{}, p)
	if streamingProcedures[procedure] {
		// A stream lives long after its first request: it checks its
		// token again for every message (from the cache), so a
		// revocation ends it within the same bound as any call.
		ctx = context.WithValue(ctx, reauthKey{}, func(ctx context.Context) error {
			_, err := a.admit(ctx, header, procedure, scopes)
			return err
		})
	}
	return ctx, nil
}

// admit authenticates a call to procedure and checks that its token has
// one of scopes, counting each refusal by its reason.
func (a *authenticator) admit(ctx context.Context, header, procedure string, scopes []holdfast.Scope) (*Principal, error) {
	p, err := a.authenticate(ctx, header)
	if err != nil {
		a.reject(err)
		return nil, err
	}
	if !slices.ContainsFunc(scopes, p.Has) {
		a.count(rejectWrongScope)
		return nil, errorf(holdfast.PermissionDenied, "authorization", "token %s lacks the scope for %s (needs %s)", p.TokenID, procedure, strings.Join(strs(scopes), " or "))
	}
	return p, nil
}

type reauthKey struct{}

// reauthorize checks a stream's token again; nil outside a stream.
func reauthorize(ctx context.Context) error {
	if f, ok := ctx.Value(reauthKey{}).(func(context.Context) error); ok {
		return f(ctx)
	}
	return nil
}

// Actors. The engine enforces what each actor may do; these only say who
// the caller is.

// staffActor is the token's staff member with their roles.
func staffActor(ctx context.Context) (holdfast.Actor, error) {
	p := PrincipalFrom(ctx)
	if p == nil || p.Staff == nil || !p.Has(holdfast.ScopeStaff) {
		return holdfast.Actor{}, errorf(holdfast.PermissionDenied, "authorization", "this call needs a staff token")
	}
	return holdfast.Staff(p.Staff.ID, p.Staff.Roles...), nil
}

// holderActor is the account's holder when the token acts for holders
// (self_service), else the staff member. preferStaff picks staff for a
// token that has both (a staff view of Status).
func holderActor(ctx context.Context, account string, preferStaff bool) (holdfast.Actor, error) {
	p := PrincipalFrom(ctx)
	if p != nil && p.Has(holdfast.ScopeSelfService) && !(preferStaff && p.Staff != nil) {
		return holdfast.User(account), nil
	}
	return staffActor(ctx)
}

// caseActor is who acts on an existing case: the holder named by account
// when the token acts for holders (self_service) and names one (or has no
// staff member to fall back on), else the staff member.
func caseActor(ctx context.Context, account string) (holdfast.Actor, error) {
	p := PrincipalFrom(ctx)
	if p != nil && p.Has(holdfast.ScopeSelfService) && (account != "" || p.Staff == nil) {
		if err := holdfast.ValidateID("account", account); err != nil {
			return holdfast.Actor{}, err
		}
		return holdfast.User(account), nil
	}
	return staffActor(ctx)
}

// eventsActor is the system, reporting what another service saw (events),
// or the staff member.
func eventsActor(ctx context.Context) (holdfast.Actor, error) {
	if p := PrincipalFrom(ctx); p != nil && p.Has(holdfast.ScopeEvents) {
		return holdfast.System, nil
	}
	return staffActor(ctx)
}

// TokenRates bound the requests each token may make per second to the
// procedures of a scope (0: unbounded). Intake and self-service are the
// doors a flood would come through; checks and staff calls are not
// limited here.
type TokenRates struct {
	Events, SelfService float64
}

// DefaultTokenRates are generous for one exchange backend per token.
var DefaultTokenRates = TokenRates{Events: 2000, SelfService: 200}

// tokenLimits keeps one token bucket per token and limited scope; a
// token's burst is one second of its rate.
type tokenLimits struct {
	rates    map[holdfast.Scope]float64
	mu       sync.Mutex
	limiters map[string]*rate.Limiter
}

func newTokenLimits(r TokenRates) *tokenLimits {
	return &tokenLimits{
		rates:    map[holdfast.Scope]float64{holdfast.ScopeEvents: r.Events, holdfast.ScopeSelfService: r.SelfService},
		limiters: map[string]*rate.Limiter{},
	}
}

// allow takes one request of token under the scope it calls with.
func (l *tokenLimits) allow(token string, s holdfast.Scope) bool {
	if l == nil || l.rates[s] <= 0 {
		return true
	}
	r := l.rates[s]
	key := token + "/" + string(s)
	l.mu.Lock()
	lim := l.limiters[key]
	if lim == nil {
		lim = rate.NewLimiter(rate.Limit(r), max(1, int(r)))
		l.limiters[key] = lim
	}
	l.mu.Unlock()
	return lim.Allow()
}
