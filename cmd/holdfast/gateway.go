package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/gateway"
)

func gatewayCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "gateway", Short: "Check the policy's gateway route map"}
	var method, path, file string
	var asJSON bool
	test := &cobra.Command{
		Use:   "test --method METHOD --path PATH [--policy FILE]",
		Short: "Show which route and action a request maps to, or what it gets unmapped",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if method == "" {
				return holdfast.Errorf(holdfast.InvalidArgument, "method", "--method is required")
			}
			if path == "" {
				return holdfast.Errorf(holdfast.InvalidArgument, "path", "--path is required")
			}
			p, err := loadPolicy(file)
			if err != nil {
				return err
			}
			t, err := gateway.Compile(p.Gateway)
			if err != nil {
				return holdfast.Errorf(holdfast.InvalidArgument, "policy", "%v", err)
			}
			d := t.Decide(method, path)
			w := cmd.OutOrStdout()
			if asJSON {
				return printGatewayJSON(cmd, method, path, d)
			}
			switch {
			case d.Mapped:
				fmt.Fprintf(w, "route %d: %s %s\naction: %s\n", d.Route.Index, d.Route.Method, d.Route.Path, d.Action)
			case d.Refused != nil:
				fmt.Fprintf(w, "refused: %v\nverdict: %s\n", d.Refused, d.Verdict)
			default:
				which := "other"
				if holdfast.SafeMethod(method) {
					which = "safe"
				}
				fmt.Fprintf(w, "unmapped (%s)\nverdict: %s\n", which, d.Verdict)
			}
			if d.Path != "" && d.Path != path {
				fmt.Fprintf(w, "matched as: %s\n", d.Path)
			}
			return nil
		},
	}
	test.Flags().StringVar(&method, "method", "", "the request's HTTP method, as sent")
	test.Flags().StringVar(&path, "path", "", "the request's path, as sent (percent-encoded, query allowed)")
	test.Flags().StringVar(&file, "policy", "", "policy file (default: the embedded policy)")
	test.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(test)
	return cmd
}

func printGatewayJSON(cmd *cobra.Command, method, path string, d gateway.Decision) error {
	out := map[string]any{"method": method, "path": path, "mapped": d.Mapped}
	if d.Path != "" {
		out["matched_path"] = d.Path
	}
	if d.Mapped {
		out["route"] = map[string]any{"index": d.Route.Index, "method": d.Route.Method, "path": d.Route.Path}
		out["action"] = d.Action
	} else {
		out["verdict"] = d.Verdict
	}
	if d.Refused != nil {
		out["refused"] = d.Refused.Error()
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
	return err
}
