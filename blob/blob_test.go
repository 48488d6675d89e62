package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Real sample files, built the way the formats define them.

func samplePDF(extra int) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	b.WriteString("1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n")
	b.WriteString("2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n")
	b.WriteString("3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >> endobj\n")
	if extra > 0 {
		b.WriteString("% ")
		b.WriteString(strings.Repeat("x", extra))
		b.WriteString("\n")
	}
	b.WriteString("trailer << /Root 1 0 R >>\n%%EOF\n")
	return b.Bytes()
}

func img1x1() image.Image {
	m := image.NewRGBA(image.Rect(0, 0, 1, 1))
	m.Set(0, 0, color.RGBA{R: 200, G: 10, B: 10, A: 255})
	return m
}

func samplePNG(t testing.TB) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img1x1()); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func sampleJPEG(t testing.TB) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img1x1(), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func hexOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func readAll(t testing.TB, s Store, key string) []byte {
	t.Helper()
	rc, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open(%s): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b
}

// testStore runs the checks every Store must pass. s must accept at least
// 64 KiB and at most 256 KiB.
func testStore(t *testing.T, s Store, maxSize int64) {
	ctx := context.Background()
	samples := []struct {
		name, ct string
		data     []byte
	}{
		{"pdf", TypePDF, samplePDF(0)},
		{"png", TypePNG, samplePNG(t)},
		{"jpeg", TypeJPEG, sampleJPEG(t)},
	}
	for _, c := range samples {
		t.Run("roundtrip_"+c.name, func(t *testing.T) {
			ref, err := s.Put(ctx, bytes.NewReader(c.data))
			if err != nil {
				t.Fatal(err)
			}
			want := Ref{SHA256: hexOf(c.data), Size: int64(len(c.data)), ContentType: c.ct}
			if ref != want {
				t.Fatalf("ref = %+v, want %+v", ref, want)
			}
			if got := readAll(t, s, ref.SHA256); !bytes.Equal(got, c.data) {
				t.Fatalf("content differs: %d bytes, want %d", len(got), len(c.data))
			}
			if got := readAll(t, s, strings.ToUpper(ref.SHA256)); !bytes.Equal(got, c.data) {
				t.Fatal("upper-case key: content differs")
			}
		})
	}

	t.Run("dedupe", func(t *testing.T) {
		data := samplePDF(100)
		r1, err := s.Put(ctx, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		r2, err := s.Put(ctx, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if r1 != r2 {
			t.Fatalf("refs differ: %+v vs %+v", r1, r2)
		}
	})

	t.Run("limits", func(t *testing.T) {
		exact := samplePDF(0)
		exact = samplePDF(int(maxSize) - len(exact) - 3)
		if int64(len(exact)) != maxSize {
			t.Fatalf("built %d bytes, want %d", len(exact), maxSize)
		}
		if _, err := s.Put(ctx, bytes.NewReader(exact)); err != nil {
			t.Fatalf("exactly max size: %v", err)
		}
		big := samplePDF(int(maxSize))
		_, err := s.Put(ctx, bytes.NewReader(big))
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("too large: err = %v", err)
		}
		if want := "more than " + strconv.FormatInt(maxSize, 10) + " bytes"; !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not give the limit", err)
		}
		if _, err := s.Open(ctx, hexOf(big)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("refused content was stored: %v", err)
		}
	})

	t.Run("types", func(t *testing.T) {
		for _, c := range []struct {
			name, data, detected string
		}{
			{"empty", "", "empty content"},
			{"text", "just some text, not a PDF\n", `"text/plain; charset=utf-8"`},
			{"gif", "GIF89a\x01\x00\x01\x00\x00\x00\x00;", `"image/gif"`},
			{"html", "<html><body>%PDF-1.4</body></html>", `"text/html; charset=utf-8"`},
			{"zip", "PK\x03\x04" + strings.Repeat("\x00", 40), `"application/zip"`},
		} {
			_, err := s.Put(ctx, strings.NewReader(c.data))
			if !errors.Is(err, ErrType) {
				t.Errorf("%s: err = %v, want ErrType", c.name, err)
				continue
			}
			if !strings.Contains(err.Error(), c.detected) {
				t.Errorf("%s: error %q does not name %s", c.name, err, c.detected)
			}
		}
	})

	t.Run("not_found", func(t *testing.T) {
		for _, key := range []string{
			hexOf([]byte("never stored")),
			"",
			"../../etc/passwd",
			strings.Repeat("g", 64),
			hexOf(nil)[:63],
		} {
			rc, err := s.Open(ctx, key)
			if !errors.Is(err, ErrNotFound) {
				if rc != nil {
					rc.Close()
				}
				t.Errorf("Open(%q): err = %v, want ErrNotFound", key, err)
			}
		}
	})

	t.Run("reader_error", func(t *testing.T) {
		boom := errors.New("boom")
		r := io.MultiReader(bytes.NewReader(samplePDF(1000)), errReader{boom})
		if _, err := s.Put(ctx, r); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want %v", err, boom)
		}
	})

	t.Run("canceled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.Put(cctx, bytes.NewReader(samplePDF(0))); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})

	t.Run("concurrent_same_content", func(t *testing.T) {
		data := samplePDF(5000)
		const n = 16
		refs := make([]Ref, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				refs[i], errs[i] = s.Put(ctx, bytes.NewReader(data))
			})
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("put %d: %v", i, errs[i])
			}
			if refs[i] != refs[0] {
				t.Fatalf("put %d: ref %+v, want %+v", i, refs[i], refs[0])
			}
		}
		if got := readAll(t, s, refs[0].SHA256); !bytes.Equal(got, data) {
			t.Fatal("content differs after concurrent puts")
		}
	})
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestDetectType(t *testing.T) {
	for _, c := range []struct {
		head string
		want string
	}{
		{"%PDF-1.7\n", TypePDF},
		{"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", TypePNG},
		{"\xFF\xD8\xFF\xE0\x00\x10JFIF", TypeJPEG},
		{"%PDF", ""},
		{"\x89PNG", ""},
		{"\xFF\xD8", ""},
		{"x.pdf", ""},
	} {
		got, err := DetectType([]byte(c.head))
		if got != c.want || (c.want == "") != errors.Is(err, ErrType) {
			t.Errorf("DetectType(%q) = %q, %v; want %q", c.head, got, err, c.want)
		}
	}
}

func TestValidKey(t *testing.T) {
	if !ValidKey(hexOf(nil)) {
		t.Error("hash of empty content refused")
	}
	for _, k := range []string{"", strings.ToUpper(hexOf(nil)), hexOf(nil) + "0", "../" + hexOf(nil)[3:]} {
		if ValidKey(k) {
			t.Errorf("ValidKey(%q) = true", k)
		}
	}
}
