package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/holdfast/holdfast/rpc"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/tlog"
	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"
)

// auditKeyEnv holds the transparency log's signing key itself, for a
// cluster whose nodes must all sign with one key (never a flag: flags
// show in ps).
const auditKeyEnv = "HOLDFAST_AUDIT_KEY"

// auditKeyFile is the signing key's file in the data directory.
const auditKeyFile = "audit.key"

// defaultOrigin names a log whose key is made on first use.
const defaultOrigin = "holdfast.audit"

// auditLogOptions say how a server signs the transparency log.
type auditLogOptions struct {
	keyFile, origin string
	every           time.Duration
	rotate          bool
}

func (o *auditLogOptions) flags(cmd *cobra.Command, publishing bool) {
	f := cmd.Flags()
	f.StringVar(&o.keyFile, "audit-key", "", "file holding the transparency log's signing key (default $"+auditKeyEnv+", else audit.key in --data, made on first use)")
	f.StringVar(&o.origin, "audit-origin", defaultOrigin, "the log's name (its checkpoints' origin line), given to a signing key made on first use")
	if publishing {
		f.DurationVar(&o.every, "checkpoint-every", time.Second, "publish a signed checkpoint this often while audit entries are appended (0: only on demand)")
		f.BoolVar(&o.rotate, "audit-key-rotate", false, "accept a log signed by another key and sign its newest checkpoint again with this one (key rotation)")
	}
}

// signer reads the signing key, from $HOLDFAST_AUDIT_KEY, --audit-key, or
// the data directory, where it is made on first use.
func (o *auditLogOptions) signer(data string) (note.Signer, string, error) {
	return o.readKey(data, true)
}

// readKey is signer; without create, a missing key in the data directory
// is an error instead of a new key (for commands that only read).
func (o *auditLogOptions) readKey(data string, create bool) (note.Signer, string, error) {
	skey := os.Getenv(auditKeyEnv)
	var err error
	switch {
	case skey != "":
	case o.keyFile != "":
		var b []byte
		b, err = os.ReadFile(o.keyFile)
		skey = string(b)
	case create:
		skey, err = dataKey(data, auditKeyFile, o.newKey)
	default:
		skey, err = dataKey(data, auditKeyFile, nil)
	}
	var domain *holdfast.Error
	if errors.As(err, &domain) {
		return nil, "", err // the origin of a key being made
	}
	if err != nil {
		return nil, "", holdfast.Errorf(holdfast.InvalidArgument, "audit-key", "read the audit signing key: %v", err)
	}
	s, vkey, err := tlog.NewSigner(skey)
	if err != nil {
		return nil, "", holdfast.Errorf(holdfast.InvalidArgument, "audit-key", "%v", err)
	}
	return s, vkey, nil
}

// newKey makes a signing key named by --audit-origin.
func (o *auditLogOptions) newKey() (string, error) {
	origin := firstOf(o.origin, defaultOrigin)
	if strings.ContainsAny(origin, " \t\n+") {
		return "", holdfast.Errorf(holdfast.InvalidArgument, "audit-origin", "the log's name must be non-empty, without spaces or '+'")
	}
	skey, _, err := tlog.GenerateKey(origin)
	return skey, err
}

// fetch calls one of the server's plain HTTP endpoints and returns its
// body; a refusal comes back as the server's code and message.
func (c *client) fetch(cmd *cobra.Command, method, path string) ([]byte, error) {
	server, token := c.endpoint()
	req, err := http.NewRequestWithContext(cmd.Context(), method, server+path, nil)
	if err != nil {
		return nil, usagef("--server: %v", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("unavailable: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("unavailable: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var ce struct{ Code, Message string }
		if json.Unmarshal(body, &ce) != nil || ce.Code == "" {
			return nil, fmt.Errorf("unavailable: %s %s: %s", method, path, resp.Status)
		}
		return nil, fmt.Errorf("%s: %s", ce.Code, ce.Message)
	}
	return body, nil
}

// auditKeyCmd prints the public key that verifies the log's checkpoints.
func auditKeyCmd() *cobra.Command {
	var (
		data string
		o    auditLogOptions
	)
	cmd := &cobra.Command{
		Use:   "key [--data DIR]",
		Short: "Print the transparency log's public verifier key (name+hash+base64), making the signing key on first use",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, vkey, err := o.signer(data)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), vkey)
			return nil
		},
	}
	cmd.Flags().StringVar(&data, "data", defaultData, "data directory holding audit.key")
	o.flags(cmd, false)
	return cmd
}

// auditCheckpointCmd fetches (or, with --publish, makes) the newest
// signed checkpoint.
func auditCheckpointCmd() *cobra.Command {
	var (
		c       client
		out     string
		publish bool
	)
	cmd := &cobra.Command{
		Use:   "checkpoint [--out FILE] [--publish]",
		Short: "Fetch the log's newest signed checkpoint (keep it: audit verify --checkpoint proves the log still extends it)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			method, path := http.MethodGet, "/audit/checkpoint"
			if publish {
				method, path = http.MethodPost, "/audit/publish"
			}
			body, err := c.fetch(cmd, method, path)
			if err != nil {
				return err
			}
			if out == "" {
				_, err = cmd.OutOrStdout().Write(body)
				return err
			}
			return os.WriteFile(out, body, 0o644)
		},
	}
	c.flags(cmd)
	cmd.Flags().StringVar(&out, "out", "", "write the checkpoint to this file instead of standard output")
	cmd.Flags().BoolVar(&publish, "publish", false, "log every queued entry and publish a checkpoint now (staff token)")
	return cmd
}

// auditProveCmd fetches an entry's inclusion proof as a receipt and
// checks it.
func auditProveCmd() *cobra.Command {
	var (
		c       client
		account string
		seq     int64
		key     string
	)
	cmd := &cobra.Command{
		Use:   "prove --account A --entry SEQ [--key PUB]",
		Short: "Prove that an audit entry is in the log: prints the entry, its leaf, a signed checkpoint and the inclusion proof (staff)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := holdfast.ValidateID("account", account); err != nil {
				return err
			}
			if seq < 1 {
				return usagef("--entry is the entry's number in the account's chain, from 1")
			}
			body, err := c.fetch(cmd, http.MethodGet, fmt.Sprintf("/audit/proof/entry?account=%s&seq=%d", url.QueryEscape(account), seq))
			if err != nil {
				return err
			}
			var rc holdfast.Receipt
			if err := json.Unmarshal(body, &rc); err != nil {
				return fmt.Errorf("the server's proof: %w", err)
			}
			if key != "" {
				cp, err := rc.Verify(key)
				if err != nil {
					return holdfast.Errorf(holdfast.FailedPrecondition, "entry", "%v", err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "verified: entry %d of %s is leaf %d of the signed tree of %d leaves\n", seq, account, rc.Leaf, cp.Size)
			}
			return writeJSON(cmd.OutOrStdout(), &rc)
		},
	}
	c.flags(cmd)
	cmd.Flags().StringVar(&account, "account", "", "the entry's account")
	cmd.Flags().Int64Var(&seq, "entry", 0, "the entry's number in the account's chain")
	cmd.Flags().StringVar(&key, "key", "", "verify the proof with this public key before printing it")
	return cmd
}

// auditConsistencyCmd proves that the server's log extends a checkpoint
// kept earlier.
func auditConsistencyCmd() *cobra.Command {
	var (
		c         client
		from, key string
	)
	cmd := &cobra.Command{
		Use:   "consistency --from FILE --key PUB",
		Short: "Prove that the server's log still extends a checkpoint you kept: nothing in it was removed or rewritten",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || key == "" {
				return usagef("--from names a kept checkpoint file and --key the log's public key")
			}
			old, err := readCheckpoint(from, key)
			if err != nil {
				return err
			}
			latest, err := fetchCheckpoint(cmd, &c, key)
			if err != nil {
				return err
			}
			if err := proveExtends(cmd, &c, old, latest); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "OK: the log of %d leaves extends the checkpoint of %d leaves\n", latest.Size, old.Size)
			return nil
		},
	}
	c.flags(cmd)
	cmd.Flags().StringVar(&from, "from", "", "a checkpoint file kept earlier (audit checkpoint --out)")
	cmd.Flags().StringVar(&key, "key", "", "the log's public key (holdfast audit key)")
	return cmd
}

// readCheckpoint reads a checkpoint file and checks its signature.
func readCheckpoint(path, key string) (*tlog.Signed, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "checkpoint", "%v", err)
	}
	c, err := tlog.Open(b, key)
	if err != nil {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "checkpoint", "%s: %v", path, err)
	}
	return c, nil
}

// readKept reads kept checkpoints: files, or directories of
// *.checkpoint files (a witness's state), each checked with key.
func readKept(paths []string, key string) ([]tlog.Checkpoint, error) {
	var out []tlog.Checkpoint
	for _, p := range paths {
		files := []string{p}
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			files, _ = filepath.Glob(filepath.Join(p, "*"+witnessExt))
			if len(files) == 0 {
				return nil, holdfast.Errorf(holdfast.InvalidArgument, "checkpoint", "%s holds no *.checkpoint file", p)
			}
		}
		for _, f := range files {
			c, err := readCheckpoint(f, key)
			if err != nil {
				return nil, err
			}
			out = append(out, c.Checkpoint)
		}
	}
	return out, nil
}

// fetchCheckpoint fetches the server's newest checkpoint and checks its
// signature.
func fetchCheckpoint(cmd *cobra.Command, c *client, key string) (*tlog.Signed, error) {
	body, err := c.fetch(cmd, http.MethodGet, "/audit/checkpoint")
	if err != nil {
		return nil, err
	}
	cp, err := tlog.Open(body, key)
	if err != nil {
		return nil, holdfast.Errorf(holdfast.FailedPrecondition, "checkpoint", "the server's checkpoint: %v", err)
	}
	return cp, nil
}

// proveExtends fetches and checks the consistency proof from old to new.
func proveExtends(cmd *cobra.Command, c *client, old, new *tlog.Signed) error {
	if new.Size < old.Size {
		return holdfast.Errorf(holdfast.FailedPrecondition, "checkpoint", "the log went backwards: it has %d leaves, the kept checkpoint %d (first missing leaf %d)", new.Size, old.Size, new.Size)
	}
	body, err := c.fetch(cmd, http.MethodGet, fmt.Sprintf("/audit/proof/consistency?old=%d&new=%d", old.Size, new.Size))
	if err != nil {
		return err
	}
	var p rpc.Proof
	if err := json.Unmarshal(body, &p); err != nil {
		return fmt.Errorf("the server's proof: %w", err)
	}
	if err := tlog.VerifyConsistency(old.Size, new.Size, p.Hashes, old.Root, new.Root); err != nil {
		return holdfast.Errorf(holdfast.FailedPrecondition, "checkpoint", "the log of %d leaves does not extend the checkpoint of %d leaves: entries before leaf %d were rewritten or removed (%v)", new.Size, old.Size, old.Size, err)
	}
	return nil
}

// auditVerifyCmd checks the per-account chains and the transparency log
// of a data directory or database, against a kept checkpoint if given.
func auditVerifyCmd() *cobra.Command {
	var (
		where       storeRef
		account     string
		checkpoints []string
		key         string
		o           auditLogOptions
	)
	cmd := &cobra.Command{
		Use:   "verify [--account A] [--checkpoint FILE [--key PUB]] --data DIR",
		Short: "Verify the audit hash chains, the transparency log, and that the state is what the log implies, in a data directory (or --store)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if account != "" {
				if err := holdfast.ValidateID("account", account); err != nil {
					return err
				}
			}
			if key == "" {
				// The key kept with the data signs its checkpoints; a
				// verifier who does not trust the data passes --key.
				if _, vkey, err := o.readKey(where.data, false); err == nil {
					key = vkey
				}
			}
			var kept []tlog.Checkpoint
			if len(checkpoints) > 0 {
				if key == "" {
					return usagef("--checkpoint needs --key: the log's public key")
				}
				var err error
				if kept, err = readKept(checkpoints, key); err != nil {
					return err
				}
			}
			db, err := where.openRead(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			rep, err := db.VerifyAudit(cmd.Context(), account)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			broken := 0
			for _, b := range rep.Breaks {
				fmt.Fprintf(w, "BROKEN: account %s at entry %d: %s\n", b.Account, b.Seq, b.Problem)
				broken++
			}
			unexplained, err := verifyState(cmd, db, account)
			if err != nil {
				return err
			}
			if rep.OK() && unexplained == 0 {
				fmt.Fprintf(w, "OK: %d account(s), %d entries verified, and the state is what they imply\n", rep.Accounts, rep.Entries)
			}
			if account == "" {
				lr, err := db.VerifyLog(cmd.Context(), kept, key)
				if err != nil {
					return err
				}
				for _, p := range lr.Problems {
					fmt.Fprintf(w, "BROKEN: transparency log at leaf %d: %s\n", p.Leaf, p.Problem)
					broken++
				}
				if lr.OK() {
					against := ""
					if len(kept) > 0 {
						against = fmt.Sprintf(", extending %d kept checkpoint(s)", len(kept))
					}
					fmt.Fprintf(w, "OK: transparency log of %d leaves and %d checkpoint(s) verified%s; %d entries wait to be logged\n", lr.Leaves, lr.Checkpoints, against, lr.Queued)
				}
			}
			if broken > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "error: failed_precondition: the audit log was tampered with: %d problem(s)\n", broken)
			}
			if broken > 0 || unexplained > 0 {
				return exitCode(1)
			}
			return nil
		},
	}
	where.flags(cmd, "data directory")
	cmd.Flags().StringVar(&account, "account", "", "only this account's chain (default: every chain and the transparency log)")
	cmd.Flags().StringArrayVar(&checkpoints, "checkpoint", nil, "a checkpoint kept earlier (audit checkpoint --out), or a witness's state directory: prove the log still extends each (repeatable; more checkpoints locate a rewrite more closely)")
	cmd.Flags().StringVar(&key, "key", "", "the log's public key (default: the one kept with the data)")
	o.flags(cmd, false)
	return cmd
}
