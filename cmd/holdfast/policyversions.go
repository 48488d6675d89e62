package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
)

// Policy versions kept by the server (PolicyService, staff with the role
// compliance or admin for every change).

func policyVersionCmds() []*cobra.Command {
	return []*cobra.Command{policyPushCmd(), policyVersionsCmd(), policyActivationsCmd(), policyActivateCmd(false), policyActivateCmd(true),
		policyDecideCmd(true), policyDecideCmd(false), policyShadowCmd(), policyShadowReportCmd(), policyBacktestCmd()}
}

func shortHash(h string) string { return h[:min(12, len(h))] }

func printVersion(w io.Writer, v *holdfastv1.PolicyVersion) {
	fmt.Fprintf(w, "%s  %-7s  %s by %s", shortHash(v.Hash), v.State, v.CreatedAt.AsTime().UTC().Format(time.RFC3339), v.Author)
	if v.ActivatedAt != nil {
		fmt.Fprintf(w, "  activated %s", v.ActivatedAt.AsTime().UTC().Format(time.RFC3339))
		switch {
		case v.ApprovedBy != "":
			fmt.Fprintf(w, " (asked by %s, approved by %s)", v.RequestedBy, v.ApprovedBy)
		case v.RequestedBy != "":
			fmt.Fprintf(w, " (by %s)", v.RequestedBy)
		}
	}
	if v.Comment != "" {
		fmt.Fprintf(w, "  %q", v.Comment)
	}
	fmt.Fprintln(w)
}

func printActivation(w io.Writer, a *holdfastv1.PolicyActivation) {
	what := "activate"
	if a.Rollback {
		what = "roll back to"
	}
	fmt.Fprintf(w, "%s  %-8s  %s %s, asked by %s at %s: %q", a.Id, a.State, what, shortHash(a.Hash), a.RequestedBy, a.RequestedAt.AsTime().UTC().Format(time.RFC3339), a.Reason)
	if a.DecidedBy != "" {
		fmt.Fprintf(w, "; decided by %s at %s", a.DecidedBy, a.DecidedAt.AsTime().UTC().Format(time.RFC3339))
	}
	fmt.Fprintln(w)
}

func policyPushCmd() *cobra.Command {
	var comment string
	cmd := holderCmd("push FILE", "Store a policy file as a draft version on the server (compliance or admin)",
		func(cmd *cobra.Command, c *client, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return holdfast.Errorf(holdfast.InvalidArgument, "file", "cannot read %s: %v", args[0], err)
			}
			res, err := c.clients().Policy.PushPolicy(cmd.Context(), connect.NewRequest(&holdfastv1.PushPolicyRequest{Yaml: string(b), Comment: comment}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) {
				fmt.Fprintf(w, "pushed %s (draft)\n", res.Msg.Version.Hash)
				fmt.Fprintf(w, "backtest against the active version running: holdfast policy backtest %s\n", shortHash(res.Msg.Version.Hash))
			})
		})
	cmd.Flags().StringVar(&comment, "comment", "", "what the version changes and why")
	return cmd
}

func policyVersionsCmd() *cobra.Command {
	return holderCmd("versions", "List the server's policy versions, newest first",
		func(cmd *cobra.Command, c *client, _ []string) error {
			res, err := c.clients().Policy.ListPolicyVersions(cmd.Context(), connect.NewRequest(&holdfastv1.ListPolicyVersionsRequest{}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) {
				for _, v := range res.Msg.Versions {
					printVersion(w, v)
				}
			})
		})
}

func policyActivationsCmd() *cobra.Command {
	var pending bool
	cmd := holderCmd("activations", "List requests to activate a version, newest first",
		func(cmd *cobra.Command, c *client, _ []string) error {
			res, err := c.clients().Policy.ListPolicyActivations(cmd.Context(), connect.NewRequest(&holdfastv1.ListPolicyActivationsRequest{PendingOnly: pending}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) {
				for _, a := range res.Msg.Activations {
					printActivation(w, a)
				}
			})
		})
	cmd.Flags().BoolVar(&pending, "pending", false, "only those waiting for a decision")
	return cmd
}

func policyActivateCmd(rollback bool) *cobra.Command {
	use, short := "activate VERSION", "Ask for a version to become the active policy; another staff member approves it"
	if rollback {
		use, short = "rollback VERSION", "Ask to return to an earlier active version; another staff member approves it"
	}
	var reason string
	cmd := holderCmd(use, short, func(cmd *cobra.Command, c *client, args []string) error {
		res, err := c.clients().Policy.ActivatePolicy(cmd.Context(), connect.NewRequest(&holdfastv1.ActivatePolicyRequest{Version: args[0], Reason: reason, Rollback: rollback}))
		if err != nil {
			return err
		}
		return c.respond(cmd, res.Msg, func(w io.Writer) {
			printActivation(w, res.Msg.Activation)
			fmt.Fprintf(w, "waiting for a second member of compliance or admin: holdfast policy approve %s\n", res.Msg.Activation.Id)
		})
	})
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; kept in the audit log)")
	return cmd
}

func policyDecideCmd(approve bool) *cobra.Command {
	use, short := "approve ACTIVATION", "Approve another staff member's activation: every node switches to the version"
	if !approve {
		use, short = "reject ACTIVATION", "Reject a waiting activation"
	}
	var reason string
	cmd := holderCmd(use, short, func(cmd *cobra.Command, c *client, args []string) error {
		res, err := c.clients().Policy.DecidePolicyActivation(cmd.Context(), connect.NewRequest(&holdfastv1.DecidePolicyActivationRequest{Id: args[0], Approve: approve, Reason: reason}))
		if err != nil {
			return err
		}
		return c.respond(cmd, res.Msg, func(w io.Writer) { printActivation(w, res.Msg.Activation) })
	})
	cmd.Flags().StringVar(&reason, "reason", "", "why (kept in the audit log)")
	return cmd
}

func policyShadowCmd() *cobra.Command {
	var reason string
	var stop bool
	cmd := holderCmd("shadow [VERSION]", "Shadow a version on live events (never enforced), or --stop",
		func(cmd *cobra.Command, c *client, args []string) error {
			var version string
			switch {
			case stop && len(args) > 0:
				return usagef("give a VERSION or --stop, not both")
			case !stop && len(args) != 1:
				return usagef("name the VERSION to shadow, or --stop")
			case !stop:
				version = args[0]
			}
			res, err := c.clients().Policy.ShadowPolicy(cmd.Context(), connect.NewRequest(&holdfastv1.ShadowPolicyRequest{Version: version, Reason: reason}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) {
				if stop {
					fmt.Fprintln(w, "shadowing stopped")
				} else {
					fmt.Fprintf(w, "shadowing %s\n", version)
				}
			})
		})
	cmd.Args = cobra.MaximumNArgs(1)
	cmd.Flags().StringVar(&reason, "reason", "", "why (kept in the audit log)")
	cmd.Flags().BoolVar(&stop, "stop", false, "stop shadowing")
	return cmd
}

func policyShadowReportCmd() *cobra.Command {
	var since string
	var examples int32
	cmd := holderCmd("shadow-report [VERSION]", "What a shadowed version would have done otherwise on live events, by rule",
		func(cmd *cobra.Command, c *client, args []string) error {
			req := &holdfastv1.ShadowReportRequest{Examples: examples}
			if len(args) == 1 {
				req.Version = args[0]
			}
			if since != "" {
				t, err := parseSince(since)
				if err != nil {
					return err
				}
				req.Since = timestamppb.New(t)
			}
			res, err := c.clients().Policy.ShadowReport(cmd.Context(), connect.NewRequest(req))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) {
				fmt.Fprintf(w, "version %s (%s)\n", shortHash(res.Msg.Version.Hash), res.Msg.Version.State)
				if len(res.Msg.Counts) == 0 {
					fmt.Fprintln(w, "no event was judged otherwise")
				}
				for _, n := range res.Msg.Counts {
					fmt.Fprintf(w, "  %-32s %-16s %d event(s)\n", n.Rule, n.Outcome, n.Events)
				}
				if len(res.Msg.Outcomes) > 0 {
					fmt.Fprintln(w, "newest:")
				}
				for _, o := range res.Msg.Outcomes {
					fmt.Fprintf(w, "  %s  %s %s on %s (%s): %s %s\n", o.At.AsTime().UTC().Format(time.RFC3339), o.Rule, o.Outcome, o.Account, o.EventType, o.Event, o.Then)
				}
			})
		})
	cmd.Args = cobra.MaximumNArgs(1)
	cmd.Flags().StringVar(&since, "since", "", "only outcomes since this time (RFC 3339) or this long ago (24h, 7d)")
	cmd.Flags().Int32Var(&examples, "examples", 20, "how many of the newest outcomes to list (1-500)")
	return cmd
}

// parseSince reads an RFC 3339 time or a duration back from now.
func parseSince(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := holdfast.ParseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, holdfast.Errorf(holdfast.InvalidArgument, "since", "--since is an RFC 3339 time or a duration such as 24h or 7d, not %q", s)
	}
	return time.Now().Add(-d.Std()), nil
}
