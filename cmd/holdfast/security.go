package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
)

// The holder's security operations (SelfService): with a self_service
// token they act as the holder; staff tokens may only read (security
// show, logins, checkup, history). Accounts and what is acted on are positional:
// `holdfast whitelist add ACCOUNT ADDRESS`.

// holderCmd builds a command that calls the server with the positional
// arguments its use line names after the command ("ACCOUNT ADDRESS").
func holderCmd(use, short string, run func(cmd *cobra.Command, c *client, args []string) error) *cobra.Command {
	c := &client{}
	names := strings.Fields(use)[1:]
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != len(names) {
				return usagef("%s takes %s, got %d argument(s) (usage: %s)", cmd.CommandPath(), strings.Join(names, " "), len(args), cmd.UseLine())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return run(cmd, c, args) },
	}
	c.flags(cmd)
	return cmd
}

// group is a parent command holding subcommands only.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs}
	cmd.AddCommand(subs...)
	return cmd
}

func secureCmd() *cobra.Command {
	var receipt string
	cmd := holderCmd("secure ACCOUNT", "Secure a hacked account: a 7d self_freeze, every session and API key revoked, the holder told",
		func(cmd *cobra.Command, c *client, args []string) error {
			res, err := c.clients().Self.SecureAccount(cmd.Context(), connect.NewRequest(&holdfastv1.SecureAccountRequest{Account: args[0]}))
			if err != nil {
				return err
			}
			if err := saveReceipt(cmd, receipt, res.Msg.Receipt); err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) {
				m := res.Msg
				if m.Repeat {
					fmt.Fprintf(w, "%s was already secured: the earlier freeze is still in force\n", args[0])
				} else {
					fmt.Fprintf(w, "secured %s\n", args[0])
				}
				fmt.Fprintf(w, "revoked %d session(s) and %d API key(s)\n", m.SessionsRevoked, m.KeysRevoked)
				printRestriction(w, m.Freeze)
			})
		})
	receiptFlag(cmd, &receipt)
	return cmd
}

func sessionsCmd() *cobra.Command {
	revoke := holderCmd("revoke ACCOUNT SESSION", "Sign one session out",
		func(cmd *cobra.Command, c *client, args []string) error {
			res, err := c.clients().Self.RevokeSession(cmd.Context(), connect.NewRequest(&holdfastv1.RevokeSessionRequest{Account: args[0], Session: args[1]}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { fmt.Fprintf(w, "session %s of %s revoked\n", args[1], args[0]) })
		})
	return group("sessions", "Manage a holder's signed-in sessions", revoke)
}

func whitelistCmd() *cobra.Command {
	var network, label string
	add := holderCmd("add ACCOUNT ADDRESS", "Whitelist a withdrawal address on a network (usable after the policy's delay)",
		func(cmd *cobra.Command, c *client, args []string) error {
			res, err := c.clients().Self.AddWhitelistAddress(cmd.Context(), connect.NewRequest(&holdfastv1.AddWhitelistAddressRequest{Account: args[0], Address: args[1], Network: network, Label: label}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) {
				when := "now"
				if !res.Msg.Usable {
					when = "from " + ts(res.Msg.UsableAt)
				}
				fmt.Fprintf(w, "%s (%s) is on %s's whitelist, usable %s\n", res.Msg.Address, res.Msg.Network, args[0], when)
			})
		})
	add.Flags().StringVar(&network, "network", "", "the chain the address is on: one of the policy's whitelist_networks (BTC, ETH, TRX, ...); required")
	add.Flags().StringVar(&label, "label", "", `the holder's name for it ("Cold wallet")`)
	remove := holderCmd("remove ACCOUNT ADDRESS", "Take an address off the whitelist",
		func(cmd *cobra.Command, c *client, args []string) error {
			res, err := c.clients().Self.RemoveWhitelistAddress(cmd.Context(), connect.NewRequest(&holdfastv1.RemoveWhitelistAddressRequest{Account: args[0], Address: args[1]}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { fmt.Fprintf(w, "%s removed from %s's whitelist\n", args[1], args[0]) })
		})
	set := func(enabled bool) *cobra.Command {
		use, short, done := "enable ACCOUNT", "Turn the withdrawal whitelist on", "on"
		if !enabled {
			use, short, done = "disable ACCOUNT", "Turn the withdrawal whitelist off (a security change: starts a cooling_off)", "off"
		}
		cmd := holderCmd(use, short, func(cmd *cobra.Command, c *client, args []string) error {
			res, err := c.clients().Self.SetWhitelist(cmd.Context(), connect.NewRequest(&holdfastv1.SetWhitelistRequest{Account: args[0], Enabled: &enabled}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { fmt.Fprintf(w, "withdrawal whitelist %s for %s\n", done, args[0]) })
		})
		return cmd
	}
	return group("whitelist", "Manage a holder's withdrawal whitelist", add, remove, set(true), set(false))
}

func antiPhishingCmd() *cobra.Command {
	set := holderCmd("set ACCOUNT CODE", "Set the code every notification shows (changing one starts a cooling_off)",
		func(cmd *cobra.Command, c *client, args []string) error {
			res, err := c.clients().Self.SetAntiPhishingCode(cmd.Context(), connect.NewRequest(&holdfastv1.SetAntiPhishingCodeRequest{Account: args[0], Code: args[1]}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { fmt.Fprintf(w, "anti-phishing code set for %s\n", args[0]) })
		})
	return group("anti-phishing", "Manage a holder's anti-phishing code", set)
}

func settingsCmd() *cobra.Command {
	var delay string
	lock := holderCmd("lock ACCOUNT", "Lock the security settings; they unlock only --unlock-delay after an unlock request",
		func(cmd *cobra.Command, c *client, args []string) error {
			if delay == "" {
				return usagef("--unlock-delay is required: how long an unlock waits after its request (e.g. 7d)")
			}
			res, err := c.clients().Self.LockSettings(cmd.Context(), connect.NewRequest(&holdfastv1.LockSettingsRequest{Account: args[0], UnlockDelay: delay}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) {
				fmt.Fprintf(w, "security settings of %s locked; an unlock takes %s after it is requested\n", args[0], delay)
				printRestriction(w, res.Msg.Restriction)
			})
		})
	lock.Flags().StringVar(&delay, "unlock-delay", "", "how long an unlock waits after its request: 1d to 30d (default policy)")
	unlock := holderCmd("unlock ACCOUNT", "Request an unlock: the lock ends after its unlock delay",
		func(cmd *cobra.Command, c *client, args []string) error {
			res, err := c.clients().Self.RequestSettingsUnlock(cmd.Context(), connect.NewRequest(&holdfastv1.RequestSettingsUnlockRequest{Account: args[0]}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) {
				fmt.Fprintf(w, "unlock requested for %s: the settings unlock at %s\n", args[0], ts(res.Msg.Restriction.GetEndsAt()))
				printRestriction(w, res.Msg.Restriction)
			})
		})
	cancel := holderCmd("cancel-unlock ACCOUNT", "Cancel a pending unlock: the lock stays",
		func(cmd *cobra.Command, c *client, args []string) error {
			res, err := c.clients().Self.CancelSettingsUnlock(cmd.Context(), connect.NewRequest(&holdfastv1.CancelSettingsUnlockRequest{Account: args[0]}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) {
				fmt.Fprintf(w, "unlock cancelled for %s: the settings stay locked\n", args[0])
				printRestriction(w, res.Msg.Restriction)
			})
		})
	return group("settings", "Lock and unlock a holder's security settings", lock, unlock, cancel)
}

func contactsCmd() *cobra.Command {
	add := holderCmd("add ACCOUNT CONTACT", "Invite a trusted contact (another account), who may freeze or panic-lock the account once they accept",
		func(cmd *cobra.Command, c *client, args []string) error {
			res, err := c.clients().Self.AddTrustedContact(cmd.Context(), connect.NewRequest(&holdfastv1.AddTrustedContactRequest{Account: args[0], Contact: args[1]}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) {
				fmt.Fprintf(w, "%s is invited to be a trusted contact of %s: they may act once they accept in their Security Center\n", args[1], args[0])
			})
		})
	remove := holderCmd("remove ACCOUNT CONTACT", "Take a trusted contact's power away",
		func(cmd *cobra.Command, c *client, args []string) error {
			res, err := c.clients().Self.RemoveTrustedContact(cmd.Context(), connect.NewRequest(&holdfastv1.RemoveTrustedContactRequest{Account: args[0], Contact: args[1]}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { fmt.Fprintf(w, "%s is no longer a trusted contact of %s\n", args[1], args[0]) })
		})
	accept := holderCmd("accept ACCOUNT INVITER", "Accept, as ACCOUNT's holder, INVITER's invitation to be their trusted contact",
		func(cmd *cobra.Command, c *client, args []string) error {
			res, err := c.clients().Self.AcceptContactInvitation(cmd.Context(), connect.NewRequest(&holdfastv1.AcceptContactInvitationRequest{Account: args[0], Inviter: args[1]}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { fmt.Fprintf(w, "%s is now a trusted contact of %s\n", args[0], args[1]) })
		})
	decline := holderCmd("decline ACCOUNT INVITER", "Decline, as ACCOUNT's holder, INVITER's invitation to be their trusted contact",
		func(cmd *cobra.Command, c *client, args []string) error {
			res, err := c.clients().Self.DeclineContactInvitation(cmd.Context(), connect.NewRequest(&holdfastv1.DeclineContactInvitationRequest{Account: args[0], Inviter: args[1]}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { fmt.Fprintf(w, "%s declined to be a trusted contact of %s\n", args[0], args[1]) })
		})
	return group("contacts", "Manage a holder's trusted contacts", add, remove, accept, decline)
}

func securityCmd() *cobra.Command {
	show := holderCmd("show ACCOUNT", "Show an account's protections: whitelist, settings lock, contacts, sessions, devices, API keys",
		func(cmd *cobra.Command, c *client, args []string) error {
			res, err := c.clients().Self.GetSecurity(cmd.Context(), connect.NewRequest(&holdfastv1.GetSecurityRequest{Account: args[0]}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { printSecurity(w, res.Msg) })
		})
	var limit int32
	logins := holderCmd("logins ACCOUNT", "List the account's latest logins, newest first",
		func(cmd *cobra.Command, c *client, args []string) error {
			res, err := c.clients().Self.LoginHistory(cmd.Context(), connect.NewRequest(&holdfastv1.LoginHistoryRequest{Account: args[0], Limit: limit}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) {
				table(w, "AT\tDEVICE\tCOUNTRY\tIP\tSESSION\tEVENT", func(tw io.Writer) {
					for _, l := range res.Msg.Logins {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ts(l.At), dash(l.GetDevice()), dash(l.GetCountry()), dash(l.GetIp()), dash(l.GetSession()), l.Id)
					}
				})
			})
		})
	logins.Flags().Int32Var(&limit, "limit", 0, "at most this many (0: 50)")
	checkup := holderCmd("checkup ACCOUNT", "Review an account's protections and say what to fix",
		func(cmd *cobra.Command, c *client, args []string) error {
			res, err := c.clients().Self.SecurityCheckup(cmd.Context(), connect.NewRequest(&holdfastv1.SecurityCheckupRequest{Account: args[0]}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { printCheckup(w, res.Msg) })
		})
	var before int64
	var hlimit int32
	history := holderCmd("history ACCOUNT", "The account's security history as its holder sees it, newest first",
		func(cmd *cobra.Command, c *client, args []string) error {
			res, err := c.clients().Self.SecurityHistory(cmd.Context(), connect.NewRequest(&holdfastv1.SecurityHistoryRequest{Account: args[0], Before: before, Limit: hlimit}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) {
				table(w, "AT\tWHAT\tBY\tKIND\tDETAILS", func(tw io.Writer) {
					for _, it := range res.Msg.Items {
						var details []string
						for _, d := range []string{it.GetSubject(), it.GetNetwork(), it.GetChannel(), it.GetDevice(), it.GetCountry(), it.GetIp()} {
							if d != "" {
								details = append(details, d)
							}
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ts(it.At), it.What, dash(it.GetBy()), dash(it.GetKind()), dash(strings.Join(details, " ")))
					}
				})
				if res.Msg.Next != 0 {
					fmt.Fprintf(w, "older: --before %d\n", res.Msg.Next)
				}
			})
		})
	history.Flags().Int64Var(&before, "before", 0, "the page before this cursor (an earlier answer's next)")
	history.Flags().Int32Var(&hlimit, "limit", 0, "at most this many entries (0: 50; at most 200)")
	return group("security", "Read a holder's protections", show, logins, checkup, history)
}

// quoted is a label as the listing shows it: ` "Cold wallet"`, or
// nothing.
func quoted(s string) string {
	if s == "" {
		return ""
	}
	return fmt.Sprintf(" %q", s)
}

func keysCmd() *cobra.Command {
	revoke := holderCmd("revoke ACCOUNT KEY", "Revoke one API key (checks naming it are then unauthenticated)",
		func(cmd *cobra.Command, c *client, args []string) error {
			res, err := c.clients().Self.RevokeApiKey(cmd.Context(), connect.NewRequest(&holdfastv1.RevokeApiKeyRequest{Account: args[0], ApiKey: args[1]}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) { fmt.Fprintf(w, "API key %s of %s revoked\n", args[1], args[0]) })
		})
	var ips string
	whitelist := holderCmd("ip-whitelist ACCOUNT KEY", "Set the addresses a key may be used from (widening it is a security change: starts a cooling_off)",
		func(cmd *cobra.Command, c *client, args []string) error {
			if !cmd.Flags().Changed("ips") {
				return usagef(`--ips is required: addresses and CIDR prefixes, comma-separated ("" for any address)`)
			}
			res, err := c.clients().Self.SetApiKeyIpWhitelist(cmd.Context(), connect.NewRequest(&holdfastv1.SetApiKeyIpWhitelistRequest{Account: args[0], ApiKey: args[1], IpWhitelist: splitList(ips)}))
			if err != nil {
				return err
			}
			return c.respond(cmd, res.Msg, func(w io.Writer) {
				list := strings.Join(res.Msg.Key.GetIpWhitelist(), ", ")
				if list == "" {
					list = "any address"
				}
				fmt.Fprintf(w, "API key %s of %s may be used from %s\n", args[1], args[0], list)
			})
		})
	whitelist.Flags().StringVar(&ips, "ips", "", `addresses and CIDR prefixes, comma-separated; "" for any address`)
	return group("keys", "Manage a holder's API keys", revoke, whitelist)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func printSecurity(w io.Writer, s *holdfastv1.GetSecurityResponse) {
	fmt.Fprintln(w, s.Account)
	yes := map[bool]string{true: "set", false: "not set"}
	fmt.Fprintf(w, "  anti-phishing code: %s\n", yes[s.AntiPhishingCodeSet])
	on := map[bool]string{true: "on", false: "off"}
	fmt.Fprintf(w, "  withdrawal whitelist: %s, %d address(es)\n", on[s.GetWhitelist().GetEnabled()], len(s.GetWhitelist().GetAddresses()))
	for _, a := range s.GetWhitelist().GetAddresses() {
		usable := "usable"
		if !a.Usable {
			usable = "usable from " + ts(a.UsableAt)
		}
		fmt.Fprintf(w, "    %s  %s%s, added %s, %s\n", a.Address, dash(a.GetNetwork()), quoted(a.GetLabel()), ts(a.AddedAt), usable)
	}
	switch l := s.SettingsLock; {
	case l == nil:
		fmt.Fprintln(w, "  settings lock: none")
	case l.UnlockRequestedAt != nil:
		fmt.Fprintf(w, "  settings lock: %s since %s, unlock requested %s (delay %s)\n", l.Restriction, ts(l.LockedAt), ts(l.UnlockRequestedAt), l.UnlockDelay)
	default:
		fmt.Fprintf(w, "  settings lock: %s since %s (unlock delay %s)\n", l.Restriction, ts(l.LockedAt), l.UnlockDelay)
	}
	fmt.Fprintf(w, "  trusted contacts: %s\n", dash(strings.Join(s.TrustedContacts, ", ")))
	active := map[bool]string{true: "active", false: "revoked"}
	fmt.Fprintln(w)
	table(w, "SESSION\tSTATE\tDEVICE\tCOUNTRY\tIP\tSTARTED", func(tw io.Writer) {
		for _, x := range s.Sessions {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", x.Id, active[x.Active], dash(x.GetDevice()), dash(x.GetCountry()), dash(x.GetIp()), ts(x.StartedAt))
		}
	})
	fmt.Fprintln(w)
	known := map[bool]string{true: "known", false: "new"}
	table(w, "DEVICE\tSTATE\tCOUNTRY\tIP\tFIRST_SEEN\tLAST_SEEN", func(tw io.Writer) {
		for _, d := range s.Devices {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Id, known[d.Known], dash(d.GetCountry()), dash(d.GetIp()), ts(d.FirstSeen), ts(d.LastSeen))
		}
	})
	fmt.Fprintln(w)
	table(w, "API_KEY\tSTATE\tPERMISSIONS\tIP_WHITELIST\tCREATED\tLAST_USED", func(tw io.Writer) {
		for _, k := range s.ApiKeys {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.Id, active[k.Active], dash(strings.Join(k.Permissions, ",")), dash(strings.Join(k.IpWhitelist, ",")), ts(k.CreatedAt), ts(k.LastUsedAt))
		}
	})
}

func printCheckup(w io.Writer, c *holdfastv1.SecurityCheckupResponse) {
	fmt.Fprintf(w, "security checkup of %s at %s: %s\n", c.Account, ts(c.At), plural(len(c.Findings), "finding"))
	for _, f := range c.Findings {
		subject := ""
		if f.Subject != nil {
			subject = " (" + f.GetSubject() + ")"
		}
		fmt.Fprintf(w, "  [%s] %s%s: %s\n    fix: %s\n", f.Severity, f.Code, subject, f.Message, f.Fix)
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
