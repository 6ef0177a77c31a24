package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/bus/redisbus"
	"github.com/switchboard-rt/switchboard/edge"
)

// busBackend is the node's bus and shared channel state: in memory for
// one node, or on Redis for many.
type busBackend struct {
	kind  string
	bus   bus.Bus
	state bus.State
	// rdb is the Redis client on Redis, nil in memory; the webhook queue
	// shares it.
	rdb redis.UniversalClient
	// attach joins the node's local receiver to the bus.
	attach func(bus.Handler) (detach func())
	// healthy reports whether the node reaches the other nodes.
	healthy func() bool
	close   func()
	// history reads what the bus keeps of each channel (gap-fill, the
	// history API).
	history bus.History

	// Set only with Redis: the cluster-wide connection and rate limits,
	// and the node's liveness (heartbeat, reaping dead nodes), which
	// needs the edge server to announce departures and re-add its state.
	connections *redisbus.State
	rates       *redisbus.Rates
	liveness    func(node *edge.Server) *redisbus.Liveness
}

// nodeName is the node's name in the shared state: its socket id prefix,
// so a socket id tells which node holds it.
func nodeName(id uint32) string { return strconv.FormatUint(uint64(id), 10) }

func openBus(ctx context.Context, cfg serveConfig, nodeID uint32, log *slog.Logger) (*busBackend, error) {
	if cfg.RedisURL == "" {
		m := bus.NewMemoryWithHistory(cfg.history())
		return &busBackend{kind: "memory", bus: m, history: m, state: bus.NewMemoryState(), attach: m.Attach,
			healthy: func() bool { return true }, close: func() {}}, nil
	}
	rc, err := parseRedis(cfg.RedisMode, cfg.RedisURL)
	if err != nil {
		return nil, err
	}
	rdb := rc.client()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(cctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("--redis-url: cannot reach Redis (%s mode) at %s: %w", cfg.RedisMode, redactedURL(cfg.RedisURL), err)
	}
	b, err := redisbus.New(cctx, rdb, redisbus.Options{Prefix: cfg.RedisPrefix, Logger: log.With("component", "bus"), History: cfg.history()})
	if err != nil {
		rdb.Close()
		return nil, fmt.Errorf("--redis-url: %w", err)
	}
	state := redisbus.NewState(rdb, cfg.RedisPrefix, nodeName(nodeID))
	return &busBackend{
		kind: "redis", bus: b, history: b, state: state, rdb: rdb, attach: b.Attach, healthy: b.Healthy,
		close:       func() { _ = b.Close(); _ = rdb.Close() },
		connections: state, rates: redisbus.NewRates(state),
		liveness: func(node *edge.Server) *redisbus.Liveness {
			return redisbus.NewLiveness(state, redisbus.LivenessOptions{
				Timeout:  cfg.NodeTimeout,
				Departed: node.Departed,
				Lost: func(ctx context.Context) {
					n := node.Reassert(ctx)
					log.Info("local state added to Redis again", "entries", n)
				},
				Logger: log.With("component", "liveness"),
			})
		},
	}, nil
}

// redisConfig is --redis-url read as --redis-mode says: exactly one of
// its fields is set.
type redisConfig struct {
	single   *redis.Options
	cluster  *redis.ClusterOptions
	sentinel *redis.FailoverOptions
}

// parseRedis reads the URL with go-redis's own parsers, so every option
// they know (timeouts, pool sizes, TLS with rediss://) works in each mode.
func parseRedis(mode, rawURL string) (redisConfig, error) {
	var rc redisConfig
	var err error
	switch mode {
	case "", "single":
		rc.single, err = redis.ParseURL(rawURL)
	case "cluster":
		rc.cluster, err = redis.ParseClusterURL(rawURL)
	case "sentinel":
		rc.sentinel, err = redis.ParseFailoverURL(rawURL)
		if err == nil && rc.sentinel.MasterName == "" {
			err = errors.New("sentinel mode needs the primary's name as ?master_name=")
		}
	default:
		return rc, fmt.Errorf("--redis-mode: %q is not single, cluster or sentinel", mode)
	}
	if err != nil {
		// Errors of go-redis and net/url quote the URL, password included.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return rc, fmt.Errorf("--redis-url: %s (%s mode): %s", redactedURL(rawURL), mode, redactErr(err, rawURL))
	}
	return rc, nil
}

// client connects lazily: nothing is dialled until the first command.
func (rc redisConfig) client() redis.UniversalClient {
	switch {
	case rc.cluster != nil:
		return redis.NewClusterClient(rc.cluster)
	case rc.sentinel != nil:
		// A *redis.Client that asks the Sentinels for the primary and
		// follows failovers; the bus's PubSub reconnects through it.
		return redis.NewFailoverClient(rc.sentinel)
	default:
		return redis.NewClient(rc.single)
	}
}

func redactErr(err error, rawURL string) string {
	msg := err.Error()
	u, perr := url.Parse(rawURL)
	if perr != nil {
		return msg
	}
	var secrets []string
	if p, ok := u.User.Password(); ok {
		secrets = append(secrets, p)
	}
	secrets = append(secrets, u.Query()["password"]...)
	for _, p := range secrets {
		if p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return msg
}

// redactedURL hides the password of the user part and of a password=
// query option (Sentinel mode's primary password).
func redactedURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// history is the most the bus keeps of any channel's events: the server's
// ceiling on every app's own retention (which each message carries).
func (c serveConfig) history() bus.HistoryOptions {
	return bus.HistoryOptions{Length: c.HistoryLength, MaxAge: c.HistoryMaxAge}
}
