package main

import (
	"bufio"
	"encoding/json"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdfast/holdfast"
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
			db, err := where.open(cmd.Context(), true)
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
	cmd.AddCommand(export)
	return cmd
}
