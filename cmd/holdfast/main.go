// Command holdfast runs the Holdfast server and talks to it: `holdfast
// serve` starts the API on an embedded store; the other commands call a
// running server (--server, --token), work on a data directory (staff
// add, token create, audit verify; those that write run in the server
// holding it, if one runs), or run offline (policy,
// simulate, version). See `holdfast --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
