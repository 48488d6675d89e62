package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/internal/smtptest"
	"github.com/holdfast/holdfast/notify"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/sqlite"
	"github.com/holdfast/holdfast/web"
	"github.com/holdfast/holdfast/webhook"
)

// TestEmergencyCodeSender: serve's flags decide where a signed-out
// holder's code goes: by email when SMTP is set (and a code asked for on
// the pages arrives there), else to the webhook, else nowhere.
func TestEmergencyCodeSender(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var o emergencyOptions
	t.Setenv(webhookSecretEnv, "a-webhook-secret-of-at-least-32-bytes!")
	cfg, err := o.config(&delivery{url: "http://127.0.0.1:1/hook"}, db)
	if _, ok := cfg.Sender.(*webhook.Poster); err != nil || !ok {
		t.Errorf("webhook only: sender %T, %v", cfg.Sender, err)
	}
	if cfg, err := o.config(&delivery{}, db); err != nil || cfg.Sender != nil {
		t.Errorf("no delivery: sender %T, %v", cfg.Sender, err)
	}

	mail := smtptest.Start(t, smtptest.Options{})
	cfg, err = o.config(&delivery{url: "http://127.0.0.1:1/hook", smtpAddr: mail.Addr, smtpFrom: "Holdfast <security@example.com>"}, db)
	if _, ok := cfg.Sender.(*notify.Notifier); err != nil || !ok {
		t.Fatalf("with SMTP: sender %T, %v", cfg.Sender, err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := engine.New(ctx, engine.Config{Store: db, Policy: policy.Default(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Ingest(ctx, holdfast.Event{Type: holdfast.EventEmailChanged, Account: "u1", Email: "holder@example.com"}); err != nil {
		t.Fatal(err)
	}
	key := []byte("0123456789abcdef0123456789abcdef")
	pages, err := web.New(web.Config{Engine: eng, Staff: db, HolderKey: key, SessionKey: key, Logger: log, Emergency: cfg})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(pages)
	defer srv.Close()
	resp, err := http.PostForm(srv.URL+"/me/emergency/code", url.Values{"account": {"u1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("asking for a code: %d", resp.StatusCode)
	}
	m, err := mail.Wait(t, 1, 10*time.Second)[0].Parse()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Body, "Your code: ") {
		t.Errorf("the mail:\n%s", m.Body)
	}
	// Nothing of it waits in the outbox, which keeps what it sends.
	ds, err := db.ListCommands(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Command.Notice == holdfast.NoticeEmergencyCode {
			t.Errorf("the code's notice is in the outbox: %+v", d.Command)
		}
	}
}
