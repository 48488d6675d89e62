package rpc

import (
	"context"
	"github.com/holdfast/holdfast/internal/telemetry"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/holdfast/holdfast"
	"github.com/holdfast/holdfast/engine"
)

// Metrics are the server's Prometheus series, on a registry of their own so
// that tests can run many servers in one process.
type Metrics struct {
	Registry    *prometheus.Registry
	decisions   *prometheus.CounterVec
	withdrawals *prometheus.CounterVec
	check       prometheus.Histogram
	rpc         *prometheus.HistogramVec
	commit      *prometheus.HistogramVec
	feedDelay   prometheus.Histogram
	events      *prometheus.CounterVec
	// authRejected counts API calls refused by the auth layer, by reason.
	authRejected *prometheus.CounterVec
	// gatewayDecisions and gatewayDuration are the gateway path's
	// (forward-auth and ext_authz).
	gatewayDecisions *prometheus.CounterVec
	gatewayDuration  *prometheus.HistogramVec

	// The series every call touches, bound once to their labels: a label
	// lookup hashes the values and takes the vector's lock on every call.
	rpcTimers sync.Map // rpcLabels → prometheus.Observer
	counted   sync.Map // decisionLabels → prometheus.Counter
}

type rpcLabels struct{ procedure, code string }

type decisionLabels struct {
	action holdfast.Action
	effect holdfast.Effect
	kind   string
}

// rpcTimer is the holdfast_rpc_duration_seconds series of procedure and code.
func (m *Metrics) rpcTimer(procedure, code string) prometheus.Observer {
	k := rpcLabels{procedure, code}
	if o, ok := m.rpcTimers.Load(k); ok {
		return o.(prometheus.Observer)
	}
	o, _ := m.rpcTimers.LoadOrStore(k, m.rpc.WithLabelValues(procedure, code))
	return o.(prometheus.Observer)
}

// NewMetrics creates the series and registers them with the Go runtime and
// process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "holdfast_decisions_total",
			Help: "Check answers by action, effect and the kind that decided them (none when allowed, hidden for a cause without a kind; in the holder view a non-disclosable restriction counts as the kind it is shown as).",
		}, []string{"action", "effect", "kind"}),
		withdrawals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "holdfast_withdrawal_authorizations_total",
			Help: "Withdrawal authorizations by outcome (approve, review, deny).",
		}, []string{"outcome"}),
		check: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "holdfast_check_duration_seconds",
			Help:    "Time to answer one Check in the handler, after decoding and before encoding.",
			Buckets: prometheus.ExponentialBuckets(250e-9, 4, 10), // 250ns .. 65ms
		}),
		rpc: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "holdfast_rpc_duration_seconds",
			Help:    "Time in the handler by procedure and result code.",
			Buckets: prometheus.ExponentialBuckets(10e-6, 4, 10), // 10µs .. 2.6s
		}, []string{"procedure", "code"}),
		commit: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "holdfast_store_commit_duration_seconds",
			Help:    "Time for one store transaction (Update), queueing and durable commit included, by result.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 3, 10), // 50µs .. 1s
		}, []string{"result"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "holdfast_events_total",
			Help: "Events reported to EventService, by type (unknown when it is not one of docs/design.md's or could not be read) and outcome (ingested, duplicate, invalid, failed).",
		}, []string{"type", "outcome"}),
	}
	m.authRejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "holdfast_auth_rejected_total",
		Help: "API calls refused before they ran, by reason: bad_token (missing, malformed or unknown), expired, revoked, disabled (the staff member is disabled or removed), wrong_scope, rate_limited (over the token's rate limit).",
	}, []string{"reason"})
	for _, r := range rejectReasons {
		m.authRejected.WithLabelValues(r) // every reason shows, at 0
	}
	m.Registry.MustRegister(m.authRejected)
	m.gatewayDecisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "holdfast_gateway_decisions_total",
		Help: "Gateway answers (forward-auth and ext_authz) by route (the policy's \"METHOD PATH\", or unmapped) and effect: allow, deny, review, unauthenticated (no account), refused (an unmapped write or an unreadable URI), error (the engine failed; the gateway fails closed).",
	}, []string{"route", "effect"})
	m.gatewayDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "holdfast_gateway_duration_seconds",
		Help:    "Time to answer a gateway, from the request read to the answer, by transport (forward_auth, ext_authz).",
		Buckets: prometheus.ExponentialBuckets(1e-6, 4, 10), // 1µs .. 262ms
	}, []string{"transport"})
	m.Registry.MustRegister(m.gatewayDecisions, m.gatewayDuration)
	m.feedDelay = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "holdfast_feed_delay_seconds",
		Help:    "How long after its publication each change-feed message (a change or a heartbeat) was applied on this node.",
		Buckets: feedDelayBuckets,
	})
	m.Registry.MustRegister(m.feedDelay)
	m.Registry.MustRegister(m.decisions, m.withdrawals, m.check, m.rpc, m.commit, m.events,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Store wraps s so that every Update is timed. Build the engine on the
// wrapped store.
func (m *Metrics) Store(s holdfast.Store) holdfast.Store { return timedStore{s, m.commit} }

type timedStore struct {
	holdfast.Store
	commit *prometheus.HistogramVec
}

func (s timedStore) Update(ctx context.Context, account string, now time.Time, fn func(tx holdfast.AccountTx) error) error {
	start := time.Now()
	ctx, span := telemetry.Tracer().Start(ctx, "store.update") // a no-op span unless tracing is on
	err := s.Store.Update(ctx, account, now, fn)
	telemetry.End(span, err)
	result := "ok"
	if err != nil {
		result = "error"
	}
	s.commit.WithLabelValues(result).Observe(time.Since(start).Seconds())
	return err
}

// watchIndex exports the engine's index size. Registering twice (a second
// handler on the same metrics) keeps the first.
func (m *Metrics) watchIndex(e *engine.Engine) {
	_ = m.Registry.Register(indexCollector{e})
	_ = m.Registry.Register(ruleErrorCollector{e})
	_ = m.Registry.Register(shadowCollector{e})
}

// watchOutbox exports the outbox's backlog, when the store has one and can
// count it.
func (m *Metrics) watchOutbox(box Outbox, now func() time.Time) {
	if s, ok := box.(outboxStats); ok {
		_ = m.Registry.Register(outboxCollector{s, now})
	}
}

type outboxStats interface {
	OutboxStats(ctx context.Context) (holdfast.OutboxStats, error)
}

var (
	outboxPendingDesc   = prometheus.NewDesc("holdfast_outbox_pending", "Commands to other services (webhooks, notifications) waiting to be delivered.", nil, nil)
	outboxOldestDesc    = prometheus.NewDesc("holdfast_outbox_oldest_pending_age_seconds", "Age of the oldest command waiting to be delivered (0 when none waits).", nil, nil)
	outboxDeadDesc      = prometheus.NewDesc("holdfast_outbox_dead", "Commands their deliverer gave up on: dead letters, until redriven (holdfast outbox redrive).", nil, nil)
	outboxScrapeErrDesc = prometheus.NewDesc("holdfast_outbox_stats_error", "1 when the outbox could not be read for these metrics.", nil, nil)
	buildInfoDesc       = prometheus.NewDesc("holdfast_build_info", "The running binary: always 1, labelled with its version and the commit it was built from.", []string{"version", "commit", "goversion"}, nil)
)

// outboxCollector reads the outbox's backlog at each scrape: two counts
// and one row on the index of its state, from the store every node shares.
type outboxCollector struct {
	box outboxStats
	now func() time.Time
}

func (c outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- outboxPendingDesc
	ch <- outboxOldestDesc
	ch <- outboxDeadDesc
	ch <- outboxScrapeErrDesc
}

func (c outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.box.OutboxStats(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(outboxScrapeErrDesc, prometheus.GaugeValue, 1)
		return
	}
	ch <- prometheus.MustNewConstMetric(outboxScrapeErrDesc, prometheus.GaugeValue, 0)
	ch <- prometheus.MustNewConstMetric(outboxPendingDesc, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(outboxDeadDesc, prometheus.GaugeValue, float64(st.Dead))
	age := 0.0
	if !st.OldestPending.IsZero() {
		age = max(0, c.now().Sub(st.OldestPending).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(outboxOldestDesc, prometheus.GaugeValue, age)
}

// SetBuild exports holdfast_build_info for version, and the commit the
// binary records (go build from a git checkout), if any.
func (m *Metrics) SetBuild(version string) {
	commit := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				commit = s.Value
			}
		}
	}
	_ = m.Registry.Register(buildCollector{prometheus.MustNewConstMetric(buildInfoDesc, prometheus.GaugeValue, 1, version, commit, runtime.Version())})
}

type buildCollector struct{ m prometheus.Metric }

func (c buildCollector) Describe(ch chan<- *prometheus.Desc) { ch <- buildInfoDesc }
func (c buildCollector) Collect(ch chan<- prometheus.Metric) { ch <- c.m }

var (
	indexAccountsDesc     = prometheus.NewDesc("holdfast_index_accounts", "Accounts with restrictions in the decision index.", nil, nil)
	indexRestrictionsDesc = prometheus.NewDesc("holdfast_index_restrictions", "Restrictions in the decision index.", nil, nil)
	feedLagDesc           = prometheus.NewDesc("holdfast_feed_lag_seconds", "How far this node is behind the change feed (0 without one).", nil, nil)
	feedStaleDesc         = prometheus.NewDesc("holdfast_feed_stale", "1 while this node is further behind the feed than allowed and fails closed for money-out.", nil, nil)
	indexRepairsDesc      = prometheus.NewDesc("holdfast_index_repairs_total", "Accounts whose decision index entry anti-entropy found different from the store and reloaded: changes the feed never brought this node.", nil, nil)
	fullPassAgeDesc       = prometheus.NewDesc("holdfast_index_full_pass_age_seconds", "Time since anti-entropy last finished comparing every account with the store (or the index was last rebuilt from it).", nil, nil)
)

// indexCollector reports the index's health: both sizes, read in one
// pass over the index per scrape, the feed's lag, and anti-entropy's
// figures while it runs (a node without a feed has none).
type indexCollector struct{ e *engine.Engine }

func (c indexCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- indexAccountsDesc
	ch <- indexRestrictionsDesc
	ch <- feedLagDesc
	ch <- feedStaleDesc
	ch <- indexRepairsDesc
	ch <- fullPassAgeDesc
}

func (c indexCollector) Collect(ch chan<- prometheus.Metric) {
	accounts, restrictions := c.e.IndexStats()
	ch <- prometheus.MustNewConstMetric(indexAccountsDesc, prometheus.GaugeValue, float64(accounts))
	ch <- prometheus.MustNewConstMetric(indexRestrictionsDesc, prometheus.GaugeValue, float64(restrictions))
	lag, stale := c.e.FeedLag(), 0.0
	if lag > 24*time.Hour {
		lag = 24 * time.Hour // never fed: say "a day", not 292 years
	}
	if c.e.Stale() {
		stale = 1
	}
	ch <- prometheus.MustNewConstMetric(feedLagDesc, prometheus.GaugeValue, lag.Seconds())
	ch <- prometheus.MustNewConstMetric(feedStaleDesc, prometheus.GaugeValue, stale)
	if st := c.e.AntiEntropyStats(); st.Running {
		ch <- prometheus.MustNewConstMetric(indexRepairsDesc, prometheus.CounterValue, float64(st.Repairs))
		ch <- prometheus.MustNewConstMetric(fullPassAgeDesc, prometheus.GaugeValue, max(0, c.e.Now().Sub(st.LastFullPass).Seconds()))
	}
}

// decided counts one check answer.
func (m *Metrics) decided(action holdfast.Action, d *holdfast.Decision, took time.Duration) {
	kind := "none"
	for i := range d.Causes {
		if c := &d.Causes[i]; c.Effect == d.Effect {
			kind = string(c.Kind)
			if kind == "" {
				kind = "hidden"
			}
			break
		}
	}
	k := decisionLabels{action, d.Effect, kind}
	c, ok := m.counted.Load(k)
	if !ok {
		c, _ = m.counted.LoadOrStore(k, m.decisions.WithLabelValues(string(action), d.Effect.String(), kind))
	}
	c.(prometheus.Counter).Inc()
	if took > 0 {
		m.check.Observe(took.Seconds())
	}
}

// feedDelayBuckets span a healthy feed (milliseconds) to one far past
// --max-lag.
var feedDelayBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2, 5, 10}

// ObserveFeedDelay records how long after its publication a feed message
// was applied (engine.FeedConfig.OnDelay).
func (m *Metrics) ObserveFeedDelay(d time.Duration) { m.feedDelay.Observe(d.Seconds()) }
