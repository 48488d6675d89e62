package main

import (
	"fmt"
	"io"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
)

// Holder commands: SelfService. With a self_service token they act as the
// holder (or, for freeze and panic-lock with --as-contact, as that trusted
// contact); with a staff token, as that staff member. The holder's
// security operations are in security.go.

func freezeCmd() *cobra.Command {
	var c client
	var req holdfastv1.FreezeRequest
	var receipt string
	cmd := &cobra.Command{
		Use:   "freeze --account A --duration 24h|48h|7d|permanent [--as-contact ID]",
		Short: "Freeze an account at its holder's request (self_service)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := c.clients().Self.Freeze(cmd.Context(), connect.NewRequest(&req))
			if err != nil {
				return err
			}
			if err := saveReceipt(cmd, receipt, res.Msg.Receipt); err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { printRestriction(w, res.Msg.Restriction) })
		},
	}
	c.flags(cmd)
	cmd.Flags().StringVar(&req.Account, "account", "", "account id")
	cmd.Flags().StringVar(&req.Duration, "duration", "", "24h, 48h, 7d or permanent")
	cmd.Flags().StringVar(&req.TrustedContact, "as-contact", "", "act as this trusted contact of the holder (self_service tokens)")
	receiptFlag(cmd, &receipt)
	return cmd
}

func panicLockCmd() *cobra.Command {
	var c client
	var req holdfastv1.PanicLockRequest
	var receipt string
	cmd := &cobra.Command{
		Use:   "panic-lock --account A [--duration 24h..7d] [--as-contact ID]",
		Short: "Press the panic button: money-out locked; nobody can lift it early (self_service)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := c.clients().Self.PanicLock(cmd.Context(), connect.NewRequest(&req))
			if err != nil {
				return err
			}
			if err := saveReceipt(cmd, receipt, res.Msg.Receipt); err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { printRestriction(w, res.Msg.Restriction) })
		},
	}
	c.flags(cmd)
	cmd.Flags().StringVar(&req.Account, "account", "", "account id")
	cmd.Flags().StringVar(&req.Duration, "duration", "", "24h to 7d (default 7d)")
	cmd.Flags().StringVar(&req.TrustedContact, "as-contact", "", "act as this trusted contact of the holder (self_service tokens)")
	receiptFlag(cmd, &receipt)
	return cmd
}

func requestUnfreezeCmd() *cobra.Command {
	var c client
	var req holdfastv1.RequestUnfreezeRequest
	var receipt string
	cmd := &cobra.Command{
		Use:   "request-unfreeze --account A",
		Short: "Ask to end a self_freeze early (self_service, as the holder)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := c.clients().Self.RequestUnfreeze(cmd.Context(), connect.NewRequest(&req))
			if err != nil {
				return err
			}
			if err := saveReceipt(cmd, receipt, res.Msg.Receipt); err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) {
				fmt.Fprintf(w, "unfreeze requested for %s: once the holder has verified their identity, support can lift the self_freeze\n", req.Account)
			})
		},
	}
	c.flags(cmd)
	cmd.Flags().StringVar(&req.Account, "account", "", "account id")
	receiptFlag(cmd, &receipt)
	return cmd
}

func verifyCmd() *cobra.Command {
	var c client
	var req holdfastv1.VerifyRequest
	var factors string
	cmd := &cobra.Command{
		Use:   "verify --account A --factors email,sms,totp [--device D]",
		Short: "Report factors the holder completed (events, as the identity service)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req.Factors = splitList(factors)
			res, err := c.clients().Self.Verify(cmd.Context(), connect.NewRequest(&req))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) {
				fmt.Fprintf(w, "verified %s; %d step-up(s) ended\n", req.Account, len(res.Msg.Ended))
				for _, r := range res.Msg.Ended {
					printRestriction(w, r)
				}
			})
		},
	}
	c.flags(cmd)
	f := cmd.Flags()
	f.StringVar(&req.Account, "account", "", "account id")
	f.StringVar(&req.Device, "device", "", "only step-ups on this device")
	f.StringVar(&factors, "factors", "", "completed factors: email,sms,totp")
	return cmd
}

func statusCmd() *cobra.Command {
	var c client
	var req holdfastv1.StatusRequest
	cmd := &cobra.Command{
		Use:   "status --account A [--view holder|staff]",
		Short: "Show an account's restrictions and the effect on every action",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := c.clients().Self.Status(cmd.Context(), connect.NewRequest(&req))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { printStatus(w, res.Msg) })
		},
	}
	c.flags(cmd)
	cmd.Flags().StringVar(&req.Account, "account", "", "account id")
	cmd.Flags().StringVar(&req.View, "view", "", "holder (default) or staff (staff tokens only)")
	return cmd
}
