package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/web"
	"github.com/holdfast/holdfast/webhook"
)

// The serve command's settings of the emergency freeze, for a holder who
// cannot sign in (web/holder_emergency.go): where its one-time codes go,
// the exchange's identity service, and the client address its limits
// count.

type emergencyOptions struct {
	identityURL, clientIPHeader string
}

func (o *emergencyOptions) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.identityURL, "emergency-identity-url", "",
		"let a holder who cannot sign in verify their identity with this service of the exchange to freeze their account (see docs/emergency-freeze.md)")
	f.StringVar(&o.clientIPHeader, "client-ip-header", "",
		"the header in which the reverse proxy in front of the pages puts the client's address (e.g. X-Forwarded-For; its last entry counts); default: the connection's address")
}

// config is the pages' emergency settings. Codes go straight to the
// holder's channel, never through the outbox (which keeps what it sends):
// by email and push when those are set, else to the webhook, for the
// exchange to deliver; with neither, there are no codes.
func (o *emergencyOptions) config(d *delivery, staff holdfast.StaffStore) (web.EmergencyConfig, error) {
	cfg := web.EmergencyConfig{IdentityURL: o.identityURL, ClientIPHeader: o.clientIPHeader}
	db, ok := staff.(backend)
	switch {
	case !ok:
	case d.notifying():
		n, err := d.notifier(db)
		if err != nil {
			return cfg, err
		}
		cfg.Sender = n
	case d.url != "":
		secret := os.Getenv(webhookSecretEnv)
		if secret == "" {
			return cfg, holdfast.Errorf(holdfast.InvalidArgument, "webhook-url", "--webhook-url needs the signing secret in $%s", webhookSecretEnv)
		}
		p, err := webhook.NewPoster(d.url, []byte(secret), nil, nil)
		if err != nil {
			return cfg, err
		}
		cfg.Sender = p
	}
	return cfg, nil
}
