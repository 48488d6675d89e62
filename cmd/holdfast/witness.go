package main

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/tlog"
)

// A witness keeps every checkpoint it verified as <size>.checkpoint in its
// state directory, the newest also as latest, and a checkpoint it refused
// (signed evidence of a log that was rewritten) under rejected/.
const (
	witnessExt      = ".checkpoint"
	witnessLatest   = "latest"
	witnessRejected = "rejected"
)

// auditWitnessCmd follows a server's log from outside the exchange.
func auditWitnessCmd() *cobra.Command {
	var (
		c          client
		key, state string
		every      time.Duration
		once       bool
	)
	cmd := &cobra.Command{
		Use:   "witness --server URL --key PUB --state DIR [--every 10s] [--once]",
		Short: "Follow the log from outside: verify each new checkpoint's signature and that it extends the last one kept; fail loudly on any rewrite",
		Long: `Poll the server's signed checkpoint, verify its signature with --key and a
consistency proof from the newest checkpoint kept in --state, and keep it.
The witness trusts nothing from the server that it cannot verify.

Exit status: 0 while the log only grew (--once: one poll); 1 with
failed_precondition when a checkpoint does not verify, goes backwards or is
inconsistent with a kept one (naming the first bad leaf as precisely as the
kept checkpoints allow); 2 with --once when the server cannot be reached.
Without --once, an unreachable server is logged and polled again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if key == "" || state == "" {
				return usagef("--key is the log's public key (holdfast audit key) and --state the witness's directory")
			}
			if _, err := note.NewVerifier(strings.TrimSpace(key)); err != nil {
				return usagef("--key: %v", err)
			}
			if every <= 0 {
				return usagef("--every must be positive")
			}
			w := &witness{cmd: cmd, c: &c, key: strings.TrimSpace(key), dir: state,
				log: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))}
			if err := w.load(); err != nil {
				return err
			}
			return w.run(every, once)
		},
	}
	c.flags(cmd)
	f := cmd.Flags()
	f.StringVar(&key, "key", "", "the log's public verifier key (holdfast audit key)")
	f.StringVar(&state, "state", "", "directory keeping every verified checkpoint (made if missing)")
	f.DurationVar(&every, "every", 10*time.Second, "how often to poll the server")
	f.BoolVar(&once, "once", false, "poll once and exit (for cron)")
	_ = cmd.MarkFlagDirname("state")
	return cmd
}

// witness is one run of audit witness: the checkpoints it holds, oldest
// first.
type witness struct {
	cmd  *cobra.Command
	c    *client
	key  string
	dir  string
	held []*tlog.Checkpoint
	log  *slog.Logger
}

// transient is a failure to reach the server or get an answer from it:
// no evidence against the log, so it is tried again.
type transient struct{ err error }

func (t transient) Error() string { return t.err.Error() }
func (t transient) Unwrap() error { return t.err }

// isTransient tells a server that could not answer (network, timeout,
// server error) from one that answered with a refusal.
func isTransient(err error) bool {
	var t transient
	if errors.As(err, &t) {
		return true
	}
	for _, code := range []string{"unavailable:", "internal:", "unknown:", "deadline_exceeded:", "resource_exhausted:"} {
		if strings.HasPrefix(err.Error(), code) {
			return true
		}
	}
	return false
}

func (w *witness) run(every time.Duration, once bool) error {
	for {
		err := w.poll()
		switch {
		case w.cmd.Context().Err() != nil:
			return nil // stopped (SIGINT, SIGTERM)
		case err == nil:
		case isTransient(err) && once:
			fmt.Fprintf(w.cmd.ErrOrStderr(), "error: unavailable: the server could not be reached: %v\n", err)
			return exitCode(2)
		case isTransient(err):
			w.log.Warn("witness: the server could not be reached; polling again", "server", w.server(), "in", every, "err", err)
		default:
			w.log.Error("WITNESS ALARM: the exchange's audit log is not append-only (why: the error below)", "server", w.server(), "state", w.dir)
			return err
		}
		if once {
			return nil
		}
		select {
		case <-w.cmd.Context().Done():
			return nil
		case <-time.After(every):
		}
	}
}

func (w *witness) server() string { s, _ := w.c.endpoint(); return s }

// poll takes the server's newest checkpoint if it extends the newest one
// held, and explains why not otherwise.
func (w *witness) poll() error {
	body, err := w.c.fetch(w.cmd, http.MethodGet, "/audit/checkpoint")
	if err != nil && strings.HasPrefix(err.Error(), "not_found:") && len(w.held) > 0 {
		// The server keeps no log any more: as far as anyone outside
		// can tell, it went back to the empty tree.
		return w.diagnose(&tlog.Checkpoint{Size: 0, Root: tlog.Hasher.EmptyRoot()}, nil)
	}
	if err != nil && strings.HasPrefix(err.Error(), "not_found:") {
		w.log.Info("witness: the log is empty; nothing to witness yet", "server", w.server())
		return nil
	}
	if err != nil {
		return transient{err}
	}
	cp, err := tlog.Open(body, w.key)
	if err != nil {
		file := w.reject(body)
		return holdfast.Errorf(holdfast.FailedPrecondition, "", "the server's checkpoint does not verify with the log's key (kept in %s): %v", file, err)
	}
	latest := w.latest()
	switch {
	case latest == nil:
		fmt.Fprintf(w.cmd.OutOrStdout(), "OK: first checkpoint of %d leaves kept (trusted on first use)\n", cp.Size)
		return w.keep(cp)
	case cp.Size == latest.Size && bytes.Equal(cp.Root, latest.Root):
		return nil
	case cp.Size > latest.Size:
		err := proveExtends(w.cmd, w.c, &tlog.Signed{Checkpoint: *latest}, cp)
		if err == nil {
			fmt.Fprintf(w.cmd.OutOrStdout(), "OK: checkpoint of %d leaves extends the one of %d leaves\n", cp.Size, latest.Size)
			return w.keep(cp)
		}
		if isTransient(err) {
			return transient{err}
		}
		// A proof that does not verify, or a server that will not prove
		// what it signed: either way the log is not shown to extend.
	}
	return w.diagnose(&cp.Checkpoint, cp.Note)
}

// diagnose explains a checkpoint that does not extend the newest one held:
// it bisects over the held checkpoints no larger than cp for the newest
// one cp still extends, and names the first bad leaf as precisely as they
// allow. msg is cp's signed note, kept as evidence.
func (w *witness) diagnose(cp *tlog.Checkpoint, msg []byte) error {
	latest := w.latest()
	var what string
	switch {
	case cp.Size < latest.Size:
		what = fmt.Sprintf("the log went backwards: the server's checkpoint has %d leaves, the witness holds one of %d", cp.Size, latest.Size)
	case cp.Size == latest.Size:
		what = fmt.Sprintf("the log forked: the server's checkpoint of %d leaves has another root than the one the witness holds", cp.Size)
	default:
		what = fmt.Sprintf("the log was rewritten: the server's checkpoint of %d leaves does not extend the one of %d leaves the witness holds", cp.Size, latest.Size)
	}
	if msg != nil {
		what += " (its signed note is kept in " + w.reject(msg) + ")"
	}
	below := w.held[:0:0]
	for _, h := range w.held {
		if h.Size <= cp.Size {
			below = append(below, h)
		}
	}
	// Consistency is monotone: a tree that extends a held checkpoint
	// extends every older one, which the newer one extends.
	var failed error
	bad, _ := slices.BinarySearchFunc(below, true, func(h *tlog.Checkpoint, _ bool) int {
		ok, err := w.extends(h, cp)
		if err != nil && failed == nil {
			failed = err
		}
		if ok {
			return -1
		}
		return 1
	})
	if failed != nil {
		return failed
	}
	good := uint64(0)
	if bad > 0 {
		good = below[bad-1].Size
	}
	var where string
	switch {
	case bad == len(below) && cp.Size < latest.Size:
		where = fmt.Sprintf("its first %d leaves are the ones the witness saw: leaves %d onwards were removed, or the store was restored from an older copy; first bad leaf %d", cp.Size, cp.Size, cp.Size)
	case bad == len(below):
		where = fmt.Sprintf("it extends the checkpoint of %d leaves the witness holds but would not prove it extends the newest; first bad leaf between %d and %d", good, good, latest.Size-1)
	default:
		where = locate(good, below[bad].Size)
	}
	return holdfast.Errorf(holdfast.FailedPrecondition, "", "%s: %s", what, where)
}

// locate names the first bad leaf between the newest held checkpoint that
// is still consistent (good leaves) and the oldest that is not.
func locate(good, bad uint64) string {
	after := fmt.Sprintf("the log diverges after leaf %d (the checkpoint of %d leaves is still consistent)", int64(good)-1, good)
	if good == 0 {
		after = "the log diverges from its first leaf on (no checkpoint the witness holds is still consistent)"
	}
	first := fmt.Sprintf("first bad leaf between %d and %d", good, bad-1)
	if good == bad-1 {
		first = fmt.Sprintf("first bad leaf %d", good)
	}
	return fmt.Sprintf("%s and at or before leaf %d; %s", after, bad-1, first)
}

// extends reports whether cp is proven to extend the held checkpoint h. A
// server that cannot be reached is an error; one that refuses the proof
// has not proven it.
func (w *witness) extends(h, cp *tlog.Checkpoint) (bool, error) {
	if h.Size == cp.Size {
		return bytes.Equal(h.Root, cp.Root), nil
	}
	if cp.Size == 0 {
		return false, nil
	}
	err := proveExtends(w.cmd, w.c, &tlog.Signed{Checkpoint: *h}, &tlog.Signed{Checkpoint: *cp})
	if err != nil && isTransient(err) {
		return false, transient{err}
	}
	return err == nil, nil
}

func (w *witness) latest() *tlog.Checkpoint {
	if len(w.held) == 0 {
		return nil
	}
	return w.held[len(w.held)-1]
}

// load reads the checkpoints held. Each was verified when it was taken:
// it is read back without the key, so that after a key rotation the
// witness, given the new key, still holds the old key's tree heads.
func (w *witness) load() error {
	if err := os.MkdirAll(w.dir, 0o700); err != nil {
		return holdfast.Errorf(holdfast.InvalidArgument, "state", "%v", err)
	}
	names, err := filepath.Glob(filepath.Join(w.dir, "*"+witnessExt))
	if err != nil {
		return err
	}
	for _, name := range names {
		size, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(name), witnessExt), 10, 64)
		if err != nil {
			continue // not one of ours
		}
		b, err := os.ReadFile(name)
		if err != nil {
			return holdfast.Errorf(holdfast.InvalidArgument, "state", "%v", err)
		}
		cp, err := tlog.ParseNote(b)
		if err != nil || cp.Size != size {
			return holdfast.Errorf(holdfast.InvalidArgument, "state", "%s is not the checkpoint of %d leaves it was kept as (%v): the witness's state was damaged", name, size, err)
		}
		w.held = append(w.held, &cp.Checkpoint)
	}
	slices.SortFunc(w.held, func(a, b *tlog.Checkpoint) int { return cmp.Compare(a.Size, b.Size) })
	return nil
}

// keep saves a verified checkpoint and makes it the newest held.
func (w *witness) keep(cp *tlog.Signed) error {
	for _, name := range []string{strconv.FormatUint(cp.Size, 10) + witnessExt, witnessLatest} {
		if err := writeFileAtomic(filepath.Join(w.dir, name), cp.Note); err != nil {
			return fmt.Errorf("witness state: %w", err)
		}
	}
	w.held = append(w.held, &cp.Checkpoint)
	return nil
}

// reject keeps a refused checkpoint, the exchange's signed word that its
// log was rewritten, and returns where (or why it could not).
func (w *witness) reject(msg []byte) string {
	dir := filepath.Join(w.dir, witnessRejected)
	name := filepath.Join(dir, time.Now().UTC().Format("20060102T150405.000000000Z")+witnessExt)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Sprintf("nowhere: %v", err)
	}
	if err := writeFileAtomic(name, msg); err != nil {
		return fmt.Sprintf("nowhere: %v", err)
	}
	return name
}

// writeFileAtomic writes b to path through a temporary file, so that a
// crash leaves the old file or the new one, never half of one.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
