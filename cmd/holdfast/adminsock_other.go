//go:build !linux

package main

import (
	"context"
	"errors"
	"log/slog"
)

// Without SO_PEERCRED there is no admin socket: while a server runs,
// commands that write to its data directory refuse (see forward).

const adminSocketName = "holdfast.sock"

func listenAdmin(context.Context, string, backend, func(), *slog.Logger) (func(), error) {
	return nil, errors.New("not on this system")
}

func forward(_ context.Context, _ string, held error) error { return held }
