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
	kinds := make([]kindComparison, len(rep.Kinds))
	for i, k := range rep.Kinds {
		kinds[i] = kindComparison{kind: string(k.Kind), baseline: k.Baseline, candidate: k.Candidate,
			onlyBaseline: shown(k.OnlyBaseline), onlyCandidate: shown(k.OnlyCandidate),
			onlyBaselineN: len(k.OnlyBaseline), onlyCandidateN: len(k.OnlyCandidate)}
	}
	errs := make([]ruleErrorLine, len(rep.RuleErrors))
	for i, re := range rep.RuleErrors {
		errs[i] = ruleErrorLine{rule: re.Rule, policy: re.Policy + " policy", count: re.Count, failsClosed: re.FailsClosed, last: re.LastError}
	}
	printComparison(w, kinds, errs, "policy", "policies")
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

// shown is the part of accounts the human output lists.
func shown(accounts []string) []string { return accounts[:min(len(accounts), backtestShown)] }

// kindComparison is one kind's line of a backtest, from a file's replay or
// a stored version's: the accounts each side restricted, and examples of
// those only one side did out of how many.
type kindComparison struct {
	kind                          string
	baseline, candidate           int
	onlyBaseline, onlyCandidate   []string
	onlyBaselineN, onlyCandidateN int
}

// ruleErrorLine is a rule that failed to evaluate during a backtest.
type ruleErrorLine struct {
	rule, policy, last string
	count              uint64
	failsClosed        bool
}

// printComparison writes what both kinds of backtest report in common:
// the table by kind, the accounts only one side restricted, and the rules
// that failed. one and many name the compared things ("policy",
// "policies").
func printComparison(w io.Writer, kinds []kindComparison, errs []ruleErrorLine, one, many string) {
	if len(kinds) == 0 {
		fmt.Fprintf(w, "Neither %s restricted any account.\n", one)
	} else {
		// DIFFERENCE is candidate - baseline; the ONLY columns count the
		// accounts behind it (equal counts may still be different accounts).
		table(w, "KIND\tBASELINE\tCANDIDATE\tDIFFERENCE\tONLY_BASELINE\tONLY_CANDIDATE", func(tw io.Writer) {
			for _, k := range kinds {
				diff := fmt.Sprintf("%+d", k.candidate-k.baseline)
				if k.candidate == k.baseline {
					diff = "0"
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%d\n", k.kind, k.baseline, k.candidate, diff, k.onlyBaselineN, k.onlyCandidateN)
			}
		})
		differs := false
		for _, k := range kinds {
			differs = differs || k.onlyBaselineN+k.onlyCandidateN > 0
			printAccounts(w, k.kind, "baseline", k.onlyBaseline, k.onlyBaselineN)
			printAccounts(w, k.kind, "candidate", k.onlyCandidate, k.onlyCandidateN)
		}
		if !differs {
			fmt.Fprintf(w, "\nNo differences: both %s restricted the same accounts with each kind.\n", many)
		}
	}
	if len(errs) > 0 {
		fmt.Fprintf(w, "\nRules whose condition failed to evaluate (fix the policy):\n")
		for _, re := range errs {
			fails := "open"
			if re.failsClosed {
				fails = "closed"
			}
			fmt.Fprintf(w, "  %s (%s): %d time(s), failing %s; last: %s\n", re.rule, re.policy, re.count, fails, re.last)
		}
	}
}

// printAccounts lists the accounts (examples of total) that only one side
// restricted with kind.
func printAccounts(w io.Writer, kind, side string, accounts []string, total int) {
	if total == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s only under the %s (%d):\n", kind, side, total)
	for _, a := range accounts {
		fmt.Fprintf(w, "  %s\n", a)
	}
	if more := total - len(accounts); more > 0 {
		fmt.Fprintf(w, "  … and %d more\n", more)
	}
}
