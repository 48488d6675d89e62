package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/tlog"
	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"
)

// The transparency log's storage. Every audit entry inserted is queued
// by a trigger (migration 012), in the statement that inserts it: the log
// cannot miss an entry, whatever wrote it, and an account transaction
// pays no round trip for it. IntegrateLog, run by one node at a time,
// gives queued entries their leaf indexes in queue order and stores the
// new nodes (the leaves' hashes too, apart from which entry each leaf is,
// so that moving a leaf's entry shows; above them, every
// tlog.StrataStep-th level) and a signed checkpoint in one transaction.
// Queueing instead of numbering in the account transaction keeps account
// transactions from serialising on one counter row across the cluster
// (each would hold it until its commit's fsync); the store still assigns
// every index, once.

// logKey is the in-process queue key that IntegrateLog's transactions
// take on PostgreSQL, so that one node's integrations never wait on each
// other's row locks.
const logKey = "holdfast:tlog"

// IntegrateLog logs up to max queued entries and publishes the checkpoint
// of the grown tree, signed by signer (whose name is the log's origin).
// It returns nil when nothing was queued.
//
// Another node integrating at the same time makes this one's leaves
// collide with its own: the transaction is tried again on the grown
// tree. Giving up instead would leave entries queued that were committed
// before the caller asked for them to be logged (PublishCheckpoint,
// EntryProof): under READ COMMITTED, the loser waited on the checkpoint
// row, then read the queue after the winner's commit.
func (s *Store) IntegrateLog(ctx context.Context, signer note.Signer, now time.Time, max int) (*tlog.Signed, error) {
	for attempt := 1; ; attempt++ {
		out, err := s.integrate(ctx, signer, now, max)
		if err != nil && s.d.IsUnique(err) && attempt < integrateAttempts {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: integrate the audit log: %w", s.d.Name, err)
		}
		return out, nil
	}
}

// integrateAttempts bounds the tries of one integration: each collision
// means another node logged a batch meanwhile.
const integrateAttempts = 10

func (s *Store) integrate(ctx context.Context, signer note.Signer, now time.Time, max int) (*tlog.Signed, error) {
	var out *tlog.Signed
	err := s.conn.Tx(ctx, logKey, func(q Querier) (bool, error) {
		out = nil
		size, err := s.lockNewest(ctx, q)
		if err != nil {
			return false, err
		}
		type queued struct {
			id        int64
			account   string
			seq       int64
			entryHash string
		}
		var batch []queued
		w := s.waiting()
		err = each(ctx, q, w.next, []any{max}, func(r Row) error {
			var e queued
			err := r.Scan(&e.id, &e.account, &e.seq, &e.entryHash)
			batch = append(batch, e)
			return err
		})
		if err != nil || len(batch) == 0 {
			return false, err
		}
		rng, err := tlog.Frontier(ctx, size, s.nodeReader(q))
		if err != nil {
			return false, err
		}
		var nodes, leaves, ids [][]any
		visit := func(id compact.NodeID, h []byte) {
			if tlog.Stored(id) {
				nodes = append(nodes, []any{id.Level, id.Index, h})
			}
		}
		for _, e := range batch {
			leaf, err := tlog.LeafHash(e.entryHash)
			if err != nil {
				return false, fmt.Errorf("audit %s/%d: %w", e.account, e.seq, err)
			}
			leaves = append(leaves, []any{rng.End(), e.account, e.seq})
			ids = append(ids, []any{e.id})
			if err := rng.Append(leaf, visit); err != nil {
				return false, err
			}
		}
		root, err := rng.GetRootHash(nil)
		if err != nil {
			return false, err
		}
		signed, err := tlog.Sign(tlog.Checkpoint{Origin: signer.Name(), Size: rng.End(), Root: root}, signer)
		if err != nil {
			return false, err
		}
		for _, w := range []struct {
			table, cols string
			rows        [][]any
		}{
			{"tlog_leaves", "idx, account, seq", leaves},
			{"tlog_nodes", "level, idx, hash", nodes},
			{"tlog_checkpoints", "size, at, root, note", [][]any{{signed.Size, now.UnixNano(), root, string(signed.Note)}}},
		} {
			if err := insertMany(ctx, q, w.table, w.cols, w.rows); err != nil {
				return false, err
			}
		}
		if w.done != "" {
			if err := execMany(ctx, q, w.done, ids); err != nil {
				return false, err
			}
		}
		out = signed
		return true, nil
	})
	return out, err
}

// waiting is where entries wait for their leaf, as queries.
type waiting struct {
	// next selects a key, the account, seq and hash of at most ? entries
	// waiting, in the order they are to be logged.
	next string
	// done forgets the keys logged (%s: their tuples); empty when
	// logging them is enough.
	done string
	// count counts the entries waiting.
	count string
	// lost selects the account and seq of at most 10 entries that are
	// neither logged nor waiting: their leaf or their place in the queue
	// was removed.
	lost string
}

func (s *Store) waiting() waiting {
	if !s.d.RowidLog {
		return waiting{
			next: `SELECT q.id, q.account, q.seq, a.hash FROM tlog_queue q
				JOIN audit a ON a.account = q.account AND a.seq = q.seq ORDER BY q.id LIMIT ?`,
			done:  `DELETE FROM tlog_queue WHERE id IN (%s)`,
			count: `SELECT count(*) FROM tlog_queue`,
			lost: `SELECT a.account, a.seq FROM audit a
				WHERE NOT EXISTS (SELECT 1 FROM tlog_leaves l WHERE l.account = a.account AND l.seq = a.seq)
				AND NOT EXISTS (SELECT 1 FROM tlog_queue q WHERE q.account = a.account AND q.seq = a.seq)
				ORDER BY a.account, a.seq LIMIT 10`,
		}
	}
	// The entries after the newest leaf's, by rowid. The newest leaf
	// whose entry still exists: a removed entry is reported by
	// VerifyLog, and must not make the integrator log every entry again.
	const after = `coalesce((SELECT a.rowid FROM tlog_leaves l
		JOIN audit a ON a.account = l.account AND a.seq = l.seq ORDER BY l.idx DESC LIMIT 1), 0)`
	return waiting{
		next:  `SELECT rowid, account, seq, hash FROM audit WHERE rowid > ` + after + ` ORDER BY rowid LIMIT ?`,
		count: `SELECT count(*) FROM audit WHERE rowid > ` + after,
		lost: `SELECT a.account, a.seq FROM audit a WHERE a.rowid <= ` + after + `
			AND NOT EXISTS (SELECT 1 FROM tlog_leaves l WHERE l.account = a.account AND l.seq = a.seq)
			ORDER BY a.account, a.seq LIMIT 10`,
	}
}

// lockNewest locks the newest checkpoint's row, so that another node's
// integration waits. The row locked may have stopped being the newest
// while this one waited: the node holding it committed a new checkpoint
// (a new row). Under READ COMMITTED a fresh read sees it, and then that
// row is locked in turn.
func (s *Store) lockNewest(ctx context.Context, q Querier) (uint64, error) {
	const newest = `SELECT size FROM tlog_checkpoints ORDER BY size DESC LIMIT 1`
	for {
		var locked, now uint64
		err := q.QueryRow(ctx, newest+s.d.ForUpdate).Scan(&locked)
		if err == nil {
			err = q.QueryRow(ctx, newest).Scan(&now)
		}
		if errors.Is(err, ErrNoRows) {
			return 0, nil // no checkpoint yet: the leaves' keys decide
		}
		if err != nil || locked == now {
			return locked, err
		}
	}
}

// batchRows bounds the rows of one multi-row statement (SQLite allows
// 32766 parameters).
const batchRows = 500

// insertMany inserts rows into table, many per statement.
func insertMany(ctx context.Context, q Querier, table, cols string, rows [][]any) error {
	return execMany(ctx, q, `INSERT INTO `+table+` (`+cols+`) VALUES %s`, rows)
}

// execMany runs query once per batch of rows, with %s replaced by the
// batch's parenthesised tuples of placeholders.
func execMany(ctx context.Context, q Querier, query string, rows [][]any) error {
	for len(rows) > 0 {
		n := min(len(rows), batchRows)
		tuple := "(" + strings.Repeat("?, ", len(rows[0])-1) + "?)"
		var args []any
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		stmt := fmt.Sprintf(query, strings.Repeat(tuple+", ", n-1)+tuple)
		if _, err := q.Exec(ctx, stmt, args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// nodeReader reads any complete node on q: the stored ones (every
// tlog.StrataStep-th level) in one statement, the others rehashed from
// them.
func (s *Store) nodeReader(q Querier) tlog.NodeReader {
	return tlog.Strata(s.storedNodes(q))
}

// storedNodes reads stored nodes on q, all in one statement.
func (s *Store) storedNodes(q Querier) tlog.NodeReader {
	return func(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
		if len(ids) == 0 {
			return nil, nil
		}
		// The wanted ids as a table joined to the nodes' key: one index
		// lookup each, where a chain of ORs made PostgreSQL scan.
		tuples := strings.Repeat("(CAST(? AS INTEGER), CAST(? AS BIGINT)), ", len(ids))
		args := make([]any, 0, 2*len(ids))
		for _, id := range ids {
			args = append(args, id.Level, id.Index)
		}
		query := `WITH want (level, idx) AS (VALUES ` + strings.TrimSuffix(tuples, ", ") + `)
			SELECT n.level, n.idx, n.hash FROM want JOIN tlog_nodes n ON n.level = want.level AND n.idx = want.idx`
		found := make(map[compact.NodeID][]byte, len(ids))
		err := each(ctx, q, query, args, func(r Row) error {
			var (
				id compact.NodeID
				h  []byte
			)
			if err := r.Scan(&id.Level, &id.Index, &h); err != nil {
				return err
			}
			found[id] = h
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("%s: read log nodes: %w", s.d.Name, err)
		}
		out := make([][]byte, len(ids))
		for i, id := range ids {
			if out[i] = found[id]; out[i] == nil {
				return nil, fmt.Errorf("%s: log node (level %d, index %d) is missing", s.d.Name, id.Level, id.Index)
			}
		}
		return out, nil
	}
}

// Checkpoint returns the newest published checkpoint, or nil before the
// first.
func (s *Store) Checkpoint(ctx context.Context) (*tlog.Signed, error) {
	var text string
	err := s.conn.Read().QueryRow(ctx, `SELECT note FROM tlog_checkpoints ORDER BY size DESC LIMIT 1`).Scan(&text)
	if errors.Is(err, ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: checkpoint: %w", s.d.Name, err)
	}
	return tlog.ParseNote([]byte(text))
}

// LogInclusion proves that leaf index is in the tree of size leaves.
func (s *Store) LogInclusion(ctx context.Context, index, size uint64) ([][]byte, error) {
	if err := s.published(ctx, size); err != nil {
		return nil, err
	}
	if index >= size {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "index", "leaf %d is not in a tree of %d leaves", index, size)
	}
	return tlog.Inclusion(ctx, index, size, s.nodeReader(s.conn.Read()))
}

// LogConsistency proves that the tree of old leaves is a prefix of the
// tree of new leaves.
func (s *Store) LogConsistency(ctx context.Context, old, new uint64) ([][]byte, error) {
	if err := s.published(ctx, new); err != nil {
		return nil, err
	}
	if old > new {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "old", "old size %d is larger than new size %d", old, new)
	}
	return tlog.Consistency(ctx, old, new, s.nodeReader(s.conn.Read()))
}

// published checks that the log has at least size leaves.
func (s *Store) published(ctx context.Context, size uint64) error {
	c, err := s.Checkpoint(ctx)
	if err != nil {
		return err
	}
	if c == nil || c.Size < size {
		have := uint64(0)
		if c != nil {
			have = c.Size
		}
		return holdfast.Errorf(holdfast.InvalidArgument, "size", "the log has %d leaves, not %d", have, size)
	}
	return nil
}

// LogLeaf returns the leaf index of an account's entry; ok is false while
// the entry waits in the queue (or does not exist).
func (s *Store) LogLeaf(ctx context.Context, account string, seq int64) (index uint64, ok bool, err error) {
	err = s.conn.Read().QueryRow(ctx, `SELECT idx FROM tlog_leaves WHERE account = ? AND seq = ?`, account, seq).Scan(&index)
	if errors.Is(err, ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("%s: leaf of %s/%d: %w", s.d.Name, account, seq, err)
	}
	return index, true, nil
}

// LogEntry returns the entry at a leaf.
func (s *Store) LogEntry(ctx context.Context, index uint64) (*holdfast.AuditEntry, error) {
	var e holdfast.AuditEntry
	err := s.conn.Read().QueryRow(ctx, `SELECT `+qualified("a.", auditCols)+` FROM tlog_leaves l JOIN audit a ON a.account = l.account AND a.seq = l.seq WHERE l.idx = ?`, index).Scan(auditFields(&e)...)
	if errors.Is(err, ErrNoRows) {
		return nil, holdfast.Errorf(holdfast.NotFound, "index", "leaf %d is not in the log", index)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: entry at leaf %d: %w", s.d.Name, index, err)
	}
	return &e, nil
}

// qualified qualifies each of a comma-separated column list.
func qualified(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

// VerifyLog rebuilds the tree from the audit entries, in leaf order, and
// checks it against what the store holds and against kept (checkpoints
// the caller kept outside the store):
//
//   - every leaf index from 0 is there, and names an entry that exists;
//   - each leaf is the hash of its entry as the entry is now (an entry
//     replaced by a re-hashed one, or leaves reordered, fail here while
//     the stored leaves are intact);
//   - the rebuilt root at every stored checkpoint's size is that
//     checkpoint's (a consistent rewrite of entries and nodes fails here);
//   - the rebuilt root at each kept checkpoint's size is that
//     checkpoint's: a rewrite of everything the database holds, a
//     truncation or a restore from an older copy fails here, since those
//     checkpoints live outside it;
//   - every entry is logged or still queued.
//
// A rewrite that left no trace inside the store is located only between
// kept checkpoints: the problem names the size of the largest kept
// checkpoint that still matches (0 if none), the first leaf that can
// differ. vkey, when set, also checks the stored checkpoints' signatures.
func (s *Store) VerifyLog(ctx context.Context, kept []tlog.Checkpoint, vkey string) (*holdfast.LogReport, error) {
	rep := &holdfast.LogReport{Problems: []holdfast.LogProblem{}}
	bad := func(leaf uint64, format string, args ...any) {
		rep.Problems = append(rep.Problems, holdfast.LogProblem{Leaf: leaf, Problem: fmt.Sprintf(format, args...)})
	}
	// exact is the first leaf found wrong by itself; a root that differs
	// after it says nothing more.
	exact := uint64(math.MaxUint64)
	badLeaf := func(leaf uint64, format string, args ...any) {
		exact = min(exact, leaf)
		bad(leaf, format, args...)
	}
	type target struct {
		size uint64
		root []byte
		kept bool // kept outside the store, so trusted
	}
	var targets []target
	err := each(ctx, s.conn.Read(), `SELECT size, root, note FROM tlog_checkpoints ORDER BY size`, nil, func(r Row) error {
		var (
			c    target
			text string
		)
		if err := r.Scan(&c.size, &c.root, &text); err != nil {
			return err
		}
		if vkey != "" {
			if sc, err := tlog.Open([]byte(text), vkey); err != nil {
				bad(c.size, "stored checkpoint of %d leaves: %v", c.size, err)
			} else if sc.Size != c.size || string(sc.Root) != string(c.root) {
				bad(c.size, "stored checkpoint of %d leaves: its signed note says otherwise", c.size)
			}
		}
		targets = append(targets, c)
		rep.Checkpoints++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: verify log: checkpoints: %w", s.d.Name, err)
	}
	for _, c := range kept {
		targets = append(targets, target{c.Size, c.Root, true})
	}
	rng := tlog.NewRange()
	var good uint64 // the largest kept checkpoint the rebuilt tree matches
	// check compares the rebuilt root with every target of the size the
	// tree has just reached.
	check := func() error {
		for _, c := range targets {
			if c.size != rng.End() {
				continue
			}
			root, err := rng.GetRootHash(nil)
			if err != nil {
				return err
			}
			switch {
			case exact < c.size:
			case string(root) == string(c.root) && c.kept:
				good = c.size
			case string(root) != string(c.root) && c.kept:
				still := "none of your checkpoints before it matches"
				if good > 0 {
					still = fmt.Sprintf("your checkpoint of %d leaves still matches", good)
				}
				bad(good, "the tree of the first %d leaves does not match your checkpoint of that size: a leaf from %d to %d was rewritten, removed or reordered (%s)", c.size, good, c.size-1, still)
			case string(root) != string(c.root):
				bad(good, "the tree of the first %d leaves does not match the stored checkpoint of that size: a leaf before %d was rewritten", c.size, c.size)
			}
		}
		return nil
	}
	if err := check(); err != nil { // the empty tree
		return nil, err
	}
	q := `SELECT l.idx, l.account, l.seq, a.hash, n.hash FROM tlog_leaves l
		LEFT JOIN audit a ON a.account = l.account AND a.seq = l.seq
		LEFT JOIN tlog_nodes n ON n.level = 0 AND n.idx = l.idx
		ORDER BY l.idx`
	err = each(ctx, s.conn.Read(), q, nil, func(r Row) error {
		var (
			idx       uint64
			account   string
			seq       int64
			entryHash sql.NullString
			leaf      []byte
		)
		if err := r.Scan(&idx, &account, &seq, &entryHash, &leaf); err != nil {
			return err
		}
		if idx != rng.End() {
			badLeaf(rng.End(), "leaf %d is missing from the log (the next is %d)", rng.End(), idx)
			return errStopVerify
		}
		var h []byte
		switch {
		case !entryHash.Valid:
			badLeaf(idx, "leaf %d is entry %d of account %s, which no longer exists", idx, seq, account)
		default:
			var err error
			if h, err = tlog.LeafHash(entryHash.String); err != nil {
				badLeaf(idx, "leaf %d: %v", idx, err)
			} else if leaf != nil && string(h) != string(leaf) {
				badLeaf(idx, "leaf %d is not entry %d of account %s as it is now: the entry was replaced or moved", idx, seq, account)
			}
		}
		if leaf == nil {
			badLeaf(idx, "leaf %d's hash is missing from the tree", idx)
		}
		if h == nil {
			h = leaf
		}
		if h == nil {
			return errStopVerify
		}
		if err := rng.Append(h, nil); err != nil {
			return err
		}
		rep.Leaves++
		return check()
	})
	if err != nil && !errors.Is(err, errStopVerify) {
		return nil, fmt.Errorf("%s: verify log: %w", s.d.Name, err)
	}
	for _, c := range targets {
		if c.size > rep.Leaves {
			badLeaf(max(rep.Leaves, good), "the log has %d leaves but a checkpoint has %d: leaves %d onwards were removed, or the store was restored from an older copy", rep.Leaves, c.size, rep.Leaves)
			break
		}
	}
	w := s.waiting()
	if err := s.conn.Read().QueryRow(ctx, w.count).Scan(&rep.Queued); err != nil {
		return nil, fmt.Errorf("%s: verify log: queue: %w", s.d.Name, err)
	}
	err = each(ctx, s.conn.Read(), w.lost, nil, func(r Row) error {
		var (
			account string
			seq     int64
		)
		if err := r.Scan(&account, &seq); err != nil {
			return err
		}
		badLeaf(rep.Leaves, "entry %d of account %s is neither in the log nor waiting to be logged: its leaf or its place in the queue was removed", seq, account)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: verify log: unlogged entries: %w", s.d.Name, err)
	}
	rep.Sort()
	return rep, nil
}

var errStopVerify = errors.New("stop")

// ResignCheckpoint signs the newest checkpoint again with signer, after a
// key rotation, so that the log's current tree head verifies with the
// new key before anything new is appended.
func (s *Store) ResignCheckpoint(ctx context.Context, signer note.Signer) (*tlog.Signed, error) {
	c, err := s.Checkpoint(ctx)
	if err != nil || c == nil {
		return c, err
	}
	signed, err := tlog.Sign(tlog.Checkpoint{Origin: signer.Name(), Size: c.Size, Root: c.Root}, signer)
	if err != nil {
		return nil, err
	}
	err = s.conn.Write(ctx, func(q Querier) error {
		_, err := q.Exec(ctx, `UPDATE tlog_checkpoints SET note = ? WHERE size = ?`, string(signed.Note), c.Size)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: sign the checkpoint again: %w", s.d.Name, err)
	}
	return signed, nil
}
