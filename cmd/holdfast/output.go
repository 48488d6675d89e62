package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
)

// respond prints m as indented JSON (the API's own encoding) with --json,
// else as human writes it.
func (c *client) respond(cmd *cobra.Command, m proto.Message, human func(io.Writer)) error {
	w := cmd.OutOrStdout()
	if !c.json {
		human(w)
		return nil
	}
	b, err := rpc.MarshalJSON(m)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = w.Write(out.Bytes())
	return err
}

func ts(t *timestamppb.Timestamp) string {
	if t == nil {
		return "-"
	}
	return t.AsTime().UTC().Format(time.RFC3339)
}

func until(t *timestamppb.Timestamp) string {
	if t == nil {
		return "until lifted"
	}
	return "until " + ts(t)
}

// writeJSON prints v as indented JSON, for --json.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table(w io.Writer, header string, rows func(tw io.Writer)) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	rows(tw)
	tw.Flush()
}

func printCauses(w io.Writer, causes []*holdfastv1.Cause) {
	for _, c := range causes {
		if c.Kind == nil {
			code := ""
			if c.Code != nil {
				code = c.GetCode() + ": "
			}
			fmt.Fprintf(w, "  %s: %s%s\n", c.Effect, code, c.Message)
			continue
		}
		level := ""
		if c.Level != nil {
			level = " " + c.GetLevel()
		}
		fmt.Fprintf(w, "  %s: %s%s %s %s\n    %s\n", c.Effect, c.GetKind(), level, c.GetId(), until(c.EndsAt), c.Message)
		for _, step := range c.Resolution {
			fmt.Fprintf(w, "    - %s\n", step)
		}
	}
}

func printDecision(w io.Writer, d *holdfastv1.CheckResponse) {
	fmt.Fprintln(w, d.Effect)
	printCauses(w, d.Causes)
	if d.RetryAfter != nil {
		fmt.Fprintf(w, "retry after %s\n", ts(d.RetryAfter))
	}
}

func printRestriction(w io.Writer, r *holdfastv1.Restriction) {
	if r == nil {
		return
	}
	fmt.Fprintf(w, "%s  %s on %s\n", r.Id, r.Kind, r.Account)
	fmt.Fprintf(w, "  from %s %s, applied by %s\n", ts(r.StartsAt), until(r.EndsAt), r.AppliedBy)
	if r.Device != nil {
		fmt.Fprintf(w, "  device %s\n", r.GetDevice())
	}
	if len(r.Factors) > 0 {
		fmt.Fprintf(w, "  factors %s\n", strings.Join(r.Factors, ", "))
	}
	if r.Reason != nil {
		fmt.Fprintf(w, "  reason: %s\n", r.GetReason())
	}
	if !r.Disclose {
		fmt.Fprintln(w, "  not disclosed to the holder")
	}
	if r.LiftedAt != nil {
		fmt.Fprintf(w, "  lifted %s by %s: %s\n", ts(r.LiftedAt), r.GetLiftedBy(), r.GetLiftReason())
	}
}

func printRestrictions(w io.Writer, rs []*holdfastv1.Restriction) {
	table(w, "ID\tKIND\tACCOUNT\tSTARTS\tENDS\tLIFTED", func(tw io.Writer) {
		for _, r := range rs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Id, r.Kind, r.Account, ts(r.StartsAt), ts(r.EndsAt), ts(r.LiftedAt))
		}
	})
}

func printApprovals(w io.Writer, as []*holdfastv1.Approval) {
	table(w, "REQUEST\tOP\tKIND\tRESTRICTION\tACCOUNT\tASKED_BY\tEXPIRES", func(tw io.Writer) {
		for _, a := range as {
			op := a.Op
			if a.EndsAt != nil {
				op += " to " + ts(a.EndsAt) // an extension: the end asked for
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Id, op, a.Kind, a.Restriction, a.Account, a.AskedBy, ts(a.ExpiresAt))
		}
	})
}

func printStatus(w io.Writer, st *holdfastv1.StatusResponse) {
	fmt.Fprintln(w, st.Account)
	if len(st.Causes) == 0 {
		fmt.Fprintln(w, "  no restrictions")
	}
	for _, c := range st.Causes {
		printCauses(w, []*holdfastv1.Cause{{Id: c.Id, Kind: c.Kind, Level: c.Level, Effect: c.Effect, Message: c.Message, EndsAt: c.EndsAt, Resolution: c.Resolution}})
	}
	var parts []string
	for _, a := range holdfast.Actions {
		parts = append(parts, string(a)+"="+st.Effects[string(a)])
	}
	fmt.Fprintf(w, "effects: %s\n", strings.Join(parts, " "))
}
