package blob

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
)

const testBucket = "evidence"

// fakeS3 runs a real in-process S3-compatible server (gofakes3, in memory)
// and returns a config pointing at it.
func fakeS3(t *testing.T) (S3Config, *s3mem.Backend) {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(testBucket); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	return S3Config{
		Endpoint:  strings.TrimPrefix(srv.URL, "http://"),
		Bucket:    testBucket,
		Region:    "us-east-1",
		AccessKey: "test-access",
		SecretKey: "test-secret",
		UseSSL:    false,
		Prefix:    "cases/evidence/",
	}, backend
}

func listObjects(t *testing.T, s *S3) []minio.ObjectInfo {
	t.Helper()
	var out []minio.ObjectInfo
	for obj := range s.client.ListObjects(context.Background(), s.bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		out = append(out, obj)
	}
	return out
}

func TestS3(t *testing.T) {
	cfg, _ := fakeS3(t)
	s, err := NewS3(cfg, testMax)
	if err != nil {
		t.Fatal(err)
	}
	testStore(t, s, testMax)
	for _, obj := range listObjects(t, s) {
		if !strings.HasPrefix(obj.Key, cfg.Prefix) || !ValidKey(strings.TrimPrefix(obj.Key, cfg.Prefix)) {
			t.Errorf("object %q is not named prefix+hex", obj.Key)
		}
	}
}

func TestS3MetadataAndDedupe(t *testing.T) {
	cfg, _ := fakeS3(t)
	cfg.Endpoint = "http://" + cfg.Endpoint // a scheme agreeing with UseSSL is accepted
	s, err := NewS3(cfg, testMax)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data := sampleJPEG(t)
	var refs []Ref
	for range 3 {
		ref, err := s.Put(ctx, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	if refs[0] != refs[1] || refs[1] != refs[2] {
		t.Fatalf("refs differ: %v", refs)
	}
	objs := listObjects(t, s)
	if len(objs) != 1 || objs[0].Key != cfg.Prefix+refs[0].SHA256 {
		t.Fatalf("objects = %v, want one named %s", objs, cfg.Prefix+refs[0].SHA256)
	}
	info, err := s.client.StatObject(ctx, s.bucket, cfg.Prefix+refs[0].SHA256, minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.ContentType != TypeJPEG {
		t.Errorf("content type = %q, want %q", info.ContentType, TypeJPEG)
	}
	if got := info.UserMetadata[metaSHA256]; got != refs[0].SHA256 {
		t.Errorf("sha256 metadata = %q (all: %v), want %s", got, info.UserMetadata, refs[0].SHA256)
	}
	if info.Size != int64(len(data)) {
		t.Errorf("size = %d, want %d", info.Size, len(data))
	}
}

// Content past the in-memory spool goes through a temp file.
func TestS3LargeSpooled(t *testing.T) {
	cfg, _ := fakeS3(t)
	const max = memSpool + 1<<20
	s, err := NewS3(cfg, max)
	if err != nil {
		t.Fatal(err)
	}
	data := samplePDF(memSpool + 1000)
	ref, err := s.Put(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if ref.Size != int64(len(data)) || ref.SHA256 != hexOf(data) {
		t.Fatalf("ref = %+v", ref)
	}
	if got := readAll(t, s, ref.SHA256); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
}

func TestS3Corruption(t *testing.T) {
	cfg, _ := fakeS3(t)
	s, err := NewS3(cfg, testMax)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data := samplePDF(0)
	key := hexOf(data)
	// An object stored under a key that is not its hash (not by Put).
	bad := samplePDF(1)
	if _, err := s.client.PutObject(ctx, s.bucket, cfg.Prefix+key, bytes.NewReader(bad), int64(len(bad)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	rc, err := s.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	buf := new(bytes.Buffer)
	if _, err := buf.ReadFrom(rc); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
}

// A missing bucket is an error, not a silent success.
func TestS3MissingBucket(t *testing.T) {
	cfg, _ := fakeS3(t)
	cfg.Bucket = "no-such-bucket"
	s, err := NewS3(cfg, testMax)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Put(ctx, bytes.NewReader(samplePDF(0))); err == nil {
		t.Error("put into a missing bucket succeeded")
	}
	// (Open is not checked: gofakes3 answers a GET in a missing bucket
	// with NoSuchKey where S3 says NoSuchBucket.)
}

func TestNewS3Args(t *testing.T) {
	good := S3Config{Endpoint: "127.0.0.1:9000", Bucket: "b"}
	if _, err := NewS3(good, 10); err != nil {
		t.Fatalf("good config refused: %v", err)
	}
	for name, c := range map[string]struct {
		cfg S3Config
		max int64
	}{
		"max 0":         {good, 0},
		"no bucket":     {S3Config{Endpoint: "127.0.0.1:9000"}, 10},
		"no endpoint":   {S3Config{Bucket: "b"}, 10},
		"https, no SSL": {S3Config{Endpoint: "https://127.0.0.1:9000", Bucket: "b"}, 10},
		"http, SSL":     {S3Config{Endpoint: "http://127.0.0.1:9000", Bucket: "b", UseSSL: true}, 10},
		"endpoint path": {S3Config{Endpoint: "http://127.0.0.1:9000/x", Bucket: "b"}, 10},
		"ftp scheme":    {S3Config{Endpoint: "ftp://127.0.0.1:9000", Bucket: "b"}, 10},
	} {
		if _, err := NewS3(c.cfg, c.max); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSpool(t *testing.T) {
	sp := &spool{}
	defer sp.cleanup()
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	var want bytes.Buffer
	for want.Len() <= memSpool {
		if _, err := sp.Write(chunk); err != nil {
			t.Fatal(err)
		}
		want.Write(chunk)
	}
	if sp.file == nil {
		t.Fatal("spool did not move to a file past memSpool")
	}
	r, err := sp.reader()
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := got.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatal("spooled content differs")
	}
}
