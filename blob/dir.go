package blob

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// tmpPrefix starts the names of the temp files Put writes in the store's
// root; no blob is ever stored under such a name.
const tmpPrefix = ".tmp-"

// Dir is a Store in a local directory: the content with key k lives in
// dir/k[0:2]/k[2:4]/k.
type Dir struct {
	dir     string
	maxSize int64
}

var _ Store = (*Dir)(nil)

// NewDir returns a store in dir, creating it (mode 0700) if needed, that
// accepts content of at most maxSize bytes.
func NewDir(dir string, maxSize int64) (*Dir, error) {
	if maxSize <= 0 {
		return nil, fmt.Errorf("blob: max size must be > 0, got %d", maxSize)
	}
	if dir == "" {
		return nil, errors.New("blob: empty directory name")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	return &Dir{dir: dir, maxSize: maxSize}, nil
}

func (d *Dir) path(key string) string {
	return filepath.Join(d.dir, key[0:2], key[2:4], key)
}

// Put stores the content read from r. The content is written to a temp file
// in the store's root, hashed while read, synced, read back to check its hash,
// and only then renamed under its key, so a crash never leaves a partial blob
// under a key. Concurrent puts of the same content are safe.
func (d *Dir) Put(ctx context.Context, r io.Reader) (ref Ref, err error) {
	tmp, err := os.CreateTemp(d.dir, tmpPrefix+"*")
	if err != nil {
		return Ref{}, fmt.Errorf("blob: %w", err)
	}
	tmpName := tmp.Name()
	defer func() {
		if tmp != nil {
			tmp.Close()
		}
		if err != nil {
			os.Remove(tmpName)
		}
	}()

	bw := bufio.NewWriterSize(tmp, 64<<10)
	ref, err = ingest(ctx, r, d.maxSize, bw)
	if err != nil {
		return Ref{}, err
	}
	if err = bw.Flush(); err != nil {
		return Ref{}, fmt.Errorf("blob: write: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return Ref{}, fmt.Errorf("blob: sync: %w", err)
	}
	if err = verifyFile(tmp, ref); err != nil {
		return Ref{}, err
	}
	err = tmp.Close()
	tmp = nil
	if err != nil {
		return Ref{}, fmt.Errorf("blob: close: %w", err)
	}

	final := d.path(ref.SHA256)
	if _, serr := os.Stat(final); serr == nil {
		os.Remove(tmpName) // already stored
		return ref, nil
	}
	sub := filepath.Dir(final)
	if err = os.MkdirAll(sub, 0o700); err != nil {
		return Ref{}, fmt.Errorf("blob: %w", err)
	}
	// A rename over a blob stored concurrently is harmless: same content.
	if err = os.Rename(tmpName, final); err != nil {
		return Ref{}, fmt.Errorf("blob: %w", err)
	}
	if err = syncDir(sub); err != nil {
		return Ref{}, err
	}
	return ref, nil
}

// verifyFile reads f from the start and checks it is the content of ref.
func verifyFile(f *os.File, ref Ref) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("blob: seek: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("blob: read back: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != ref.Size || got != ref.SHA256 {
		return fmt.Errorf("blob: written file does not match what was read: %d bytes %s, want %d bytes %s", n, got, ref.Size, ref.SHA256)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("blob: sync dir: %w", err)
	}
	return nil
}

// Open returns the content stored under sha256 (hex; case does not matter).
// The reader returns an error wrapping ErrCorrupt instead of io.EOF if the
// file no longer hashes to its key.
func (d *Dir) Open(ctx context.Context, sha256 string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	key := strings.ToLower(sha256)
	if err := checkKey(key); err != nil {
		return nil, err
	}
	f, err := os.Open(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	return newVerifyReader(f, key), nil
}
