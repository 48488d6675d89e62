package main

import (
	"fmt"

	"github.com/holdfast/holdfast"
	"github.com/spf13/cobra"
)

// verifyState is the second half of `audit verify`: it replays the log
// and prints every row of the state tables the log does not explain
// (account, record, first differing field). It returns how many.
func verifyState(cmd *cobra.Command, db holdfast.Store, account string) (int, error) {
	rep, err := db.VerifyState(cmd.Context(), account)
	if err != nil {
		return 0, err
	}
	w := cmd.OutOrStdout()
	for _, b := range rep.Breaks {
		if b.Field != "" {
			fmt.Fprintf(w, "UNEXPLAINED: account %s %s: field %s: %s\n", b.Account, b.Record, b.Field, b.Problem)
		} else {
			fmt.Fprintf(w, "UNEXPLAINED: account %s %s: %s\n", b.Account, b.Record, b.Problem)
		}
	}
	if n := len(rep.Breaks); n > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "error: failed_precondition: %d row(s) of the state the audit log does not explain\n", n)
	}
	return len(rep.Breaks), nil
}
