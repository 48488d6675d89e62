package testnet

import (
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Direction is one way of a relayed connection.
type Direction int

const (
	// Up is from the host to the service.
	Up Direction = iota
	// Down is from the service to the host.
	Down
)

// Forward relays TCP connections from an address on the hosts' side of
// their links to a service on the machine's loopback, with faults the
// test switches on and off. Faults apply to connections already open as
// well as new ones.
type Forward struct {
	ln     net.Listener
	target string

	blocked atomic.Bool
	dropped [2]atomic.Bool
	delay   atomic.Int64 // nanoseconds added to every chunk relayed
	jitter  atomic.Int64 // up to this many more, at random
	loss    atomic.Int64 // chunks in a million held as a lost packet is

	mu    sync.Mutex
	conns map[net.Conn]bool
}

// Forward starts relaying connections to gateway (a Host's Gateway, any
// port) to target, and returns the relay; Addr is where hosts connect.
// It stops when the test ends.
func (n *Net) Forward(gateway, target string) *Forward {
	n.t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(gateway, "0"))
	if err != nil {
		n.t.Fatalf("testnet: forward to %s: %v", target, err)
	}
	f := &Forward{ln: ln, target: target, conns: map[net.Conn]bool{}}
	n.t.Cleanup(f.close)
	go f.serve()
	return f
}

// Addr is the relay's address, for hosts to connect to.
func (f *Forward) Addr() string { return f.ln.Addr().String() }

// Block refuses new connections and closes open ones: the service is
// unreachable, as behind a partition that resets connections.
func (f *Forward) Block() {
	f.blocked.Store(true)
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		c.Close()
	}
}

// Unblock accepts connections again.
func (f *Forward) Unblock() { f.blocked.Store(false) }

// Drop stops relaying d's bytes (they are read and thrown away) until
// Restore: a one-way partition, the other way still flowing.
func (f *Forward) Drop(d Direction) { f.dropped[d].Store(true) }

// Restore relays d's bytes again.
func (f *Forward) Restore(d Direction) { f.dropped[d].Store(false) }

// Delay holds every chunk relayed, either way, for d plus up to jitter
// more; zero removes the delay.
func (f *Forward) Delay(d, jitter time.Duration) {
	f.delay.Store(int64(d))
	f.jitter.Store(int64(jitter))
}

// retransmit is how long a lost chunk is held: TCP's minimum
// retransmission timeout on Linux, after which the sender sends it again.
const retransmit = 200 * time.Millisecond

// Loss holds a fraction p (0 to 1) of the chunks relayed, either way, an
// extra retransmission timeout: what packet loss looks like above TCP,
// which resends what was lost. The kernels this runs on have no netem to
// drop packets below TCP.
func (f *Forward) Loss(p float64) { f.loss.Store(int64(p * 1e6)) }

func (f *Forward) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		if f.blocked.Load() {
			c.Close()
			continue
		}
		go f.relay(c)
	}
}

func (f *Forward) relay(c net.Conn) {
	s, err := net.Dial("tcp", f.target)
	if err != nil {
		c.Close()
		return
	}
	f.track(c, s)
	defer f.untrack(c, s)
	done := make(chan struct{}, 2)
	go func() { f.copy(s, c, Up); done <- struct{}{} }()
	go func() { f.copy(c, s, Down); done <- struct{}{} }()
	<-done // one side ended: end both
}

// copy relays from src to dst in chunks, applying d's faults to each.
func (f *Forward) copy(dst io.Writer, src io.Reader, d Direction) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !f.dropped[d].Load() {
			wait := time.Duration(f.delay.Load())
			if j := f.jitter.Load(); j > 0 {
				wait += time.Duration(rand.Int64N(j))
			}
			if l := f.loss.Load(); l > 0 && rand.Int64N(1e6) < l {
				wait += retransmit
			}
			if wait > 0 {
				time.Sleep(wait)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (f *Forward) track(cs ...net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range cs {
		f.conns[c] = true
	}
}

func (f *Forward) untrack(cs ...net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(f.conns, c)
	}
}

func (f *Forward) close() {
	f.ln.Close()
	f.Block()
}
