// Package engine is Holdfast's restriction engine: it answers checks from an
// in-memory decision index, authorizes withdrawals linearizably against the
// store, and applies, lifts and extends restrictions under the policy's
// rules. It holds no I/O of its own beyond the holdfast.Store it is given.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"golang.org/x/mod/sumdb/note"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast/holdfast"
)

// Config wires an engine.
type Config struct {
	Store  holdfast.Store
	Policy *holdfast.Policy
	Clock  holdfast.Clock
	Logger *slog.Logger
	// Feed, when set, makes the engine one node of many: see feed.go.
	Feed *FeedConfig
	// AliasKey keys the opaque ids a holder sees for restrictions hidden
	// from them (see alias.go). Every node of a cluster needs the same one.
	AliasKey []byte
	// BrokenWithdrawals, for the fault tests only, decides withdrawals
	// from this node's index instead of the restrictions read under the
	// account's lock: a node that can answer approve after a lock
	// committed elsewhere, so that the tests prove their checker catches
	// one. Never set in production.
	BrokenWithdrawals bool
	// LogSigner signs the transparency log's checkpoints (tlog.NewSigner);
	// nil: this node publishes none. Every node of a cluster signs with
	// the same key.
	LogSigner note.Signer
	// LogVerifierKey is LogSigner's public key.
	LogVerifierKey string
	// Backtest, when set, replays each pushed policy version beside the
	// active one over the events recorded in the last BacktestWindow
	// (default 30 days), in the background, reading at most
	// BacktestMaxEvents (default 1,000,000) for at most BacktestTimeout
	// (default 10 minutes), and writes its progress every
	// BacktestProgress (default 2s): see backtest.go.
	Backtest          BacktestFunc
	BacktestWindow    time.Duration
	BacktestTimeout   time.Duration
	BacktestMaxEvents int64
	BacktestProgress  time.Duration
}

// Engine implements holdfast.DecisionService, holdfast.RestrictionService
// and holdfast.SelfService.
type Engine struct {
	store holdfast.Store
	// pol is the policy in force; SwitchPolicy replaces it.
	pol atomic.Pointer[holdfast.Policy]
	// switching is held shared by each event's ingestion and exclusively
	// by SwitchPolicy, so that no event is judged half by one version
	// and half by another.
	switching sync.RWMutex
	// shadow is the shadowed version's run (shadow.go).
	shadow shadowRun
	clock  holdfast.Clock
	log    *slog.Logger
	index  *index
	creds  *credIndex
	feed   *feed
	// aliasKey keys hidden restrictions' aliases.
	aliasKey []byte
	// ruleErrs counts rules that failed to evaluate (rule_errors.go).
	ruleErrs ruleErrors
	// broken is Config.BrokenWithdrawals.
	broken bool
	// ae is the anti-entropy pass's state (antientropy.go).
	ae antiEntropy
	// tlog publishes the transparency log's checkpoints (tlog.go).
	tlog transparencyLog
	// bt runs the backtests pushes start (backtest.go).
	bt *backtests
}

var (
	_ holdfast.DecisionService    = (*Engine)(nil)
	_ holdfast.RestrictionService = (*Engine)(nil)
	_ holdfast.SelfService        = (*Engine)(nil)
)

// New builds an engine and loads its decision index from the store.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.Clock == nil {
		cfg.Clock = holdfast.WallClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	e := &Engine{store: cfg.Store, clock: cfg.Clock, log: cfg.Logger, index: newIndex(), creds: newCredIndex(), aliasKey: cfg.AliasKey, broken: cfg.BrokenWithdrawals,
		tlog: transparencyLog{signer: cfg.LogSigner, vkey: cfg.LogVerifierKey}, bt: newBacktests(cfg)}
	e.pol.Store(cfg.Policy)
	if len(e.aliasKey) == 0 {
		e.aliasKey = []byte(defaultAliasKey)
	}
	if cfg.Feed != nil {
		fc := *cfg.Feed
		if fc.MaxLag <= 0 {
			fc.MaxLag = 2 * time.Second
		}
		e.feed = &feed{cfg: fc}
	}
	if err := e.Rebuild(ctx); err != nil {
		return nil, err
	}
	if err := e.loadShadow(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// Policy returns the policy in force.
func (e *Engine) Policy() *holdfast.Policy { return e.pol.Load() }

// policy is the policy in force. An operation that reads it more than
// once may see a switch between two reads; event ingestion, which must
// not, holds switching.
func (e *Engine) policy() *holdfast.Policy { return e.pol.Load() }

// Now returns the engine's clock reading.
func (e *Engine) Now() time.Time { return e.clock.Now() }

// Rebuild reloads the decision index from the store. With a change feed,
// a failed rebuild keeps the node stale until one succeeds.
func (e *Engine) Rebuild(ctx context.Context) error {
	err := e.rebuild(ctx)
	if e.feed != nil {
		e.feed.applied("", err)
	}
	return err
}

func (e *Engine) rebuild(ctx context.Context) error {
	now := e.clock.Now()
	byAccount := map[string][]*holdfast.Restriction{}
	err := e.store.ActiveRestrictions(ctx, now, func(r *holdfast.Restriction) error {
		byAccount[r.Account] = append(byAccount[r.Account], r)
		return nil
	})
	if err != nil {
		return fmt.Errorf("rebuild index: %w", err)
	}
	rules := make(map[string][]rule, len(byAccount))
	for acct, rs := range byAccount {
		rules[acct] = e.rulesFor(rs, now)
	}
	e.index.load(rules, now.UnixNano())
	// A rebuild is a full comparison with the store, and a repair of it.
	e.ae.fullPass.Store(now.UnixNano())
	// Credentials cached before may be as old as the index was.
	e.creds.clear()
	return nil
}

// Prune drops ended restrictions from the decision index and reports how
// many went. Run it now and then (the server does every minute): it bounds
// memory by the restrictions in force, while decisions never wait for it.
func (e *Engine) Prune() int { return e.index.prune(e.clock.Now().UnixNano()) }

// IndexStats reports how many accounts and restrictions the index holds.
func (e *Engine) IndexStats() (accounts, restrictions int) { return e.index.stats() }

// txFunc is a change to one account. It reports whether the account's
// restrictions changed, so that pure records (withdrawals) skip the index.
type txFunc func(tx holdfast.AccountTx, now time.Time) (changed bool, err error)

// update runs fn in a store transaction on account and, after the commit,
// publishes the account's restrictions to the index.
func (e *Engine) update(ctx context.Context, account string, fn txFunc) error {
	if account == holdfast.StaffAccount || account == holdfast.PolicyAccount {
		// The system chains are written only by staff and policy changes.
		return holdfast.Errorf(holdfast.InvalidArgument, "account", "%s is reserved for a system audit chain", account)
	}
	var (
		rules   []rule
		seq     int64
		changed bool
		creds   *credEntry
		change  string
	)
	now := e.clock.Now()
	err := e.store.Update(ctx, account, now, func(tx holdfast.AccountTx) error {
		// The time of the change is read once the account is locked: a
		// change that waited for another commit happens after it.
		now = e.clock.Now()
		rev, notices := tx.Account().Security.Rev, tx.Account().Security.Notices
		c, err := fn(tx, now)
		if err != nil {
			return err
		}
		if tx.Account().Security.Notices != notices {
			// A notification counted against the holder's rate limit.
			if err := tx.SaveAccount(); err != nil {
				return err
			}
		}
		changed = c
		if changed {
			rules = e.rulesFor(tx.Restrictions(), now)
			seq = tx.Account().AuditSeq
		}
		if a := tx.Account(); a.Security.Rev != rev {
			creds = e.credEntryFor(a)
		}
		if e.feed != nil && (changed || creds != nil) {
			// Other nodes learn of it from the outbox, committed with it.
			seq = tx.Account().AuditSeq
			change = changeID(e.store.StoreID(), account, seq, tx.Account().AuditHash)
			return tx.Enqueue(&holdfast.Command{ID: change, Account: account, Type: holdfast.CommandIndexChanged, CreatedAt: now, Data: map[string]string{"seq": strconv.FormatInt(seq, 10)}})
		}
		return nil
	})
	if err != nil {
		return err
	}
	if change != "" && e.feed.cfg.OnCommit != nil {
		defer e.feed.cfg.OnCommit(account, seq, change)
	}
	if changed {
		e.index.put(account, seq, rules, now.UnixNano())
	}
	if creds != nil {
		e.creds.put(account, creds)
	}
	return nil
}

// audit appends an entry for a change to r (before may be nil).
func audit(tx holdfast.AccountTx, now time.Time, actor holdfast.Actor, action string, before, after *holdfast.Restriction, reason string) error {
	e := &holdfast.AuditEntry{Account: tx.Account().ID, At: now, Actor: actor.String(), Action: action, Reason: reason}
	if before != nil {
		e.Restriction, e.Before = before.ID, mustJSON(before)
	}
	if after != nil {
		e.Restriction, e.After = after.ID, mustJSON(after)
	}
	return tx.Append(e)
}

// saveAccount persists a new or changed account before its first audit
// entry, so the chain always hangs off a stored account.
func saveAccount(tx holdfast.AccountTx, now time.Time, actor holdfast.Actor, action string) error {
	return saveAccountFor(tx, now, actor, action, "")
}

// saveAccountFor is saveAccount with the entry's reason.
func saveAccountFor(tx holdfast.AccountTx, now time.Time, actor holdfast.Actor, action, reason string) error {
	if err := tx.SaveAccount(); err != nil {
		return err
	}
	return tx.Append(&holdfast.AuditEntry{Account: tx.Account().ID, At: now, Actor: actor.String(), Action: action, After: mustJSON(accountRecord(tx.Account())), Reason: reason})
}

// accountRecord is the part of an account that the audit log records (the
// chain head itself is not part of the entry it heads).
func accountRecord(a *holdfast.Account) *holdfast.Account {
	c := a.Clone()
	c.AuditSeq, c.AuditHash = 0, ""
	if c.Security.AntiPhishingCode != "" {
		// The log is read by staff; the code is for the holder's eyes.
		c.Security.AntiPhishingCode = "(set)"
	}
	return c
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own plain structs are marshalled
	}
	return b
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newID returns a random identifier with a readable prefix ("rst_…").
func newID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + strings.ToLower(idEncoding.EncodeToString(b[:]))
}
