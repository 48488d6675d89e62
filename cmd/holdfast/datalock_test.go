package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
)

// runBin runs the built binary as its own process and returns its exit
// code and output; one that is still running after 15 s is killed and
// reported as -1.
func runBin(t *testing.T, bin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runCmd(t, exec.Command(bin, args...))
}

// runCmd runs cmd (its stdin, directory and credentials as set) like
// runBin.
func runCmd(t *testing.T, cmd *exec.Cmd) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var out, errw bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() })
	defer stop()
	err := cmd.Wait()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return -1, out.String(), errw.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errw.String()
	case err != nil:
		t.Fatal(err)
	}
	return 0, out.String(), errw.String()
}

// serveLogged starts `holdfast serve` on data, keeping its log.
func serveLogged(t *testing.T, bin, data string) (*node, *syncBuffer) {
	t.Helper()
	addr := freePort(t)
	n := &node{t: t, url: "http://" + addr, cmd: exec.Command(bin, "serve", "--addr", addr, "--data", data)}
	log := &syncBuffer{}
	n.cmd.Stderr = log
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.kill)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if res, err := http.Get(n.url + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return n, log
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready within 20 s:\n%s", log)
		}
	}
}

// TestOneServerPerDataDirectory: a second server on a data directory in
// use (which would never see the first one's writes) refuses to start.
// Commands that write to the directory run in the server, through its
// socket: their changes are the server's at once (a token created works,
// a token revoked is refused on the next call), with standard input and
// relative paths as the CLI has them. A command that writes while another
// command holds the directory refuses; a peer of another user is refused
// by the socket. A killed server's socket is replaced by the next one.
func TestOneServerPerDataDirectory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the admin socket needs SO_PEERCRED (Linux)")
	}
	bin := buildHoldfast(t)
	// A directory other users may enter, for the peer of another uid.
	base, err := os.MkdirTemp("", "holdfast-datalock-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(base, "data")
	sock := filepath.Join(data, adminSocketName)
	first, log := serveLogged(t, bin, data)
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket %s: %v %v; want a socket with mode 0600", sock, fi, err)
	}

	code, _, errw := runBin(t, bin, "serve", "--addr", freePort(t), "--data", data, "--log-level", "error")
	if code <= 0 || !strings.Contains(errw, data) || !strings.Contains(errw, "another Holdfast process") {
		t.Errorf("a second serve on %s: exit %d, stderr %q; want it refused, naming the directory and its holder", data, code, errw)
	}

	// The bootstrap, beside the running server.
	if code, out, errw := runBin(t, bin, "staff", "add", "--data", data, "--id", "admin", "--roles", "admin"); code != 0 || out != "staff member admin has roles admin\n" {
		t.Fatalf("staff add beside the server: exit %d, stdout %q, stderr %q", code, out, errw)
	}
	code, secret, errw := runBin(t, bin, "token", "create", "--data", data, "--scopes", "staff,check", "--staff", "admin")
	if code != 0 || !tokenRE.MatchString(secret) || errw != "" {
		t.Fatalf("token create beside the server: exit %d, stdout %q, stderr %q; want only the token", code, secret, errw)
	}
	secret = strings.TrimSpace(secret)
	check := func() error {
		_, err := rpc.NewClients(nil, first.url, secret).Decision.Check(context.Background(), connect.NewRequest(&holdfastv1.CheckRequest{Account: "u1", Action: "trade"}))
		return err
	}
	if err := check(); err != nil {
		t.Fatalf("the new token on the server: %v", err)
	}
	// Standard input read before the store is opened, and --data relative
	// to the CLI's directory (not the server's).
	const password = "correct horse battery staple"
	pw := exec.Command(bin, "staff", "password", "--data", "data", "--id", "admin")
	pw.Dir, pw.Stdin = base, strings.NewReader(password+"\n")
	if code, out, errw := runCmd(t, pw); code != 0 || !strings.HasPrefix(out, "password set for admin\n") {
		t.Errorf("staff password beside the server, from %s with --data data: exit %d, stdout %q, stderr %q", base, code, out, errw)
	}
	// Revocation, the token on standard input read after the store is
	// opened: refused at once, though the server had cached it.
	if err := check(); err != nil {
		t.Fatalf("the token before revocation: %v", err)
	}
	revoke := exec.Command(bin, "token", "revoke", "--data", data, "--stdin")
	revoke.Stdin = strings.NewReader(secret + "\n")
	if code, out, errw := runCmd(t, revoke); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("token revoke beside the server: exit %d, stdout %q, stderr %q", code, out, errw)
	}
	if err := check(); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("the revoked token on the next call: %v; want unauthenticated", err)
	}
	if code, out, errw := runBin(t, bin, "migrate", "--data", data); code != 0 || out != "the schema is up to date\n" {
		t.Errorf("migrate beside the server: exit %d, stdout %q, stderr %q", code, out, errw)
	}
	if code, out, errw := runBin(t, bin, "audit", "verify", "--data", data); code != 0 || !strings.HasPrefix(out, "OK") {
		t.Errorf("audit verify beside the server: %d %s %s", code, out, errw)
	}
	// A failure in the server is the CLI's, with its code.
	if code, out, errw := runBin(t, bin, "token", "create", "--data", data, "--scopes", "staff", "--staff", "ghost"); code != 1 || out != "" || !strings.HasPrefix(errw, "error: not_found: ") {
		t.Errorf("token create for a missing member beside the server: exit %d, stdout %q, stderr %q; want not_found", code, out, errw)
	}
	l := log.String()
	for _, want := range []string{`"msg":"ran a command from the local socket","command":"holdfast staff add"`, `"command":"holdfast token revoke"`, `"command":"holdfast staff password"`} {
		if !strings.Contains(l, want) {
			t.Errorf("the server's log lacks %s:\n%s", want, l)
		}
	}
	for _, secret := range []string{secret, password} {
		if strings.Contains(l, secret) {
			t.Errorf("the server's log holds a secret (%q):\n%s", secret, l)
		}
	}

	t.Run("another command holds the directory", func(t *testing.T) {
		other := t.TempDir()
		if code, out, errw := runBin(t, bin, "staff", "add", "--data", other, "--id", "admin", "--roles", "admin"); code != 0 {
			t.Fatalf("staff add: %d %s %s", code, out, errw)
		}
		// token revoke --stdin holds the lock while it waits for stdin.
		holder := exec.Command(bin, "token", "revoke", "--data", other, "--stdin")
		in, err := holder.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := holder.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { in.Close(); _ = holder.Wait() }()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if b, _ := os.ReadFile(filepath.Join(other, lockFileName)); strings.Contains(string(b), "token revoke") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("token revoke never took the lock")
			}
		}
		code, out, errw := runBin(t, bin, "staff", "add", "--data", other, "--id", "bob", "--roles", "compliance")
		if code != 1 || out != "" || !strings.HasPrefix(errw, "error: failed_precondition: ") || !strings.Contains(errw, other) || !strings.Contains(errw, "holdfast token revoke") {
			t.Errorf("staff add while token revoke holds %s: exit %d, stdout %q, stderr %q; want refused (failed_precondition, naming the directory and the holder)", other, code, out, errw)
		}
	})

	t.Run("a peer of another user", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("needs root to run the client as nobody")
		}
		// Even with the directory, the lock and the socket opened to
		// everyone, the server refuses a peer that is neither its user
		// nor root.
		for path, mode := range map[string]os.FileMode{data: 0o755, filepath.Join(data, lockFileName): 0o666, sock: 0o666} {
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
		}
		nobodyBin := filepath.Join(base, "holdfast")
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(nobodyBin, b, 0o755); err != nil {
			t.Fatal(err)
		}
		eve := exec.Command(nobodyBin, "staff", "add", "--data", data, "--id", "eve", "--roles", "admin")
		eve.Dir = base
		eve.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		code, out, errw := runCmd(t, eve)
		if code != 1 || out != "" || !strings.HasPrefix(errw, "error: permission_denied: ") {
			t.Errorf("staff add as nobody: exit %d, stdout %q, stderr %q; want permission_denied", code, out, errw)
		}
		if code, _, errw := runBin(t, bin, "token", "create", "--data", data, "--scopes", "staff", "--staff", "eve"); code != 1 || !strings.HasPrefix(errw, "error: not_found: ") {
			t.Errorf("eve was added by nobody: token create for her: exit %d, %s", code, errw)
		}
		if !strings.Contains(log.String(), "refused a command on the local socket") {
			t.Errorf("the server's log does not tell of the refusal:\n%s", log)
		}
	})

	// A killed server leaves its socket; nothing answers there, so a
	// command writes directly, and the next server replaces it.
	first.kill()
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("the killed server's socket: %v", err)
	}
	if code, out, errw := runBin(t, bin, "staff", "add", "--data", data, "--id", "bob", "--roles", "compliance"); code != 0 {
		t.Errorf("staff add after the server was killed: %d %s %s", code, out, errw)
	}
	second, _ := serveLogged(t, bin, data)
	if code, out, errw := runBin(t, bin, "token", "create", "--data", data, "--scopes", "staff", "--staff", "bob"); code != 0 || !tokenRE.MatchString(out) {
		t.Errorf("token create beside the next server: exit %d, stdout %q, stderr %q", code, out, errw)
	}
	_ = second.cmd.Process.Signal(syscall.SIGTERM)
	_ = second.cmd.Wait()
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket after the server stopped: %v; want it removed", err)
	}
}
