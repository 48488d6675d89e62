package blob_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/holdfast/holdfast/blob"
)

// FuzzPut: any upload is stored and read back byte for byte, or refused
// with ErrType or ErrTooLarge; nothing else.
func FuzzPut(f *testing.F) {
	f.Add([]byte("%PDF-1.4\n%%EOF\n"))
	f.Add([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
	f.Add([]byte("\xff\xd8\xff\xe0\x00\x10JFIF"))
	f.Add([]byte("<html><script>"))
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := blob.NewDir(dir, 1<<16)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := s.Put(context.Background(), bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, blob.ErrType) && !errors.Is(err, blob.ErrTooLarge) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		rc, err := s.Open(context.Background(), ref.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		var got bytes.Buffer
		if _, err := got.ReadFrom(rc); err != nil || !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("read back %d bytes (err %v), stored %d", got.Len(), err, len(data))
		}
	})
}
