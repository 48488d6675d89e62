package rpc

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Split shares one listener between the HTTP server and grpc-go, as etcd
// does with cmux: a cleartext HTTP/2 connection whose first request is
// gRPC (content-type application/grpc, not gRPC-Web) goes to grpc-go,
// everything else (HTTP/1.1, the Connect protocol over h2c, browsers) to
// the HTTP server. A connection is judged once, by its first request:
// gRPC clients send nothing else on theirs. Until the gRPC side is served
// (its listener's Accept is called) every connection goes to HTTP, where
// connect answers gRPC too.
type Split struct {
	ln       net.Listener
	http     *splitListener
	grpc     *splitListener
	grpcOn   atomic.Bool
	deadline time.Duration
}

// SplitGRPC starts splitting ln's connections; close the HTTP side to
// stop (it closes ln).
func SplitGRPC(ln net.Listener) *Split {
	s := &Split{ln: ln, deadline: 10 * time.Second}
	s.http = newSplitListener(ln, ln.Close)
	s.grpc = newSplitListener(ln, nil)
	go s.run()
	return s
}

// HTTP is the listener for the HTTP server.
func (s *Split) HTTP() net.Listener { return s.http }

// GRPC is the listener for grpc-go; from this call on, gRPC connections
// wait for its Accept.
func (s *Split) GRPC() net.Listener {
	s.grpcOn.Store(true)
	return s.grpc
}

func (s *Split) run() {
	var wait time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil && !errors.Is(err, net.ErrClosed) {
			// Out of file descriptors and the like: wait and retry, as
			// net/http does, rather than stop serving.
			wait = min(max(2*wait, 5*time.Millisecond), time.Second)
			time.Sleep(wait)
			continue
		}
		if err != nil {
			s.http.fail(err)
			s.grpc.fail(err)
			return
		}
		wait = 0
		if !s.grpcOn.Load() {
			s.http.deliver(c)
			continue
		}
		go s.route(c)
	}
}

// route reads as much of c as it takes to judge it, and hands it on with
// those bytes still to be read. A client that sends nothing within the
// deadline goes to HTTP, whose own timeouts then apply.
func (s *Split) route(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(s.deadline))
	seen := &recorder{r: c}
	h2, grpc := judge(seen, c)
	_ = c.SetReadDeadline(time.Time{})
	var conn net.Conn = &prefixConn{Conn: c, prefix: seen.buf.Bytes()}
	switch {
	case grpc:
		s.grpc.deliver(conn)
	case h2:
		s.http.deliver(&ackSkipper{Conn: conn})
	default:
		s.http.deliver(conn)
	}
}

// judge reads from r, the connection's bytes, whether it opens a
// cleartext HTTP/2 connection and whether its first request is gRPC.
// gRPC clients (grpc-go's among them) send their first request only once
// they have the server's SETTINGS: an HTTP/2 client gets an empty one at
// once, written to w, as cmux does; grpc-go ignores the client's
// acknowledgement of it, and ackSkipper hides it from net/http.
func judge(r io.Reader, w io.Writer) (h2, grpc bool) {
	preface := []byte(http2.ClientPreface)
	var got [24]byte
	for n := 0; n < len(preface); {
		m, err := r.Read(got[n:])
		if !bytes.Equal(got[n:n+m], preface[n:n+m]) || err != nil {
			return false, false // HTTP/1.x (or TLS, or nothing)
		}
		n += m
	}
	if err := http2.NewFramer(w, nil).WriteSettings(); err != nil {
		return true, false
	}
	fr := http2.NewFramer(io.Discard, r)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	for range 8 { // SETTINGS, WINDOW_UPDATE, PRIORITY come first
		f, err := fr.ReadFrame()
		if err != nil {
			return true, false
		}
		if h, ok := f.(*http2.MetaHeadersFrame); ok {
			var ct string
			for _, hf := range h.Fields {
				if hf.Name == "content-type" {
					ct = hf.Value
				}
			}
			return true, ct == "application/grpc" || strings.HasPrefix(ct, "application/grpc+") || strings.HasPrefix(ct, "application/grpc;")
		}
	}
	return true, false
}

// ackSkipper drops the client's first SETTINGS acknowledgement, the one
// for the SETTINGS judge wrote (SETTINGS are acknowledged in order), so
// that net/http sees only acknowledgements of its own.
type ackSkipper struct {
	net.Conn
	pending []byte
	started bool // the preface is through
	done    bool // the acknowledgement is dropped
}

func (c *ackSkipper) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		if c.done {
			return c.Conn.Read(p)
		}
		if !c.started {
			c.started = true
			c.pending = make([]byte, len(http2.ClientPreface))
			if _, err := io.ReadFull(c.Conn, c.pending); err != nil {
				return 0, err
			}
			break
		}
		var hdr [9]byte
		if _, err := io.ReadFull(c.Conn, hdr[:]); err != nil {
			return 0, err
		}
		size := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		if http2.FrameType(hdr[3]) == http2.FrameSettings && http2.Flags(hdr[4]).Has(http2.FlagSettingsAck) && size == 0 {
			c.done = true
			continue
		}
		c.pending = make([]byte, 9+size)
		copy(c.pending, hdr[:])
		if _, err := io.ReadFull(c.Conn, c.pending[9:]); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// recorder keeps what it reads.
type recorder struct {
	r   io.Reader
	buf bytes.Buffer
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.buf.Write(p[:n])
	return n, err
}

// prefixConn replays the bytes read to judge the connection.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// splitListener is one side of a Split.
type splitListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	close func() error
	once  sync.Once
	errMu sync.Mutex
	err   error
}

func newSplitListener(ln net.Listener, closeFn func() error) *splitListener {
	return &splitListener{addr: ln.Addr(), conns: make(chan net.Conn), done: make(chan struct{}), close: closeFn}
}

func (l *splitListener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *splitListener) fail(err error) {
	l.errMu.Lock()
	l.err = err
	l.errMu.Unlock()
	l.Close()
}

func (l *splitListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		l.errMu.Lock()
		defer l.errMu.Unlock()
		if l.err != nil {
			return nil, l.err
		}
		return nil, net.ErrClosed
	}
}

func (l *splitListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		if l.close != nil {
			err = l.close()
		}
	})
	return err
}

func (l *splitListener) Addr() net.Addr { return l.addr }
