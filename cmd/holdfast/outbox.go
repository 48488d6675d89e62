package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/bus"
	"github.com/holdfast/holdfast/notify"
	"github.com/holdfast/holdfast/rpc"
	"github.com/holdfast/holdfast/sqlite"
	"github.com/holdfast/holdfast/webhook"
)

// Outbox delivery: the serve command's webhook settings, the deliverer it
// runs, and the commands with which an operator lists and redrives the
// outbox of a data directory.

// Secrets come from the environment, never flags, so that they stay out
// of ps and shell history.
const (
	webhookSecretEnv = "HOLDFAST_WEBHOOK_SECRET"
	// webhookPreviousSecretEnv, during a rotation, signs with the old
	// secret too.
	webhookPreviousSecretEnv = "HOLDFAST_WEBHOOK_SECRET_PREVIOUS"
	pushSecretEnv            = "HOLDFAST_PUSH_SECRET"
	smtpPasswordEnv          = "HOLDFAST_SMTP_PASSWORD"
)

// delivery holds the serve command's delivery flags: commands to other
// services go to the webhook; holder notifications by email and push.
type delivery struct {
	url                string
	smtpAddr, smtpFrom string
	smtpUser           string
	smtpStartTLS       bool
	pushURL, templates string
}

func (d *delivery) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&d.url, "webhook-url", "",
		"deliver outbox commands as signed webhooks to this URL, with the secret from $"+webhookSecretEnv+" (default: none; commands stay pending)")
	f.StringVar(&d.smtpAddr, "smtp-addr", "", "send holder notifications by email through this SMTP server (host:port)")
	f.StringVar(&d.smtpFrom, "smtp-from", "", "the From of notification emails, e.g. \"Holdfast <security@example.com>\"")
	f.StringVar(&d.smtpUser, "smtp-user", "", "SMTP AUTH user (password from $"+smtpPasswordEnv+")")
	f.BoolVar(&d.smtpStartTLS, "smtp-starttls", false, "require STARTTLS on the SMTP connection")
	f.StringVar(&d.pushURL, "push-url", "", "also send holder notifications to this SMS/push gateway as signed webhooks (secret from $"+pushSecretEnv+")")
	f.StringVar(&d.templates, "templates", "", "directory of notification templates overriding the built-in ones (NOTICE.txt)")
}

// notifying reports whether holder notifications have a channel of their
// own; without one they go to the webhook like every other command.
func (d *delivery) notifying() bool { return d.smtpAddr != "" || d.pushURL != "" }

// startDelivery runs the outbox's deliverers on db until ctx ends; stop
// ends them and waits. Errors: invalid_argument (URLs, missing or short
// secrets, templates).
func startDelivery(ctx context.Context, db backend, d *delivery, b *bus.Bus, log *slog.Logger) (stop func(), err error) {
	notices := []holdfast.CommandType{holdfast.CommandNotifyHolder}
	var deliverers []*webhook.Deliverer
	if b != nil {
		// The change feed's slow path: what a node committed but did not
		// publish (it died first, say) goes out from the outbox. Quick
		// polls keep a lost change's delay short.
		dl, err := webhook.New(outbox{db: db, filter: holdfast.TypeFilter{Types: []holdfast.CommandType{holdfast.CommandIndexChanged}}},
			webhook.Config{Sender: b, Logger: log, Poll: 200 * time.Millisecond, Workers: 32, MinBackoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second,
				Timeout: 2 * time.Second, Lease: 5 * time.Second})
		if err != nil {
			return nil, err
		}
		deliverers = append(deliverers, dl)
	}
	if d.url == "" {
		log.Info("webhook delivery is off: outbox commands stay pending until it is configured (--webhook-url)")
	} else {
		secret := os.Getenv(webhookSecretEnv)
		if secret == "" {
			return nil, holdfast.Errorf(holdfast.InvalidArgument, "webhook-url", "--webhook-url needs the signing secret in $%s", webhookSecretEnv)
		}
		// The change feed's commands are the bus's, never a webhook's.
		out := outbox{db: db, filter: holdfast.TypeFilter{Types: []holdfast.CommandType{holdfast.CommandIndexChanged}, Except: true}}
		if d.notifying() {
			out.filter.Types = append(out.filter.Types, notices...)
		}
		// Short leases: a node that dies mid-delivery holds its commands
		// for seconds, then another node sends them.
		poster, err := webhook.NewPoster(d.url, []byte(secret), nil, nil)
		if err != nil {
			return nil, err
		}
		if prev := os.Getenv(webhookPreviousSecretEnv); prev != "" {
			// Rotation: sign with both until every receiver has the new one.
			if poster, err = poster.WithPrevious([]byte(prev)); err != nil {
				return nil, err
			}
		}
		dl, err := webhook.New(out, webhook.Config{Sender: poster, Logger: log, Timeout: 10 * time.Second, Lease: 15 * time.Second})
		if err != nil {
			return nil, err
		}
		log.Info("webhook delivery is on", "url", dl.Target())
		deliverers = append(deliverers, dl)
	}
	if d.notifying() {
		n, err := d.notifier(db)
		if err != nil {
			return nil, err
		}
		dl, err := webhook.New(outbox{db: db, filter: holdfast.TypeFilter{Types: notices}}, webhook.Config{Sender: n, Logger: log, Timeout: 10 * time.Second, Lease: 15 * time.Second})
		if err != nil {
			return nil, err
		}
		log.Info("holder notifications are on", "smtp", d.smtpAddr, "push", d.pushURL != "")
		deliverers = append(deliverers, dl)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, dl := range deliverers {
		wg.Go(func() { dl.Run(ctx) })
	}
	return func() { cancel(); wg.Wait() }, nil
}

// notifier builds the holder-notification sender from the flags.
func (d *delivery) notifier(db backend) (*notify.Notifier, error) {
	cfg := notify.Config{SMTPAddr: d.smtpAddr, From: d.smtpFrom, Username: d.smtpUser, Password: os.Getenv(smtpPasswordEnv), StartTLS: d.smtpStartTLS}
	if d.pushURL != "" {
		secret := os.Getenv(pushSecretEnv)
		if secret == "" {
			return nil, holdfast.Errorf(holdfast.InvalidArgument, "push-url", "--push-url needs the signing secret in $%s", pushSecretEnv)
		}
		p, err := webhook.NewPoster(d.pushURL, []byte(secret), nil, nil)
		if err != nil {
			return nil, err
		}
		cfg.Push = p
	}
	if d.templates != "" {
		cfg.Templates = os.DirFS(d.templates)
	}
	n, err := notify.New(recipients{db}, cfg)
	if err != nil {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "templates", "%v", err)
	}
	return n, nil
}

// recipients finds where a holder is told: the contact addresses and the
// anti-phishing code of the stored account (an unknown one has none).
type recipients struct{ db holdfast.Store }

func (r recipients) Recipient(ctx context.Context, account string) (notify.Recipient, error) {
	a, err := r.db.Account(ctx, account)
	if holdfast.ErrorCode(err) == holdfast.NotFound {
		return notify.Recipient{}, nil
	}
	if err != nil {
		return notify.Recipient{}, err
	}
	return notify.Recipient{Email: a.Security.Email, Phone: a.Security.Phone, AntiPhishingCode: a.Security.AntiPhishingCode}, nil
}

// backend is a store with its outbox: SQLite or PostgreSQL.
type backend interface {
	holdfast.Store
	holdfast.OutboxStore
}

// outbox is a store's outbox as the deliverer's webhook.Outbox.
type outbox struct {
	db     holdfast.OutboxStore
	filter holdfast.TypeFilter
}

func (o outbox) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]webhook.Delivery, error) {
	ds, err := o.db.ClaimCommandsOf(ctx, o.filter, now, lease, limit)
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

// outboxCmd lists the commands of a data directory's outbox (beside a
// running server too) and redrives them (in the running server, if one
// holds the directory).
func outboxCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "outbox", Short: "See and redrive commands to other services (webhooks)"}
	var where storeRef
	var state string
	var limit int
	var asJSON bool
	list := &cobra.Command{
		Use:   "list [--state pending|delivered|dead] [--limit N] --data DIR",
		Short: "List outbox commands, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := where.openRead(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			ds, err := db.ListCommands(cmd.Context(), holdfast.CommandState(state), limit)
			if err != nil {
				return err
			}
			if asJSON {
				return printDeliveries(cmd.OutOrStdout(), ds)
			}
			table(cmd.OutOrStdout(), "ID\tSTATE\tTYPE\tACCOUNT\tATTEMPTS\tNEXT/DELIVERED\tLAST ERROR", func(tw io.Writer) {
				for _, d := range ds {
					when := d.NextAt
					if d.State == holdfast.CommandDelivered {
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
			db, err := where.open(cmd.Context(), true)
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
		where.flags(c, "data directory")
		cmd.AddCommand(c)
	}
	return cmd
}

// printDeliveries prints ds as a JSON array.
func printDeliveries(w io.Writer, ds []sqlite.Delivery) error {
	type view struct {
		holdfast.Command
		State         holdfast.CommandState `json:"state"`
		Attempts      int                   `json:"attempts"`
		NextAt        time.Time             `json:"next_at,omitzero"`
		LeaseUntil    time.Time             `json:"lease_until,omitzero"`
		LastError     string                `json:"last_error,omitempty"`
		LastAttemptAt time.Time             `json:"last_attempt_at,omitzero"`
		DeliveredAt   time.Time             `json:"delivered_at,omitzero"`
	}
	out := make([]view, len(ds))
	for i, d := range ds {
		out[i] = view{d.Command, d.State, d.Attempts, d.NextAt, d.LeaseUntil, d.LastError, d.LastAttemptAt, d.DeliveredAt}
	}
	return writeJSON(w, out)
}

// staffOutbox adapts the SQLite store's outbox to what the API shows staff.
type staffOutbox struct{ db holdfast.OutboxStore }

func (o staffOutbox) ListCommands(ctx context.Context, state string, limit int) ([]rpc.OutboxEntry, error) {
	ds, err := o.db.ListCommands(ctx, holdfast.CommandState(state), limit)
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

// OutboxStats is the backlog, for the server's metrics.
func (o staffOutbox) OutboxStats(ctx context.Context) (holdfast.OutboxStats, error) {
	return o.db.OutboxStats(ctx)
}
