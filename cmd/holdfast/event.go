package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/rpc"
)

// EventService, scope events: what the exchange's other services report.

// eventBatchSize is how many events of a file go in one IngestBatch (the
// server takes up to 1000).
const eventBatchSize = 500

func eventCmd() *cobra.Command {
	var (
		c                                       client
		ev                                      holdfastv1.Event
		file, at                                string
		others, permissions, whitelist, factors string
		ordersPerMinute, failureRate            float64
		disclose                                bool
		batch                                   int
	)
	cmd := &cobra.Command{
		Use:   "event (--type T --account A [--id ID] [fields] | --file EVENTS.jsonl)",
		Short: "Report an event to run through the policy's rules (events)",
		Long: `Report one event, or every event of a JSON Lines file, as another service
of the exchange would. Each goes through the policy's rules; the answer says
which rules fired and what they applied, extended or lifted. An event whose
id was seen before changes nothing.

Only the flags given are sent, and each event type takes only its own
fields (docs/api.md lists them); any other is invalid_argument naming it.

--file reads one event per line in the API's JSON ({"id": "e1", "type":
"deposit", "account": "u1", "asset": "BTC", "amount": "0.5", ...}; blank
lines are skipped; - reads stdin), sends them in batches and prints how many
were ingested, how many were duplicates, and each invalid line. It exits 1
if any line was invalid.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			if file != "" {
				var set []string
				for _, name := range eventFlags {
					if f.Changed(name) {
						set = append(set, "--"+name)
					}
				}
				if len(set) > 0 {
					return usagef("--file takes every event from the file; drop %s", strings.Join(set, ", "))
				}
				if batch < 1 || batch > 1000 {
					return usagef("--batch must be 1 to 1000, not %d", batch)
				}
				return c.ingestFile(cmd, file, batch)
			}
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return usageError{holdfast.Errorf(holdfast.InvalidArgument, "at", "--at must be an RFC 3339 time like 2026-04-01T12:00:00Z")}
				}
				ev.At = timestamppb.New(t)
			}
			if f.Changed("orders-per-minute") {
				ev.OrdersPerMinute = &ordersPerMinute
			}
			if f.Changed("failure-rate") {
				ev.FailureRate = &failureRate
			}
			if f.Changed("disclose") {
				ev.Disclose = &disclose
			}
			ev.OtherAccounts = splitList(others)
			ev.Permissions = splitList(permissions)
			ev.IpWhitelist = splitList(whitelist)
			ev.Factors = splitList(factors)
			res, err := c.clients().Event.Ingest(cmd.Context(), connect.NewRequest(&holdfastv1.IngestRequest{Event: &ev}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { printIngest(w, res.Msg.Result) })
		},
	}
	c.flags(cmd)
	f := cmd.Flags()
	f.StringVar(&file, "file", "", "ingest every event of this JSON Lines file (- for stdin) instead")
	f.IntVar(&batch, "batch", eventBatchSize, "with --file: events per IngestBatch call (1-1000)")
	f.StringVar(&ev.Type, "type", "", "event type: "+strings.Join(strs(holdfast.EventTypes), ", "))
	f.StringVar(&ev.Account, "account", "", "account id")
	f.StringVar(&ev.Id, "id", "", "event id, the idempotency key (default: assigned by the server)")
	f.StringVar(&at, "at", "", "when it happened, RFC 3339 (default: now)")
	f.StringVar(&ev.Device, "device", "", "device id")
	f.StringVar(&ev.Country, "country", "", "country, ISO 3166-1 alpha-2 (DE)")
	f.StringVar(&ev.Ip, "ip", "", "client IP")
	f.StringVar(&ev.Session, "session", "", "session id (login)")
	f.StringVar(&ev.Address, "address", "", "address (withdrawal_address_added, withdrawal_requested, scam_interaction)")
	f.StringVar(&ev.Asset, "asset", "", "asset, e.g. BTC")
	f.StringVar(&ev.Amount, "amount", "", "amount as a decimal")
	f.StringVar(&ev.UsdValue, "usd-value", "", "value in USD, decimal")
	f.StringVar(&ev.SourceAddress, "source-address", "", "where a deposit came from")
	f.StringVar(&ev.SourceRisk, "source-risk", "", "clean, flagged, mixer or sanctioned")
	f.Float64Var(&ordersPerMinute, "orders-per-minute", 0, "API order rate (api_activity)")
	f.Float64Var(&failureRate, "failure-rate", 0, "API order failure rate, 0-1 or a percentage (api_activity)")
	f.StringVar(&others, "other-accounts", "", "accounts sharing a device or IP, comma-separated (association_detected)")
	f.StringVar(&ev.NoticePeriod, "notice-period", "", "notice before sanctions_withdraw_only starts, e.g. 30d (sanctions_match)")
	f.StringVar(&ev.Severity, "severity", "", "low, medium or high (aml_alert)")
	f.StringVar(&ev.Status, "status", "", "missing, expired or ok (kyc_status)")
	f.StringVar(&ev.CaseRef, "case-ref", "", "the reporting system's case reference")
	f.BoolVar(&disclose, "disclose", false, "whether the holder may see the hold (law_enforcement_request)")
	f.StringVar(&ev.ApiKey, "api-key", "", "API key id")
	f.StringVar(&permissions, "permissions", "", "API key permissions: read,trade,withdraw (api_key_created)")
	f.StringVar(&whitelist, "ip-whitelist", "", "API key IP whitelist, comma-separated (api_key_created)")
	f.StringVar(&factors, "factors", "", "completed factors: email,sms,totp (verification_completed)")
	f.StringVar(&ev.Email, "email", "", "the holder's new email address (email_changed)")
	f.StringVar(&ev.Phone, "phone", "", "the holder's new phone number, E.164 (phone_changed)")
	return cmd
}

// eventFlags are the flags that describe a single event.
var eventFlags = []string{
	"type", "account", "id", "at", "device", "country", "ip", "session", "address", "asset", "amount",
	"usd-value", "source-address", "source-risk", "orders-per-minute", "failure-rate", "other-accounts",
	"notice-period", "severity", "status", "case-ref", "disclose", "api-key", "permissions",
	"ip-whitelist", "factors", "email", "phone",
}

func strs[T ~string](in []T) []string {
	out := make([]string, len(in))
	for i, v := range in {
		out[i] = string(v)
	}
	return out
}

// printIngest says what one event did.
func printIngest(w io.Writer, r *holdfastv1.IngestResult) {
	if r.Duplicate {
		fmt.Fprintf(w, "duplicate: nothing changed (event %s was ingested before)\n", r.Event)
		return
	}
	fmt.Fprintf(w, "event %s ingested\n", r.Event)
	if len(r.Rules) == 0 {
		fmt.Fprintln(w, "no rule fired")
	} else {
		fmt.Fprintf(w, "rules fired: %s\n", strings.Join(r.Rules, ", "))
	}
	for _, e := range r.RuleErrors {
		fmt.Fprintf(w, "rule %s failed to evaluate: %s\n", e.Rule, e.Message)
	}
	for _, group := range []struct {
		verb string
		rs   []*holdfastv1.Restriction
	}{{"applied", r.Applied}, {"extended", r.Extended}, {"lifted", r.Lifted}} {
		for _, x := range group.rs {
			line := fmt.Sprintf("  %-8s  %s %s", group.verb, x.Kind, x.Id)
			if x.Device != nil {
				line += " on device " + x.GetDevice()
			}
			switch {
			case group.verb == "lifted":
			case x.StartsAt != nil && x.CreatedAt != nil && x.StartsAt.AsTime().After(x.CreatedAt.AsTime()):
				line += " from " + ts(x.StartsAt) + " " + until(x.EndsAt)
			default:
				line += " " + until(x.EndsAt)
			}
			if group.verb != "lifted" && x.Origin != nil && x.Origin.Rule != "" {
				line += " (rule " + x.Origin.Rule + ")"
			}
			fmt.Fprintln(w, line)
		}
	}
	if len(r.Tags) > 0 {
		fmt.Fprintf(w, "tags added: %s\n", strings.Join(r.Tags, ", "))
	}
	if len(r.Commands) > 0 {
		fmt.Fprintf(w, "commands sent: %s\n", strings.Join(r.Commands, ", "))
	}
}

// fileSummary is what --file reports.
type fileSummary struct {
	File       string      `json:"file"`
	Events     int         `json:"events"`
	Ingested   int         `json:"ingested"`
	Duplicates int         `json:"duplicates"`
	Invalid    int         `json:"invalid"`
	Failed     int         `json:"failed"`
	Errors     []lineError `json:"errors"`
}

// lineError is one event of the file that was not ingested.
type lineError struct {
	Line    int    `json:"line"`
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (s *fileSummary) fail(line int, code, field, message string) {
	if code == string(holdfast.InvalidArgument) {
		s.Invalid++
	} else {
		s.Failed++
	}
	s.Errors = append(s.Errors, lineError{Line: line, Code: code, Field: field, Message: message})
}

// ingestFile sends a JSON Lines file through IngestBatch, batch by batch,
// reading it as it goes. A line that is not an event in the API's JSON is
// reported and not sent.
func (c *client) ingestFile(cmd *cobra.Command, path string, size int) error {
	in := cmd.InOrStdin()
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return holdfast.Errorf(holdfast.NotFound, "file", "cannot read the events file: %v", err)
		}
		defer f.Close()
		in = f
	}
	api := c.clients().Event
	sum := &fileSummary{File: path, Errors: []lineError{}}
	var (
		chunk []*holdfastv1.Event
		lines []int
	)
	send := func() error {
		if len(chunk) == 0 {
			return nil
		}
		res, err := api.IngestBatch(cmd.Context(), connect.NewRequest(&holdfastv1.IngestBatchRequest{Events: chunk}))
		if err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "stopped at line %d: events from there on were not sent\n", lines[0])
			return err
		}
		for i, item := range res.Msg.Results {
			switch o := item.Outcome.(type) {
			case *holdfastv1.IngestBatchItem_Result:
				if o.Result.Duplicate {
					sum.Duplicates++
				} else {
					sum.Ingested++
				}
			case *holdfastv1.IngestBatchItem_Error:
				sum.fail(lines[i], o.Error.Code, o.Error.GetField(), o.Error.Message)
			}
		}
		chunk, lines = chunk[:0], lines[:0]
		return nil
	}

	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), rpc.DefaultMaxBodyBytes)
	n := 0
	for sc.Scan() {
		n++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		sum.Events++
		ev, err := rpc.ParseEventJSON(text)
		if err != nil {
			sum.fail(n, string(holdfast.InvalidArgument), holdfast.ErrorField(err), errorMessage(err))
			continue
		}
		chunk, lines = append(chunk, ev), append(lines, n)
		if len(chunk) == size {
			if err := send(); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return holdfast.Errorf(holdfast.InvalidArgument, "file", "line %d: %v", n+1, err)
	}
	if err := send(); err != nil {
		return err
	}

	slices.SortStableFunc(sum.Errors, func(a, b lineError) int { return a.Line - b.Line })
	w := cmd.OutOrStdout()
	if c.json {
		if err := writeJSON(w, sum); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(w, "%s: %d event(s): %d ingested, %d duplicate(s), %d invalid", path, sum.Events, sum.Ingested, sum.Duplicates, sum.Invalid)
		if sum.Failed > 0 {
			fmt.Fprintf(w, ", %d failed", sum.Failed)
		}
		fmt.Fprintln(w)
		for _, e := range sum.Errors {
			msg := e.Code + ": " + e.Message
			if e.Field != "" {
				msg += " (field " + e.Field + ")"
			}
			fmt.Fprintf(w, "  line %d: %s\n", e.Line, msg)
		}
	}
	if len(sum.Errors) > 0 {
		return exitCode(1)
	}
	return nil
}

// errorMessage is a domain error's message without its code.
func errorMessage(err error) string {
	var he *holdfast.Error
	if errors.As(err, &he) {
		return he.Message
	}
	return err.Error()
}
