package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

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
			v := version
			if v == "" {
				v = "(devel)"
				if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
					v = bi.Main.Version
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "holdfast %s %s\n", v, runtime.Version())
		},
	}
}
