//go:build !unix

package main

import "github.com/holdfast/holdfast"

const lockFileName = "holdfast.lock"

type dataLock struct{}

// lockData fails: without a lock, two processes could serve one data
// directory, and one of them would answer from a stale index.
func lockData(dir, _, _ string) (*dataLock, error) {
	return nil, holdfast.Errorf(holdfast.FailedPrecondition, "data", "cannot lock the data directory %s on this system", dir)
}

func (l *dataLock) release() {}
