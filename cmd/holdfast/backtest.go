package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/backtest"
	"github.com/holdfast/holdfast/policy"
)

// backtestShown is how many differing accounts per kind the human output
// lists; --json lists them all.
const backtestShown = 20

func backtestCmd() *cobra.Command {
	var eventsPath, candidatePath, baselinePath string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "backtest --events FILE.jsonl --policy NEW.yaml [--baseline OLD.yaml] [--json]",
		Short: "Replay recorded events through two policies and compare whom they restrict",
		Long: `Replay a recorded event history (JSONL, one event per line in time order,
each with its "at"; see "holdfast events export") through a candidate policy
and a baseline policy (default: the embedded default policy), each on the
real engine over a fresh temporary store with a virtual clock, and report per
restriction kind how many accounts each policy restricted and which accounts
only one of them did. Rules whose condition failed to evaluate are listed
per policy (each failed closed or open, as its on_error says). Invalid lines
are listed with their line number and skipped. --events - reads standard
input.

The replay commits every event to the temporary stores; set TMPDIR to a
memory file system (/dev/shm) to spare the disk on long histories.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if eventsPath == "" {
				return usagef("--events is required (a JSONL file of recorded events, or - for standard input)")
			}
			if candidatePath == "" {
				return usagef("--policy is required (the candidate policy file)")
			}
			candidate, err := backtestPolicy(candidatePath)
			if err != nil {
				return err
			}
			baseline := policy.Default()
			if baselinePath != "" {
				if baseline, err = backtestPolicy(baselinePath); err != nil {
					return err
				}
			}
			var in io.Reader = cmd.InOrStdin()
			if eventsPath != "-" {
				f, err := os.Open(eventsPath)
				if err != nil {
					return holdfast.Errorf(holdfast.InvalidArgument, "", "cannot read the events file: %v", err)
				}
				defer f.Close()
				in = f
			}
			rep, err := backtest.Run(cmd.Context(), in, candidate, baseline)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(w, rep)
			}
			baselineName := "the default policy"
			if baselinePath != "" {
				baselineName = baselinePath
			}
			printBacktest(w, rep, candidatePath, baselineName)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&eventsPath, "events", "", "recorded events, JSONL (- for standard input)")
	f.StringVar(&candidatePath, "policy", "", "candidate policy file")
	f.StringVar(&baselinePath, "baseline", "", "baseline policy file (default: the embedded default policy)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// backtestPolicy loads a policy file; a file that does not load is
// "invalid_argument: FILE:LINE: field: message".
func backtestPolicy(path string) (*holdfast.Policy, error) {
	p, err := policy.Load(path)
	if err != nil {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "", "%s", policy.FormatError(path, err))
	}
	return p, nil
}

func printBacktest(w io.Writer, rep *backtest.Report, candidate, baseline string) {
	fmt.Fprintf(w, "Backtest of %s (candidate) against %s (baseline)\n", candidate, baseline)
	fmt.Fprintf(w, "%d events replayed, %d accounts", rep.Events, rep.Accounts)
	if rep.InvalidCount > 0 {
		fmt.Fprintf(w, ", %d invalid line(s) skipped", rep.InvalidCount)
	}
	if rep.OutOfOrder > 0 {
		fmt.Fprintf(w, ", %d event(s) out of time order replayed at the latest time before them", rep.OutOfOrder)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	if len(rep.Kinds) == 0 {
		fmt.Fprintln(w, "Neither policy restricted any account.")
	} else {
		// DIFFERENCE is candidate - baseline; the ONLY columns count the
		// accounts behind it (equal counts may still be different accounts).
		table(w, "KIND\tBASELINE\tCANDIDATE\tDIFFERENCE\tONLY_BASELINE\tONLY_CANDIDATE", func(tw io.Writer) {
			for _, k := range rep.Kinds {
				diff := fmt.Sprintf("%+d", k.Candidate-k.Baseline)
				if k.Candidate == k.Baseline {
					diff = "0"
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%d\n", k.Kind, k.Baseline, k.Candidate, diff, len(k.OnlyBaseline), len(k.OnlyCandidate))
			}
		})
		differs := false
		for _, k := range rep.Kinds {
			differs = differs || k.Differs()
			printAccounts(w, k.Kind, "baseline", k.OnlyBaseline)
			printAccounts(w, k.Kind, "candidate", k.OnlyCandidate)
		}
		if !differs {
			fmt.Fprintln(w, "\nNo differences: both policies restricted the same accounts with each kind.")
		}
	}
	if len(rep.RuleErrors) > 0 {
		fmt.Fprintf(w, "\nRules whose condition failed to evaluate (fix the policy):\n")
		for _, re := range rep.RuleErrors {
			fails := "open"
			if re.FailsClosed {
				fails = "closed"
			}
			fmt.Fprintf(w, "  %s (%s policy): %d time(s), failing %s; last: %s\n", re.Rule, re.Policy, re.Count, fails, re.LastError)
		}
	}
	if len(rep.Invalid) > 0 {
		fmt.Fprintf(w, "\nInvalid lines (skipped):\n")
		for i, inv := range rep.Invalid {
			if i == backtestShown {
				fmt.Fprintf(w, "  … and %d more\n", rep.InvalidCount-int64(i))
				break
			}
			if inv.Policy != "" {
				fmt.Fprintf(w, "  line %d (%s policy): %s\n", inv.Line, inv.Policy, inv.Error)
			} else {
				fmt.Fprintf(w, "  line %d: %s\n", inv.Line, inv.Error)
			}
		}
	}
}

// printAccounts lists the accounts only one side restricted with kind.
func printAccounts(w io.Writer, kind holdfast.Kind, side string, accounts []string) {
	if len(accounts) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s only under the %s (%d):\n", kind, side, len(accounts))
	for i, a := range accounts {
		if i == backtestShown {
			fmt.Fprintf(w, "  … and %d more\n", len(accounts)-i)
			break
		}
		fmt.Fprintf(w, "  %s\n", a)
	}
}
