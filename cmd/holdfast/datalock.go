//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/holdfast/holdfast"
)

// lockFileName is the file in a data directory whose exclusive lock says
// which process may write to it: a server for as long as it runs (a second
// one would answer from an index that never sees the first one's writes),
// or a command that writes, while it runs. The lock is the kernel's
// (flock): a process that dies, even by SIGKILL, lets it go.
const lockFileName = "holdfast.lock"

// dataLock is a held lock on a data directory.
type dataLock struct{ f *os.File }

// lockData takes dir's lock, creating dir if missing, or fails with
// failed_precondition naming the process that holds it and what to do
// (advice). holder ("pid N: holdfast serve on ADDR") is written into the
// lock file for that message.
func lockData(dir, holder, advice string) (*dataLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		who, _ := os.ReadFile(path)
		if w := strings.TrimSpace(string(who)); w != "" {
			return nil, holdfast.Errorf(holdfast.FailedPrecondition, "data", "another Holdfast process holds the data directory %s (%s); %s", dir, w, advice)
		}
		return nil, holdfast.Errorf(holdfast.FailedPrecondition, "data", "another Holdfast process holds the data directory %s; %s", dir, advice)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(holder+"\n"), 0)
	}
	return &dataLock{f}, nil
}

// release empties the lock file and lets the lock go.
func (l *dataLock) release() {
	_ = l.f.Truncate(0)
	l.f.Close()
}
