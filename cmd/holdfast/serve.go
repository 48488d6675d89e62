package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/holdfast/holdfast/internal/telemetry"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/backtest"
	"github.com/holdfast/holdfast/blob"
	"github.com/holdfast/holdfast/bus"
	"github.com/holdfast/holdfast/engine"
	"github.com/holdfast/holdfast/gateway"
	"github.com/holdfast/holdfast/policy"
	"github.com/holdfast/holdfast/postgres"
	"github.com/holdfast/holdfast/rpc"
	"github.com/holdfast/holdfast/sqlite"
	"github.com/holdfast/holdfast/web"
)

const defaultData = "./holdfast-data"

// fastPathQueue is how many committed changes may wait to be published at
// once; beyond it they are left to the outbox.
const fastPathQueue = 4096

// serveOptions are the serve command's settings.
type serveOptions struct {
	// otlpEndpoint turns tracing on (internal/telemetry).
	otlpEndpoint string
	where        storeRef
	addr, policy string
	evidence     evidenceOptions
	delivery     delivery
	cluster      clusterOptions
	// secureCookies marks the pages' cookies Secure (behind TLS).
	secureCookies bool
	tls           tlsOptions
	rates         rpc.TokenRates
	oidc          oidcOptions
	auditLog      auditLogOptions

	// trustForwardedProto marks the pages' cookies Secure when the proxy
	// in front says the request came over TLS; staffIdle ends a Console
	// session left idle this long.
	trustForwardedProto bool
	staffIdle           time.Duration
	emergency           emergencyOptions
	backtest            backtestOptions
}

// backtestOptions cap the backtest each policy push starts: how far back
// it replays events, for how long and how many.
type backtestOptions struct {
	window, timeout time.Duration
	maxEvents       int64
}

func (o *backtestOptions) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.DurationVar(&o.window, "backtest-window", engine.DefaultBacktestWindow, "a pushed policy's backtest replays the events of this long before the push")
	f.DurationVar(&o.timeout, "backtest-timeout", engine.DefaultBacktestTimeout, "a backtest stops reading events after this long, and reports what it replayed as capped")
	f.Int64Var(&o.maxEvents, "backtest-max-events", engine.DefaultBacktestMaxEvents, "a backtest replays at most this many events, and reports the run as capped")
}

// validate refuses caps that would make every backtest empty.
func (o *backtestOptions) validate() *holdfast.Error {
	for _, c := range []struct {
		flag string
		bad  bool
	}{{"backtest-window", o.window <= 0}, {"backtest-timeout", o.timeout <= 0}, {"backtest-max-events", o.maxEvents <= 0}} {
		if c.bad {
			return holdfast.Errorf(holdfast.InvalidArgument, c.flag, "--%s must be positive", c.flag)
		}
	}
	return nil
}

// oidcEnv holds the Console's OIDC client secret (never a flag: flags
// show in ps).
const oidcEnv = "HOLDFAST_OIDC_CLIENT_SECRET"

// oidcOptions add Console sign-in through the exchange's OpenID Connect
// provider.
type oidcOptions struct {
	issuer, clientID, redirectURL, staffClaim, name string
}

func (o *oidcOptions) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.issuer, "oidc-issuer", "", "let staff sign in to the Console through this OpenID Connect provider (issuer URL; client secret from $"+oidcEnv+")")
	f.StringVar(&o.clientID, "oidc-client-id", "", "the Console's client id at the OIDC provider")
	f.StringVar(&o.redirectURL, "oidc-redirect-url", "", "the Console's callback as registered at the provider: https://HOST/console/oidc/callback")
	f.StringVar(&o.staffClaim, "oidc-staff-claim", "email", "the ID token claim whose value is the staff id")
	f.StringVar(&o.name, "oidc-name", "", "the provider's name on the sign-in page (default: the issuer's host)")
}

// config is the pages' OIDC configuration (nil without --oidc-issuer).
func (o *oidcOptions) config() (*web.OIDCConfig, error) {
	if o.issuer == "" {
		if o.clientID != "" || o.redirectURL != "" {
			return nil, usagef("--oidc-client-id and --oidc-redirect-url need --oidc-issuer")
		}
		return nil, nil
	}
	if o.clientID == "" || o.redirectURL == "" {
		return nil, usagef("--oidc-issuer needs --oidc-client-id and --oidc-redirect-url")
	}
	return &web.OIDCConfig{Issuer: o.issuer, ClientID: o.clientID, ClientSecret: os.Getenv(oidcEnv), RedirectURL: o.redirectURL, StaffClaim: o.staffClaim, Name: o.name}, nil
}

// tlsOptions serve the API and the pages over TLS, optionally asking
// service callers for client certificates (mTLS).
type tlsOptions struct {
	cert, key, clientCA string
}

func (o *tlsOptions) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.cert, "tls-cert", "", "serve over TLS with this certificate (PEM; with --tls-key)")
	f.StringVar(&o.key, "tls-key", "", "the certificate's private key (PEM)")
	f.StringVar(&o.clientCA, "tls-client-ca", "", "require client certificates signed by these CAs (PEM): mutual TLS for service callers")
}

// config loads the certificate (and client CAs); TLS 1.2 at least.
func (o *tlsOptions) config() (*tls.Config, error) {
	if o.key == "" {
		return nil, usagef("--tls-cert needs --tls-key")
	}
	cert, err := tls.LoadX509KeyPair(o.cert, o.key)
	if err != nil {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "tls-cert", "%v", err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	if o.clientCA != "" {
		pem, err := os.ReadFile(o.clientCA)
		if err != nil {
			return nil, holdfast.Errorf(holdfast.InvalidArgument, "tls-client-ca", "%v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, holdfast.Errorf(holdfast.InvalidArgument, "tls-client-ca", "no certificate in %s", o.clientCA)
		}
		c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return c, nil
}

// busEnv names the NATS server of a cluster.
const busEnv = "HOLDFAST_BUS"

// clusterOptions make a node one of many: a PostgreSQL store (--store)
// shared with the others, and NATS JetStream for the change feed and
// event intake.
type clusterOptions struct {
	bus        string
	prefix     string
	maxLag     time.Duration
	partitions int
	intake     bool
	// antiEntropy paces the comparison of the index with the store.
	antiEntropy engine.AntiEntropy
}

func (o *clusterOptions) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.bus, "bus", os.Getenv(busEnv), "NATS URL (nats://…) of the cluster's change feed and event intake (default $"+busEnv+"; empty: one node alone)")
	f.StringVar(&o.prefix, "bus-prefix", "holdfast", "prefix of the cluster's JetStream streams and subjects")
	f.DurationVar(&o.maxLag, "max-lag", 2*time.Second, "behind the change feed by more than this, the node refuses money-out checks and is not ready")
	f.IntVar(&o.partitions, "intake-partitions", 16, "partitions of the event subjects (publishers must agree)")
	f.BoolVar(&o.intake, "intake", true, "with --bus: ingest events published to <prefix>.events.<partition>")
	f.DurationVar(&o.antiEntropy.Every, "anti-entropy-every", time.Second, "with --bus: compare one slice of accounts' restrictions in the index with the store this often, reloading what differs (0: off)")
	f.IntVar(&o.antiEntropy.Slice, "anti-entropy-slice", 1000, "accounts per anti-entropy slice: a full pass takes accounts/slice × --anti-entropy-every (0: off)")
}

// evidenceOptions say where case evidence is kept: DATA/evidence, or an
// S3-compatible bucket.
type evidenceOptions struct {
	max                  int64
	s3Endpoint, s3Bucket string
	s3Region, s3Prefix   string
	s3Insecure           bool
}

// S3 credentials come from the environment only.
const (
	s3AccessKeyEnv = "HOLDFAST_S3_ACCESS_KEY"
	s3SecretKeyEnv = "HOLDFAST_S3_SECRET_KEY"
)

func (o *evidenceOptions) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.Int64Var(&o.max, "max-evidence-bytes", rpc.DefaultMaxEvidenceBytes, "largest file a case accepts")
	f.StringVar(&o.s3Endpoint, "evidence-s3-endpoint", "", "keep case evidence in an S3-compatible bucket at this endpoint (host:port; keys from $"+s3AccessKeyEnv+", $"+s3SecretKeyEnv+") instead of DATA/evidence")
	f.StringVar(&o.s3Bucket, "evidence-s3-bucket", "", "the evidence bucket")
	f.StringVar(&o.s3Region, "evidence-s3-region", "", "the bucket's region")
	f.StringVar(&o.s3Prefix, "evidence-s3-prefix", "evidence/", "prefix of the evidence objects")
	f.BoolVar(&o.s3Insecure, "evidence-s3-insecure", false, "talk to the S3 endpoint over plain HTTP")
}

// open returns the evidence store the options name.
func (o *evidenceOptions) open(data string) (blob.Store, error) {
	if o.max <= 0 {
		return nil, usagef("--max-evidence-bytes must be > 0")
	}
	if o.s3Endpoint == "" {
		return blob.NewDir(filepath.Join(data, "evidence"), o.max)
	}
	if o.s3Bucket == "" {
		return nil, usagef("--evidence-s3-endpoint needs --evidence-s3-bucket")
	}
	return blob.NewS3(blob.S3Config{
		Endpoint: o.s3Endpoint, Bucket: o.s3Bucket, Region: o.s3Region, Prefix: o.s3Prefix, UseSSL: !o.s3Insecure,
		AccessKey: os.Getenv(s3AccessKeyEnv), SecretKey: os.Getenv(s3SecretKeyEnv),
	}, o.max)
}

func serveCmd() *cobra.Command {
	var o serveOptions
	var level, pprofAddr string
	cmd := &cobra.Command{
		Use:   "serve [--data DIR] [--addr HOST:PORT] [--policy FILE]",
		Short: "Run the Holdfast server on an embedded SQLite store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := applyConfig(cmd.Flags(), os.Getenv); err != nil {
				return err
			}
			var lv slog.Level
			if err := lv.UnmarshalText([]byte(level)); err != nil {
				return usagef("--log-level must be debug, info, warn or error")
			}
			if o.staffIdle <= 0 {
				return usageError{holdfast.Errorf(holdfast.InvalidArgument, "staff-idle-timeout", "--staff-idle-timeout must be > 0")}
			}
			if err := o.backtest.validate(); err != nil {
				return usageError{err}
			}
			log := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: lv}))
			if pprofAddr != "" {
				go servePprof(pprofAddr, log)
			}
			return serve(cmd.Context(), &o, log, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.String("config", "", "YAML file of settings, keyed by these flags' names (default $"+configEnv+"); flags and HOLDFAST_* variables (HOLDFAST_MAX_LAG for --max-lag) override it")
	o.where.flags(cmd, "data directory (created if missing): the embedded store, and case evidence unless in S3")
	f.StringVar(&o.addr, "addr", "127.0.0.1:7433", "listen address")
	f.StringVar(&o.policy, "policy", "", "policy file (default: the embedded default policy)")
	f.StringVar(&level, "log-level", "info", "debug logs one line per request")
	f.StringVar(&o.otlpEndpoint, "otlp-endpoint", "", "export OpenTelemetry traces over OTLP/HTTP to this URL, e.g. http://collector:4318 (default $"+telemetry.EndpointEnv+"; empty: tracing off)")
	f.StringVar(&pprofAddr, "pprof-addr", "", "serve Go's profiler on this address (e.g. 127.0.0.1:6060); off by default")
	o.evidence.flags(cmd)
	o.delivery.flags(cmd)
	o.cluster.flags(cmd)
	o.tls.flags(cmd)
	f.Float64Var(&o.rates.Events, "rate-events", rpc.DefaultTokenRates.Events, "events per second each token may send (0: no limit); more get resource_exhausted")
	f.Float64Var(&o.rates.SelfService, "rate-self-service", rpc.DefaultTokenRates.SelfService, "self-service calls per second each token may make (0: no limit)")
	o.oidc.flags(cmd)
	o.auditLog.flags(cmd, true)
	o.emergency.flags(cmd)
	o.backtest.flags(cmd)
	f.BoolVar(&o.secureCookies, "secure-cookies", false, "mark the Security Center's and Console's cookies Secure always (they are whenever a request comes over TLS)")
	f.BoolVar(&o.trustForwardedProto, "trust-forwarded-proto", false, "behind a TLS-terminating proxy that sets X-Forwarded-Proto (overwriting the client's): mark cookies Secure when it says https")
	f.DurationVar(&o.staffIdle, "staff-idle-timeout", 30*time.Minute, "end a Console session no request used for this long (a session lasts 8 h at most)")
	return cmd
}

// serve listens first (so /healthz answers during a long index load), then
// opens the store, builds the engine and opens the gate; it stops
// gracefully when ctx ends (SIGINT, SIGTERM).
func serve(ctx context.Context, o *serveOptions, log *slog.Logger, out io.Writer) error {
	tracing, stopTracing, err := telemetry.Setup(ctx, o.otlpEndpoint, versionString())
	if err != nil {
		return holdfast.Errorf(holdfast.InvalidArgument, "otlp-endpoint", "%v", err)
	}
	defer func() {
		// The spans still buffered, within the shutdown's own bound.
		flush, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = stopTracing(flush)
	}()
	pol, err := loadPolicy(o.policy)
	if err != nil {
		return err
	}
	if o.where.store == "" {
		// One server per embedded store: a second would answer from an
		// index that never sees the first one's writes.
		lock, err := lockData(o.where.data, fmt.Sprintf("pid %d: holdfast serve on %s", os.Getpid(), o.addr), "one server per data directory: stop it first, or give this one another --data")
		if err != nil {
			return err
		}
		defer lock.release()
	}
	evidence, err := o.evidence.open(o.where.data)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		// A taken port or a wrong address is the operator's to fix.
		return holdfast.Errorf(holdfast.InvalidArgument, "addr", "cannot listen on %s: %v", o.addr, err)
	}
	var gate rpc.Gate
	srv := rpc.NewHTTPServer(o.addr, &gate)
	served := make(chan error, 1)
	// Cleartext gRPC goes to grpc-go once the API is up (decision 148);
	// over TLS every connection is net/http's, connect answering gRPC.
	var split *rpc.Split
	if o.tls.cert != "" {
		tc, err := o.tls.config()
		if err != nil {
			ln.Close()
			return err
		}
		srv.TLSConfig = tc
		ln = tls.NewListener(ln, tc)
	} else {
		split = rpc.SplitGRPC(ln)
		ln = split.HTTP()
	}
	go func() { served <- srv.Serve(ln) }()

	start := time.Now()
	_, statErr := os.Stat(filepath.Join(o.where.data, sqlite.FileName))
	if o.where.postgres() {
		statErr = nil
	}
	db, err := o.where.openStore(ctx, false) // locked above
	if err != nil {
		srv.Close()
		return err
	}
	defer func() {
		db.Close()
		log.Info("stopped")
	}()
	var nodeLock *postgres.NodeLock
	if pg, ok := db.(*postgres.DB); ok {
		// A node without a bus never hears of other nodes' writes: it
		// must be alone on the store. Nodes with one share the lock.
		if nodeLock, err = pg.LockNode(ctx, o.cluster.bus != ""); err != nil {
			srv.Close()
			return err
		}
		defer nodeLock.Close()
	}
	metrics := rpc.NewMetrics()
	metrics.SetBuild(versionString())
	coarse := holdfast.NewCoarseClock(time.Millisecond)
	defer coarse.Stop()
	clock, offset, err := testClock(coarse)
	if err != nil {
		srv.Close()
		return err
	}
	broken, dropFeed := os.Getenv(brokenWithdrawalsEnv) == "1", os.Getenv(dropFeedEnv) == "1"
	if offset != 0 || broken || dropFeed {
		log.Warn("TEST ONLY: this node is wrong on purpose", "clock_offset", offset, "broken_withdrawals", broken, "drop_feed", dropFeed)
	}
	var b *bus.Bus
	if o.cluster.bus != "" {
		if b, err = bus.Connect(ctx, o.cluster.bus, bus.Config{Prefix: o.cluster.prefix, Node: o.addr, Logger: log, Clock: clock}); err != nil {
			srv.Close()
			return err
		}
		defer b.Close()
	}
	stopDelivery, err := startDelivery(ctx, db, &o.delivery, b, log)
	if err != nil {
		srv.Close()
		return err
	}
	defer stopDelivery() // before the store closes
	aliasKey, err := aliasKey(o.where.data)
	if err != nil {
		srv.Close()
		return err
	}
	logSigner, logKey, err := o.auditLog.signer(o.where.data)
	if err != nil {
		srv.Close()
		return err
	}
	// The store's active version governs; a first start installs ours.
	if pol, err = engine.StartingPolicy(ctx, db, pol, o.policy != ""); err != nil {
		srv.Close()
		return err
	}
	cfg := engine.Config{Store: metrics.Store(db), Policy: pol, Clock: clock, Logger: log, AliasKey: aliasKey, BrokenWithdrawals: broken,
		LogSigner: logSigner, LogVerifierKey: logKey, Backtest: runBacktest,
		BacktestWindow: o.backtest.window, BacktestTimeout: o.backtest.timeout, BacktestMaxEvents: o.backtest.maxEvents}
	var feedStart uint64
	if b != nil {
		// The feed's start is taken before the index is built from the
		// store, so nothing committed in between is missed.
		if feedStart, err = b.FeedStart(ctx); err != nil {
			srv.Close()
			return err
		}
		// The fast path, off the write's path: the answer never waits for
		// NATS, and the outbox publishes whatever this does not.
		fast := b.StartFastPath(ctx, fastPathQueue)
		cfg.Feed = &engine.FeedConfig{MaxLag: o.cluster.maxLag, OnCommit: fast.Publish, OnDelay: metrics.ObserveFeedDelay}
	}
	eng, err := engine.New(ctx, cfg)
	if err != nil {
		srv.Close()
		return err
	}
	if err := eng.CheckLogKey(ctx, o.auditLog.rotate); err != nil {
		srv.Close()
		return err
	}
	if err := installPolicy(ctx, eng, log); err != nil {
		srv.Close()
		return err
	}
	if o.where.store != "" {
		// Another node may approve an activation: follow the store.
		go eng.WatchPolicy(ctx, policyPoll)
	}
	go eng.RunLog(ctx, o.auditLog.every)
	// Shadow outcomes still queued are written before the store closes.
	shadowCtx, stopShadow := context.WithCancel(ctx)
	var shadowDone sync.WaitGroup
	shadowDone.Go(func() { eng.RunShadow(shadowCtx) })
	defer func() { stopShadow(); shadowDone.Wait() }()
	if b != nil {
		go b.RunFeed(ctx, feedApplier(eng), feedStart)
		go eng.RunAntiEntropy(ctx, o.cluster.antiEntropy)
		if o.cluster.intake {
			go func() {
				if err := b.RunIntake(ctx, eng, bus.IntakeConfig{Partitions: o.cluster.partitions}); err != nil {
					log.Error("event intake stopped", "err", err)
				}
			}()
		}
	}
	var tokens rpc.AuthCache
	adminSocket := false
	if o.where.store == "" {
		// CLI commands that write to the data directory run in this
		// server, through its socket there.
		if stopAdmin, err := listenAdmin(ctx, o.where.data, db, tokens.Forget, log); err != nil {
			log.Warn("no admin socket: commands that write to the data directory refuse while this server runs", "err", err)
		} else {
			adminSocket = true
			defer stopAdmin() // before the store closes
		}
	}
	// The hint comes before readiness, so that whoever waits for /readyz
	// has it on screen already.
	if _, err := db.Staff(ctx, "admin"); errors.Is(statErr, os.ErrNotExist) || holdfast.ErrorCode(err) == holdfast.NotFound {
		firstStartHint(out, o.where.data, ln.Addr().String(), o.where.postgres(), adminSocket)
	}
	gw, err := gateway.NewAuthorizer(ctx, eng.Policy().Gateway, eng, nil)
	if err != nil {
		srv.Close()
		return err
	}
	api := rpc.New(rpc.Config{Tracing: tracing, Engine: eng, Staff: db, Metrics: metrics, Logger: log, Outbox: staffOutbox{db}, Evidence: evidence, MaxEvidenceBytes: o.evidence.max, TokenRates: o.rates, AuthCache: &tokens, Gateway: gw})
	pages, err := o.pages(eng, db, evidence, log)
	if err != nil {
		srv.Close()
		return err
	}
	// Fenced: the node lock is lost, so another node may be serving
	// alone; answer nothing (but liveness and metrics) until it is back.
	if nodeLock != nil {
		go nodeLock.Watch(ctx, time.Second, func(err error) {
			gate.Fence("not serving: lost the node lock on the store")
			log.Error("lost the node lock on the store: not serving until it is taken again", "err", err)
		}, func(ctx context.Context) error {
			if b == nil {
				// Alone again, but another node may have written meanwhile.
				if err := eng.Rebuild(ctx); err != nil {
					log.Error("took the node lock again, but rebuilding the index failed", "err", err)
					return err
				}
			}
			gate.Fence("")
			log.Warn("took the node lock again: serving")
			return nil
		})
	}
	gate.Open(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if web.IsPage(r.URL.Path) {
			pages.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	}))
	grpcDone := make(chan struct{})
	var grpcSrv *grpc.Server
	if split != nil {
		grpcSrv = api.GRPCServer(&gate)
		grpcLn := split.GRPC()
		go func() {
			defer close(grpcDone)
			if err := grpcSrv.Serve(grpcLn); err != nil && !errors.Is(err, net.ErrClosed) {
				log.Error("gRPC server stopped", "err", err)
			}
		}()
	} else {
		close(grpcDone)
	}
	accounts, restrictions := eng.IndexStats()
	log.Info("ready", "addr", "http://"+ln.Addr().String(), "data", o.where.data, "postgres", o.where.postgres(), "bus", o.cluster.bus != "", "accounts", accounts, "restrictions", restrictions, "startup", time.Since(start), "audit_key", logKey)

	go pruneIndex(ctx, eng, log)
	go announceExpiries(ctx, eng, log)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if grpcSrv != nil {
		// Both servers drain at once; a gRPC call still running when the
		// time is up is cut off, as HTTP's are.
		go grpcSrv.GracefulStop()
		defer func() {
			select {
			case <-grpcDone:
			case <-shutdown.Done():
				grpcSrv.Stop()
			}
		}()
	}
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// policyPoll is how often a node on a shared store looks for a newly
// activated policy version: within a second of an approval on any node,
// every node judges by it.
const policyPoll = 250 * time.Millisecond

// installPolicy makes the policy this server started with the store's
// first active version, when the store has none.
func installPolicy(ctx context.Context, eng *engine.Engine, log *slog.Logger) error {
	installed, err := eng.InstallPolicy(ctx)
	if installed {
		log.Info("installed the policy as the store's first active version", "version", eng.Policy().Hash)
	}
	return err
}

func loadPolicy(path string) (*holdfast.Policy, error) {
	if path == "" {
		return policy.Default(), nil
	}
	p, err := policy.Load(path)
	if err != nil {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "policy", "%s", policy.FormatError(path, err))
	}
	return p, nil
}

// firstStartHint tells a new operator how to get in. On the embedded
// store, the commands go through the server (its admin socket) if it has
// one, and else come after stopping it.
func firstStartHint(w io.Writer, data, addr string, postgres, adminSocket bool) {
	if postgres {
		fmt.Fprintf(w, `
Holdfast is running on http://%[1]s with its data in PostgreSQL.
There is no admin yet. To get an admin token, run in another terminal, with
--store (or $HOLDFAST_STORE) naming the same database:

  holdfast staff add --id admin --roles admin
  holdfast token create --scopes staff,check,self_service,events --staff admin

then
  export HOLDFAST_TOKEN=<the printed token>

`, addr)
		return
	}
	if abs, err := filepath.Abs(data); err == nil {
		data = abs // the other terminal may be elsewhere
	}
	how, then := "run in another terminal (the commands go through this server)", "then"
	if !adminSocket {
		how, then = "stop it (Ctrl-C), then run", "start it again, and"
	}
	fmt.Fprintf(w, `
Holdfast is running on http://%[2]s with its data in %[1]s.
There is no admin yet. To get an admin token, %[3]s:

  holdfast staff add --data %[1]s --id admin --roles admin
  holdfast token create --data %[1]s --scopes staff,check,self_service,events --staff admin

(from a source checkout, "go run ./cmd/holdfast" in place of "holdfast"),
%[4]s
  export HOLDFAST_TOKEN=<the printed token>

`, data, addr, how, then)
}

// servePprof exposes net/http/pprof on its own listener, so profiling is
// never reachable through the API address.
func servePprof(addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Info("profiler listening", "addr", addr)
	if err := srv.ListenAndServe(); err != nil {
		log.Error("profiler stopped", "err", err)
	}
}

// pruneIndex drops ended restrictions from the decision index every minute.
// Decisions never wait for it: it only keeps memory to the restrictions in
// force.
func pruneIndex(ctx context.Context, eng *engine.Engine, log *slog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n := eng.Prune(); n > 0 {
				log.Debug("pruned ended restrictions from the index", "count", n)
			}
		}
	}
}

// announceExpiries tells other services (through the outbox) about
// restrictions that ended by time, and holders about those ending soon.
// Expiries start a day back, so a restart misses nothing; the engine makes
// repeats no-ops. Warnings start now: after a restart, one that is due
// already would come too late to help.
func announceExpiries(ctx context.Context, eng *engine.Engine, log *slog.Logger) {
	from, fromSoon := eng.Now().Add(-24*time.Hour), eng.Now()
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		to := eng.Now()
		n, err := eng.AnnounceExpiries(ctx, from, to)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("announcing expired restrictions", "err", err)
		case err == nil:
			from = to
			if n > 0 {
				log.Debug("announced expired restrictions", "count", n)
			}
		}
		n, err = eng.AnnounceExpiring(ctx, fromSoon, to)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("telling holders of restrictions about to end", "err", err)
		case err == nil:
			fromSoon = to
			if n > 0 {
				log.Debug("told holders of restrictions about to end", "count", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pages builds the Security Center and the Console.
func (o *serveOptions) pages(eng *engine.Engine, staff holdfast.StaffStore, evidence blob.Store, log *slog.Logger) (*web.Server, error) {
	holderKey, err := pageKey(holderKeyEnv, o.where.data, "holder.key")
	if err != nil {
		return nil, err
	}
	sessionKey, err := pageKey(sessionKeyEnv, o.where.data, "session.key")
	if err != nil {
		return nil, err
	}
	oidc, err := o.oidc.config()
	if err != nil {
		return nil, err
	}
	emergency, err := o.emergency.config(&o.delivery, staff)
	if err != nil {
		return nil, err
	}
	cfg := web.Config{Engine: eng, Staff: staff, Evidence: evidence, HolderKey: holderKey, SessionKey: sessionKey, SecureCookies: o.secureCookies, TrustForwardedProto: o.trustForwardedProto, StaffIdle: o.staffIdle, Logger: log, OIDC: oidc, Emergency: emergency}
	// The staff store is the server's backend: its outbox feeds the
	// Console's dead-letter page.
	if box, ok := staff.(web.Outbox); ok {
		cfg.Outbox = box
	}
	return web.New(cfg)
}

// runBacktest is backtest.Run for the engine, which backtests each pushed
// policy version (the engine cannot import package backtest).
func runBacktest(ctx context.Context, events io.Reader, candidate, baseline *holdfast.Policy) (any, error) {
	return backtest.Run(ctx, events, candidate, baseline)
}
