package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/web"
)

// The pages' keys: from the environment (a cluster's nodes must share
// them), or else made once and kept in the data directory, so that a
// laptop needs no set-up and `holdfast dev holder-token` can sign.
const (
	holderKeyEnv  = "HOLDFAST_HOLDER_KEY"
	sessionKeyEnv = "HOLDFAST_SESSION_KEY"
)

// pageKey returns the key in env (hex), or the one in DATA/name, made if
// missing.
func pageKey(env, data, name string) ([]byte, error) {
	if v := os.Getenv(env); v != "" {
		k, err := hex.DecodeString(v)
		if err != nil || len(k) < web.MinKeyBytes {
			return nil, holdfast.Errorf(holdfast.InvalidArgument, strings.ToLower(env), "$%s must be at least %d bytes, hex-encoded", env, web.MinKeyBytes)
		}
		return k, nil
	}
	s, err := dataKey(data, name, func() (string, error) {
		k := make([]byte, 32)
		rand.Read(k)
		return hex.EncodeToString(k), nil
	})
	if err != nil {
		return nil, err
	}
	return hex.DecodeString(s)
}

// dataKey returns the key kept in DATA/name, trimmed. A missing one is
// made with newKey and kept there, readable by its owner only; with
// newKey nil it is an error (fs.ErrNotExist). Two processes making it at
// once both keep the first one written.
func dataKey(data, name string, newKey func() (string, error)) (string, error) {
	path := filepath.Join(data, name)
	b, err := os.ReadFile(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) || newKey == nil {
		return strings.TrimSpace(string(b)), err
	}
	k, err := newKey()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return dataKey(data, name, nil)
	}
	if err != nil {
		return "", err
	}
	if _, err := fmt.Fprintln(f, k); err != nil {
		f.Close()
		return "", err
	}
	return k, f.Close()
}

// aliasKey keys the opaque ids holders see for restrictions hidden from
// them. It derives from the holder key, which a cluster's nodes already
// share, so every node shows a holder the same id.
func aliasKey(data string) ([]byte, error) {
	k, err := pageKey(holderKeyEnv, data, "holder.key")
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, k)
	m.Write([]byte("holdfast restriction alias"))
	return m.Sum(nil), nil
}

// devCmd holds tools for trying Holdfast locally.
func devCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "dev", Short: "Tools for trying Holdfast locally"}
	var data, server string
	var account string
	var ttl time.Duration
	token := &cobra.Command{
		Use:   "holder-token --account A [--data DIR]",
		Short: "Mint a Security Center sign-in link for a holder, as the exchange would",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if account == "" {
				return usagef("--account names the holder")
			}
			if err := holdfast.ValidateID("account", account); err != nil {
				return err
			}
			key, err := pageKey(holderKeyEnv, data, "holder.key")
			if err != nil {
				return err
			}
			t, err := web.MintHolderToken(key, account, ttl, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/me/login?token=%s\n", strings.TrimRight(server, "/"), t)
			return nil
		},
	}
	token.Flags().StringVar(&account, "account", "", "the holder's account")
	token.Flags().StringVar(&data, "data", defaultData, "the server's data directory (where its holder key is)")
	token.Flags().StringVar(&server, "server", "http://127.0.0.1:7433", "the server's address, for the link")
	token.Flags().DurationVar(&ttl, "ttl", 15*time.Minute, "how long the link works")
	cmd.AddCommand(token)
	return cmd
}

// staffPasswordCmd sets a staff member's Console password (read from
// standard input) and a new TOTP secret, shown once.
func staffPasswordCmd() *cobra.Command {
	var where storeRef
	var id string
	cmd := &cobra.Command{
		Use:   "password --id ID [--data DIR] < password",
		Short: "Set a staff member's Console password (from stdin) and a new authenticator secret",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
			password := strings.TrimRight(line, "\r\n")
			if (err != nil && password == "") || len(password) < 12 {
				return usageError{holdfast.Errorf(holdfast.InvalidArgument, "password", "give a password of at least 12 characters on standard input")}
			}
			db, err := where.open(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer db.Close()
			old, err := liveStaff(cmd.Context(), db, id)
			if err != nil {
				return err
			}
			m := *old
			if m.PasswordHash, err = web.HashPassword(password); err != nil {
				return err
			}
			secret, url, err := web.NewTOTPSecret(id)
			if err != nil {
				return err
			}
			m.TOTPSecret = secret
			if err := db.ChangeStaff(cmd.Context(), &m, cliEntry(cmd.Context(), holdfast.AuditStaffUpdated, "Console password and authenticator secret set.", nil, nil, time.Now().UTC())); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "password set for %s\nauthenticator secret (shown once): %s\n%s\n", id, secret, url)
			return nil
		},
	}
	where.flags(cmd, "data directory")
	cmd.Flags().StringVar(&id, "id", "", "staff id")
	return cmd
}
