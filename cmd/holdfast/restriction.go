package main

import (
	"fmt"
	"io"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
)

// Staff commands: RestrictionService, scope staff.

func applyCmd() *cobra.Command {
	var c client
	var req holdfastv1.ApplyRequest
	var factors string
	var disclose bool
	cmd := &cobra.Command{
		Use:   "apply --account A --kind K [--duration D] [--reason R] [--reference REF]",
		Short: "Apply a restriction (staff)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req.Factors = splitList(factors)
			if cmd.Flags().Changed("disclose") {
				req.Disclose = &disclose
			}
			res, err := c.clients().Restriction.Apply(cmd.Context(), connect.NewRequest(&req))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { printRestriction(w, res.Msg.Restriction) })
		},
	}
	c.flags(cmd)
	f := cmd.Flags()
	f.StringVar(&req.Account, "account", "", "account id")
	f.StringVar(&req.Kind, "kind", "", "restriction kind, e.g. withdrawal_freeze")
	f.StringVar(&req.Duration, "duration", "", "24h, 7d, permanent (default: the kind's default)")
	f.StringVar(&req.Device, "device", "", "device, for step_up_verification")
	f.StringVar(&req.Reason, "reason", "", "why (kept in the audit log)")
	f.StringVar(&factors, "factors", "", "required factors for step_up_verification: email,sms,totp")
	f.BoolVar(&disclose, "disclose", false, "override whether the holder may see it")
	f.StringVar(&req.Reference, "reference", "", "the authority's reference (required for law_enforcement_hold)")
	return cmd
}

// target binds the flags that name a restriction: --restriction, or
// --account and --kind for the newest active one of that kind.
func target(cmd *cobra.Command, account, kind, restriction *string) {
	f := cmd.Flags()
	f.StringVar(restriction, "restriction", "", "restriction id (rst_...)")
	f.StringVar(account, "account", "", "account id (with --kind, instead of --restriction)")
	f.StringVar(kind, "kind", "", "kind of the account's restriction (with --account)")
}

func liftCmd() *cobra.Command {
	var c client
	var req holdfastv1.LiftRequest
	cmd := &cobra.Command{
		Use:   "lift (--restriction ID | --account A --kind K) [--reason R]",
		Short: "End a restriction early, or ask for four-eyes approval (staff)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := c.clients().Restriction.Lift(cmd.Context(), connect.NewRequest(&req))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) {
				if p := res.Msg.Pending; p != nil {
					fmt.Fprintf(w, "pending approval %s: lift %s %s on %s, asked by %s, expires %s\n", p.Id, p.Kind, p.Restriction, p.Account, p.AskedBy, ts(p.ExpiresAt))
					fmt.Fprintf(w, "a second staff member with a qualifying role must run: holdfast approve --request %s\n", p.Id)
					return
				}
				printRestriction(w, res.Msg.Restriction)
			})
		},
	}
	c.flags(cmd)
	target(cmd, &req.Account, &req.Kind, &req.Restriction)
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why (kept in the audit log)")
	return cmd
}

func extendCmd() *cobra.Command {
	var c client
	var req holdfastv1.ExtendRequest
	var untilFlag string
	cmd := &cobra.Command{
		Use:   "extend (--restriction ID | --account A --kind K) (--by D | --until T) [--reason R]",
		Short: "Move a restriction's end: later by a duration, or to a time (staff)",
		Long: `Move a restriction's end: later by a duration, or to a time (staff).

Extending a panic_lock needs --reason. Past the policy's
panic_lock_max_total the end does not move yet: the answer is a pending
four-eyes request that a second, different staff member approves with
holdfast approve --request ID.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if untilFlag != "" {
				t, err := time.Parse(time.RFC3339, untilFlag)
				if err != nil {
					return usageError{holdfast.Errorf(holdfast.InvalidArgument, "until", "--until must be an RFC 3339 time like 2026-12-01T00:00:00Z")}
				}
				req.Until = timestamppb.New(t)
			}
			res, err := c.clients().Restriction.Extend(cmd.Context(), connect.NewRequest(&req))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) {
				if p := res.Msg.Pending; p != nil {
					fmt.Fprintf(w, "pending approval %s: extend %s %s on %s to %s, asked by %s, expires %s\n", p.Id, p.Kind, p.Restriction, p.Account, ts(p.EndsAt), p.AskedBy, ts(p.ExpiresAt))
					fmt.Fprintf(w, "a second staff member with a qualifying role must run: holdfast approve --request %s\n", p.Id)
					return
				}
				printRestriction(w, res.Msg.Restriction)
			})
		},
	}
	c.flags(cmd)
	target(cmd, &req.Account, &req.Kind, &req.Restriction)
	cmd.Flags().StringVar(&req.By, "by", "", "duration to add, e.g. 24h or 2d")
	cmd.Flags().StringVar(&untilFlag, "until", "", "new end, RFC 3339")
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why (kept in the audit log; required for a panic_lock)")
	return cmd
}

func approveCmd() *cobra.Command {
	var c client
	var req holdfastv1.ApproveRequest
	cmd := &cobra.Command{
		Use:   "approve --request ID",
		Short: "Approve another staff member's four-eyes lift or extension request (staff)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := c.clients().Restriction.Approve(cmd.Context(), connect.NewRequest(&req))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { printRestriction(w, res.Msg.Restriction) })
		},
	}
	c.flags(cmd)
	cmd.Flags().StringVar(&req.Request, "request", "", "approval request id (apr_...)")
	return cmd
}

func approvalsCmd() *cobra.Command {
	var c client
	cmd := &cobra.Command{
		Use:   "approvals",
		Short: "List pending four-eyes requests you may act on (staff)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := c.clients().Restriction.ListApprovals(cmd.Context(), connect.NewRequest(&holdfastv1.ListApprovalsRequest{}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { printApprovals(w, res.Msg.Approvals) })
		},
	}
	c.flags(cmd)
	return cmd
}

func getCmd() *cobra.Command {
	var c client
	var req holdfastv1.GetRequest
	cmd := &cobra.Command{
		Use:   "get --restriction ID",
		Short: "Show one restriction (staff)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := c.clients().Restriction.Get(cmd.Context(), connect.NewRequest(&req))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { printRestriction(w, res.Msg.Restriction) })
		},
	}
	c.flags(cmd)
	cmd.Flags().StringVar(&req.Restriction, "restriction", "", "restriction id (rst_...)")
	return cmd
}

func listCmd() *cobra.Command {
	var c client
	var req holdfastv1.ListRequest
	cmd := &cobra.Command{
		Use:   "list [--account A] [--kind K] [--active] [--limit N]",
		Short: "List restrictions, newest first (staff)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := c.clients().Restriction.List(cmd.Context(), connect.NewRequest(&req))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { printRestrictions(w, res.Msg.Restrictions) })
		},
	}
	c.flags(cmd)
	f := cmd.Flags()
	f.StringVar(&req.Account, "account", "", "only this account")
	f.StringVar(&req.Kind, "kind", "", "only this kind")
	f.BoolVar(&req.Active, "active", false, "only restrictions in force or still to come")
	f.Int32Var(&req.Limit, "limit", 0, "at most this many (1–1000, default 100)")
	return cmd
}

func historyCmd() *cobra.Command {
	var c client
	var req holdfastv1.HistoryRequest
	cmd := &cobra.Command{
		Use:   "history --account A",
		Short: "Show an account's audit log (staff)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := c.clients().Restriction.History(cmd.Context(), connect.NewRequest(&req))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) {
				table(w, "SEQ\tAT\tACTOR\tACTION\tRESTRICTION\tPOLICY\tREASON", func(tw io.Writer) {
					for _, e := range res.Msg.Entries {
						fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, ts(e.At), e.Actor, e.Action, firstOf(e.GetRestriction(), "-"), firstOf(decidedBy(e), "-"), e.GetReason())
					}
				})
			})
		},
	}
	c.flags(cmd)
	cmd.Flags().StringVar(&req.Account, "account", "", "account id")
	return cmd
}

// decidedBy is the short hash of the policy version that decided an
// entry's change: a rule's restriction (origin.policy) or a withdrawal
// (policy); "" for everything people decided.
func decidedBy(e *holdfastv1.AuditEntry) string {
	after := e.GetAfter().GetFields()
	v := after["policy"].GetStringValue()
	if v == "" {
		v = after["origin"].GetStructValue().GetFields()["policy"].GetStringValue()
	}
	return v[:min(12, len(v))]
}
