package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/gen/holdfast/v1/holdfastv1connect"
	"github.com/holdfast/holdfast/rpc"
)

// Appeals (CaseService: a self_service token acts for the holder named by
// --account or the ACCOUNT argument, a staff token as its staff member)
// and compliance's tools (ComplianceService, staff).

// withToken sends the bearer token on every call.
func withToken(token string) connect.ClientOption {
	return connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if token != "" {
				req.Header().Set("Authorization", "Bearer "+token)
			}
			return next(ctx, req)
		}
	}))
}

func (c *client) cases() holdfastv1connect.CaseServiceClient {
	server, token := c.endpoint()
	return holdfastv1connect.NewCaseServiceClient(c.httpClient(), server, withToken(token))
}

func (c *client) compliance() holdfastv1connect.ComplianceServiceClient {
	server, token := c.endpoint()
	return holdfastv1connect.NewComplianceServiceClient(c.httpClient(), server, withToken(token))
}

// asHolder adds --account: the holder a self_service token acts for.
func asHolder(cmd *cobra.Command, account *string) {
	cmd.Flags().StringVar(account, "account", "", "with a self_service token: the holder to act for")
}

func caseCmd() *cobra.Command {
	return group("case", "Appeals: open, answer, upload evidence, review and decide cases",
		caseOpenCmd(), caseShowCmd(), caseListCmd(), caseAddCmd(), caseUploadCmd(), caseDownloadCmd(),
		caseStateCmd(), caseAssignCmd(), caseDecideCmd())
}

func caseOpenCmd() *cobra.Command {
	var req holdfastv1.OpenCaseRequest
	cmd := holderCmd("open ACCOUNT", "Open a case for the account's restrictions its type can end",
		func(cmd *cobra.Command, c *client, args []string) error {
			req.Account = args[0]
			res, err := c.cases().OpenCase(cmd.Context(), connect.NewRequest(&req))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { printCase(w, res.Msg.Case) })
		})
	f := cmd.Flags()
	f.StringVar(&req.Type, "type", "", "source_of_funds, association_clarification, c2c_appeal, unlock_request, jurisdiction_verification or kyc_document")
	f.StringVar(&req.Restriction, "restriction", "", "link only this restriction (rst_...)")
	f.StringVar(&req.Kind, "kind", "", "link only restrictions of this kind")
	f.StringVar(&req.Statement, "statement", "", "the holder's first statement")
	return cmd
}

func caseShowCmd() *cobra.Command {
	var account string
	cmd := holderCmd("show CASE", "Show a case and its timeline",
		func(cmd *cobra.Command, c *client, args []string) error {
			res, err := c.cases().GetCase(cmd.Context(), connect.NewRequest(&holdfastv1.GetCaseRequest{Case: args[0], Account: account}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { printCase(w, res.Msg.Case) })
		})
	asHolder(cmd, &account)
	return cmd
}

func caseListCmd() *cobra.Command {
	var req holdfastv1.ListCasesRequest
	cmd := holderCmd("list", "List cases, overdue first, then by due time",
		func(cmd *cobra.Command, c *client, _ []string) error {
			res, err := c.cases().ListCases(cmd.Context(), connect.NewRequest(&req))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { printCases(w, res.Msg.Cases) })
		})
	f := cmd.Flags()
	f.StringVar(&req.Account, "account", "", "only this account's (with a self_service token: the holder to act for)")
	f.StringVar(&req.State, "state", "", "only cases in this state")
	f.StringVar(&req.Type, "type", "", "only cases of this type")
	f.StringVar(&req.Assignee, "assignee", "", "only cases assigned to this staff member")
	f.BoolVar(&req.Open, "open", false, "only undecided cases")
	f.Int32Var(&req.Limit, "limit", 0, "at most this many (0: all)")
	return cmd
}

func caseAddCmd() *cobra.Command {
	var req holdfastv1.AddCaseEntryRequest
	var statement, note string
	var fields []string
	cmd := holderCmd("add CASE", "Add a statement, a filled template or (staff) a note to a case",
		func(cmd *cobra.Command, c *client, args []string) error {
			req.Case = args[0]
			given := 0
			for _, set := range []bool{cmd.Flags().Changed("statement"), cmd.Flags().Changed("note"), cmd.Flags().Changed("template")} {
				if set {
					given++
				}
			}
			if given != 1 {
				return usagef("give exactly one of --statement, --note or --template")
			}
			if len(fields) > 0 && req.Template == "" {
				return usagef("--field goes with --template")
			}
			switch {
			case cmd.Flags().Changed("statement"):
				req.Type, req.Text = string(holdfast.EntryStatement), statement
			case cmd.Flags().Changed("note"):
				req.Type, req.Text = string(holdfast.EntryNote), note
			default:
				req.Type = string(holdfast.EntryTemplate)
				req.Fields = map[string]string{}
				for _, kv := range fields {
					k, v, ok := strings.Cut(kv, "=")
					if !ok || k == "" {
						return usagef("--field takes NAME=VALUE, got %q", kv)
					}
					req.Fields[k] = v
				}
			}
			res, err := c.cases().AddCaseEntry(cmd.Context(), connect.NewRequest(&req))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { printCase(w, res.Msg.Case) })
		})
	f := cmd.Flags()
	f.StringVar(&statement, "statement", "", "a statement in the holder's (or staff's) words")
	f.StringVar(&note, "note", "", "a staff note the holder never sees")
	f.StringVar(&req.Template, "template", "", "an explanation template to fill (policy show lists them)")
	f.StringArrayVar(&fields, "field", nil, "a template field, NAME=VALUE (repeat)")
	asHolder(cmd, &req.Account)
	return cmd
}

func caseUploadCmd() *cobra.Command {
	var account string
	cmd := holderCmd("upload CASE FILE", "Attach a file (PDF, PNG or JPEG) to a case",
		func(cmd *cobra.Command, c *client, args []string) error {
			content, err := os.ReadFile(args[1])
			if err != nil {
				return holdfast.Errorf(holdfast.InvalidArgument, "file", "%v", err)
			}
			res, err := c.cases().UploadEvidence(cmd.Context(), connect.NewRequest(&holdfastv1.UploadEvidenceRequest{
				Case: args[0], Account: account, Name: filepath.Base(args[1]), Content: content,
			}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) {
				ev := res.Msg.Evidence
				fmt.Fprintf(w, "attached %s (%s, %d bytes) to %s\nsha256 %s\n", ev.Name, ev.ContentType, ev.Size, res.Msg.Case.Id, ev.Sha256)
			})
		})
	asHolder(cmd, &account)
	return cmd
}

func caseDownloadCmd() *cobra.Command {
	var account, out string
	cmd := holderCmd("download CASE SHA256", "Fetch a file of a case (to stdout, or -o FILE)",
		func(cmd *cobra.Command, c *client, args []string) error {
			res, err := c.cases().GetEvidence(cmd.Context(), connect.NewRequest(&holdfastv1.GetEvidenceRequest{Case: args[0], Account: account, Sha256: args[1]}))
			if err != nil {
				return err
			}
			m := res.Msg
			if c.json {
				return c.respond(cmd, m, nil)
			}
			if out == "" || out == "-" {
				_, err := cmd.OutOrStdout().Write(m.Content)
				return err
			}
			if err := os.WriteFile(out, m.Content, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "saved %s (%s, %d bytes) to %s\n", m.Name, m.ContentType, len(m.Content), out)
			return nil
		})
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the file here (default: stdout)")
	asHolder(cmd, &account)
	return cmd
}

func caseStateCmd() *cobra.Command {
	var req holdfastv1.SetCaseStateRequest
	cmd := holderCmd("state CASE STATE", "Move a case to under_review or awaiting_holder (staff), or withdrawn (the holder)",
		func(cmd *cobra.Command, c *client, args []string) error {
			req.Case, req.State = args[0], args[1]
			res, err := c.cases().SetCaseState(cmd.Context(), connect.NewRequest(&req))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { printCase(w, res.Msg.Case) })
		})
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why (shown on the timeline)")
	asHolder(cmd, &req.Account)
	return cmd
}

func caseAssignCmd() *cobra.Command {
	return holderCmd("assign CASE STAFF", "Give a case to a staff member (staff)",
		func(cmd *cobra.Command, c *client, args []string) error {
			res, err := c.cases().AssignCase(cmd.Context(), connect.NewRequest(&holdfastv1.AssignCaseRequest{Case: args[0], Assignee: args[1]}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { printCase(w, res.Msg.Case) })
		})
}

func caseDecideCmd() *cobra.Command {
	var req holdfastv1.DecideCaseRequest
	var keepHeld string
	cmd := holderCmd("decide CASE DECISION", "Approve or reject a case (staff): DECISION is approve or reject",
		func(cmd *cobra.Command, c *client, args []string) error {
			req.Case, req.Decision = args[0], args[1]
			if keepHeld != "" {
				asset, amount, ok := strings.Cut(keepHeld, ":")
				if !ok || asset == "" || amount == "" {
					return usagef("--keep-held takes ASSET:AMOUNT, like BTC:0.5")
				}
				req.KeepHeld = &holdfastv1.KeepHeld{Asset: asset, Amount: amount}
			}
			res, err := c.cases().DecideCase(cmd.Context(), connect.NewRequest(&req))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { printCase(w, res.Msg.Case) })
		})
	f := cmd.Flags()
	f.StringVar(&req.Reason, "reason", "", "why (shown on the timeline)")
	f.StringVar(&keepHeld, "keep-held", "", "approving a source_of_funds case: keep ASSET:AMOUNT held")
	f.StringArrayVar(&req.NextSteps, "next-step", nil, "rejecting: what the holder may do next (repeat)")
	return cmd
}

func printCase(w io.Writer, c *holdfastv1.Case) {
	if c == nil {
		return
	}
	overdue := ""
	if c.Overdue {
		overdue = " (overdue)"
	}
	fmt.Fprintf(w, "%s  %s on %s: %s%s\n", c.Id, c.Type, c.Account, c.State, overdue)
	fmt.Fprintf(w, "  opened by %s at %s, due %s\n", c.OpenedBy, ts(c.CreatedAt), ts(c.DueAt))
	if c.Assignee != nil {
		fmt.Fprintf(w, "  assigned to %s\n", c.GetAssignee())
	}
	if len(c.Restrictions) > 0 {
		fmt.Fprintf(w, "  restrictions: %s\n", strings.Join(c.Restrictions, ", "))
	}
	if c.DecidedBy != nil {
		fmt.Fprintf(w, "  decided by %s at %s\n", c.GetDecidedBy(), ts(c.DecidedAt))
	}
	if h := c.Hold; h != nil {
		fmt.Fprintf(w, "  held: %s %s\n", h.Amount, h.Asset)
	}
	if len(c.Pending) > 0 {
		fmt.Fprintf(w, "  waiting for four-eyes approval: %s\n", strings.Join(c.Pending, ", "))
	}
	for _, s := range c.NextSteps {
		fmt.Fprintf(w, "  next step: %s\n", s)
	}
	for _, en := range c.Entries {
		what := en.GetText()
		switch {
		case en.Evidence != nil:
			what = fmt.Sprintf("%s (%s, %d bytes) sha256 %s", en.Evidence.Name, en.Evidence.ContentType, en.Evidence.Size, en.Evidence.Sha256)
		case en.State != nil:
			what = strings.TrimSpace(en.GetState() + " " + what)
		}
		fmt.Fprintf(w, "  %s  %s  %s: %s\n", ts(en.At), en.Actor, en.Type, what)
	}
}

func printCases(w io.Writer, cs []*holdfastv1.Case) {
	table(w, "CASE\tTYPE\tACCOUNT\tSTATE\tDUE\tOVERDUE\tASSIGNEE", func(tw io.Writer) {
		for _, c := range cs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%t\t%s\n", c.Id, c.Type, c.Account, c.State, ts(c.DueAt), c.Overdue, firstOf(c.GetAssignee(), "-"))
		}
	})
}

func complianceCmd() *cobra.Command {
	return group("compliance", "Compliance tools: seizure records, the sanctions notice queue, account reports (staff)",
		seizureCmd(), inNoticeCmd(), reportCmd())
}

func seizureCmd() *cobra.Command {
	var req holdfastv1.RecordSeizureRequest
	cmd := holderCmd("seizure ACCOUNT", "Record funds an authority seized on an account under a law_enforcement_hold",
		func(cmd *cobra.Command, c *client, args []string) error {
			req.Account = args[0]
			res, err := c.compliance().RecordSeizure(cmd.Context(), connect.NewRequest(&req))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) {
				fmt.Fprintf(w, "recorded the seizure of %s %s on %s (reference %s)\n", req.Amount, req.Asset, req.Account, req.Reference)
			})
		})
	f := cmd.Flags()
	f.StringVar(&req.Asset, "asset", "", "asset seized, e.g. BTC")
	f.StringVar(&req.Amount, "amount", "", "amount seized, a decimal")
	f.StringVar(&req.Reference, "reference", "", "the authority's reference (seizure order)")
	return cmd
}

func inNoticeCmd() *cobra.Command {
	return holderCmd("in-notice", "List accounts told they will become withdraw-only (sanctions), with the date",
		func(cmd *cobra.Command, c *client, _ []string) error {
			res, err := c.compliance().ListInNotice(cmd.Context(), connect.NewRequest(&holdfastv1.ListInNoticeRequest{}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) {
				table(w, "ACCOUNT\tRESTRICTION\tSTARTS", func(tw io.Writer) {
					for _, r := range res.Msg.Restrictions {
						fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Account, r.Id, ts(r.StartsAt))
					}
				})
			})
		})
}

func reportCmd() *cobra.Command {
	var jsonl bool
	cmd := holderCmd("report ACCOUNT", "Everything you may know of an account: profile, restrictions, cases, approvals, audit",
		func(cmd *cobra.Command, c *client, args []string) error {
			res, err := c.compliance().AccountReport(cmd.Context(), connect.NewRequest(&holdfastv1.AccountReportRequest{Account: args[0]}))
			if err != nil {
				return err
			}
			if jsonl {
				return writeReportJSONL(cmd.OutOrStdout(), res.Msg)
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { printReport(w, res.Msg) })
		})
	cmd.Flags().BoolVar(&jsonl, "jsonl", false, `one JSON object per line, each tagged "record": account, restriction, case, approval, audit_entry, then audit`)
	return cmd
}

// writeReportJSONL writes the report one record a line, in the API's own
// JSON with a leading "record" naming what the line is.
func writeReportJSONL(w io.Writer, rep *holdfastv1.AccountReportResponse) error {
	var buf bytes.Buffer
	line := func(record string, m proto.Message) error {
		b, err := rpc.MarshalJSON(m)
		if err != nil {
			return err
		}
		buf.WriteString(`{"record":"` + record + `"`)
		if body := bytes.TrimSpace(b[1:]); len(body) > 1 {
			buf.WriteByte(',')
		}
		buf.Write(b[1:])
		buf.WriteByte('\n')
		return nil
	}
	type rec struct {
		name string
		m    proto.Message
	}
	recs := []rec{{"account", rep.Account}}
	for _, r := range rep.Restrictions {
		recs = append(recs, rec{"restriction", r})
	}
	for _, c := range rep.Cases {
		recs = append(recs, rec{"case", c})
	}
	for _, a := range rep.Approvals {
		recs = append(recs, rec{"approval", a})
	}
	for _, e := range rep.History {
		recs = append(recs, rec{"audit_entry", e})
	}
	recs = append(recs, rec{"audit", rep.Audit})
	for _, r := range recs {
		if err := line(r.name, r.m); err != nil {
			return err
		}
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func printReport(w io.Writer, rep *holdfastv1.AccountReportResponse) {
	if a := rep.Account; a != nil {
		fmt.Fprintf(w, "%s  created %s, last active %s\n", a.Id, ts(a.CreatedAt), ts(a.LastActiveAt))
		if len(a.Tags) > 0 {
			fmt.Fprintf(w, "  tags: %s\n", strings.Join(a.Tags, ", "))
		}
		for _, h := range a.Holds {
			fmt.Fprintf(w, "  held: %s %s (case %s)\n", h.Amount, h.Asset, h.Case)
		}
	}
	fmt.Fprintf(w, "\nrestrictions (%d)\n", len(rep.Restrictions))
	printRestrictions(w, rep.Restrictions)
	fmt.Fprintf(w, "\ncases (%d)\n", len(rep.Cases))
	printCases(w, rep.Cases)
	fmt.Fprintf(w, "\npending four-eyes requests (%d)\n", len(rep.Approvals))
	printApprovals(w, rep.Approvals)
	if a := rep.Audit; a != nil {
		status := "OK"
		if !a.Ok {
			status = fmt.Sprintf("BROKEN (%d break(s))", len(a.Breaks))
		}
		fmt.Fprintf(w, "\naudit chain: %s, %d entries\n", status, a.Entries)
	}
}
