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
	kinds := make([]kindComparison, len(b.Kinds))
	for i, k := range b.Kinds {
		kinds[i] = kindComparison{kind: k.Kind, baseline: int(k.Baseline), candidate: int(k.Candidate),
			onlyBaseline: k.OnlyBaseline, onlyCandidate: k.OnlyCandidate,
			onlyBaselineN: int(k.OnlyBaselineCount), onlyCandidateN: int(k.OnlyCandidateCount)}
	}
	errs := make([]ruleErrorLine, len(b.RuleErrors))
	for i, re := range b.RuleErrors {
		errs[i] = ruleErrorLine{rule: re.Rule, policy: re.Policy, count: re.Count, failsClosed: re.FailsClosed, last: re.LastError}
	}
	printComparison(w, kinds, errs, "version", "versions")
}
