package blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testMax = 64 << 10

// files lists the regular files under root, relative to it.
func files(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func noTemps(t *testing.T, root string) {
	t.Helper()
	for _, f := range files(t, root) {
		if strings.HasPrefix(filepath.Base(f), tmpPrefix) {
			t.Errorf("temp file left: %s", f)
		}
	}
}

func TestDir(t *testing.T) {
	root := filepath.Join(t.TempDir(), "evidence")
	d, err := NewDir(root, testMax)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(root)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode = %v, want 0700", fi.Mode().Perm())
	}
	testStore(t, d, testMax)
	noTemps(t, root)
	for _, f := range files(t, root) {
		parts := strings.Split(f, string(filepath.Separator))
		if len(parts) != 3 || !ValidKey(parts[2]) || parts[0] != parts[2][0:2] || parts[1] != parts[2][2:4] {
			t.Errorf("file %s is not at ab/cd/<hex>", f)
		}
	}
}

func TestNewDirArgs(t *testing.T) {
	if _, err := NewDir(t.TempDir(), 0); err == nil {
		t.Error("max size 0 accepted")
	}
	if _, err := NewDir("", 10); err == nil {
		t.Error("empty dir accepted")
	}
}

func TestDirLayoutAndDedupe(t *testing.T) {
	root := t.TempDir()
	d, err := NewDir(root, testMax)
	if err != nil {
		t.Fatal(err)
	}
	data := samplePNG(t)
	for range 3 {
		if _, err := d.Put(context.Background(), bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	key := hexOf(data)
	want := filepath.Join(key[0:2], key[2:4], key)
	got := files(t, root)
	if len(got) != 1 || got[0] != want {
		t.Fatalf("files = %v, want [%s]", got, want)
	}
	disk, err := os.ReadFile(filepath.Join(root, want))
	if err != nil || !bytes.Equal(disk, data) {
		t.Fatalf("file on disk differs (err %v)", err)
	}
}

// A text file named x.pdf is refused: the type comes from the content.
func TestDirTypeByContentNotName(t *testing.T) {
	src := filepath.Join(t.TempDir(), "x.pdf")
	if err := os.WriteFile(src, []byte("I am not a PDF, whatever my name says.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	root := t.TempDir()
	d, err := NewDir(root, testMax)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Put(context.Background(), f)
	if !errors.Is(err, ErrType) || !strings.Contains(err.Error(), "text/plain") {
		t.Fatalf("err = %v, want ErrType naming text/plain", err)
	}
	if got := files(t, root); len(got) != 0 {
		t.Fatalf("files left after refused put: %v", got)
	}
}

func TestDirRefusedPutsLeaveNothing(t *testing.T) {
	root := t.TempDir()
	d, err := NewDir(root, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	boom := errors.New("boom")
	for name, r := range map[string]io.Reader{
		"too large":    bytes.NewReader(samplePDF(4096)),
		"type":         strings.NewReader("plain text"),
		"empty":        strings.NewReader(""),
		"reader error": io.MultiReader(bytes.NewReader(samplePDF(100)), errReader{boom}),
	} {
		if _, err := d.Put(ctx, r); err == nil {
			t.Errorf("%s: put accepted", name)
		}
	}
	if got := files(t, root); len(got) != 0 {
		t.Fatalf("files left after refused puts: %v", got)
	}
}

// Too-large content is refused after reading at most maxSize+1 bytes.
func TestDirReadsAtMostMaxPlusOne(t *testing.T) {
	d, err := NewDir(t.TempDir(), 1024)
	if err != nil {
		t.Fatal(err)
	}
	cr := &countReader{r: bytes.NewReader(samplePDF(1 << 20))}
	if _, err := d.Put(context.Background(), cr); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
	if cr.n > 1025 {
		t.Fatalf("read %d bytes, want at most 1025", cr.n)
	}
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestDirDetectsCorruption(t *testing.T) {
	root := t.TempDir()
	d, err := NewDir(root, testMax)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data := samplePDF(10)
	ref, err := d.Put(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	p := d.path(ref.SHA256)
	bad := bytes.Replace(data, []byte("Catalog"), []byte("Katalog"), 1)
	if err := os.WriteFile(p, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	rc, err := d.Open(ctx, ref.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
}
