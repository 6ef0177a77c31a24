package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
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
	state := redisbus.NewState(rdb, cfg.RedisPrefix, nodeName(nodeID))
	return &busBackend{
		kind: "redis", bus: b, state: state, rdb: rdb, attach: b.Attach, healthy: b.Healthy,
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

func redactedURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}
