package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdfast/holdfast"
	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
)

// receiptCmd groups what a holder (or anyone they show it to) does with a
// freeze receipt.
func receiptCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "receipt",
		Short: "Freeze receipts: proof that a freeze or panic lock is in the audit log",
	}
	cmd.AddCommand(receiptVerifyCmd())
	return cmd
}

// receiptVerifyCmd checks a receipt offline, with the log's public key
// only: no server, no token.
func receiptVerifyCmd() *cobra.Command {
	var key string
	cmd := &cobra.Command{
		Use:   "verify FILE --key PUB",
		Short: "Check a freeze receipt offline against the log's public key and say what it proves",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if key == "" {
				return usagef("--key is the log's public key (holdfast audit key), or a file holding it")
			}
			b, err := os.ReadFile(args[0])
			if err != nil {
				return holdfast.Errorf(holdfast.InvalidArgument, "file", "%v", err)
			}
			var rc holdfast.Receipt
			if err := json.Unmarshal(b, &rc); err != nil {
				return holdfast.Errorf(holdfast.FailedPrecondition, "receipt", "%s is not a receipt: %v", args[0], err)
			}
			cp, err := rc.Verify(verifierKey(key))
			if err != nil {
				return holdfast.Errorf(holdfast.FailedPrecondition, "receipt", "%v", err)
			}
			printProved(cmd.OutOrStdout(), &rc, cp.Origin, cp.Size)
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "the log's public key (name+hash+base64, as holdfast audit key prints it), or a file holding it")
	return cmd
}

// verifierKey is key itself, or the contents of the file it names.
func verifierKey(key string) string {
	if b, err := os.ReadFile(key); err == nil {
		return strings.TrimSpace(string(b))
	}
	return key
}

// printProved says what a verified receipt proves.
func printProved(w io.Writer, rc *holdfast.Receipt, origin string, size uint64) {
	e := &rc.Entry
	fmt.Fprintf(w, "OK: entry %d of account %s is leaf %d of the log %s, in its signed tree of %d leaves\n", e.Seq, e.Account, rc.Leaf, origin, size)
	fmt.Fprintf(w, "account:     %s\naction:      %s\nactor:       %s\nat:          %s\n", e.Account, e.Action, e.Actor, e.At.UTC().Format(time.RFC3339Nano))
	if r, err := rc.Restriction(); err == nil {
		ends := "until lifted"
		if !r.EndsAt.IsZero() {
			ends = r.EndsAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "kind:        %s\nrestriction: %s\nstarts:      %s\nends:        %s\n", r.Kind, r.ID, r.StartsAt.UTC().Format(time.RFC3339), ends)
	}
	fmt.Fprintf(w, "leaf:        %d\ntree size:   %d\n", rc.Leaf, size)
}

// receiptFlag adds --receipt to a command whose answer may carry a
// receipt.
func receiptFlag(cmd *cobra.Command, path *string) {
	cmd.Flags().StringVar(path, "receipt", "", "save the change's receipt to this file (holdfast receipt verify checks it)")
	cmd.MarkFlagFilename("receipt")
}

// saveReceipt writes the answer's receipt to path (when one was asked
// for). The change is made either way: a missing receipt is only told.
func saveReceipt(cmd *cobra.Command, path string, rc *holdfastv1.Receipt) error {
	if path == "" {
		return nil
	}
	if rc == nil {
		fmt.Fprintln(cmd.ErrOrStderr(), "note: the answer carries no receipt (the server signs no audit log, or the change was not the holder's)")
		return nil
	}
	if err := os.WriteFile(path, []byte(rc.Document), 0o644); err != nil {
		return holdfast.Errorf(holdfast.InvalidArgument, "receipt", "the change is made, but its receipt could not be saved: %v", err)
	}
	return nil
}
