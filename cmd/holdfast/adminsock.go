//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/holdfast/holdfast"
)

// The admin socket: while `holdfast serve` holds an embedded store's data
// directory, a CLI command that writes to the store runs inside the
// server, sent through a Unix socket in that directory. Whoever may reach
// the socket may open the database file anyway; the server also checks
// the peer's uid (SO_PEERCRED): its own, or root.
//
// The protocol is JSON lines. The client sends one adminRequest; the
// server answers with adminFrames: the command's output as it comes, a
// request for standard input when the command first reads it (the client
// then sends its stdin, raw, and closes its side), and last the exit code.

// adminSocketName is the socket's file in the data directory.
const adminSocketName = "holdfast.sock"

type adminRequest struct {
	Args []string `json:"args"`
	Dir  string   `json:"dir"` // the CLI's working directory
}

type adminFrame struct {
	Out   []byte `json:"out,omitempty"`
	Err   []byte `json:"err,omitempty"`
	Stdin bool   `json:"stdin,omitempty"`
	Exit  *int   `json:"exit,omitempty"`
}

// forward runs the command of ctx's invocation in the server holding
// data, prints what it prints and ends with its exit code (an exitCode).
// held is the lock's refusal, returned as it is when no server answers on
// the socket: then the holder is another command.
func forward(ctx context.Context, data string, held error) error {
	inv, _ := ctx.Value(invocationKey{}).(*invocation)
	if inv == nil || inv.dir != "" {
		return held // not run from the command line, or forwarded already
	}
	path := filepath.Join(data, adminSocketName)
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED):
		return held
	case err != nil:
		return holdfast.Errorf(holdfast.FailedPrecondition, "data", "a server holds %s, but its socket does not answer: %v", data, err)
	}
	defer c.Close()
	defer context.AfterFunc(ctx, func() { c.Close() })()
	if inv.stdin.over {
		return holdfast.Errorf(holdfast.FailedPrecondition, "", "more than %d bytes were read from standard input: too many to send to the server holding %s", recordMax, data)
	}
	dir, err := os.Getwd()
	if err != nil {
		return err
	}
	lost := func() error {
		return holdfast.Errorf(holdfast.FailedPrecondition, "", "the server holding %s closed the connection before the command finished (is it stopping?): check whether it took effect before trying again", data)
	}
	// A server that refuses the request may close before reading it: its
	// answer is read all the same.
	_ = json.NewEncoder(c).Encode(adminRequest{Args: inv.args, Dir: dir})
	dec := json.NewDecoder(c)
	sending := false
	for {
		var f adminFrame
		if err := dec.Decode(&f); err != nil {
			return lost()
		}
		if f.Exit != nil {
			return exitCode(*f.Exit)
		}
		if f.Stdin && !sending {
			sending = true
			go sendStdin(c.(*net.UnixConn), inv.stdin)
		}
		_, _ = inv.stdout.Write(f.Out)
		_, _ = inv.stderr.Write(f.Err)
	}
}

// sendStdin sends what the command read of standard input before it was
// forwarded, then the rest.
func sendStdin(c *net.UnixConn, in *recorder) {
	if _, err := c.Write(in.read); err == nil && !in.eof {
		_, _ = io.Copy(c, in.r)
	}
	_ = c.CloseWrite()
}

// adminSocket runs forwarded commands in the server.
type adminSocket struct {
	ln     *net.UnixListener
	path   string
	store  *serverStore
	forget func() // after each command: drop what the server caches of the store
	log    *slog.Logger
	uid    uint32

	mu     sync.Mutex
	conns  map[*net.UnixConn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// listenAdmin serves the admin socket of the data directory whose lock the
// caller holds, running commands on db; stop closes it, ends the
// connections and waits for their commands, before db may close.
func listenAdmin(ctx context.Context, data string, db backend, forget func(), log *slog.Logger) (stop func(), err error) {
	path := filepath.Join(data, adminSocketName)
	// The caller holds the lock: a socket there is a killed server's.
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	a := &adminSocket{ln: ln, path: path, store: &serverStore{db: db, data: data}, forget: forget, log: log,
		uid: uint32(os.Getuid()), conns: map[*net.UnixConn]struct{}{}}
	a.wg.Add(1)
	go a.accept(ctx)
	return a.stop, nil
}

func (a *adminSocket) accept(ctx context.Context) {
	defer a.wg.Done()
	for {
		c, err := a.ln.AcceptUnix()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			a.log.Warn("admin socket: accept", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		a.mu.Lock()
		if a.closed {
			a.mu.Unlock()
			c.Close()
			return
		}
		a.conns[c] = struct{}{}
		a.wg.Add(1)
		a.mu.Unlock()
		go func() {
			defer a.wg.Done()
			a.serve(ctx, c)
			a.mu.Lock()
			delete(a.conns, c)
			a.mu.Unlock()
			c.Close()
		}()
	}
}

func (a *adminSocket) stop() {
	a.ln.Close() // removes the socket file
	a.mu.Lock()
	a.closed = true
	for c := range a.conns {
		c.Close()
	}
	a.mu.Unlock()
	a.wg.Wait()
}

// serve runs one connection's command. The log names the command, never
// its arguments or output (passwords, tokens).
func (a *adminSocket) serve(ctx context.Context, c *net.UnixConn) {
	out := &frames{enc: json.NewEncoder(c)}
	cred, err := peerCred(c)
	if err != nil || (cred.Uid != a.uid && cred.Uid != 0) {
		var uid, pid int64 = -1, -1
		if cred != nil {
			uid, pid = int64(cred.Uid), int64(cred.Pid)
		}
		a.log.Warn("refused a command on the local socket: another user", "uid", uid, "pid", pid, "err", err)
		out.fail(holdfast.Errorf(holdfast.PermissionDenied, "", "only this server's user (uid %d) or root may run commands through %s", a.uid, a.path))
		return
	}
	var req adminRequest
	in := bufio.NewReaderSize(c, 1<<20) // the request's line, then stdin
	line, err := in.ReadSlice('\n')
	if err != nil || json.Unmarshal(line, &req) != nil || !filepath.IsAbs(req.Dir) {
		out.fail(holdfast.Errorf(holdfast.InvalidArgument, "", "malformed request on %s", a.path))
		return
	}
	cmd, _, err := newRoot(io.Discard, io.Discard).Find(req.Args)
	if err != nil || cmd.Annotations[storeCommand] == "" || cmd.Name() == "serve" {
		out.fail(holdfast.Errorf(holdfast.FailedPrecondition, "", "the server runs only the commands that write to its store (is it another version of holdfast?)"))
		return
	}
	stdin := &remoteStdin{f: out, r: io.LimitReader(in, recordMax)}
	code := a.run(context.WithValue(ctx, peerKey{}, peer{uid: cred.Uid, pid: cred.Pid}), cmd.CommandPath(), req, stdin, out)
	// Tokens or staff may have changed: the API reads them again.
	a.forget()
	a.log.Info("ran a command from the local socket", "command", cmd.CommandPath(), "uid", cred.Uid, "pid", cred.Pid, "exit", code)
	_ = out.send(adminFrame{Exit: &code})
}

// run runs the command on the server's store, as the CLI would.
func (a *adminSocket) run(ctx context.Context, name string, req adminRequest, stdin io.Reader, out *frames) (code int) {
	defer func() {
		if p := recover(); p != nil {
			a.log.Error("a command from the local socket panicked", "command", name, "panic", p, "stack", string(debug.Stack()))
			fmt.Fprintln(stream{out, false}, "error: internal: the command failed in the server (see its log)")
			code = 1
		}
	}()
	inv := &invocation{args: req.Args, dir: req.Dir, stdin: &recorder{r: stdin}, stdout: stream{out, true}, stderr: stream{out, false}}
	return runIn(context.WithValue(ctx, serverStoreKey{}, a.store), inv)
}

// peerCred is the connected process's credentials.
func peerCred(c *net.UnixConn) (*syscall.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, credErr
}

// frames writes a connection's frames, from the command and from its
// stdin reader.
type frames struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (f *frames) send(fr adminFrame) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.enc.Encode(fr)
}

// fail ends the connection with err, as the CLI prints it, and exit code 1.
func (f *frames) fail(err error) {
	fmt.Fprintln(stream{f, false}, "error: "+describe(err))
	one := 1
	_ = f.send(adminFrame{Exit: &one})
}

// stream is the command's stdout (out) or stderr.
type stream struct {
	f   *frames
	out bool
}

func (s stream) Write(p []byte) (int, error) {
	fr := adminFrame{Err: p}
	if s.out {
		fr = adminFrame{Out: p}
	}
	if err := s.f.send(fr); err != nil {
		return 0, err
	}
	return len(p), nil
}

// remoteStdin is the client's standard input, asked for on first read.
type remoteStdin struct {
	f     *frames
	r     io.Reader
	asked bool
}

func (in *remoteStdin) Read(p []byte) (int, error) {
	if !in.asked {
		in.asked = true
		if err := in.f.send(adminFrame{Stdin: true}); err != nil {
			return 0, err
		}
	}
	return in.r.Read(p)
}
