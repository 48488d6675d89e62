package main

import (
	"fmt"
	"io"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
)

func checkCmd() *cobra.Command {
	var c client
	var req holdfastv1.CheckRequest
	cmd := &cobra.Command{
		Use:   "check --account A --action X",
		Short: "Ask whether an account may do an action now (scope check)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := c.clients().Decision.Check(cmd.Context(), connect.NewRequest(&req))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { printDecision(w, res.Msg) })
		},
	}
	c.flags(cmd)
	f := cmd.Flags()
	f.StringVar(&req.Account, "account", "", "account id")
	f.StringVar(&req.Action, "action", "", "login, view, trade, reduce_position, withdraw, internal_transfer, p2p_trade, add_withdrawal_address, create_api_key, api_access, deposit or change_security_settings")
	f.StringVar(&req.Device, "device", "", "device id")
	f.StringVar(&req.Session, "session", "", "session id")
	f.StringVar(&req.ApiKey, "api-key", "", "API key id")
	f.StringVar(&req.Ip, "ip", "", "client IP")
	f.StringVar(&req.View, "view", "", "staff (default) or holder")
	return cmd
}

func authorizeWithdrawalCmd() *cobra.Command {
	var c client
	var req holdfastv1.AuthorizeWithdrawalRequest
	cmd := &cobra.Command{
		Use:   "authorize-withdrawal --account A --id ID --asset X --amount N --address ADDR",
		Short: "Authorize one withdrawal, idempotently by id (scope check)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := c.clients().Decision.AuthorizeWithdrawal(cmd.Context(), connect.NewRequest(&req))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) {
				m := res.Msg
				fmt.Fprintf(w, "%s withdrawal %s: %s %s from %s to %s (decided %s)\n", m.Outcome, m.Id, m.Amount, m.Asset, m.Account, m.Address, ts(m.DecidedAt))
				printCauses(w, m.Causes)
			})
		},
	}
	c.flags(cmd)
	f := cmd.Flags()
	f.StringVar(&req.Account, "account", "", "account id")
	f.StringVar(&req.Id, "id", "", "withdrawal id (the idempotency key)")
	f.StringVar(&req.Asset, "asset", "", "asset, e.g. USDT")
	f.StringVar(&req.Amount, "amount", "", "amount as a decimal, e.g. 150000 or 0.25")
	f.StringVar(&req.UsdValue, "usd-value", "", "value in USD, decimal")
	f.StringVar(&req.Address, "address", "", "destination address")
	f.StringVar(&req.AvailableBalance, "available-balance", "", "balance available before the withdrawal, decimal")
	f.StringVar(&req.View, "view", "", "staff (default) or holder: the causes the holder may be shown")
	return cmd
}
