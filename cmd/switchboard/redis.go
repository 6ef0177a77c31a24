package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/bus/redisbus"
)

// busBackend is the node's bus and shared channel state: in memory for
// one node, or on Redis for many.
type busBackend struct {
	kind  string
	bus   bus.Bus
	state bus.State
	// attach joins the node's local receiver to the bus.
	attach func(bus.Handler) (detach func())
	// healthy reports whether the node reaches the other nodes.
	healthy func() bool
	close   func()
}

func openBus(ctx context.Context, cfg serveConfig, log *slog.Logger) (*busBackend, error) {
	if cfg.RedisURL == "" {
		m := bus.NewMemory()
		return &busBackend{kind: "memory", bus: m, state: bus.NewMemoryState(), attach: m.Attach,
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
	b, err := redisbus.New(cctx, rdb, redisbus.Options{Prefix: cfg.RedisPrefix, Logger: log.With("component", "bus")})
	if err != nil {
		rdb.Close()
		return nil, fmt.Errorf("--redis-url: %w", err)
	}
	log.Warn("Redis bus: cross-node fan-out and shared channel state are on; a node that dies without draining leaves its sockets counted until they are cleaned up by hand (issue 5/10 is not finished)")
	return &busBackend{
		kind: "redis", bus: b, state: redisbus.NewState(rdb, cfg.RedisPrefix), attach: b.Attach, healthy: b.Healthy,
		close: func() { _ = b.Close(); _ = rdb.Close() },
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
