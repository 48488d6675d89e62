package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	holdfastv1 "github.com/holdfast/holdfast/gen/holdfast/v1"
	"github.com/holdfast/holdfast/internal/smtptest"
	"github.com/holdfast/holdfast/rpc"
)

// lockedBuffer is a log sink several goroutines write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSecretsNeverLogged runs a server at debug level with webhooks,
// SMTP with a password and the pages, uses every secret it holds — bearer
// tokens, the webhook signing secret, the SMTP password, an anti-phishing
// code, a holder sign-in token — and greps the whole log for them.
func TestSecretsNeverLogged(t *testing.T) {
	const (
		webhookSecret = "webhook-secret-4c8f1e2a9b7d"
		smtpPassword  = "smtp-password-93be71c0"
		antiPhishing  = "heron-7731"
	)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer receiver.Close()
	mail := smtptest.Start(t, smtptest.Options{User: "mailer", Pass: smtpPassword})
	t.Setenv(webhookSecretEnv, webhookSecret)
	t.Setenv(smtpPasswordEnv, smtpPassword)

	data := t.TempDir()
	// Staff and tokens first: the running server alone writes to its data.
	cli(t, "staff", "add", "--data", data, "--id", "admin", "--roles", "admin,compliance")
	_, tok, _ := cli(t, "token", "create", "--data", data, "--scopes", "staff,check,self_service,events", "--staff", "admin")
	addr := freePort(t)
	o := &serveOptions{where: storeRef{data: data}, addr: addr}
	o.evidence.max = 1 << 20
	o.delivery = delivery{url: receiver.URL, smtpAddr: mail.Addr, smtpFrom: "security@example.com", smtpUser: "mailer"}
	var logs lockedBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, o, log, &logs) }()
	url := "http://" + addr
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := http.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("server not ready")
		}
		time.Sleep(50 * time.Millisecond)
	}

	token := strings.TrimSpace(tok)
	_, link, _ := cli(t, "dev", "holder-token", "--data", data, "--account", "u1", "--server", url)
	holderToken := strings.TrimSpace(link[strings.Index(link, "token=")+len("token="):])

	c := rpc.NewClients(nil, url, token)
	bg := context.Background()
	if _, err := c.Event.Ingest(bg, connect.NewRequest(&holdfastv1.IngestRequest{Event: &holdfastv1.Event{Type: "email_changed", Account: "u1", Email: "holder@example.com"}})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Self.SetAntiPhishingCode(bg, connect.NewRequest(&holdfastv1.SetAntiPhishingCodeRequest{Account: "u1", Code: antiPhishing})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Restriction.Apply(bg, connect.NewRequest(&holdfastv1.ApplyRequest{Account: "u1", Kind: "reduce_only", Reason: "test"})); err != nil {
		t.Fatal(err)
	}
	// A refused token, and the holder's sign-in through the pages.
	rpc.NewClients(nil, url, token+"x").Decision.Check(bg, connect.NewRequest(&holdfastv1.CheckRequest{Account: "u1", Action: "trade"}))
	if resp, err := http.Get(url + "/me/login?token=" + holderToken); err == nil {
		resp.Body.Close()
	}
	mail.Wait(t, 2, 10*time.Second) // notices went out over SMTP with AUTH
	cancel()
	<-done

	out := logs.String()
	if !strings.Contains(out, `"msg":"ready"`) {
		t.Fatalf("the log does not look like a server's:\n%s", out)
	}
	auditKey, err := os.ReadFile(filepath.Join(data, auditKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	// The seed is the key's fifth field; the log shows the public key only.
	seed := strings.SplitN(strings.TrimSpace(string(auditKey)), "+", 5)[4]
	for name, secret := range map[string]string{
		"bearer token": token, "webhook secret": webhookSecret, "SMTP password": smtpPassword,
		"anti-phishing code": antiPhishing, "holder sign-in token": holderToken, "audit signing key": seed,
	} {
		if strings.Contains(out, secret) {
			t.Errorf("the %s is in the log", name)
		}
	}
}
