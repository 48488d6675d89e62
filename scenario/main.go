package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// Report is the --json output.
type Report struct {
	Passed int       `json:"passed"`
	Failed int       `json:"failed"`
	Files  []*Result `json:"files"`
}

// Main is `holdfast simulate [--json] FILE...`: it runs every file (a
// directory stands for the *.yaml files in it), prints one line per failed
// step and a closing "N passed, M failed" line (or the --json report), and
// returns the exit code: 0 only if every file was valid and every step held.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print one JSON report instead of lines")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	paths, err := expand(fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "error: invalid_argument: %v\n", err)
		return 2
	}
	if len(paths) == 0 {
		fmt.Fprintln(stderr, "error: invalid_argument: name at least one scenario file")
		return 2
	}
	rep, invalid := RunFiles(ctx, paths, stderr)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		for _, f := range rep.Files {
			for _, fl := range f.Failures {
				fmt.Fprintf(stdout, "%s: step %d: %s\n", f.Name, fl.Step, fl.Message)
			}
		}
		fmt.Fprintf(stdout, "%d passed, %d failed\n", rep.Passed, rep.Failed)
	}
	if invalid || rep.Failed > 0 {
		return 1
	}
	return 0
}

// RunFiles runs each file in turn. Invalid files are reported on errw and
// make invalid true; they add no steps to the counts.
func RunFiles(ctx context.Context, paths []string, errw io.Writer) (rep *Report, invalid bool) {
	rep = &Report{Files: []*Result{}}
	for _, p := range paths {
		f, err := Load(p)
		var res *Result
		if err == nil {
			res, err = Run(ctx, f)
		}
		if err != nil {
			invalid = true
			var ie *InvalidError
			if errors.As(err, &ie) {
				fmt.Fprintf(errw, "error: invalid_argument: %v\n", err)
			} else {
				fmt.Fprintf(errw, "error: %s: %v\n", p, err)
			}
			continue
		}
		res.Name = p
		rep.Passed += res.Passed
		rep.Failed += res.Failed
		rep.Files = append(rep.Files, res)
	}
	return rep, invalid
}

func expand(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		matches, _ := filepath.Glob(filepath.Join(a, "*.yaml"))
		sort.Strings(matches)
		out = append(out, matches...)
	}
	return out, nil
}
