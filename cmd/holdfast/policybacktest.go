package main

import (
	"fmt"
	"io"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
)

// policyBacktestCmd shows the backtest a push started for a version.
func policyBacktestCmd() *cobra.Command {
	var examples int32
	cmd := holderCmd("backtest VERSION", "The backtest of a pushed version against the version active at the push: progress, then what each restricts",
		func(cmd *cobra.Command, c *client, args []string) error {
			res, err := c.clients().Policy.GetPolicyBacktest(cmd.Context(), connect.NewRequest(&holdfastv1.GetPolicyBacktestRequest{Version: args[0], Examples: examples}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { printPolicyBacktest(w, res.Msg.Version, res.Msg.Backtest) })
		})
	cmd.Flags().Int32Var(&examples, "examples", 20, "how many example accounts to list per kind and side (1-1000)")
	return cmd
}

func printPolicyBacktest(w io.Writer, v *holdfastv1.PolicyVersion, b *holdfastv1.PolicyBacktest) {
	rfc := func(t interface{ AsTime() time.Time }) string { return t.AsTime().UTC().Format(time.RFC3339) }
	fmt.Fprintf(w, "Backtest of %s (%s, candidate) against %s (active at the push, baseline)\n", shortHash(v.Hash), v.State, shortHash(b.Baseline))
	fmt.Fprintf(w, "events recorded since %s; started %s\n", rfc(b.Since), rfc(b.StartedAt))
	switch b.State {
	case "running":
		fmt.Fprintf(w, "running: %d event(s) read so far (as of %s)\n", b.Events, rfc(b.UpdatedAt))
		return
	case "failed":
		fmt.Fprintf(w, "failed after %d event(s): %s\n", b.Events, b.Error)
		return
	}
	fmt.Fprintf(w, "done %s: %d event(s) replayed, %d account(s)", rfc(b.FinishedAt), b.Events, b.Accounts)
	if b.InvalidEvents > 0 {
		fmt.Fprintf(w, ", %d skipped", b.InvalidEvents)
	}
	fmt.Fprintln(w)
	switch b.Capped {
	case "size":
		fmt.Fprintf(w, "CAPPED by size: only the first %d events of the window were replayed\n", b.Events)
	case "time":
		fmt.Fprintf(w, "CAPPED by time: only the first %d events of the window were replayed\n", b.Events)
	}
	fmt.Fprintln(w)
	if len(b.Kinds) == 0 {
		fmt.Fprintln(w, "Neither version restricted any account.")
	} else {
		table(w, "KIND\tBASELINE\tCANDIDATE\tDIFFERENCE\tONLY_BASELINE\tONLY_CANDIDATE", func(tw io.Writer) {
			for _, k := range b.Kinds {
				diff := fmt.Sprintf("%+d", k.Candidate-k.Baseline)
				if k.Candidate == k.Baseline {
					diff = "0"
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%d\n", k.Kind, k.Baseline, k.Candidate, diff, k.OnlyBaselineCount, k.OnlyCandidateCount)
			}
		})
		differs := false
		for _, k := range b.Kinds {
			differs = differs || k.OnlyBaselineCount+k.OnlyCandidateCount > 0
			printExamples(w, k.Kind, "baseline", k.OnlyBaseline, k.OnlyBaselineCount)
			printExamples(w, k.Kind, "candidate", k.OnlyCandidate, k.OnlyCandidateCount)
		}
		if !differs {
			fmt.Fprintln(w, "\nNo differences: both versions restricted the same accounts with each kind.")
		}
	}
	if len(b.RuleErrors) > 0 {
		fmt.Fprintf(w, "\nRules whose condition failed to evaluate (fix the policy):\n")
		for _, re := range b.RuleErrors {
			fails := "open"
			if re.FailsClosed {
				fails = "closed"
			}
			fmt.Fprintf(w, "  %s (%s): %d time(s), failing %s; last: %s\n", re.Rule, re.Policy, re.Count, fails, re.LastError)
		}
	}
}

// printExamples lists example accounts only one side restricted with kind.
func printExamples(w io.Writer, kind, side string, accounts []string, total int32) {
	if total == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s only under the %s (%d):\n", kind, side, total)
	for _, a := range accounts {
		fmt.Fprintf(w, "  %s\n", a)
	}
	if more := int(total) - len(accounts); more > 0 {
		fmt.Fprintf(w, "  … and %d more\n", more)
	}
}
