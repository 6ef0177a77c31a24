package redisqueue

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-rt/switchboard/webhooks"
)

// Attempts is the webhooks.AttemptLog on Redis, shared by the nodes, so the
// management API of any node lists every node's attempts. Per app: a list
// of the latest attempts (JSON, newest first) and a hash of endpoint
// health; both keys carry the app id as hash tag, so the script that
// updates them runs on Redis Cluster too. An app with no attempt for
// a day loses its records.
type Attempts struct {
	rdb    redis.UniversalClient
	prefix string
	size   int
}

var _ webhooks.AttemptLog = (*Attempts)(nil)

// attemptsTTL is how long an app's records outlive its last attempt.
const attemptsTTL = 24 * time.Hour

// NewAttempts keeps the latest size attempts per app (100 if size <= 0)
// under prefix ("switchboard:" if empty).
func NewAttempts(rdb redis.UniversalClient, prefix string, size int) *Attempts {
	if prefix == "" {
		prefix = "switchboard:"
	}
	if size <= 0 {
		size = 100
	}
	return &Attempts{rdb: rdb, prefix: prefix, size: size}
}

func (a *Attempts) keys(appID string) []string {
	tag := "{" + appID + "}"
	return []string{a.prefix + "webhooks:attempts:" + tag, a.prefix + "webhooks:endpoints:" + tag}
}

// record appends the attempt and updates its endpoint in one step, so
// two nodes failing on one URL at once count two failures. Endpoint
// fields: n:<url> consecutive failures, e:<url> last error, f:<url> 1
// when failing.
var record = redis.NewScript(`
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
local url = ARGV[3]
if ARGV[4] == '' then
  redis.call('HSET', KEYS[2], 'n:' .. url, 0, 'e:' .. url, '', 'f:' .. url, 0)
else
  local n = redis.call('HINCRBY', KEYS[2], 'n:' .. url, 1)
  local failing = 0
  if n >= tonumber(ARGV[5]) then failing = 1 end
  redis.call('HSET', KEYS[2], 'e:' .. url, ARGV[4], 'f:' .. url, failing)
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return 1
`)

// Record implements webhooks.AttemptLog.
func (a *Attempts) Record(ctx context.Context, at webhooks.Attempt, failingAfter int) error {
	b, err := json.Marshal(at)
	if err != nil {
		return fmt.Errorf("redisqueue: encode attempt: %w", err)
	}
	err = record.Run(ctx, a.rdb, a.keys(at.AppID), b, a.size, at.URL, at.Error, failingAfter, attemptsTTL.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("redisqueue: record attempt: %w", err)
	}
	return nil
}

// Deliveries implements webhooks.AttemptLog.
func (a *Attempts) Deliveries(ctx context.Context, appID string, limit int) ([]webhooks.Attempt, error) {
	if limit <= 0 || limit > a.size {
		limit = a.size
	}
	raw, err := a.rdb.LRange(ctx, a.keys(appID)[0], 0, int64(limit-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("redisqueue: deliveries: %w", err)
	}
	out := make([]webhooks.Attempt, 0, len(raw))
	for _, r := range raw {
		var at webhooks.Attempt
		if json.Unmarshal([]byte(r), &at) == nil {
			out = append(out, at)
		}
	}
	return out, nil
}

// Endpoints implements webhooks.AttemptLog.
func (a *Attempts) Endpoints(ctx context.Context, appID string) ([]webhooks.Endpoint, error) {
	h, err := a.rdb.HGetAll(ctx, a.keys(appID)[1]).Result()
	if err != nil {
		return nil, fmt.Errorf("redisqueue: endpoints: %w", err)
	}
	var out []webhooks.Endpoint
	for k, v := range h {
		url, ok := strings.CutPrefix(k, "n:")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(v)
		out = append(out, webhooks.Endpoint{URL: url, Failures: n, LastError: h["e:"+url], Failing: h["f:"+url] == "1"})
	}
	slices.SortFunc(out, func(x, y webhooks.Endpoint) int { return strings.Compare(x.URL, y.URL) })
	return out, nil
}
