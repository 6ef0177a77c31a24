package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	"github.com/switchboard-rt/switchboard/edge"
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
// app when nothing is configured.
func loadApps(ctx context.Context, cfg serveConfig, store tenants.Store, log *slog.Logger) error {
	if cfg.AppsFile != "" {
		apps, warnings, err := tenants.LoadAppsFile(cfg.AppsFile)
		for _, w := range warnings {
			log.Warn("apps file: "+w, "file", cfg.AppsFile)
		}
		if err != nil {
			return fmt.Errorf("--apps-file: %w", err)
		}
		n, err := tenants.Seed(ctx, store, apps)
		if err != nil {
			return err
		}
		log.Info("apps loaded", "file", cfg.AppsFile, "added", n, "in_file", len(apps))
	}
	existing, err := store.Apps(ctx)
	if err != nil {
		return err
	}
	if len(existing) == 0 {
		dev := tenants.DevApp()
		if _, err := store.CreateAppIfAbsent(ctx, dev); err != nil {
			return err
		}
		log.Warn("!!! NO APPS CONFIGURED: created the DEVELOPMENT app: app_id=app-id key=app-key secret=app-secret. " +
			"These credentials are public and for development only; configure real apps with --apps-file before exposing this server.")
	}
	return nil
}

func serve(ctx context.Context, cfg serveConfig, stdout io.Writer) error {
	log := newLogger(cfg, stdout)
	log.Info("switchboard starting", "version", buildVersion(), "store", "memory", "bus", "memory")
	log.Warn("embedded mode: in-memory app store and bus, single node; nothing survives a restart")

	store := tenants.NewMemoryStore()
	if err := loadApps(ctx, cfg, store, log); err != nil {
		return err
	}
	dir := tenants.NewDirectory(store, 0)
	memBus, state := bus.NewMemory(), bus.NewMemoryState()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	node := edge.New(edge.Options{
		Apps: dir, Bus: memBus, State: state, Logger: log.With("component", "edge"), Registry: reg,
		ActivityTimeout:          cfg.ActivityTimeout,
		PongTimeout:              cfg.PongTimeout,
		MaxQueueBytes:            cfg.MaxQueueBytes,
		MaxFrameBytes:            cfg.MaxFrameBytes,
		MaxChannelsPerConnection: cfg.MaxChannelsPerConnection,
		PresenceGrace:            orDisabled(cfg.PresenceGrace),
		SubscriptionCountDelay:   orDisabled(cfg.SubscriptionCountDelay),
	})
	detach := memBus.Attach(node)
	defer detach()

	api := restapi.New(restapi.Options{
		Apps:            dir,
		Publisher:       &bus.Publisher{Bus: memBus, State: state, CacheTTL: cfg.CacheTTL},
		State:           state,
		Logger:          log.With("component", "api"),
		Registry:        reg,
		TimestampWindow: cfg.TimestampWindow,
		MaxBodyBytes:    cfg.MaxRequestBytes,
	})

	var draining atomic.Bool
	mux := http.NewServeMux()
	mux.Handle("/apps/", api.Handler())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { writeStatus(w, http.StatusOK, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if draining.Load() {
			writeStatus(w, http.StatusServiceUnavailable, "draining")
			return
		}
		writeStatus(w, http.StatusOK, "ready")
	})
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	if cfg.MetricsAddr == "" {
		mux.Handle("/metrics", metrics)
	}
	// Everything else is a WebSocket path: /app/{key}, after any prefix
	// (pusher-js's wsPath option); the edge answers 404 for the rest.
	mux.Handle("/", node)

	ln, err := net.Listen("tcp", cfg.addr())
	if err != nil {
		return fmt.Errorf("--host/--port: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	log.Info("listening", "addr", ln.Addr().String(), "websocket", "/app/{key}", "api", "/apps/{app_id}/…")

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	var metricsSrv *http.Server
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		mm := http.NewServeMux()
		mm.Handle("/metrics", metrics)
		metricsSrv = &http.Server{Handler: mm, ReadHeaderTimeout: 10 * time.Second}
		log.Info("metrics listening", "addr", mln.Addr().String())
		g.Go(func() error {
			if err := metricsSrv.Serve(mln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("metrics: %w", err)
			}
			return nil
		})
	}
	var pprofSrv *http.Server
	if cfg.PprofAddr != "" {
		pln, err := net.Listen("tcp", cfg.PprofAddr)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("--pprof-addr: %w", err)
		}
		pm := http.NewServeMux()
		pm.HandleFunc("/debug/pprof/", pprof.Index)
		pm.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		pm.HandleFunc("/debug/pprof/profile", pprof.Profile)
		pm.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		pm.HandleFunc("/debug/pprof/trace", pprof.Trace)
		pprofSrv = &http.Server{Handler: pm, ReadHeaderTimeout: 10 * time.Second}
		log.Info("pprof listening", "addr", pln.Addr().String())
		g.Go(func() error {
			if err := pprofSrv.Serve(pln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("pprof: %w", err)
			}
			return nil
		})
	}
	sweepCtx, stopSweep := context.WithCancel(context.Background())
	g.Go(func() error { return node.Run(sweepCtx) })

	g.Go(func() error {
		<-gctx.Done()
		// Drain in the order of the architecture: stop accepting, tell
		// every socket to reconnect elsewhere, then stop the rest.
		draining.Store(true)
		log.Info("draining", "connections", node.Connections(), "deadline", cfg.DrainTimeout)
		dctx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
		defer cancel()
		shutdownErr := make(chan error, 1)
		go func() { shutdownErr <- srv.Shutdown(dctx) }()
		if err := node.Drain(dctx); err != nil {
			log.Warn("drain deadline passed; remaining sockets cut", "err", err)
		}
		stopSweep()
		if metricsSrv != nil {
			_ = metricsSrv.Shutdown(dctx)
		}
		if pprofSrv != nil {
			_ = pprofSrv.Close()
		}
		if err := <-shutdownErr; err != nil {
			_ = srv.Close()
		}
		log.Info("stopped")
		return nil
	})
	return g.Wait()
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
