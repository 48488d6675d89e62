package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/policy"
)

func policyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Show and check policy files"}
	var path string
	show := &cobra.Command{
		Use:   "show [--policy FILE]",
		Short: "Print the effective policy (the embedded default, or FILE once it validates)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
	cmd.AddCommand(show, validate)
	return cmd
}
