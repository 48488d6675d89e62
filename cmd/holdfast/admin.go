package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/postgres"
	"github.com/holdfast/holdfast/rpc"
	"github.com/holdfast/holdfast/sqlite"
)

// Commands that work directly on a data directory, with or without a
// running server: bootstrap access and verify the audit log.

// storeEnv names the store for every command that opens one: a
// postgres:// URL, or empty for the embedded store in --data.
const storeEnv = "HOLDFAST_STORE"

// storeRef is where a command's store is: the embedded SQLite file in a
// data directory, or PostgreSQL.
type storeRef struct {
	data, store string
	cmds        []*cobra.Command // the commands whose flags these are
}

// storeCommand annotates the commands that open a store: those a server
// runs when the CLI forwards them (serve aside).
const storeCommand = "holdfast/store"

func (s *storeRef) flags(cmd *cobra.Command, dataHelp string) {
	s.cmds = append(s.cmds, cmd)
	cmd.Flags().StringVar(&s.data, "data", defaultData, dataHelp)
	_ = cmd.MarkFlagDirname("data") // taken from the CLI's directory when forwarded
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[storeCommand] = "true"
	cmd.Flags().StringVar(&s.store, "store", os.Getenv(storeEnv), "PostgreSQL URL (postgres://…) for a cluster's shared store (default $"+storeEnv+"; empty: the embedded store in --data)")
}

// postgres reports whether the store is a PostgreSQL server.
func (s *storeRef) postgres() bool {
	return strings.HasPrefix(s.store, "postgres://") || strings.HasPrefix(s.store, "postgresql://")
}

// open opens the store to write to it; must says it must already exist
// (a typo in --data should not create an empty one to verify). The
// embedded store's data directory is locked until Close. While a server
// holds it, the command runs in that server instead, through its socket
// (see forward): only the server may write to its store, as it alone keeps
// its index, its caches and its writer's state. While another command
// holds it, this fails with failed_precondition.
func (s *storeRef) open(ctx context.Context, must bool) (backend, error) {
	if srv, ok := ctx.Value(serverStoreKey{}).(*serverStore); ok {
		return srv.open(s)
	}
	if s.postgres() || s.store != "" {
		return s.openStore(ctx, must)
	}
	if must {
		if err := s.mustExist(); err != nil {
			return nil, err
		}
	}
	lock, err := lockData(s.data, fmt.Sprintf("pid %d: %s", os.Getpid(), s.command()), "try again when it has finished")
	if holdfast.ErrorCode(err) == holdfast.FailedPrecondition {
		return nil, forward(ctx, s.data, err)
	}
	if err != nil {
		return nil, err
	}
	db, err := s.openStore(ctx, must)
	if err != nil {
		lock.release()
		return nil, err
	}
	return lockedBackend{db, lock}, nil
}

// serverStore is the store of the server a forwarded command runs in.
type serverStore struct {
	db   backend
	data string // the server's data directory
}

type serverStoreKey struct{}

// open returns the server's own store, which the command must not close.
func (srv *serverStore) open(s *storeRef) (backend, error) {
	a, errA := os.Stat(s.data)
	b, errB := os.Stat(srv.data)
	if errA != nil || errB != nil || !os.SameFile(a, b) {
		return nil, holdfast.Errorf(holdfast.FailedPrecondition, "data", "this server's data directory is %s, not %s", srv.data, s.data)
	}
	return unclosable{srv.db}, nil
}

// unclosable is the server's store lent to a command.
type unclosable struct{ backend }

func (unclosable) Close() error { return nil }

// command names the command running, for the lock's holder.
func (s *storeRef) command() string {
	for _, c := range s.cmds {
		if c.CalledAs() != "" {
			return c.CommandPath()
		}
	}
	return "holdfast"
}

// openRead opens an existing store to read it: beside a running server
// too, as SQLite lets readers see the last commit while a writer goes on.
func (s *storeRef) openRead(ctx context.Context) (backend, error) {
	return s.openStore(ctx, true)
}

// lockedBackend holds its data directory's lock until Close.
type lockedBackend struct {
	backend
	lock *dataLock
}

func (b lockedBackend) Close() error {
	err := b.backend.Close()
	b.lock.release()
	return err
}

func (s *storeRef) mustExist() error {
	if _, err := os.Stat(filepath.Join(s.data, sqlite.FileName)); err != nil {
		return holdfast.Errorf(holdfast.NotFound, "data", "no Holdfast database in %s", s.data)
	}
	return nil
}

// openStore opens the store without locking anything.
func (s *storeRef) openStore(ctx context.Context, must bool) (backend, error) {
	switch {
	case s.postgres():
		return postgres.Open(ctx, s.store)
	case s.store != "":
		return nil, usagef("--store must be a postgres:// URL (or empty for the embedded store)")
	}
	if must {
		if err := s.mustExist(); err != nil {
			return nil, err
		}
	}
	return sqlite.Open(ctx, s.data)
}

func auditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Audit log tools: verify the chains and the transparency log, checkpoints, proofs"}
	cmd.AddCommand(auditVerifyCmd(), auditKeyCmd(), auditCheckpointCmd(), auditProveCmd(), auditConsistencyCmd(), auditWitnessCmd())
	return cmd
}

// cliEntry is the audit entry of a staff or token change made on the
// command line. It is recorded as the system: the command line has no
// staff identity of its own (whoever can run it holds the data directory
// or the database URL), so the audit entry names the operating-system
// user who ran it in its reason. A command forwarded to a server runs as
// the server's user; the entry names the user who sent it (the socket's
// peer), not the server's. Token entries get their action, before and
// after from the store.
func cliEntry(ctx context.Context, action, reason string, before, after *holdfast.StaffMember, at time.Time) *holdfast.AuditEntry {
	host, _ := os.Hostname()
	by := fmt.Sprintf("holdfast CLI, run by %s on %s.", osUser(-1), host)
	if p, ok := ctx.Value(peerKey{}).(peer); ok {
		by = fmt.Sprintf("holdfast CLI, run by %s (uid %d, pid %d) on %s through the server's local socket.", osUser(int64(p.uid)), p.uid, p.pid, host)
	}
	e := &holdfast.AuditEntry{Account: holdfast.StaffAccount, At: at, Actor: holdfast.System.String(), Action: action,
		Reason: strings.TrimSpace(by + " " + reason)}
	if before != nil {
		e.Before, _ = json.Marshal(before)
	}
	if after != nil {
		e.After, _ = json.Marshal(after)
	}
	return e
}

// peer is the process that sent a forwarded command.
type peer struct {
	uid uint32
	pid int32
}

type peerKey struct{}

// osUser names the user with this uid (-1: this process's user).
func osUser(uid int64) string {
	var u *user.User
	var err error
	if uid < 0 {
		u, err = user.Current()
	} else {
		u, err = user.LookupId(strconv.FormatInt(uid, 10))
	}
	if err != nil {
		return "unknown"
	}
	return u.Username
}

// staffStatus says in a word where a member stands.
func staffStatus(m *holdfast.StaffMember) string {
	switch {
	case !m.RemovedAt.IsZero():
		return "removed"
	case !m.DisabledAt.IsZero():
		return "disabled"
	}
	return "active"
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// liveStaff returns a member who may still change: removed members are
// kept only for the history.
func liveStaff(ctx context.Context, db backend, id string) (*holdfast.StaffMember, error) {
	if err := holdfast.ValidateID("id", id); err != nil {
		return nil, err
	}
	m, err := db.Staff(ctx, id)
	if holdfast.ErrorCode(err) == holdfast.NotFound {
		return nil, holdfast.Errorf(holdfast.NotFound, "id", "no staff member %s", id)
	}
	if err != nil {
		return nil, err
	}
	if !m.RemovedAt.IsZero() {
		return nil, holdfast.Errorf(holdfast.FailedPrecondition, "id", "staff member %s was removed at %s; a removed id is never reused", id, when(m.RemovedAt))
	}
	return m, nil
}

func staffCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "staff", Short: "Manage staff members"}
	var where storeRef
	var id, roles string
	add := &cobra.Command{
		Use:   "add --data DIR --id ID --roles r1,r2",
		Short: "Add a staff member, or replace their roles (support, compliance, le_liaison, admin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := holdfast.ValidateID("id", id); err != nil {
				return err
			}
			var rs []holdfast.Role
			for _, r := range splitList(roles) {
				if !holdfast.Role(r).Valid() {
					return holdfast.Errorf(holdfast.InvalidArgument, "roles", "unknown role %q (want support, compliance, le_liaison or admin)", r)
				}
				rs = append(rs, holdfast.Role(r))
			}
			if len(rs) == 0 {
				return holdfast.Errorf(holdfast.InvalidArgument, "roles", "name at least one role: support, compliance, le_liaison, admin")
			}
			db, err := where.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer db.Close()
			now := time.Now().UTC()
			m := &holdfast.StaffMember{ID: id, Roles: rs, CreatedAt: now}
			old, err := liveStaff(cmd.Context(), db, id)
			switch {
			case err == nil:
				// New roles keep the member's Console sign-in, and a
				// disabled member stays disabled.
				m.CreatedAt, m.PasswordHash, m.TOTPSecret, m.DisabledAt = old.CreatedAt, old.PasswordHash, old.TOTPSecret, old.DisabledAt
			case holdfast.ErrorCode(err) != holdfast.NotFound:
				return err
			}
			action := holdfast.AuditStaffAdded
			if old != nil {
				action = holdfast.AuditStaffUpdated
			}
			if err := db.ChangeStaff(cmd.Context(), m, cliEntry(cmd.Context(), action, "", old, m, now)); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "staff member %s has roles %s\n", id, roles)
			if !m.DisabledAt.IsZero() {
				fmt.Fprintf(cmd.OutOrStdout(), "staff member %s is still disabled (holdfast staff enable)\n", id)
			}
			return nil
		},
	}
	where.flags(add, "data directory")
	add.Flags().StringVar(&id, "id", "", "staff id")
	add.Flags().StringVar(&roles, "roles", "", "comma-separated roles")

	var asJSON bool
	list := &cobra.Command{
		Use:   "list [--data DIR] [--json]",
		Short: "List staff members with their roles and status (active, disabled, removed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := where.openRead(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			ms, err := db.ListStaff(cmd.Context())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(w, ms)
			}
			table(w, "ID\tROLES\tSTATUS\tCREATED\tCONSOLE_SIGN_IN", func(tw io.Writer) {
				for _, m := range ms {
					signIn := "no"
					if m.PasswordHash != "" && m.TOTPSecret != "" {
						signIn = "yes"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.ID, strings.Join(strs(m.Roles), ","), staffStatus(m), when(m.CreatedAt), signIn)
				}
			})
			return nil
		},
	}
	where.flags(list, "data directory")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var reason string
	// change builds disable, enable and remove: each loads a live
	// member, changes it and records why, in one transaction.
	change := func(use, short, action, done string, apply func(m *holdfast.StaffMember, now time.Time) error) *cobra.Command {
		c := &cobra.Command{
			Use:   use + " --id ID [--reason TEXT] [--data DIR]",
			Short: short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if err := holdfast.ValidateID("id", id); err != nil {
					return err
				}
				db, err := where.open(cmd.Context(), true)
				if err != nil {
					return err
				}
				defer db.Close()
				old, err := liveStaff(cmd.Context(), db, id)
				if err != nil {
					return err
				}
				now := time.Now().UTC()
				m := *old
				if err := apply(&m, now); err != nil {
					return err
				}
				if err := db.ChangeStaff(cmd.Context(), &m, cliEntry(cmd.Context(), action, reason, old, &m, now)); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "staff member %s %s\n", id, done)
				return nil
			},
		}
		where.flags(c, "data directory")
		c.Flags().StringVar(&id, "id", "", "staff id")
		c.Flags().StringVar(&reason, "reason", "", "why (recorded in the staff audit chain)")
		return c
	}
	refusedWithin := fmt.Sprintf("their tokens are refused on every server within %s, Console sessions at once", rpc.RevocationBound)
	disable := change("disable", "Disable a staff member: refuse their tokens and Console sessions until enabled", holdfast.AuditStaffDisabled,
		"disabled; "+refusedWithin, func(m *holdfast.StaffMember, now time.Time) error {
			if !m.DisabledAt.IsZero() {
				return holdfast.Errorf(holdfast.FailedPrecondition, "id", "staff member %s is disabled already (since %s)", m.ID, when(m.DisabledAt))
			}
			m.DisabledAt = now
			return nil
		})
	enable := change("enable", "Enable a disabled staff member again", holdfast.AuditStaffEnabled, "enabled",
		func(m *holdfast.StaffMember, _ time.Time) error {
			if m.DisabledAt.IsZero() {
				return holdfast.Errorf(holdfast.FailedPrecondition, "id", "staff member %s is not disabled", m.ID)
			}
			m.DisabledAt = time.Time{}
			return nil
		})
	remove := change("remove", "Remove a staff member: revoke their tokens and sign-in; the record stays so that the audit history still names them", holdfast.AuditStaffRemoved,
		"removed; their tokens are revoked and "+refusedWithin, func(m *holdfast.StaffMember, now time.Time) error {
			m.RemovedAt, m.Roles, m.PasswordHash, m.TOTPSecret = now, nil, "", ""
			return nil
		})
	cmd.AddCommand(add, list, disable, enable, remove, staffPasswordCmd())
	return cmd
}

func tokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage API tokens"}
	var where storeRef
	var scopes, staff, reason string
	var ttl time.Duration
	create := &cobra.Command{
		Use:   "create --data DIR --scopes a,b [--staff ID] [--ttl 720h] [--reason TEXT]",
		Short: "Create a bearer token and print it (only once; only its hash is kept)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ss []holdfast.Scope
			for _, s := range splitList(scopes) {
				ss = append(ss, holdfast.Scope(s))
			}
			if ttl < 0 || (cmd.Flags().Changed("ttl") && ttl == 0) {
				return holdfast.Errorf(holdfast.InvalidArgument, "ttl", "--ttl must be positive (leave it out for a token that does not expire)")
			}
			if ttl > maxTokenTTL {
				return holdfast.Errorf(holdfast.InvalidArgument, "ttl", "--ttl is at most %s (10 years)", maxTokenTTL)
			}
			now := time.Now().UTC()
			secret, tok, err := rpc.NewToken(ss, staff, now)
			if err != nil {
				return err
			}
			if ttl > 0 {
				tok.ExpiresAt = now.Add(ttl)
			}
			db, err := where.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer db.Close()
			if staff != "" {
				m, err := liveStaff(cmd.Context(), db, staff)
				if err != nil {
					return err
				}
				if !m.Active() {
					return holdfast.Errorf(holdfast.FailedPrecondition, "staff", "staff member %s is disabled; enable them first", staff)
				}
			}
			if err := db.CreateToken(cmd.Context(), tok, cliEntry(cmd.Context(), "", reason, nil, nil, now)); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), secret)
			return nil
		},
	}
	where.flags(create, "data directory")
	create.Flags().StringVar(&scopes, "scopes", "", "comma-separated scopes: check, events, self_service, staff")
	create.Flags().StringVar(&staff, "staff", "", "the staff member a staff-scoped token acts as")
	create.Flags().DurationVar(&ttl, "ttl", 0, "how long the token works, like 720h (default: until revoked)")
	create.Flags().StringVar(&reason, "reason", "", "why (recorded in the staff audit chain)")

	var asJSON bool
	list := &cobra.Command{
		Use:   "list [--data DIR] [--json]",
		Short: "List tokens: id, scopes, staff member, state, created, last used, expiry (never the token or its hash)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := where.openRead(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			ts, err := db.Tokens(cmd.Context())
			if err != nil {
				return err
			}
			now := time.Now()
			w := cmd.OutOrStdout()
			if asJSON {
				type listed struct {
					*holdfast.Token        // its Hash is never encoded
					State           string `json:"state"`
				}
				out := make([]listed, len(ts))
				for i, t := range ts {
					out[i] = listed{t, t.State(now)}
				}
				return writeJSON(w, out)
			}
			table(w, "ID\tSCOPES\tSTAFF\tSTATE\tCREATED\tLAST_USED\tEXPIRES", func(tw io.Writer) {
				for _, t := range ts {
					staff := t.Staff
					if staff == "" {
						staff = "-"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, strings.Join(strs(t.Scopes), ","), staff, t.State(now), when(t.CreatedAt), when(t.LastUsedAt), when(t.ExpiresAt))
				}
			})
			return nil
		},
	}
	where.flags(list, "data directory")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var id string
	var fromStdin bool
	revoke := &cobra.Command{
		Use:   "revoke (--id ID | --stdin) [--reason TEXT] [--data DIR]",
		Short: "Revoke a token, by its id or by the token itself on standard input (rotation: create the new one, switch, revoke the old)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (id == "") == !fromStdin {
				return usagef("name the token: --id ID, or --stdin and the token on standard input")
			}
			db, err := where.open(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer db.Close()
			if fromStdin {
				line, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				t, err := db.TokenByHash(cmd.Context(), rpc.HashToken(strings.TrimSpace(line)))
				if err != nil {
					return err
				}
				id = t.ID
			}
			if err := db.RevokeToken(cmd.Context(), id, cliEntry(cmd.Context(), "", reason, nil, nil, time.Now().UTC())); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s revoked; every server refuses it within %s\n", id, rpc.RevocationBound)
			return nil
		},
	}
	where.flags(revoke, "data directory")
	revoke.Flags().StringVar(&id, "id", "", "the token's id (tok_…, as errors and logs name it)")
	revoke.Flags().BoolVar(&fromStdin, "stdin", false, "read the token itself from standard input")
	revoke.Flags().StringVar(&reason, "reason", "", "why (recorded in the staff audit chain)")
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// maxTokenTTL bounds --ttl: a longer life is "until revoked".
const maxTokenTTL = 10 * 365 * 24 * time.Hour

// migrateCmd creates or upgrades a store's schema. Servers do it when they
// start too (several at once migrate once); this is for doing it ahead.
func migrateCmd() *cobra.Command {
	var where storeRef
	cmd := &cobra.Command{
		Use:   "migrate [--store postgres://… | --data DIR]",
		Short: "Create or upgrade the store's schema",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := where.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer db.Close()
			fmt.Fprintln(cmd.OutOrStdout(), "the schema is up to date")
			return nil
		},
	}
	where.flags(cmd, "data directory of the embedded store")
	return cmd
}
