package engine

import (
	"context"
	"sync"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/tlog"
	"golang.org/x/mod/sumdb/note"
)

// logBatch bounds the entries one integration logs: on SQLite it runs on
// the single writer, which account updates wait for meanwhile.
const logBatch = 4096

// transparencyLog is the engine's side of the Merkle log: it publishes
// checkpoints (one integration at a time per process) and hands out
// proofs.
type transparencyLog struct {
	signer note.Signer
	vkey   string
	mu     sync.Mutex // one integration at a time in this process
}

// LogVerifierKey returns the public key that verifies this server's
// checkpoints (name+hash+base64), or "" when it signs none.
func (e *Engine) LogVerifierKey() string { return e.tlog.vkey }

// RunLog publishes a checkpoint every interval while entries are queued,
// until ctx ends. A failed integration (the store unreachable) is tried
// again at the next tick; entries wait in the queue meanwhile.
func (e *Engine) RunLog(ctx context.Context, every time.Duration) {
	if e.tlog.signer == nil || every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := e.PublishCheckpoint(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("transparency log: publishing a checkpoint failed; retrying", "err", err)
		}
	}
}

// PublishCheckpoint logs every entry queued before the call and returns
// the newest checkpoint (nil while the log is empty). Entries appended
// meanwhile wait for the next call: under a steady stream of writes,
// draining the queue to empty would integrate (and sign a checkpoint)
// again and again, in small batches, holding the writer the updates
// wait for.
func (e *Engine) PublishCheckpoint(ctx context.Context) (*tlog.Signed, error) {
	if e.tlog.signer == nil {
		return nil, holdfast.Errorf(holdfast.FailedPrecondition, "audit_key", "this server has no audit signing key: it publishes no checkpoints")
	}
	e.tlog.mu.Lock()
	defer e.tlog.mu.Unlock()
	newest, err := e.store.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	for {
		var before uint64
		if newest != nil {
			before = newest.Size
		}
		c, err := e.store.IntegrateLog(ctx, e.tlog.signer, e.clock.Now(), logBatch)
		if err != nil {
			return nil, err
		}
		if c == nil {
			// Nothing waited: another node may have logged it meanwhile.
			return e.store.Checkpoint(ctx)
		}
		newest = c
		// A batch short of the cap took everything queued at its start,
		// which includes everything queued before this call.
		if c.Size-before < logBatch {
			return newest, nil
		}
	}
}

// Checkpoint returns the newest published checkpoint, or nil.
func (e *Engine) Checkpoint(ctx context.Context) (*tlog.Signed, error) {
	return e.store.Checkpoint(ctx)
}

// EntryProof returns an account's audit entry with its leaf, the newest
// checkpoint and the proof that the entry is in it, publishing a
// checkpoint first if the entry still waits to be logged.
func (e *Engine) EntryProof(ctx context.Context, account string, seq int64) (*holdfast.Receipt, error) {
	leaf, ok, err := e.store.LogLeaf(ctx, account, seq)
	if err != nil {
		return nil, err
	}
	if !ok {
		if _, err := e.PublishCheckpoint(ctx); err != nil {
			return nil, err
		}
		if leaf, ok, err = e.store.LogLeaf(ctx, account, seq); err != nil {
			return nil, err
		}
		if !ok {
			return nil, holdfast.Errorf(holdfast.NotFound, "seq", "account %s has no audit entry %d", account, seq)
		}
	}
	entry, err := e.store.LogEntry(ctx, leaf)
	if err != nil {
		return nil, err
	}
	c, err := e.store.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	hashes, err := e.store.LogInclusion(ctx, leaf, c.Size)
	if err != nil {
		return nil, err
	}
	return &holdfast.Receipt{Entry: *entry, Leaf: leaf, Checkpoint: string(c.Note), Proof: hashes}, nil
}

// LogInclusion proves that a leaf is in the tree of size leaves.
func (e *Engine) LogInclusion(ctx context.Context, index, size uint64) ([][]byte, error) {
	return e.store.LogInclusion(ctx, index, size)
}

// LogConsistency proves that the tree of old leaves is a prefix of the
// tree of new leaves.
func (e *Engine) LogConsistency(ctx context.Context, old, new uint64) ([][]byte, error) {
	return e.store.LogConsistency(ctx, old, new)
}

// CheckLogKey makes sure this node signs with the key that signed the
// log's newest checkpoint: a cluster's nodes must share one key, or a
// witness would see checkpoints it cannot verify. With rotate, a
// checkpoint signed by another key is signed again with this node's (the
// operator is rotating the key on purpose).
func (e *Engine) CheckLogKey(ctx context.Context, rotate bool) error {
	if e.tlog.signer == nil {
		return nil
	}
	c, err := e.store.Checkpoint(ctx)
	if err != nil || c == nil {
		return err
	}
	if _, err := tlog.Open(c.Note, e.tlog.vkey); err == nil {
		return nil
	}
	if !rotate {
		return holdfast.Errorf(holdfast.FailedPrecondition, "audit-key",
			"the log's newest checkpoint (%d leaves) was not signed by this node's audit key %s: give every node the same key ($HOLDFAST_AUDIT_KEY or --audit-key), or pass --audit-key-rotate to move the log to this key", c.Size, e.tlog.vkey)
	}
	e.tlog.mu.Lock()
	defer e.tlog.mu.Unlock()
	if _, err := e.store.ResignCheckpoint(ctx, e.tlog.signer); err != nil {
		return err
	}
	e.log.Warn("transparency log: the audit signing key was rotated; give witnesses the new key", "audit_key", e.tlog.vkey, "size", c.Size)
	return nil
}
