package holdfast

import (
	"context"
	"encoding/json"
	"math/big"
	"strings"
	"time"

	"github.com/holdfast/holdfast/tlog"
	"golang.org/x/mod/sumdb/note"
)

// Store keeps Holdfast's state. Every implementation passes the contract
// suite in package storetest.
//
// All changes to an account go through Update, which runs fn in one
// transaction that holds the account's write lock (a single writer in
// SQLite; in PostgreSQL a row lock on the account, taken after an insert
// that creates a missing row, so a new account is locked too) and commits
// every write fn made, audit entries included, or none of them. fn may be called again
// if the store retries a serialization failure, so it must not have effects
// outside tx.
type Store interface {
	Update(ctx context.Context, account string, now time.Time, fn func(tx AccountTx) error) error

	// Account returns a stored account. Errors: not_found.
	Account(ctx context.Context, id string) (*Account, error)
	// Restriction returns one restriction by id. Errors: not_found.
	Restriction(ctx context.Context, id string) (*Restriction, error)
	// Restrictions lists restrictions matching f, newest first.
	Restrictions(ctx context.Context, f RestrictionFilter) ([]*Restriction, error)
	// ActiveRestrictions calls fn for every restriction in force or still to
	// come at t, to rebuild a decision index.
	ActiveRestrictions(ctx context.Context, t time.Time, fn func(*Restriction) error) error
	// AccountDigests pages through every account in id order (byte order),
	// the first limit after the id after (empty: from the start), each
	// with the restrictions it has in force or still to come at at, by id:
	// what anti-entropy compares with a node's decision index.
	AccountDigests(ctx context.Context, after string, limit int, at time.Time) ([]AccountDigest, error)
	// EndedRestrictions calls fn for every restriction that ended by time
	// (not lifted) in (from, to], to announce expiries.
	EndedRestrictions(ctx context.Context, from, to time.Time, fn func(*Restriction) error) error
	// Approval returns a four-eyes request by id. Errors: not_found.
	Approval(ctx context.Context, id string) (*Approval, error)
	// Approvals lists pending requests, oldest first.
	Approvals(ctx context.Context) ([]*Approval, error)
	// Case returns a case by id. Errors: not_found.
	Case(ctx context.Context, id string) (*Case, error)
	// Cases lists the cases f selects, earliest due first.
	Cases(ctx context.Context, f CaseFilter) ([]*Case, error)
	// History returns an account's audit entries in chain order.
	History(ctx context.Context, account string) ([]AuditEntry, error)
	// HistoryBefore returns at most limit of an account's audit entries
	// numbered below before (0: from the newest), newest first: the log
	// read a page at a time from its end.
	HistoryBefore(ctx context.Context, account string, before int64, limit int) ([]AuditEntry, error)
	// VerifyAudit checks one account's chain, or every chain when account
	// is empty.
	VerifyAudit(ctx context.Context, account string) (*AuditReport, error)
	// VerifyState replays one account's log, or every account's when
	// account is empty, and reports every row of the state tables the
	// log does not explain (projection.go).
	VerifyState(ctx context.Context, account string) (*StateReport, error)
	// Events streams recorded events matching f in the order they were
	// recorded (for backtests and exports).
	Events(ctx context.Context, f EventFilter, fn func(*Event) error) error
	// StoreID is the database's random id, made once with its schema: the
	// same for every handle on one database, different for any other
	// database (the change feed's message ids carry it).
	StoreID() string

	StaffStore
	EmergencyStore
	ShadowStore
	PolicyStore
	BacktestStore
	TransparencyLog
	Close() error
}

// TransparencyLog is the store's side of the Merkle log over every audit
// entry (package tlog): appends queue each entry in its transaction, and
// the integrator gives queued entries their leaves and publishes signed
// checkpoints.
type TransparencyLog interface {
	// IntegrateLog gives up to max queued entries their leaves and stores
	// the grown tree's checkpoint, signed; nil when nothing was queued.
	IntegrateLog(ctx context.Context, signer note.Signer, now time.Time, max int) (*tlog.Signed, error)
	// ResignCheckpoint signs the newest checkpoint again, with a new key.
	ResignCheckpoint(ctx context.Context, signer note.Signer) (*tlog.Signed, error)
	// Checkpoint returns the newest checkpoint, or nil before the first.
	Checkpoint(ctx context.Context) (*tlog.Signed, error)
	// LogInclusion proves that a leaf is in the tree of size leaves.
	// Errors: invalid_argument (a size the log has not reached).
	LogInclusion(ctx context.Context, index, size uint64) ([][]byte, error)
	// LogConsistency proves that the tree of old leaves is a prefix of
	// the tree of new leaves. Errors: invalid_argument.
	LogConsistency(ctx context.Context, old, new uint64) ([][]byte, error)
	// LogLeaf returns the leaf of an account's entry; ok is false while
	// it waits to be logged.
	LogLeaf(ctx context.Context, account string, seq int64) (index uint64, ok bool, err error)
	// LogEntry returns the entry at a leaf. Errors: not_found.
	LogEntry(ctx context.Context, index uint64) (*AuditEntry, error)
	// VerifyLog rebuilds the tree from the entries and checks it against
	// the stored checkpoints (signatures too, with vkey) and those the
	// caller kept.
	VerifyLog(ctx context.Context, kept []tlog.Checkpoint, vkey string) (*LogReport, error)
}

// AccountTx is one account's state inside an Update. Reads reflect the
// transaction's own writes.
type AccountTx interface {
	// Account is the account, created (unsaved) with CreatedAt = now when
	// the store has none. Changes are kept by SaveAccount.
	Account() *Account
	SaveAccount() error
	// Restrictions are the account's restrictions that are not lifted and
	// not over at now.
	Restrictions() []*Restriction
	SaveRestriction(r *Restriction) error
	// Approvals are the account's four-eyes requests still pending.
	Approvals() []*Approval
	SaveApproval(a *Approval) error
	// Cases are every case of the account, oldest first.
	Cases() []*Case
	SaveCase(c *Case) error
	// Withdrawal returns a recorded authorization, or nil.
	Withdrawal(id string) (*Withdrawal, error)
	SaveWithdrawal(w *Withdrawal) error
	// Withdrawals returns the account's recorded authorizations decided at
	// or after since, oldest first.
	Withdrawals(since time.Time) ([]*Withdrawal, error)
	// WithdrawnSince is the sum of CountedUSD over the account's recorded
	// authorizations decided at or after since (the daily limit's total),
	// its own update's saves included.
	WithdrawnSince(since time.Time) (*big.Rat, error)
	// PrefetchWithdrawal tells the transaction that Withdrawal(id),
	// Restrictions() and WithdrawnSince(since) follow, so that a store may
	// read them together; it changes no answer.
	PrefetchWithdrawal(id string, since time.Time) error
	// Event reports whether an event with this id was already recorded for
	// the account (intake is idempotent by event id).
	Event(id string) (bool, error)
	// SaveEvent records an event: events are history and the input of
	// backtests. Recording an id twice is a conflict.
	SaveEvent(e *Event) error
	// Enqueue writes a command to the outbox, to be delivered after commit
	// (at least once). Nothing is lost if the process dies after commit.
	Enqueue(c *Command) error
	// Append chains e to the account's audit log (setting Seq, PrevHash and
	// Hash) and moves the account's head.
	Append(e *AuditEntry) error
	// EndHolderSessions ends every Security Center session of the account
	// (PageSessions, SiteHolder), with the transaction: committed with
	// the change that asked for it, or not at all.
	EndHolderSessions() error
}

// AccountDigest is one account as anti-entropy compares it: its
// restrictions in force or still to come (not lifted, not ended) at a
// time, by id. Lifting or extending a restriction changes it; a
// withdrawal, which moves the account's audit sequence, does not.
type AccountDigest struct {
	Account      string
	Restrictions []RestrictionStamp
}

// RestrictionStamp is what can change of a restriction while it is in
// force: its id names it, and an extension moves its end (zero: until
// lifted). A lift removes it from the digest.
type RestrictionStamp struct {
	ID               string
	StartsAt, EndsAt time.Time
}

// EventFilter selects recorded events, oldest first.
type EventFilter struct {
	Account string
	Type    EventType // "": every type
	After   time.Time
	// Newest streams newest first; with Limit, the newest Limit events.
	Newest bool
	Limit  int
}

// Scope is what a bearer token may be used for.
type Scope string

const (
	ScopeCheck       Scope = "check"
	ScopeEvents      Scope = "events"
	ScopeSelfService Scope = "self_service"
	ScopeStaff       Scope = "staff"
)

// Scopes lists every scope.
var Scopes = []Scope{ScopeCheck, ScopeEvents, ScopeSelfService, ScopeStaff}

// StaffMember is a person who acts through the Console or API.
type StaffMember struct {
	ID        string    `json:"id"`
	Roles     []Role    `json:"roles"`
	CreatedAt time.Time `json:"created_at"`
	// PasswordHash (argon2id, PHC string) and TOTPSecret let the member
	// sign in to the Console; neither ever leaves the store.
	PasswordHash string `json:"-"`
	TOTPSecret   string `json:"-"`
	// DisabledAt, when set, is when the member was disabled: their tokens
	// and Console sessions are refused until they are enabled again.
	DisabledAt time.Time `json:"disabled_at,omitzero"`
	// RemovedAt, when set, is when the member was removed. The record
	// stays, so that the audit history always names someone known, but
	// it has no roles, tokens or sign-in, and the id is never given out
	// again.
	RemovedAt time.Time `json:"removed_at,omitzero"`
}

// Active reports whether the member may act: neither disabled nor
// removed.
func (s *StaffMember) Active() bool { return s.DisabledAt.IsZero() && s.RemovedAt.IsZero() }

// StaffAccount is the audit chain that records changes to staff members
// and tokens (who added, disabled or removed whom; who created or revoked
// which token), beside the accounts' own chains; `holdfast audit verify`
// checks it with them.
const StaffAccount = "holdfast:staff"

// Audit actions on the staff chain.
const (
	AuditStaffAdded    = "staff_added"
	AuditStaffUpdated  = "staff_updated"
	AuditStaffDisabled = "staff_disabled"
	AuditStaffEnabled  = "staff_enabled"
	AuditStaffRemoved  = "staff_removed"
	AuditTokenCreated  = "token_created"
	AuditTokenRevoked  = "token_revoked"
)

// TokenEntry is e, the entry of a token change on the staff chain, with
// action and the token before and after it: id, scopes, staff member and
// dates, never the token or its hash.
func TokenEntry(e AuditEntry, action string, before, after *Token) *AuditEntry {
	e.Account, e.Action = StaffAccount, action
	e.Before, e.After = tokenJSON(before), tokenJSON(after)
	return &e
}

// RemovalTokenEntry is the entry of a token revoked because staff member
// id was removed, by e (the removal's entry).
func RemovalTokenEntry(e AuditEntry, id string, before, after *Token) *AuditEntry {
	e.Reason = strings.TrimSpace(e.Reason + " Revoked with the removal of staff member " + id + ".")
	return TokenEntry(e, AuditTokenRevoked, before, after)
}

func tokenJSON(t *Token) json.RawMessage {
	if t == nil {
		return nil
	}
	c := *t
	c.Hash, c.LastUsedAt = "", time.Time{} // never the hash; last use is no change
	b, _ := json.Marshal(&c)
	return b
}

// Token is a bearer credential. Only its SHA-256 hash is stored; the token
// itself is shown once, at creation.
type Token struct {
	Hash      string    `json:"-"`
	ID        string    `json:"id"`
	Scopes    []Scope   `json:"scopes"`
	Staff     string    `json:"staff,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt, when set, ends the token: from then on it is refused.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// RevokedAt, when set, is when the token was revoked; it is kept
	// (hash and all) only so that listings and refusals can say so.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// LastUsedAt is when a server last accepted it (to within a minute).
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
}

// State is the token's state at t: "active", "expired" or "revoked".
func (t *Token) State(at time.Time) string {
	switch {
	case !t.RevokedAt.IsZero():
		return "revoked"
	case !t.ExpiresAt.IsZero() && !at.Before(t.ExpiresAt):
		return "expired"
	}
	return "active"
}

// StaffStore keeps staff members and tokens.
type StaffStore interface {
	PutStaff(ctx context.Context, s *StaffMember) error
	// Staff returns a staff member, a removed one too. Errors: not_found.
	Staff(ctx context.Context, id string) (*StaffMember, error)
	// ListStaff lists every staff member, removed ones too, by id.
	ListStaff(ctx context.Context) ([]*StaffMember, error)
	// ChangeStaff stores s and appends e to the StaffAccount audit chain
	// in one transaction; when s is removed it revokes the member's
	// tokens at s.RemovedAt in the same transaction, each with its own
	// AuditTokenRevoked entry (e's actor and reason) after e. A member it
	// leaves disabled or removed loses their Console sessions in it too,
	// so enabling them again does not bring an old session back.
	ChangeStaff(ctx context.Context, s *StaffMember, e *AuditEntry) error
	// PutToken inserts or replaces a token, unaudited: for fixtures and
	// tests. Commands create tokens with CreateToken.
	PutToken(ctx context.Context, t *Token) error
	// CreateToken inserts a new token and appends TokenEntry(e,
	// AuditTokenCreated, nil, t) to the StaffAccount chain in one
	// transaction.
	CreateToken(ctx context.Context, t *Token, e *AuditEntry) error
	// TokenByHash returns a token, a revoked one too (RevokedAt set).
	// Errors: unauthenticated for a hash no token has.
	TokenByHash(ctx context.Context, hash string) (*Token, error)
	// Tokens lists every token, revoked ones too, oldest first.
	Tokens(ctx context.Context) ([]*Token, error)
	// TouchToken records that the token with this id was used at at (it
	// never moves LastUsedAt back). An unknown id is no error.
	TouchToken(ctx context.Context, id string, at time.Time) error
	// RevokeToken revokes the token with this id at e.At (rotation: mint
	// the new one, move the caller over, revoke the old) and appends
	// TokenEntry(e, AuditTokenRevoked, old, revoked) to the StaffAccount
	// chain in one transaction. Errors: not_found, failed_precondition
	// (revoked already).
	RevokeToken(ctx context.Context, id string, e *AuditEntry) error
	// UseLink records a one-time sign-in link (by its hash) as used, and
	// remembers it until expires, when the link is dead anyway; links
	// that expired by now are forgotten. Errors: unauthenticated when the
	// link was used before (on any node sharing the store).
	UseLink(ctx context.Context, hash string, expires, now time.Time) error
	// PageSessions keeps the Console's and Security Center's sessions.
	PageSessions
}

// CommandState is where an outbox command is in its delivery.
type CommandState string

const (
	CommandPending   CommandState = "pending"
	CommandDelivered CommandState = "delivered"
	// CommandDead is a command its deliverer gave up on; RedriveCommand
	// makes it pending again.
	CommandDead CommandState = "dead"
)

// Valid reports whether s is a known state.
func (s CommandState) Valid() bool {
	return s == CommandPending || s == CommandDelivered || s == CommandDead
}

// Delivery is an outbox command with its delivery state.
type Delivery struct {
	Command Command
	State   CommandState
	// Attempts counts the failed attempts.
	Attempts int
	// NextAt is when a pending command is due.
	NextAt time.Time
	// LeaseUntil ends the current claim (zero when unclaimed). The value a
	// claim returns is its token: FailCommand takes it back.
	LeaseUntil    time.Time
	LastError     string
	LastAttemptAt time.Time
	DeliveredAt   time.Time
}

// TypeFilter selects commands by type: only Types, or, with Except, all
// but them; the zero filter selects every command. It lets holder
// notifications, the change feed and commands to services go to different
// deliverers.
type TypeFilter struct {
	Types  []CommandType
	Except bool
}

// OutboxStore is how deliverers take commands from a store's outbox.
// Claims lease commands so that deliverers in several processes never
// send one at the same time.
type OutboxStore interface {
	// ClaimCommandsOf leases up to limit pending commands f selects, due
	// at now, until now+lease.
	ClaimCommandsOf(ctx context.Context, f TypeFilter, now time.Time, lease time.Duration, limit int) ([]Delivery, error)
	// CompleteCommand records a delivery. Errors: not_found.
	CompleteCommand(ctx context.Context, id string, at time.Time) error
	// FailCommand records a failed attempt under the claim whose lease
	// ended at lease: due again at retryAt, or dead when it is zero.
	// Errors: not_found, failed_precondition (the claim no longer holds).
	FailCommand(ctx context.Context, id string, lease, at time.Time, reason string, retryAt time.Time) error
	// RedriveCommand makes a dead (or later) command due at at. Errors:
	// not_found, failed_precondition (delivered).
	RedriveCommand(ctx context.Context, id string, at time.Time) error
	// Command returns one command with its state. Errors: not_found.
	Command(ctx context.Context, id string) (*Delivery, error)
	// ListCommands lists commands in state (all when empty), newest
	// first, at most limit (all when 0).
	ListCommands(ctx context.Context, state CommandState, limit int) ([]Delivery, error)
	// OutboxStats counts the pending and dead commands and gives the
	// oldest pending one's creation (zero when none is pending).
	OutboxStats(ctx context.Context) (OutboxStats, error)
}

// OutboxStats is the outbox's backlog, for operators' metrics.
type OutboxStats struct {
	Pending, Dead int
	OldestPending time.Time
}
