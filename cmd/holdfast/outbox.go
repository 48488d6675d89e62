package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/rpc"
	"github.com/holdfast/holdfast/sqlite"
	"github.com/holdfast/holdfast/webhook"
)

// Outbox delivery: the serve command's webhook settings, the deliverer it
// runs, and the commands with which an operator lists and redrives the
// outbox of a data directory.

// webhookSecretEnv holds the signing secret. It is never a flag, so that it
// stays out of ps and shell history.
const webhookSecretEnv = "HOLDFAST_WEBHOOK_SECRET"

// delivery holds the serve command's webhook flags.
type delivery struct {
	url string
}

func (d *delivery) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&d.url, "webhook-url", "",
		"deliver outbox commands as signed webhooks to this URL, with the secret from $"+webhookSecretEnv+" (default: none; commands stay pending)")
}

// startDelivery runs a webhook deliverer on db's outbox until ctx ends;
// stop ends it and waits. Without a URL it runs nothing. Errors:
// invalid_argument (URL, missing or short secret).
func startDelivery(ctx context.Context, db *sqlite.DB, d *delivery, log *slog.Logger) (stop func(), err error) {
	if d.url == "" {
		log.Info("webhook delivery is off: outbox commands stay pending until it is configured (--webhook-url)")
		return func() {}, nil
	}
	secret := os.Getenv(webhookSecretEnv)
	if secret == "" {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "webhook-url", "--webhook-url needs the signing secret in $%s", webhookSecretEnv)
	}
	dl, err := webhook.New(outbox{db}, webhook.Config{URL: d.url, Secret: []byte(secret), Logger: log})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		dl.Run(ctx)
	}()
	log.Info("webhook delivery is on", "url", dl.Target())
	return func() { cancel(); <-done }, nil
}

// outbox is the SQLite store as the deliverer's webhook.Outbox.
type outbox struct{ db *sqlite.DB }

func (o outbox) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]webhook.Delivery, error) {
	ds, err := o.db.ClaimCommands(ctx, now, lease, limit)
	out := make([]webhook.Delivery, len(ds))
	for i, d := range ds {
		out[i] = webhook.Delivery{Command: d.Command, Attempts: d.Attempts, Lease: d.LeaseUntil}
	}
	return out, err
}

func (o outbox) Complete(ctx context.Context, id string, at time.Time) error {
	return o.db.CompleteCommand(ctx, id, at)
}

func (o outbox) Fail(ctx context.Context, d webhook.Delivery, at time.Time, reason string, retryAt time.Time) error {
	return o.db.FailCommand(ctx, d.Command.ID, d.Lease, at, reason, retryAt)
}

// outboxCmd lists and redrives the commands of a data directory's outbox,
// with or without a running server.
func outboxCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "outbox", Short: "See and redrive commands to other services (webhooks)"}
	var data, state string
	var limit int
	var asJSON bool
	list := &cobra.Command{
		Use:   "list [--state pending|delivered|dead] [--limit N] --data DIR",
		Short: "List outbox commands, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := openData(cmd.Context(), data, true)
			if err != nil {
				return err
			}
			defer db.Close()
			ds, err := db.ListCommands(cmd.Context(), sqlite.CommandState(state), limit)
			if err != nil {
				return err
			}
			if asJSON {
				return printDeliveries(cmd.OutOrStdout(), ds)
			}
			table(cmd.OutOrStdout(), "ID\tSTATE\tTYPE\tACCOUNT\tATTEMPTS\tNEXT/DELIVERED\tLAST ERROR", func(tw io.Writer) {
				for _, d := range ds {
					when := d.NextAt
					if d.State == sqlite.CommandDelivered {
						when = d.DeliveredAt
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.Command.ID, d.State, d.Command.Type, d.Command.Account,
						d.Attempts, when.Format(time.RFC3339), d.LastError)
				}
			})
			return nil
		},
	}
	list.Flags().StringVar(&state, "state", "", "only commands in this state: pending, delivered or dead")
	list.Flags().IntVar(&limit, "limit", 50, "at most this many (0: all)")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	redrive := &cobra.Command{
		Use:   "redrive ID --data DIR",
		Short: "Make a dead (or waiting) command due now, with a fresh count of attempts if dead",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := openData(cmd.Context(), data, true)
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.RedriveCommand(cmd.Context(), args[0], time.Now().UTC()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "command %s is due now\n", args[0])
			return nil
		},
	}
	for _, c := range []*cobra.Command{list, redrive} {
		c.Flags().StringVar(&data, "data", defaultData, "data directory")
		cmd.AddCommand(c)
	}
	return cmd
}

// printDeliveries prints ds as a JSON array.
func printDeliveries(w io.Writer, ds []sqlite.Delivery) error {
	type view struct {
		holdfast.Command
		State         sqlite.CommandState `json:"state"`
		Attempts      int                 `json:"attempts"`
		NextAt        time.Time           `json:"next_at,omitzero"`
		LeaseUntil    time.Time           `json:"lease_until,omitzero"`
		LastError     string              `json:"last_error,omitempty"`
		LastAttemptAt time.Time           `json:"last_attempt_at,omitzero"`
		DeliveredAt   time.Time           `json:"delivered_at,omitzero"`
	}
	out := make([]view, len(ds))
	for i, d := range ds {
		out[i] = view{d.Command, d.State, d.Attempts, d.NextAt, d.LeaseUntil, d.LastError, d.LastAttemptAt, d.DeliveredAt}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// staffOutbox adapts the SQLite store's outbox to what the API shows staff.
type staffOutbox struct{ db *sqlite.DB }

func (o staffOutbox) ListCommands(ctx context.Context, state string, limit int) ([]rpc.OutboxEntry, error) {
	ds, err := o.db.ListCommands(ctx, sqlite.CommandState(state), limit)
	if err != nil {
		return nil, err
	}
	out := make([]rpc.OutboxEntry, len(ds))
	for i, d := range ds {
		out[i] = rpc.OutboxEntry{
			Command: d.Command, State: string(d.State), Attempts: d.Attempts, NextAt: d.NextAt,
			LastError: d.LastError, LastAttemptAt: d.LastAttemptAt, DeliveredAt: d.DeliveredAt,
		}
	}
	return out, nil
}

func (o staffOutbox) RedriveCommand(ctx context.Context, id string, at time.Time) error {
	return o.db.RedriveCommand(ctx, id, at)
}
