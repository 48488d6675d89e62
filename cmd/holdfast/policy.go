package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"

	"connectrpc.com/connect"

	"github.com/spf13/cobra"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/policy"
)

func policyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Show, check and compare policy files; push, shadow and activate versions on the server"}
	var path, version, effective string
	c := &client{}
	show := &cobra.Command{
		Use:   "show [--policy FILE | --effective FILE | --version VERSION]",
		Short: "Print a policy: the embedded default, FILE once it validates, FILE merged onto the default, or a version stored on the server (\"active\": the one in force)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n := len(slices.DeleteFunc([]string{path, version, effective}, func(s string) bool { return s == "" })); n > 1 {
				return usagef("give one of --policy, --effective and --version")
			}
			if effective != "" {
				// What the server would run and store for this file.
				p, err := loadPolicy(effective)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(p.Source)
				return err
			}
			if version != "" {
				if version == "active" {
					version = ""
				}
				res, err := c.clients().Policy.GetPolicyVersion(cmd.Context(), connect.NewRequest(&holdfastv1.GetPolicyVersionRequest{Version: version}))
				if err != nil {
					return err
				}
				_, err = io.WriteString(cmd.OutOrStdout(), res.Msg.Yaml)
				return err
			}
			if path == "" {
				_, err := cmd.OutOrStdout().Write(policy.DefaultYAML())
				return err
			}
			if _, err := loadPolicy(path); err != nil {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	show.Flags().StringVar(&path, "policy", "", "policy file")
	show.Flags().StringVar(&effective, "effective", "", "policy file: print it merged onto the built-in default, as the server stores it")
	show.Flags().StringVar(&version, "version", "", "a version stored on the server: its hash, 8 or more of its first hex digits, or active")
	show.Flags().StringVar(&c.server, "server", "", "server URL (default $HOLDFAST_SERVER or http://127.0.0.1:7433)")
	show.Flags().StringVar(&c.token, "token", "", "bearer token (default $HOLDFAST_TOKEN)")
	validate := &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a policy file; print each problem as FILE:LINE: field: message",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			b, err := os.ReadFile(file)
			if err != nil {
				return holdfast.Errorf(holdfast.InvalidArgument, "file", "cannot read %s: %v", file, err)
			}
			errs := policy.Validate(b)
			for _, e := range errs {
				fmt.Fprintln(cmd.ErrOrStderr(), policy.FormatError(file, e))
			}
			if len(errs) > 0 {
				return exitCode(1)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: OK\n", file)
			return nil
		},
	}
	cmd.AddCommand(show, validate, policyDiffCmd())
	cmd.AddCommand(policyVersionCmds()...)
	return cmd
}

func policyDiffCmd() *cobra.Command {
	var exitCodeFlag bool
	c := &client{} // --json prints the changes as JSON (op, path, old, new, text)
	diff := &cobra.Command{
		Use:   "diff OLD NEW [--json] [--exit-code]",
		Short: "Show what a policy changes against another: rules, thresholds, durations, effects",
		Long: `Compare two policy files by what they do: rules by id (moved, added,
removed, each field), each kind's effect on each action, gateway routes,
lists as members added and removed, every other field by its YAML path.
Comments and layout make no difference. OLD and NEW are files, or
versions stored on the server (a hash, or 8 or more of its first hex
digits). Prints "no differences" when the two are equal. Exits 0, or with --exit-code 1 when the policies differ;
2 when either cannot be read or is invalid (as diff(1) does).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var sides [2]*holdfast.Policy
			for i, ref := range args {
				p, err := policyForDiff(cmd, c, ref)
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "error: "+err.Error())
					return exitCode(2)
				}
				sides[i] = p
			}
			changes := policy.Diff(sides[0], sides[1])
			w := cmd.OutOrStdout()
			switch {
			case c.json:
				if changes == nil {
					changes = []policy.Change{}
				}
				if err := writeJSON(w, struct {
					Changes []policy.Change `json:"changes"`
				}{changes}); err != nil {
					return err
				}
			case len(changes) == 0:
				fmt.Fprintln(w, "no differences")
			default:
				for _, c := range changes {
					fmt.Fprintln(w, c.Text)
				}
			}
			if exitCodeFlag && len(changes) > 0 {
				return exitCode(1)
			}
			return nil
		},
	}
	diff.Flags().BoolVar(&exitCodeFlag, "exit-code", false, "exit 1 when the policies differ")
	c.flags(diff)
	return diff
}

// versionRef is what a stored version's name looks like on the command
// line: 8 to 64 hex digits.
var versionRef = regexp.MustCompile(`^[0-9a-fA-F]{8,64}$`)

// policyForDiff reads one side of `policy diff`: a policy file, which
// must be valid, or a version stored on the server when no file has that
// name; the error is a line to print.
func policyForDiff(cmd *cobra.Command, c *client, ref string) (*holdfast.Policy, error) {
	b, err := os.ReadFile(ref)
	parse := policy.Parse // a file may be an overlay
	if errors.Is(err, os.ErrNotExist) && versionRef.MatchString(ref) {
		res, err := c.clients().Policy.GetPolicyVersion(cmd.Context(), connect.NewRequest(&holdfastv1.GetPolicyVersionRequest{Version: ref}))
		if err != nil {
			return nil, fmt.Errorf("version %s: %v", ref, err)
		}
		b, parse = []byte(res.Msg.Yaml), policy.ParseVersion
	} else if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", ref, err)
	}
	p, err := parse(b)
	if err != nil {
		return nil, errors.New(policy.FormatError(ref, err))
	}
	return p, nil
}
