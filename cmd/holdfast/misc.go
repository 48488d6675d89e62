package main

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdfast/holdfast/scenario"
)

// version is set at build time (-ldflags "-X main.version=v1.2.3"); else
// the module version the binary was built from.
var version string

func simulateCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "simulate [--json] FILE...",
		Short:              "Run scenario files against the real engine on a virtual clock",
		DisableFlagParsing: true, // the scenario runner parses its own flags
		RunE: func(cmd *cobra.Command, args []string) error {
			if code := scenario.Main(cmd.Context(), args, cmd.OutOrStdout(), cmd.ErrOrStderr()); code != 0 {
				return exitCode(code)
			}
			return nil
		},
	}
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "holdfast %s %s\n", versionString(), runtime.Version())
		},
	}
}

// versionString is the binary's version: set at build time, else the
// module's, else (devel).
func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// healthCmd asks a server whether it is up, or ready for traffic, and
// answers with its exit code: the probe of a container image that has no
// shell or curl (deploy/Dockerfile's HEALTHCHECK).
func healthCmd() *cobra.Command {
	c := &client{}
	var ready bool
	cmd := &cobra.Command{
		Use:   "health [--ready] [--server URL]",
		Short: "Exit 0 if the server is up (/healthz), or ready for traffic (--ready: /readyz); else 1",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := "/healthz"
			if ready {
				path = "/readyz"
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
			defer cancel()
			base, _ := c.endpoint()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
			if err != nil {
				return usagef("--server: %v", err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s answered %s", path, resp.Status)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", path)
			return nil
		},
	}
	cmd.Flags().StringVar(&c.server, "server", "", "server URL (default $HOLDFAST_SERVER or http://127.0.0.1:7433)")
	cmd.Flags().BoolVar(&ready, "ready", false, "ask /readyz: up, caught up with the change feed and holding its locks")
	return cmd
}
