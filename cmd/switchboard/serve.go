package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/bus/redisbus"
	"github.com/switchboard-rt/switchboard/dashboard"
	"github.com/switchboard-rt/switchboard/edge"
	"github.com/switchboard-rt/switchboard/internal/rawsock"
	"github.com/switchboard-rt/switchboard/restapi"
	"github.com/switchboard-rt/switchboard/tenants"
)

func newLogger(cfg serveConfig, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// loadApps seeds the store from the apps file, or with the development
// app when nothing is configured; it returns the apps of the file.
func loadApps(ctx context.Context, cfg serveConfig, store tenants.Store, log *slog.Logger) ([]*tenants.App, error) {
	var apps []*tenants.App
	if cfg.AppsFile != "" {
		var warnings []string
		var err error
		apps, warnings, err = tenants.LoadAppsFile(cfg.AppsFile)
		for _, w := range warnings {
			log.Warn("apps file: "+w, "file", cfg.AppsFile)
		}
		if err != nil {
			return nil, fmt.Errorf("--apps-file: %w", err)
		}
		n, err := tenants.Seed(ctx, store, apps)
		if err != nil {
			return nil, err
		}
		log.Info("apps loaded", "file", cfg.AppsFile, "added", n, "in_file", len(apps))
	}
	existing, err := store.Apps(ctx)
	if err != nil {
		return nil, err
	}
	if len(existing) == 0 && cfg.DB.DatabaseURL != "" {
		log.Warn("no apps in the database: create one with `switchboard apps create` (the development app is only made in memory)")
	} else if len(existing) == 0 {
		dev := tenants.DevApp()
		if _, err := store.CreateAppIfAbsent(ctx, dev); err != nil {
			return nil, err
		}
		log.Warn("!!! NO APPS CONFIGURED: created the DEVELOPMENT app: app_id=app-id key=app-key secret=app-secret. " +
			"These credentials are public and for development only; configure real apps with --apps-file before exposing this server.")
	}
	return apps, nil
}

func serve(ctx context.Context, cfg serveConfig, stdout io.Writer) error {
	log := newLogger(cfg, stdout)
	busKind := "memory"
	if cfg.RedisURL != "" {
		busKind = "redis (" + cfg.RedisMode + ")"
	}
	log.Info("switchboard starting", "version", buildVersion(), "roles", cfg.Roles.String(), "store", cfg.DB.kind(), "bus", busKind)
	warnRoleSplit(cfg, log)
	switch {
	case cfg.DB.DatabaseURL == "" && cfg.RedisURL == "":
		log.Warn("embedded mode: in-memory app store and bus, single node; nothing survives a restart")
	case cfg.DB.DatabaseURL == "":
		log.Warn("in-memory app store: apps come from the apps file and nothing survives a restart")
	case cfg.RedisURL == "":
		log.Warn("in-memory bus: single node")
	}

	cp, err := openControlPlane(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer cp.close()
	fileApps, err := loadApps(ctx, cfg, cp.store, log)
	if err != nil {
		return err
	}
	if cfg.DB.DatabaseURL == "" && cfg.Roles.has(roleControl) {
		// The embedded mode has no CLI to make a management token (the
		// store lives in this process), so it makes one for the default
		// tenant, new on every start, and says it once.
		_, tok, err := cp.store.CreateToken(ctx, tenants.DefaultTenantID, "embedded", tenants.ActorSystem)
		if err != nil {
			return fmt.Errorf("embedded management token: %w", err)
		}
		log.Warn("embedded mode: management API token of the default tenant (new on every start): " + tok)
	}
	dir := cp.dir
	nodeID := edge.NewNodeID()
	bb, err := openBus(ctx, cfg, nodeID, log)
	if err != nil {
		return err
	}
	defer bb.close()
	state := bb.state

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	feed, detachFeed := newActivityFeed(bb, nodeID, log) // the dashboard's debug console (activity.go)
	defer detachFeed()
	bill, err := openBilling(ctx, cfg, cp, bb, nodeName(nodeID), log)
	if err != nil {
		return err
	}
	hooks, err := openWebhooks(ctx, cfg, bb, dir, fileApps, feed, reg, log, bill.usage)
	if err != nil {
		return err
	}
	// Edge nodes enqueue webhook events; control nodes deliver them. A
	// queue in memory is seen by this process only, so without a control
	// role here nothing would ever take the events out of it.
	deliverHooks := cfg.Roles.has(roleControl)
	enqueueHooks := deliverHooks || hooks.durable
	if !enqueueHooks && cfg.Roles.has(roleEdge) {
		log.Warn("webhooks are not sent: this node has no control role to deliver them and no --redis-url queue to hand them to control nodes")
	}

	edgeOpts := edge.Options{
		Apps: dir, Bus: bb.bus, State: state, Logger: log.With("component", "edge"), Registry: reg, NodeID: nodeID,
		ActivityTimeout:          cfg.ActivityTimeout,
		PongTimeout:              cfg.PongTimeout,
		MaxQueueBytes:            cfg.MaxQueueBytes,
		MaxFrameBytes:            cfg.MaxFrameBytes,
		MaxChannelsPerConnection: cfg.MaxChannelsPerConnection,
		PresenceGrace:            orDisabled(cfg.PresenceGrace),
		SubscriptionCountDelay:   orDisabled(cfg.SubscriptionCountDelay),
		History:                  bb.history,
		Activity:                 feed,
		Usage:                    bill.usage,
	}
	if enqueueHooks { // a nil *Notifier must not become a non-nil interface
		edgeOpts.Webhooks = hooks.notifier
	}
	publisher := activityPublisher{&bus.Publisher{Bus: bb.bus, State: state, CacheTTL: cfg.CacheTTL}, feed}
	apiOpts := restapi.Options{
		Apps:            dir,
		Publisher:       publisher,
		State:           state,
		History:         bb.history,
		Logger:          log.With("component", "api"),
		Registry:        reg,
		TimestampWindow: cfg.TimestampWindow,
		MaxBodyBytes:    cfg.MaxRequestBytes,
		KeyUsed:         dir.KeyUsed,
		Usage:           bill.usage,
	}
	if bb.connections != nil { // nil *State must not become a non-nil interface
		edgeOpts.Connections = bb.connections
		apiOpts.SharedRates = bb.rates
	}
	node := edge.New(edgeOpts)
	detach := bb.attach(node)
	defer detach()

	api := restapi.New(apiOpts)

	var draining atomic.Bool
	registerHealth(reg, &draining, bb, cp)
	// Each role's paths are mounted only on nodes that run it (roles.go);
	// /healthz, /readyz and /metrics are on every node.
	mux := roleMux{ServeMux: http.NewServeMux(), roles: cfg.Roles}
	mux.handle(roleAPI, api.Handler, "/apps/")
	usage := usageView{bill}
	mux.handle(roleControl, func() http.Handler {
		return dashboard.NewAPI(dashboard.Options{Store: cp.store, Logger: log.With("component", "management"),
			Webhooks: deliveriesView{hooks.attempts}, Usage: usage, BillingContacts: contactsView{bill.contacts.contacts}})
	}, "/api/v1/")
	if h := bill.webhookHandler(); h != nil {
		mux.handle(roleControl, func() http.Handler { return h }, "POST "+StripeWebhookPath)
	}
	mux.handle(roleControl, func() http.Handler {
		return dashboard.NewUI(dashboard.UIOptions{Store: cp.store, Accounts: cp.accounts, Logger: log.With("component", "dashboard"),
			AllowSignUp: cfg.DashboardSignUp, SecureCookies: cfg.DashboardSecureCookies, SessionTTL: cfg.DashboardSessionTTL,
			Activity: feed, Publisher: consolePublisher{publisher, dir}, Deliveries: deliveriesView{hooks.attempts},
			WebhookTester: webhookTester{worker: hooks.worker, apps: dir, trusted: hooks.trusted}, Usage: usage})
	}, "/dashboard/", "/dashboard") // the latter redirects to /dashboard/
	if cfg.Roles.has(roleControl) {
		if has, err := cp.accounts.HasUsers(ctx); err == nil && !has {
			log.Warn("dashboard: no user yet: whoever first opens /dashboard/ creates the owner account; do it before exposing this server")
		}
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { writeStatus(w, http.StatusOK, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if draining.Load() {
			writeStatus(w, http.StatusServiceUnavailable, "draining")
			return
		}
		if !bb.healthy() {
			writeStatus(w, http.StatusServiceUnavailable, "degraded: Redis unreachable")
			return
		}
		writeStatus(w, http.StatusOK, "ready")
	})
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	if cfg.MetricsAddr == "" {
		mux.Handle("/metrics", metrics)
	}
	// Everything else is an edge path: /app/{key}, after any prefix
	// (pusher-js's wsPath and httpPath options), its HTTP fallbacks and
	// SSE; the edge answers 404 for the rest.
	mux.handle(roleEdge, func() http.Handler { return node }, "/")

	// Bind every listener before serving on any, so a bad address stops
	// start-up with nothing half running.
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	var cert *certificate
	if cfg.TLSCert != "" {
		if cert, err = loadCertificate(cfg.TLSCert, cfg.TLSKey); err != nil {
			return err
		}
	}
	main, err := listen("--host/--port", cfg.addr(), mux.ServeMux, errLog)
	if err != nil {
		return err
	}
	if cert != nil {
		main.ln = tlsListener(main.ln, cert)
	}
	main.srv.RegisterOnShutdown(feed.Close) // open console streams end instead of holding up the drain
	servers := []*listener{main}
	closeAll := func() {
		for _, l := range servers {
			_ = l.ln.Close()
		}
	}
	if cfg.MetricsAddr != "" {
		mm := http.NewServeMux()
		mm.Handle("/metrics", metrics)
		l, err := listen("--metrics-addr", cfg.MetricsAddr, mm, errLog)
		if err != nil {
			closeAll()
			return err
		}
		log.Info("metrics listening", "addr", l.ln.Addr().String())
		servers = append(servers, l)
	}
	if cfg.PprofAddr != "" {
		pm := http.NewServeMux()
		pm.HandleFunc("/debug/pprof/", pprof.Index)
		pm.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		pm.HandleFunc("/debug/pprof/profile", pprof.Profile)
		pm.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		pm.HandleFunc("/debug/pprof/trace", pprof.Trace)
		l, err := listen("--pprof-addr", cfg.PprofAddr, pm, errLog)
		if err != nil {
			closeAll()
			return err
		}
		log.Info("pprof listening", "addr", l.ln.Addr().String())
		servers = append(servers, l)
	}
	log.Info("listening", "addr", main.ln.Addr().String(), "tls", cert != nil, "roles", cfg.Roles.String())

	var liveness *redisbus.Liveness
	if bb.liveness != nil {
		liveness = bb.liveness(node)
		if err := liveness.Join(ctx); err != nil {
			closeAll()
			return fmt.Errorf("--redis-url: registering the node: %w", err)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, l := range servers {
		g.Go(l.serve)
	}
	sweepCtx, stopSweep := context.WithCancel(context.Background())
	g.Go(func() error { return node.Run(sweepCtx) })
	if cert != nil {
		g.Go(func() error { return cert.watch(sweepCtx, cfg.TLSReloadInterval, log) })
	}
	cp.run(sweepCtx, g, node)
	if liveness != nil {
		// Beats until the node has drained, so the others do not take a
		// draining node for dead.
		g.Go(func() error { return liveness.Run(sweepCtx) })
	}
	stopHooks := hooks.start(g, deliverHooks)
	g.Go(func() error { return feed.Run(sweepCtx) })
	// Every node meters and checks quotas; the rollup and Stripe jobs are
	// the control role's.
	stopBilling := bill.start(g, cfg.Roles.has(roleControl))

	g.Go(func() error {
		<-gctx.Done()
		// Drain in the order of the architecture: stop accepting, tell
		// every socket to reconnect elsewhere, then stop the rest.
		draining.Store(true)
		log.Info("draining", "connections", node.Connections(), "deadline", cfg.DrainTimeout)
		dctx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
		defer cancel()
		// Close the listener before the 4200s go out: a client's immediate
		// reconnect is then refused at once and a load balancer sends it
		// to another node, instead of it landing in this node's accept
		// backlog and waiting out pusher-js's connect timeout.
		_ = main.ln.Close()
		shutdownErr := make(chan error, 1)
		go func() { shutdownErr <- main.srv.Shutdown(dctx) }()
		if err := node.Drain(dctx); err != nil {
			log.Warn("drain deadline passed; remaining sockets cut", "err", err)
		}
		stopSweep()
		if liveness != nil {
			// What the drain left (presence removals it flushed, sockets it
			// cut) goes now, announced, rather than after the node timeout.
			if err := liveness.Leave(dctx); err != nil {
				log.Warn("leaving the cluster: the others will remove this node's state after --node-timeout", "err", err)
			}
		}
		stopHooks(dctx)
		for _, l := range servers[1:] {
			l.shutdown(dctx)
		}
		if err := <-shutdownErr; err != nil && !errors.Is(err, net.ErrClosed) {
			_ = main.srv.Close()
		}
		// Last: every socket, API request and webhook call is counted by
		// now; the final flush (and rollup) gets a few seconds of its own.
		bctx, bcancel := context.WithTimeout(context.Background(), 10*time.Second)
		stopBilling(bctx)
		bcancel()
		log.Info("stopped")
		return nil
	})
	return g.Wait()
}

// registerHealth exports what /readyz decides and the state of the
// backends, for alerts and dashboards (deploy/observability).
func registerHealth(reg prometheus.Registerer, draining *atomic.Bool, bb *busBackend, cp *controlPlane) {
	bit := func(ok bool) float64 {
		if ok {
			return 1
		}
		return 0
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "switchboard_ready", Help: "1 while the node takes traffic (/readyz 200), 0 while draining or degraded."},
			func() float64 { return bit(!draining.Load() && bb.healthy()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "switchboard_bus_up", Help: "1 while the node reaches the bus (always 1 on the in-memory bus; Redis otherwise)."},
			func() float64 { return bit(bb.healthy()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "switchboard_store_up", Help: "1 while the control-plane store answers (PostgreSQL, or always 1 in memory); checked at each scrape."},
			func() float64 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				return bit(cp.healthy(ctx))
			}),
	)
}

// listener is one HTTP listener of the node, bound but not yet serving.
type listener struct {
	setting string // the flag that names its address, for errors
	ln      net.Listener
	srv     *http.Server
}

func listen(setting, addr string, h http.Handler, errLog *stdlog.Logger) (*listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", setting, err)
	}
	return &listener{setting: setting, ln: rawsock.Listen(ln), srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}}, nil
}

// serve runs until Shutdown or Close.
func (l *listener) serve() error {
	// net.ErrClosed: the drain closed the listener ahead of Shutdown.
	if err := l.srv.Serve(l.ln); !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("%s: %w", l.setting, err)
	}
	return nil
}

// shutdown lets requests in flight finish until ctx ends, then cuts them.
func (l *listener) shutdown(ctx context.Context) {
	if l.srv.Shutdown(ctx) != nil {
		_ = l.srv.Close()
	}
}

// orDisabled maps a configured zero ("off") to the negative value the
// edge reads as disabled; its own zero means "default".
func orDisabled(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

func writeStatus(w http.ResponseWriter, status int, s string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "{\"status\":%q}\n", s)
}
