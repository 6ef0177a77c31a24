package redisbus

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster-wide limits. Connections are counted in a hash per app, one
// field per node, so a dead node's share is dropped with its other
// entries; rates are shared per second through a counter from which nodes
// take tokens in batches, so no Redis call happens per message.

func (s *State) connectionsKey(app string) string { return s.app(app) + "conns" }

// acquireConnection admits a connection if the nodes' total is below max.
var acquireConnection = redis.NewScript(`
local max = tonumber(ARGV[2])
if max >= 0 then
  local total = 0
  for _, v in ipairs(redis.call('HVALS', KEYS[1])) do total = total + tonumber(v) end
  if total >= max then return 0 end
end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
return 1`)

// AcquireConnection counts a new connection of app toward max across the
// cluster (negative: no limit); false means the app is at its limit and
// nothing was counted.
func (s *State) AcquireConnection(ctx context.Context, app string, max int) (bool, error) {
	if err := s.register(ctx, app); err != nil {
		return false, err
	}
	ok, err := acquireConnection.Run(ctx, s.rdb, []string{s.connectionsKey(app)}, s.node, max).Int()
	return ok == 1, wrap(err)
}

// ReleaseConnection undoes AcquireConnection.
func (s *State) ReleaseConnection(ctx context.Context, app string) error {
	return wrap(s.rdb.HIncrBy(ctx, s.connectionsKey(app), s.node, -1).Err())
}

// SetConnections sets this node's count for app, to restore it after Redis
// lost its data.
func (s *State) SetConnections(ctx context.Context, app string, n int) error {
	if err := s.register(ctx, app); err != nil {
		return err
	}
	return wrap(s.rdb.HSet(ctx, s.connectionsKey(app), s.node, n).Err())
}

// takeTokens grants up to ARGV[1] of the ARGV[2] tokens a second allows,
// from the counter of the current second.
var takeTokens = redis.NewScript(`
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local g = math.min(tonumber(ARGV[1]), tonumber(ARGV[2]) - used)
if g <= 0 then return 0 end
redis.call('INCRBY', KEYS[1], g)
redis.call('PEXPIRE', KEYS[1], 2000)
return g`)

// Rates shares per-second rate limits among the nodes. Each node takes a
// batch of tokens (an eighth of the rate) from the second's shared
// counter and spends it locally, so the cluster admits at most the rate
// per second, and a node calls Redis about eight times a second per busy
// app and limit, not per request.
type Rates struct {
	s   *State
	now func() time.Time

	mu      sync.Mutex
	buckets map[rateKey]*localTokens
}

type rateKey struct{ app, name string }

type localTokens struct {
	// mu is held across the Redis call, so one node's requests for an
	// app do not each fetch a batch at once; other apps do not wait.
	mu     sync.Mutex
	second int64 // unix second the tokens belong to
	left   int
}

// NewRates returns the rate limits shared through s's Redis.
func NewRates(s *State) *Rates {
	return &Rates{s: s, now: time.Now, buckets: map[rateKey]*localTokens{}}
}

// Take spends n tokens of app's limit name (perSecond a second across the
// cluster). When refused, retry says how long until the next second.
// n larger than perSecond is taken as perSecond, so a big batch is
// delayed, never refused for ever.
func (r *Rates) Take(ctx context.Context, app, name string, n, perSecond int) (ok bool, retry time.Duration, err error) {
	if perSecond <= 0 {
		return perSecond < 0, time.Second, nil
	}
	n = min(n, perSecond)
	now := r.now()
	sec := now.Unix()
	retry = time.Unix(sec+1, 0).Sub(now)

	k := rateKey{app, name}
	r.mu.Lock()
	b := r.buckets[k]
	if b == nil {
		r.sweep(sec)
		b = &localTokens{}
		r.buckets[k] = b
	}
	r.mu.Unlock()

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.second != sec {
		b.second, b.left = sec, 0
	}
	if b.left < n {
		want := max(n-b.left, perSecond/8, 1)
		key := r.s.app(app) + "rate:" + name + ":" + time.Unix(sec, 0).UTC().Format("150405")
		got, err := takeTokens.Run(ctx, r.s.rdb, []string{key}, want, perSecond).Int()
		if err != nil {
			return false, 0, wrap(err)
		}
		b.left += got
	}
	if b.left < n {
		return false, retry, nil
	}
	b.left -= n
	return true, 0, nil
}

// sweep forgets the buckets of idle apps once there are many; r.mu is
// held. A bucket in use when dropped only loses its leftover tokens.
func (r *Rates) sweep(sec int64) {
	if len(r.buckets) < 1024 {
		return
	}
	for k, b := range r.buckets {
		if b.mu.TryLock() {
			if b.second < sec-1 {
				delete(r.buckets, k)
			}
			b.mu.Unlock()
		}
	}
}
