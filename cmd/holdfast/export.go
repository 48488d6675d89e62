package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/bus"
)

func eventsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "events", Short: "Recorded events"}
	var where storeRef
	var account, after string
	export := &cobra.Command{
		Use:   "export --data DIR [--account A] [--after T]",
		Short: "Write a data directory's recorded events as JSONL, the input of holdfast backtest",
		Long: `Write the events recorded in a data directory to standard output, one JSON
event per line in the order they were recorded, each with its "at": the
recorded event file that "holdfast backtest --events" replays.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := holdfast.EventFilter{Account: account}
			if account != "" {
				if err := holdfast.ValidateID("account", account); err != nil {
					return err
				}
			}
			if after != "" {
				t, err := time.Parse(time.RFC3339, after)
				if err != nil {
					return usageError{holdfast.Errorf(holdfast.InvalidArgument, "after", "--after must be an RFC 3339 time like 2026-03-01T00:00:00Z")}
				}
				f.After = t
			}
			db, err := where.openRead(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			w := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
			enc := json.NewEncoder(w)
			enc.SetEscapeHTML(false)
			if err := db.Events(cmd.Context(), f, func(e *holdfast.Event) error { return enc.Encode(e) }); err != nil {
				return err
			}
			return w.Flush()
		},
	}
	where.flags(export, "data directory")
	export.Flags().StringVar(&account, "account", "", "only this account's events")
	export.Flags().StringVar(&after, "after", "", "only events after this time (RFC 3339)")
	cmd.AddCommand(export, deadEventsCmd())
	return cmd
}

// deadEventsCmd lists the events a cluster's intake gave up on.
func deadEventsCmd() *cobra.Command {
	var url, prefix string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "dead [--bus nats://…] [--bus-prefix P] [--limit N] [--json]",
		Short: "List events the bus's intake dead-lettered, with why",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if url == "" {
				return usagef("--bus (or $%s) names the cluster's NATS", busEnv)
			}
			b, err := bus.Connect(cmd.Context(), url, bus.Config{Prefix: prefix})
			if err != nil {
				return err
			}
			defer b.Close()
			dead, err := b.DeadLetters(cmd.Context(), limit)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(dead)
			}
			if len(dead) == 0 {
				fmt.Fprintln(w, "no dead letters")
			}
			for _, d := range dead {
				fmt.Fprintf(w, "%d  %s  after %d deliveries on %s\n  %s\n  %s\n", d.Seq, d.At.UTC().Format(time.RFC3339), d.Deliveries, d.Subject, d.Error, d.Event)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "bus", os.Getenv(busEnv), "NATS URL of the cluster (default $"+busEnv+")")
	cmd.Flags().StringVar(&prefix, "bus-prefix", "holdfast", "prefix of the cluster's streams")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
