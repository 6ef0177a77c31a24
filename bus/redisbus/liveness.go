package redisbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-rt/switchboard/bus"
)

// LivenessOptions configure a node's heartbeat and its share of cleaning
// up after dead nodes.
type LivenessOptions struct {
	// Timeout is how long a node may miss heartbeats before the others
	// remove its entries. Default 15 s; nodes beat every Timeout/3.
	Timeout time.Duration
	// Departed is called for every entry removed on behalf of a dead node,
	// so the caller announces what that node no longer can. Calls come one
	// at a time, from Run's goroutine or Leave's caller.
	Departed func(ctx context.Context, d bus.Departure)
	// Lost is called when this node finds its own registration gone:
	// Redis lost its data (a restart without persistence, a failover to an
	// empty replica) or the other nodes took this one for dead after a
	// long pause. The caller adds its local state again (see Reassert).
	Lost   func(ctx context.Context)
	Logger *slog.Logger
}

// Liveness keeps one node registered in the cluster's node list and reaps
// nodes that stopped beating: the first live node to win a short lock on a
// dead node removes each of its entries through the same scripts a live
// node uses, so counts, member_removed and vacated come out exactly as if
// the dead node's sockets had closed.
type Liveness struct {
	s    *State
	opts LivenessOptions
	log  *slog.Logger
}

// NewLiveness returns the liveness of s's node; Run starts it.
func NewLiveness(s *State, opts LivenessOptions) *Liveness {
	if opts.Timeout <= 0 {
		opts.Timeout = 15 * time.Second
	}
	if opts.Departed == nil {
		opts.Departed = func(context.Context, bus.Departure) {}
	}
	if opts.Lost == nil {
		opts.Lost = func(context.Context) {}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Liveness{s: s, opts: opts, log: opts.Logger}
}

func (l *Liveness) nodesKey() string            { return l.s.prefix + "nodes" }
func (l *Liveness) reapLock(node string) string { return l.s.prefix + "node:" + node + ":reaper" }

// Join registers the node, so that the others clean up after it should it
// die: call it before the node takes its first socket.
func (l *Liveness) Join(ctx context.Context) error {
	_, err := l.beat(ctx)
	return err
}

// Run beats until ctx is cancelled. It does not remove the node: Leave
// does that, after the node has drained.
func (l *Liveness) Run(ctx context.Context) error {
	interval := l.opts.Timeout / 3
	registered := false
	for {
		switch present, err := l.beat(ctx); {
		case err != nil:
			if ctx.Err() == nil {
				l.log.Warn("heartbeat failed; retrying", "err", err)
			}
		case registered && !present:
			l.log.Warn("this node's registration in Redis was gone (Redis lost its data, or the node was taken for dead); adding its state again")
			l.s.forgetRegistrations()
			l.opts.Lost(ctx)
			registered = true
		default:
			registered = true
		}
		if err := l.reapDead(ctx); err != nil && ctx.Err() == nil {
			l.log.Warn("reaping dead nodes failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// beat renews the node's deadline and reports whether it was still there.
func (l *Liveness) beat(ctx context.Context) (present bool, err error) {
	deadline := time.Now().Add(l.opts.Timeout).UnixMilli()
	pipe := l.s.rdb.TxPipeline()
	score := pipe.ZScore(ctx, l.nodesKey(), l.s.node)
	pipe.ZAdd(ctx, l.nodesKey(), redis.Z{Score: float64(deadline), Member: l.s.node})
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return false, wrap(err)
	}
	return score.Err() == nil, nil
}

// reapDead cleans up after every node whose deadline has passed.
func (l *Liveness) reapDead(ctx context.Context) error {
	dead, err := l.s.rdb.ZRangeByScore(ctx, l.nodesKey(), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(time.Now().UnixMilli(), 10), Count: 16,
	}).Result()
	if err != nil {
		return wrap(err)
	}
	for _, node := range dead {
		if node == l.s.node {
			continue // this node is alive: it is the one asking
		}
		won, err := l.s.rdb.SetNX(ctx, l.reapLock(node), l.s.node, l.opts.Timeout).Result()
		if err != nil {
			return wrap(err)
		}
		if !won {
			continue // another node is on it
		}
		l.log.Warn("node stopped beating; removing its sockets from the shared state", "node", node)
		if err := l.reap(ctx, node); err != nil {
			return fmt.Errorf("reap node %s: %w", node, err)
		}
	}
	return nil
}

// Leave removes this node's remaining entries (announcing them as a dead
// node's would be) and its registration: for a node that has drained.
func (l *Liveness) Leave(ctx context.Context) error {
	return l.reap(ctx, l.s.node)
}

// reap removes every entry node added, then the node itself.
func (l *Liveness) reap(ctx context.Context, node string) error {
	s := l.s
	apps, err := s.rdb.SMembers(ctx, s.nodeApps(node)).Result()
	if err != nil {
		return wrap(err)
	}
	for _, app := range apps {
		if err := l.reapApp(ctx, node, app); err != nil {
			return err
		}
	}
	pipe := s.rdb.Pipeline()
	pipe.Del(ctx, s.nodeApps(node))
	pipe.ZRem(ctx, l.nodesKey(), node)
	pipe.Del(ctx, l.reapLock(node))
	_, err = pipe.Exec(ctx)
	return wrap(err)
}

func (l *Liveness) reapApp(ctx context.Context, node, app string) error {
	s := l.s
	key := s.nodeEntries(app, node)
	iter := s.rdb.SScan(ctx, key, 0, "", 500).Iterator()
	var entries []string
	for iter.Next(ctx) {
		entries = append(entries, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return wrap(err)
	}
	for _, e := range entries {
		kind, socketID, name, ok := parseEntry(e)
		if !ok {
			s.rdb.SRem(ctx, key, e)
			continue
		}
		d := bus.Departure{AppID: app, SocketID: socketID}
		var err error
		switch kind {
		case entrySubscription:
			d.Channel = name
			var uid string
			uid, err = s.rdb.HGet(ctx, s.keys(app, name).sockets, socketID).Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return wrap(err)
			}
			if uid != "" {
				u, err := s.removeMember(ctx, node, app, name, socketID, uid)
				if err != nil {
					return err
				}
				d.UserID, d.Gone, d.Subscriptions = uid, u.UserChanged, u.Subscriptions
			} else if d.Subscriptions, err = s.removeSubscription(ctx, node, app, name, socketID); err != nil {
				return err
			}
		case entryUser:
			d.UserID = name
			if d.Gone, err = s.removeUser(ctx, node, app, name, socketID); err != nil {
				return err
			}
		default:
			s.rdb.SRem(ctx, key, e)
			continue
		}
		l.opts.Departed(ctx, d)
	}
	pipe := s.rdb.Pipeline()
	pipe.Del(ctx, key)
	pipe.HDel(ctx, s.connectionsKey(app), node)
	_, err := pipe.Exec(ctx)
	return wrap(err)
}
