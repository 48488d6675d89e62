package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/rpc"
)

// run executes the CLI and returns the process exit code: 0 on success, 1
// when the command failed (printed as "error: CODE: message"), 2 for a
// usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runIn(ctx, &invocation{args: args, stdin: &recorder{r: os.Stdin}, stdout: stdout, stderr: stderr})
}

// invocation is one run of the CLI: what a command that must run in the
// server holding its data directory forwards there (see forward).
type invocation struct {
	args           []string
	stdin          *recorder
	stdout, stderr io.Writer
	// dir, for a command forwarded to the server, is the CLI's working
	// directory: relative paths in its flags are taken from there.
	dir string
}

type invocationKey struct{}

func runIn(ctx context.Context, inv *invocation) int {
	root := newRoot(inv.stdout, inv.stderr)
	root.SetIn(inv.stdin)
	// Cobra reports unknown commands and wrong arguments as plain errors,
	// before any command's hooks run: an error from then is a usage error.
	started := false
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		started = true
		if inv.dir != "" {
			return resolvePaths(cmd, inv.dir)
		}
		return nil
	}
	root.SetArgs(inv.args)
	err := root.ExecuteContext(context.WithValue(ctx, invocationKey{}, inv))
	if err == nil {
		return 0
	}
	var he *holdfast.Error
	if !started && !errors.As(err, &he) {
		err = usagef("%v", err)
	}
	var ex exitCode
	if errors.As(err, &ex) {
		return int(ex) // the command has said what went wrong
	}
	fmt.Fprintln(inv.stderr, "error: "+describe(err))
	if holdfast.ErrorCode(err) == holdfast.InvalidArgument && isUsage(err) {
		return 2
	}
	return 1
}

// resolvePaths makes the relative paths in cmd's file and directory flags
// (cobra's MarkFlagFilename, MarkFlagDirname) absolute from dir.
func resolvePaths(cmd *cobra.Command, dir string) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		_, file := f.Annotations[cobra.BashCompFilenameExt]
		_, subdir := f.Annotations[cobra.BashCompSubdirsInDir]
		if v := f.Value.String(); (file || subdir) && f.Value.Type() == "string" && v != "" && !filepath.IsAbs(v) && err == nil {
			err = f.Value.Set(filepath.Join(dir, v))
		}
	})
	return err
}

// recorder keeps what was read from standard input (up to recordMax), so
// that a command forwarded after reading some can be given it again.
type recorder struct {
	r    io.Reader
	read []byte
	over bool // more than recordMax was read
	eof  bool
}

const recordMax = 1 << 20

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if r.over || len(r.read)+n > recordMax {
		r.over = true
	} else {
		r.read = append(r.read, p[:n]...)
	}
	r.eof = r.eof || err == io.EOF
	return n, err
}

// exitCode ends the command with that code and no further message.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// usageError marks an error in the command line itself.
type usageError struct{ err *holdfast.Error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

func usagef(format string, args ...any) error {
	return usageError{holdfast.Errorf(holdfast.InvalidArgument, "", format, args...)}
}

// describe renders err as "CODE: message (field F)": the server's domain
// code and field from the error detail, or the local domain error.
func describe(err error) string {
	var he *holdfast.Error
	if errors.As(err, &he) {
		return he.Error()
	}
	code, field, msg := rpc.ErrorInfo(err)
	if field != "" {
		msg += " (field " + field + ")"
	}
	return code + ": " + msg
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "holdfast",
		Short:         "Holdfast: account restrictions and emergency freezes for a custodial exchange",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usagef("%v", err) })
	root.AddCommand(
		migrateCmd(), devCmd(),
		serveCmd(),
		checkCmd(), authorizeWithdrawalCmd(),
		applyCmd(), liftCmd(), extendCmd(), approveCmd(), approvalsCmd(), getCmd(), listCmd(), historyCmd(),
		freezeCmd(), panicLockCmd(), requestUnfreezeCmd(), verifyCmd(), statusCmd(),
		secureCmd(), sessionsCmd(), keysCmd(), whitelistCmd(), antiPhishingCmd(), settingsCmd(), contactsCmd(), securityCmd(),
		auditCmd(), receiptCmd(), staffCmd(), tokenCmd(), policyCmd(), gatewayCmd(), outboxCmd(),
		simulateCmd(), versionCmd(), healthCmd(), configCmd(),
		backtestCmd(), eventsCmd(),
		eventCmd(),
		caseCmd(), complianceCmd(),
	)
	strictGroups(root)
	return root
}

// strictGroups makes a command that only groups others refuse an unknown
// subcommand (cobra would print its help and succeed); alone, it still
// prints its help.
func strictGroups(c *cobra.Command) {
	for _, sub := range c.Commands() {
		strictGroups(sub)
	}
	if !c.HasSubCommands() || c.Runnable() {
		return
	}
	c.Args = cobra.NoArgs
	c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
}

// client holds the flags of every command that talks to a server.
type client struct {
	server, token string
	json          bool
}

func (c *client) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.server, "server", "", "server URL (default $HOLDFAST_SERVER or http://127.0.0.1:7433)")
	f.StringVar(&c.token, "token", "", "bearer token (default $HOLDFAST_TOKEN)")
	f.BoolVar(&c.json, "json", false, "print the response as JSON")
}

func (c *client) clients() *rpc.Clients {
	server, token := c.endpoint()
	return rpc.NewClients(c.httpClient(), server, token)
}

// endpoint is the server URL and token the flags or environment name.
func (c *client) endpoint() (server, token string) {
	server = firstOf(c.server, os.Getenv("HOLDFAST_SERVER"), "http://127.0.0.1:7433")
	return strings.TrimRight(server, "/"), firstOf(c.token, os.Getenv("HOLDFAST_TOKEN"))
}

func (c *client) httpClient() *http.Client { return &http.Client{Timeout: 30 * time.Second} }

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// splitList reads a comma-separated flag ("a,b" or "a, b").
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
