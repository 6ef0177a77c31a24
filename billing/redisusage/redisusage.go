// Package redisusage keeps billing's shared counters on Redis: one hash
// per app per UTC hour whose fields are "<node>|<counter>", a set of the
// apps seen in each hour, and one marker key per booked batch, all
// written by one Lua script so that a batch is booked wholly and once.
//
// It imports billing and go-redis only.
package redisusage

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-rt/switchboard/billing"
)

// Options configure Counters; the zero value works.
type Options struct {
	// Prefix starts every key; default "switchboard:".
	Prefix string
	// TTL of hour hashes and batch markers; default 72h, long enough for
	// the rollup (every minute or so) to have copied them many times.
	TTL time.Duration
}

// Counters are billing.Counters on Redis.
type Counters struct {
	rdb    redis.UniversalClient
	prefix string
	ttl    time.Duration
}

var _ billing.Counters = (*Counters)(nil)

// New returns Counters on rdb.
func New(rdb redis.UniversalClient, opts Options) *Counters {
	if opts.Prefix == "" {
		opts.Prefix = "switchboard:"
	}
	if opts.TTL <= 0 {
		opts.TTL = 72 * time.Hour
	}
	return &Counters{rdb: rdb, prefix: opts.Prefix, ttl: opts.TTL}
}

var fields = []string{"published", "delivered", "api_requests", "webhook_calls", "connection_seconds", "peak_connections"}

func values(u billing.Usage) []int64 {
	return []int64{u.Published, u.Delivered, u.APIRequests, u.WebhookCalls, u.ConnectionSeconds, u.PeakConnections}
}

func set(u *billing.Usage, field string, v int64) {
	switch field {
	case "published":
		u.Published = v
	case "delivered":
		u.Delivered = v
	case "api_requests":
		u.APIRequests = v
	case "webhook_calls":
		u.WebhookCalls = v
	case "connection_seconds":
		u.ConnectionSeconds = v
	case "peak_connections":
		u.PeakConnections = v
	}
}

// KEYS: batch marker, apps set, then one hash per delta.
// ARGV: ttl seconds, node, then per delta the six values in fields order.
// The last field (peak) keeps the maximum; the others add.
var addScript = redis.NewScript(`
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) == false then
  return 0
end
local names = {'published','delivered','api_requests','webhook_calls','connection_seconds','peak_connections'}
local node = ARGV[2]
for i = 3, #KEYS do
  local base = 3 + (i - 3) * 7
  local app = ARGV[base]
  redis.call('SADD', KEYS[2], app)
  for j = 1, 5 do
    local v = tonumber(ARGV[base + j])
    if v ~= 0 then redis.call('HINCRBY', KEYS[i], node .. '|' .. names[j], v) end
  end
  local peak = tonumber(ARGV[base + 6])
  local f = node .. '|peak_connections'
  local old = tonumber(redis.call('HGET', KEYS[i], f) or '0')
  if peak > old then redis.call('HSET', KEYS[i], f, peak) end
  redis.call('EXPIRE', KEYS[i], ARGV[1])
end
redis.call('EXPIRE', KEYS[2], ARGV[1])
return 1
`)

func (c *Counters) hourKey(h time.Time, appID string) string {
	return c.prefix + "usage:" + strconv.FormatInt(h.Unix(), 10) + ":" + appID
}

func (c *Counters) appsKey(h time.Time) string {
	return c.prefix + "usage-apps:" + strconv.FormatInt(h.Unix(), 10)
}

// Add implements billing.Counters.
func (c *Counters) Add(ctx context.Context, b billing.Batch) error {
	if len(b.Deltas) == 0 {
		return nil
	}
	h := billing.HourOf(b.Hour)
	keys := []string{c.prefix + "usage-batch:" + b.Node + ":" + strconv.FormatInt(b.Seq, 10), c.appsKey(h)}
	args := []any{int64(c.ttl / time.Second), b.Node}
	for _, d := range b.Deltas {
		keys = append(keys, c.hourKey(h, d.AppID))
		args = append(args, d.AppID)
		for _, v := range values(d.Usage) {
			args = append(args, v)
		}
	}
	if err := addScript.Run(ctx, c.rdb, keys, args...).Err(); err != nil {
		return fmt.Errorf("redisusage: add batch %s/%d: %w", b.Node, b.Seq, err)
	}
	return nil
}

// Hour implements billing.Counters.
func (c *Counters) Hour(ctx context.Context, h time.Time) ([]billing.NodeUsage, error) {
	h = billing.HourOf(h)
	apps, err := c.rdb.SMembers(ctx, c.appsKey(h)).Result()
	if err != nil {
		return nil, fmt.Errorf("redisusage: apps of %s: %w", h, err)
	}
	hashes, err := c.hashes(ctx, h, apps)
	if err != nil {
		return nil, err
	}
	var out []billing.NodeUsage
	for i, app := range apps {
		byNode := map[string]*billing.Usage{}
		for f, v := range hashes[i] {
			node, name, ok := cut(f)
			if !ok {
				continue
			}
			u := byNode[node]
			if u == nil {
				u = &billing.Usage{}
				byNode[node] = u
			}
			n, _ := strconv.ParseInt(v, 10, 64)
			set(u, name, n)
		}
		for node, u := range byNode {
			out = append(out, billing.NodeUsage{Node: node, AppID: app, Hour: h, Usage: *u})
		}
	}
	billing.SortNodeUsage(out)
	return out, nil
}

// cut splits "<node>|<counter>" at the last '|', so node names may hold one.
func cut(f string) (node, name string, ok bool) {
	i := strings.LastIndexByte(f, '|')
	if i < 0 {
		return "", "", false
	}
	return f[:i], f[i+1:], true
}

func (c *Counters) hashes(ctx context.Context, h time.Time, apps []string) ([]map[string]string, error) {
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(apps))
	for i, app := range apps {
		cmds[i] = pipe.HGetAll(ctx, c.hourKey(h, app))
	}
	if len(apps) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("redisusage: read hour %s: %w", h, err)
		}
	}
	out := make([]map[string]string, len(apps))
	for i, cmd := range cmds {
		out[i] = cmd.Val()
	}
	return out, nil
}

// Messages implements billing.Counters.
func (c *Counters) Messages(ctx context.Context, appID string, from, to time.Time) (int64, error) {
	pipe := c.rdb.Pipeline()
	var cmds []*redis.MapStringStringCmd
	for h := billing.HourOf(from); h.Before(to); h = h.Add(time.Hour) {
		cmds = append(cmds, pipe.HGetAll(ctx, c.hourKey(h, appID)))
	}
	if len(cmds) == 0 {
		return 0, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("redisusage: messages of %s: %w", appID, err)
	}
	var n int64
	for _, cmd := range cmds {
		for f, v := range cmd.Val() {
			if _, name, ok := cut(f); ok && (name == "published" || name == "delivered") {
				x, _ := strconv.ParseInt(v, 10, 64)
				n += x
			}
		}
	}
	return n, nil
}
