package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
	"github.com/holdfast/holdfast/sqlite"
	"github.com/holdfast/holdfast/tlog"
)

// witnessRig is a real server on a data directory, restarted on copies
// of it, and the key that verifies its log.
type witnessRig struct {
	t          *testing.T
	bin, addr  string
	url, token string
	vkey       string
	srv        *node
}

// serveOn starts the server on dir (stopping the one running), on the
// rig's one address, publishing checkpoints often.
func (r *witnessRig) serveOn(dir string) {
	r.t.Helper()
	r.stop()
	r.srv = &node{t: r.t, url: r.url, args: []string{r.bin, "serve", "--addr", r.addr, "--data", dir, "--log-level", "error", "--checkpoint-every", "100ms"}}
	r.srv.start()
}

func (r *witnessRig) stop() {
	if r.srv != nil {
		r.srv.kill()
		r.srv = nil
	}
}

// apply appends one entry to each of accounts (a new restriction), then
// publishes a checkpoint and returns its size.
func (r *witnessRig) apply(accounts ...string) uint64 {
	r.t.Helper()
	c := rpc.NewClients(nil, r.url, r.token)
	for _, a := range accounts {
		if _, err := c.Restriction.Apply(context.Background(), connect.NewRequest(&holdfastv1.ApplyRequest{Account: a, Kind: "reduce_only", Reason: "witness"})); err != nil {
			r.t.Fatal(err)
		}
	}
	return r.publish()
}

// withdraw appends one entry to account (a withdrawal authorized), then
// publishes a checkpoint and returns its size.
func (r *witnessRig) withdraw(account, id string) uint64 {
	r.t.Helper()
	c := rpc.NewClients(nil, r.url, r.token)
	if _, err := c.Decision.AuthorizeWithdrawal(context.Background(), connect.NewRequest(&holdfastv1.AuthorizeWithdrawalRequest{Account: account, Id: id, Asset: "USDT", Amount: "1", Address: "a1"})); err != nil {
		r.t.Fatal(err)
	}
	return r.publish()
}

func (r *witnessRig) publish() uint64 {
	r.t.Helper()
	code, out, errw := cli(r.t, "audit", "checkpoint", "--publish", "--server", r.url, "--token", r.token)
	if code != 0 {
		r.t.Fatalf("publish: %d %s", code, errw)
	}
	cp, err := tlog.Open([]byte(out), r.vkey)
	if err != nil {
		r.t.Fatal(err)
	}
	return cp.Size
}

// once runs one witness poll with its state in dir.
func (r *witnessRig) once(dir string) (int, string, string) {
	r.t.Helper()
	return cli(r.t, "audit", "witness", "--server", r.url, "--key", r.vkey, "--state", dir, "--once")
}

// held returns the size of the newest checkpoint a witness keeps in dir.
func (r *witnessRig) held(dir string) uint64 {
	b, err := os.ReadFile(filepath.Join(dir, witnessLatest))
	if err != nil {
		return 0
	}
	cp, err := tlog.Open(b, r.vkey)
	if err != nil {
		r.t.Fatalf("the witness keeps a checkpoint that does not verify: %v", err)
	}
	return cp.Size
}

// copyDir copies the files of a directory (the server stopped).
func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// tamper runs statements on the SQLite file in dir, as someone with
// write access to it would.
func tamper(t *testing.T, dir string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// TestWitness follows a growing log with `audit witness`, in a loop (the
// real binary) and once per poll, then tampers with copies of the SQLite
// file as someone with write access to it would, restarts the server on
// each with the same key, and checks that the witness refuses each,
// naming the first bad leaf.
func TestWitness(t *testing.T) {
	bin := buildHoldfast(t)
	data := t.TempDir()
	addr := freePort(t)
	r := &witnessRig{t: t, bin: bin, addr: addr, url: "http://" + addr}
	t.Cleanup(r.stop)
	cli(t, "staff", "add", "--data", data, "--id", "admin", "--roles", "admin")
	_, tok, _ := cli(t, "token", "create", "--data", data, "--scopes", "staff,check,self_service,events", "--staff", "admin")
	r.token = strings.TrimSpace(tok)
	_, vkey, _ := cli(t, "audit", "key", "--data", data)
	r.vkey = strings.TrimSpace(vkey)
	r.serveOn(data)

	// A witness in a loop, as a process of its own.
	loopState := t.TempDir()
	var loopOut, loopErr syncBuffer
	loop := exec.Command(bin, "audit", "witness", "--server", r.url, "--key", r.vkey, "--state", loopState, "--every", "100ms")
	loop.Stdout, loop.Stderr = &loopOut, &loopErr
	if err := loop.Start(); err != nil {
		t.Fatal(err)
	}
	loopDone := make(chan error, 1)
	go func() { loopDone <- loop.Wait() }()
	t.Cleanup(func() { loop.Process.Kill() })
	follow := func(size uint64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for r.held(loopState) != size {
			if time.Now().After(deadline) {
				t.Fatalf("the looping witness holds %d leaves, not %d:\n%s\n%s", r.held(loopState), size, loopOut.String(), loopErr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// The log grows in rounds; a witness polling once per round keeps a
	// checkpoint of each (s0 < s1 < s2 = s1+1 < ... < last), the looping one follows.
	state := t.TempDir()
	var sizes []uint64
	round := func(size uint64) {
		t.Helper()
		code, out, errw := r.once(state)
		if code != 0 || r.held(state) != size || !strings.HasPrefix(out, "OK: ") {
			t.Fatalf("witness after the log grew to %d: exit %d, holds %d, %q %q", size, code, r.held(state), out, errw)
		}
		follow(size)
		sizes = append(sizes, size)
	}
	round(r.apply("r0-0", "r0-1", "r0-2"))
	if code, out, errw := r.once(state); code != 0 || out != "" {
		t.Fatalf("a poll with nothing new: %d %q %q", code, out, errw)
	}
	round(r.apply("r1-0", "r1-1", "r1-2"))

	// The server goes away for a while: the looping witness keeps
	// polling, a witness run once says so with exit 2. Meanwhile the
	// database is copied, to be restored later.
	r.stop()
	if code, _, errw := r.once(state); code != 2 || !strings.HasPrefix(errw, "error: unavailable: ") {
		t.Fatalf("a poll with the server down: exit %d, %q; want 2, unavailable", code, errw)
	}
	older := copyDir(t, data)
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-loopDone:
		t.Fatalf("the looping witness stopped when the server went away: %v\n%s", err, loopErr.String())
	default:
	}
	if !strings.Contains(loopErr.String(), "could not be reached") {
		t.Fatalf("the looping witness did not log the unreachable server:\n%s", loopErr.String())
	}
	r.serveOn(data)

	round(r.withdraw("r0-0", "w-1")) // one entry: s2 = s1+1
	round(r.apply("r3-0", "r3-1", "r3-2"))
	r.withdraw("r0-0", "w-2") // r0-0's chain goes on past the leaf rewritten below
	round(r.publish())
	s1, s2, last := sizes[1], sizes[2], sizes[len(sizes)-1]
	if s2 != s1+1 {
		t.Fatalf("one withdrawal made leaves %d to %d, want one", s1, s2-1)
	}
	for _, s := range sizes {
		if _, err := os.Stat(filepath.Join(state, fmt.Sprintf("%d.checkpoint", s))); err != nil {
			t.Fatalf("the witness does not keep the checkpoint of %d leaves: %v", s, err)
		}
	}
	if !strings.Contains(loopOut.String(), "extends the one of") {
		t.Fatalf("the looping witness verified no consistency proof:\n%s", loopOut.String())
	}
	r.stop()
	latest := copyDir(t, data)

	expect := func(name string, code int, errw string, wants ...string) {
		t.Helper()
		if code != 1 || !strings.Contains(errw, "error: failed_precondition: ") {
			t.Fatalf("%s: the witness exited %d: %q; want 1, failed_precondition", name, code, errw)
		}
		for _, w := range wants {
			if !strings.Contains(errw, w) {
				t.Fatalf("%s: the witness says %q; want it to say %q", name, errw, w)
			}
		}
		t.Logf("%s: %s", name, strings.TrimSpace(errw))
	}

	// (a) The newest entries deleted, leaves and checkpoints with them,
	// and each account's head moved back: the log went back to s2.
	truncated := copyDir(t, latest)
	tamper(t, truncated,
		fmt.Sprintf(`DELETE FROM audit WHERE (account, seq) IN (SELECT account, seq FROM tlog_leaves WHERE idx >= %d)`, s2),
		fmt.Sprintf(`DELETE FROM tlog_leaves WHERE idx >= %d`, s2),
		fmt.Sprintf(`DELETE FROM tlog_nodes WHERE (idx + 1) * (1 << level) > %d`, s2),
		fmt.Sprintf(`DELETE FROM tlog_checkpoints WHERE size > %d`, s2),
		`UPDATE accounts SET audit_seq = (SELECT coalesce(max(seq), 0) FROM audit WHERE account = accounts.id),
			audit_hash = coalesce((SELECT hash FROM audit WHERE account = accounts.id ORDER BY seq DESC LIMIT 1), '')`,
	)
	r.serveOn(truncated)
	code, _, errw := r.once(copyDir(t, state))
	expect("tail truncated", code, errw, "went backwards", fmt.Sprintf("first bad leaf %d", s2))
	select {
	case err := <-loopDone:
		expect("tail truncated, looping witness", exitStatus(err), loopErr.String(), "WITNESS ALARM", fmt.Sprintf("first bad leaf %d", s2))
	case <-time.After(10 * time.Second):
		t.Fatalf("the looping witness did not stop on a log that went backwards:\n%s", loopErr.String())
	}

	// (b) The database restored from the copy taken at s1, and new,
	// different entries appended until the log is larger than before.
	restored := copyDir(t, older)
	r.serveOn(restored)
	for i := 0; r.publish() <= last; i++ {
		r.apply(fmt.Sprintf("b-%d", i))
	}
	kept := copyDir(t, state)
	code, _, errw = r.once(kept)
	expect("restored from an older copy", code, errw, "rewritten", fmt.Sprintf("first bad leaf %d", s1))
	if r.held(kept) != last {
		t.Fatalf("the witness kept the refused checkpoint: it holds %d leaves, not %d", r.held(kept), last)
	}

	// (c) One account's chain rewritten from leaf s1 on and re-hashed, its
	// head moved, and the whole tree rebuilt by the server from a queue
	// of every entry in the old order: every chain and every stored
	// checkpoint agree, yet the signed log forked at leaf s1.
	rewritten := copyDir(t, latest)
	rehashFrom(t, rewritten, s1)
	tamper(t, rewritten,
		`INSERT INTO tlog_queue (account, seq) SELECT account, seq FROM tlog_leaves ORDER BY idx`,
		`DELETE FROM tlog_leaves`, `DELETE FROM tlog_nodes`, `DELETE FROM tlog_checkpoints`,
	)
	r.serveOn(rewritten)
	if size := r.publish(); size != last {
		t.Fatalf("the rebuilt log has %d leaves, want %d", size, last)
	}
	code, _, errw = r.once(copyDir(t, state))
	expect("chain re-hashed, tree rebuilt", code, errw, "forked", fmt.Sprintf("first bad leaf %d", s1))

	// A checkpoint signed by another key is refused outright.
	other, otherPub, _ := tlog.GenerateKey("holdfast.audit")
	keyFile := filepath.Join(t.TempDir(), "other.key")
	os.WriteFile(keyFile, []byte(other), 0o600)
	r.stop()
	r.srv = &node{t: t, url: r.url, args: []string{bin, "serve", "--addr", addr, "--data", latest, "--log-level", "error", "--audit-key", keyFile, "--audit-key-rotate"}}
	r.srv.start()
	kept = copyDir(t, state)
	code, _, errw = r.once(kept)
	expect("signed by another key", code, errw, "does not verify with the log's key")
	// Given the new key (a rotation), the witness still holds the old
	// key's checkpoints and finds the re-signed one the same tree.
	if code, out, errw := cli(t, "audit", "witness", "--server", r.url, "--key", otherPub, "--state", kept, "--once"); code != 0 {
		t.Fatalf("the witness after a key rotation: %d %q %q", code, out, errw)
	}
}

// exitStatus is a finished process's exit code.
func exitStatus(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// rehashFrom rewrites the entry at leaf (its reason) in the SQLite file in
// dir and re-hashes the rest of its account's chain, moving the account's
// head: a consistent rewrite that the chains alone do not catch.
func rehashFrom(t *testing.T, dir string, leaf uint64) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	e, err := db.LogEntry(ctx, leaf)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := db.History(ctx, e.Account)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	var stmts []string
	for i := e.Seq - 1; i < int64(len(chain)); i++ {
		c := &chain[i]
		if i == e.Seq-1 {
			c.Reason = "nothing happened here"
		}
		prevSeq, prevHash := int64(0), ""
		if i > 0 {
			prevSeq, prevHash = chain[i-1].Seq, chain[i-1].Hash
		}
		c.Chain(prevSeq, prevHash)
		stmts = append(stmts, fmt.Sprintf(`UPDATE audit SET reason = '%s', prev_hash = '%s', hash = '%s' WHERE account = '%s' AND seq = %d`, c.Reason, c.PrevHash, c.Hash, c.Account, c.Seq))
	}
	head := chain[len(chain)-1]
	stmts = append(stmts, fmt.Sprintf(`UPDATE accounts SET audit_hash = '%s' WHERE id = '%s'`, head.Hash, head.Account))
	tamper(t, dir, stmts...)
	if code, out, errw := cli(t, "audit", "verify", "--data", dir, "--account", e.Account); code != 0 {
		t.Fatalf("the rewritten chain does not verify on its own: %s %s", out, errw)
	}
}

// TestClusterCheckpoints runs three nodes on one PostgreSQL and NATS,
// appending concurrently through each, while every node's checkpoint is
// polled. Every checkpoint collected is then checked with the two public
// libraries alone (not package tlog): its signature, no two of one size
// with different roots, each node's never going backwards, and each
// consistent with every larger one, by proofs from any node.
func TestClusterCheckpoints(t *testing.T) {
	cl := newCluster(t, 3)
	keyFile := cl.nodes[0].args[slices.Index(cl.nodes[0].args, "--audit-key")+1]
	_, vkey, errw := cli(t, "audit", "key", "--audit-key", keyFile, "--data", t.TempDir())
	verifier, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		t.Fatalf("audit key: %v %s", err, errw)
	}

	// Requests carry no deadline: the server would see it and fail the
	// last ones; the loops stop after 5 s instead.
	ctx := context.Background()
	end := time.Now().Add(5 * time.Second)
	running := func() bool { return time.Now().Before(end) }
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		seen      = map[string]bool{} // signed notes collected
		perNode   = make([][]uint64, len(cl.nodes))
		appended  atomic.Int64
		pollFails atomic.Int64
		// pollTimeouts counts polls the node did not answer in time.
		pollTimeouts atomic.Int64
		// firstPollErr says why the first failed poll failed.
		firstPollErr atomic.Value
	)
	for i, n := range cl.nodes {
		c := rpc.NewClients(nil, n.url, cl.token)
		for w := range 3 {
			wg.Go(func() {
				for k := 0; running(); k++ {
					acct := fmt.Sprintf("n%d-w%d-%d", i, w, k)
					var err error
					switch k % 3 {
					case 0:
						_, err = c.Self.PanicLock(ctx, connect.NewRequest(&holdfastv1.PanicLockRequest{Account: acct, Duration: "24h"}))
					case 1:
						_, err = c.Self.Freeze(ctx, connect.NewRequest(&holdfastv1.FreezeRequest{Account: acct, Duration: "24h"}))
					default:
						_, err = c.Restriction.Apply(ctx, connect.NewRequest(&holdfastv1.ApplyRequest{Account: acct, Kind: "reduce_only", Reason: "cluster log"}))
					}
					if err != nil {
						if running() {
							t.Errorf("node %d: %v", i, err)
						}
						return
					}
					appended.Add(1)
				}
			})
		}
		// Publishing on demand logs every entry committed before it
		// began, whatever the other nodes integrate at the same time.
		wg.Go(func() {
			db, err := pgx.Connect(ctx, cl.dsn)
			if err != nil {
				t.Error(err)
				return
			}
			defer db.Close(context.Background())
			for running() {
				var committed uint64
				if err := db.QueryRow(ctx, `SELECT count(*) FROM audit`).Scan(&committed); err != nil {
					t.Error(err)
					return
				}
				msg, err := postPublish(ctx, n.url, cl.token)
				if err != nil {
					t.Errorf("node %d: publish: %v", i, err)
					return
				}
				size, _ := openCheckpoint(t, verifier, msg)
				if size < committed {
					t.Errorf("node %d published a checkpoint of %d leaves, though %d entries were committed before it began", i, size, committed)
				}
				mu.Lock()
				seen[string(msg)] = true
				mu.Unlock()
				time.Sleep(250 * time.Millisecond)
			}
		})
		wg.Go(func() {
			for running() {
				msg, err := getCheckpoint(n.url)
				var netErr net.Error
				if errors.As(err, &netErr) && netErr.Timeout() {
					// A node too busy to answer within the probe's 2 s
					// (the suite runs beside others on 2 cores) says
					// nothing about the log; any answer it gives must
					// be right.
					pollTimeouts.Add(1)
					continue
				}
				if err != nil {
					if pollFails.Add(1) == 1 {
						firstPollErr.Store(fmt.Sprintf("node %d: %v", i, err))
					}
					continue
				}
				if msg == nil {
					continue // nothing published yet
				}
				size, _ := openCheckpoint(t, verifier, msg)
				mu.Lock()
				seen[string(msg)] = true
				perNode[i] = append(perNode[i], size)
				mu.Unlock()
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	// The last appends, published, are the largest checkpoint.
	if code, out, errw := cli(t, "audit", "checkpoint", "--publish", "--server", cl.nodes[1].url, "--token", cl.token); code != 0 {
		t.Fatalf("publish: %s %s", out, errw)
	} else {
		seen[out] = true
	}
	if pollFails.Load() > 0 {
		t.Errorf("%d checkpoint polls failed, the first: %v", pollFails.Load(), firstPollErr.Load())
	}
	if n := pollTimeouts.Load(); n > 0 {
		t.Logf("%d checkpoint polls timed out (busy nodes), not counted", n)
	}
	for i, sizes := range perNode {
		if !slices.IsSorted(sizes) {
			t.Errorf("node %d served checkpoints going backwards: %v", i, sizes)
		}
	}

	roots := map[uint64][]byte{}
	for msg := range seen {
		size, root := openCheckpoint(t, verifier, []byte(msg))
		if r, ok := roots[size]; ok && !bytes.Equal(r, root) {
			t.Fatalf("two checkpoints of %d leaves with different roots", size)
		}
		roots[size] = root
	}
	sizes := slices.Sorted(maps.Keys(roots))
	if len(sizes) < 4 {
		t.Fatalf("only %d distinct checkpoints in 5 s of appends (%d appended): %v", len(sizes), appended.Load(), sizes)
	}
	if last := sizes[len(sizes)-1]; last < uint64(appended.Load()) {
		t.Fatalf("the newest checkpoint has %d leaves, but %d entries were appended", last, appended.Load())
	}
	proofs := 0
	for i, old := range sizes {
		for j, new := range sizes[i+1:] {
			n := cl.nodes[(i+j)%len(cl.nodes)]
			hashes := getConsistency(t, n.url, old, new)
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old, new, hashes, roots[old], roots[new]); err != nil {
				t.Fatalf("the checkpoint of %d leaves is not consistent with the one of %d (proof from %s): %v", old, new, n.url, err)
			}
			proofs++
		}
	}
	t.Logf("%d entries appended through 3 nodes; %d distinct checkpoints (%d..%d leaves), %d consistency proofs verified", appended.Load(), len(sizes), sizes[0], sizes[len(sizes)-1], proofs)
}

// getCheckpoint fetches a node's checkpoint: nil before the first.
func getCheckpoint(url string) ([]byte, error) {
	res, err := probe.Get(url + "/audit/checkpoint")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	switch {
	case err != nil:
		return nil, err
	case res.StatusCode == http.StatusNotFound:
		return nil, nil
	case res.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s: %s", res.Status, b)
	}
	return b, nil
}

// postPublish asks a node to log every queued entry and returns its
// newest checkpoint.
func postPublish(ctx context.Context, url, token string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/audit/publish", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", res.Status, b)
	}
	return b, err
}

// openCheckpoint verifies a signed checkpoint and reads its size and
// root as the C2SP tlog-checkpoint format gives them.
func openCheckpoint(t *testing.T, v note.Verifier, msg []byte) (uint64, []byte) {
	t.Helper()
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		t.Fatalf("checkpoint %q: %v", msg, err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != v.Name() {
		t.Fatalf("checkpoint %q: want origin %s, size and root lines", n.Text, v.Name())
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		t.Fatalf("checkpoint size %q: %v", lines[1], err)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		t.Fatalf("checkpoint root %q: %v", lines[2], err)
	}
	return size, root
}

// getConsistency fetches the proof that the tree of old leaves is a
// prefix of the tree of new leaves.
func getConsistency(t *testing.T, url string, old, new uint64) [][]byte {
	t.Helper()
	res, err := probe.Get(fmt.Sprintf("%s/audit/proof/consistency?old=%d&new=%d", url, old, new))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var p struct{ Hashes [][]byte }
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("consistency %d..%d from %s: %s %s", old, new, url, res.Status, b)
	}
	if err := json.NewDecoder(res.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	return p.Hashes
}
