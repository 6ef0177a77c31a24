package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
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
	// rdb is the Redis client on Redis, nil in memory; the webhook queue
	// shares it.
	rdb redis.UniversalClient
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
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("--redis-url: %w", err)
	}
	rdb := redis.NewClient(opts)
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(cctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("--redis-url: cannot reach Redis at %s: %w", redactedURL(cfg.RedisURL), err)
	}
	b, err := redisbus.New(cctx, rdb, redisbus.Options{Prefix: cfg.RedisPrefix, Logger: log.With("component", "bus")})
	if err != nil {
		rdb.Close()
		return nil, fmt.Errorf("--redis-url: %w", err)
	}
	log.Warn("Redis bus: cross-node fan-out and shared channel state are on; a node that dies without draining leaves its sockets counted until they are cleaned up by hand (issue 5/10 is not finished)")
	return &busBackend{
		kind: "redis", bus: b, state: redisbus.NewState(rdb, cfg.RedisPrefix), rdb: rdb, attach: b.Attach, healthy: b.Healthy,
		close: func() { _ = b.Close(); _ = rdb.Close() },
	}, nil
}

func redactedURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}
