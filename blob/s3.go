package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config locates an S3-compatible bucket.
type S3Config struct {
	Endpoint             string // host[:port]; an http:// or https:// prefix must agree with UseSSL
	Bucket               string
	Region               string
	AccessKey, SecretKey string
	UseSSL               bool
	Prefix               string // prepended to the hex key to name an object
}

// Object metadata written by Put (minio-go adds the X-Amz-Meta- prefix).
const metaSHA256 = "Sha256"

// memSpool is the most Put keeps in memory before spooling to a temp file.
const memSpool = 8 << 20

// S3 is a Store in an S3-compatible bucket: the content with key k is the
// object Prefix+k, with its content type and SHA-256 stored as metadata.
type S3 struct {
	client  *minio.Client
	bucket  string
	prefix  string
	maxSize int64
}

var _ Store = (*S3)(nil)

// NewS3 returns a store in the bucket cfg names that accepts content of at
// most maxSize bytes. It makes no request: a missing bucket or bad
// credentials show on the first Put or Open.
func NewS3(cfg S3Config, maxSize int64) (*S3, error) {
	if maxSize <= 0 {
		return nil, fmt.Errorf("blob: max size must be > 0, got %d", maxSize)
	}
	if cfg.Bucket == "" {
		return nil, errors.New("blob: s3: empty bucket name")
	}
	endpoint := cfg.Endpoint
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil {
			return nil, fmt.Errorf("blob: s3: endpoint: %w", err)
		}
		if (u.Scheme == "https") != cfg.UseSSL || (u.Scheme != "https" && u.Scheme != "http") {
			return nil, fmt.Errorf("blob: s3: endpoint scheme %q disagrees with UseSSL=%t", u.Scheme, cfg.UseSSL)
		}
		if u.Path != "" && u.Path != "/" {
			return nil, fmt.Errorf("blob: s3: endpoint %q has a path", endpoint)
		}
		endpoint = u.Host
	}
	if endpoint == "" {
		return nil, errors.New("blob: s3: empty endpoint")
	}
	client, err := minio.New(endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: cfg.UseSSL,
		Region: cfg.Region,
		// Auto: virtual-host style where the endpoint is known to support
		// it (AWS), path style elsewhere (MinIO, IP addresses, localhost).
		BucketLookup: minio.BucketLookupAuto,
	})
	if err != nil {
		return nil, fmt.Errorf("blob: s3: %w", err)
	}
	return &S3{client: client, bucket: cfg.Bucket, prefix: cfg.Prefix, maxSize: maxSize}, nil
}

// Put reads the content into memory (or a temp file past 8 MiB) to hash
// and sniff it, then uploads it unless the object already exists.
func (s *S3) Put(ctx context.Context, r io.Reader) (Ref, error) {
	sp := &spool{}
	defer sp.cleanup()
	ref, err := ingest(ctx, r, s.maxSize, sp)
	if err != nil {
		return Ref{}, err
	}
	name := s.prefix + ref.SHA256
	_, err = s.client.StatObject(ctx, s.bucket, name, minio.StatObjectOptions{})
	if err == nil {
		return ref, nil // already stored
	}
	if !isNotFound(err) {
		return Ref{}, fmt.Errorf("blob: s3: stat %s: %w", name, err)
	}
	body, err := sp.reader()
	if err != nil {
		return Ref{}, err
	}
	// A concurrent upload of the same object is harmless: same content.
	_, err = s.client.PutObject(ctx, s.bucket, name, body, ref.Size, minio.PutObjectOptions{
		ContentType:  ref.ContentType,
		UserMetadata: map[string]string{metaSHA256: ref.SHA256},
	})
	if err != nil {
		return Ref{}, fmt.Errorf("blob: s3: put %s: %w", name, err)
	}
	return ref, nil
}

// Open returns the content stored under sha256 (hex; case does not matter).
// The reader returns an error wrapping ErrCorrupt instead of io.EOF if the
// object does not hash to its key.
func (s *S3) Open(ctx context.Context, sha256 string) (io.ReadCloser, error) {
	key := strings.ToLower(sha256)
	if err := checkKey(key); err != nil {
		return nil, err
	}
	name := s.prefix + key
	obj, err := s.client.GetObject(ctx, s.bucket, name, minio.GetObjectOptions{})
	if err == nil {
		// GetObject is lazy: Stat makes the request and reports a missing
		// object.
		_, err = obj.Stat()
		if err != nil {
			obj.Close()
		}
	}
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
		}
		return nil, fmt.Errorf("blob: s3: get %s: %w", name, err)
	}
	return newVerifyReader(obj, key), nil
}

func isNotFound(err error) bool {
	resp := minio.ToErrorResponse(err)
	return resp.Code == "NoSuchKey" || (resp.StatusCode == http.StatusNotFound && resp.Code != "NoSuchBucket")
}

// spool is an io.Writer that keeps up to memSpool bytes in memory and
// moves to a temp file past that.
type spool struct {
	buf  bytes.Buffer
	file *os.File
}

func (s *spool) Write(p []byte) (int, error) {
	if s.file == nil && s.buf.Len()+len(p) > memSpool {
		f, err := os.CreateTemp("", "blob-spool-*")
		if err != nil {
			return 0, err
		}
		s.file = f
		if _, err := f.Write(s.buf.Bytes()); err != nil {
			return 0, err
		}
		s.buf = bytes.Buffer{}
	}
	if s.file != nil {
		return s.file.Write(p)
	}
	return s.buf.Write(p)
}

// reader returns the spooled content from its start; it is an io.ReadSeeker,
// which lets the client sign the payload and retry.
func (s *spool) reader() (io.Reader, error) {
	if s.file == nil {
		return bytes.NewReader(s.buf.Bytes()), nil
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("blob: spool: %w", err)
	}
	return s.file, nil
}

func (s *spool) cleanup() {
	if s.file != nil {
		s.file.Close()
		os.Remove(s.file.Name())
	}
}
