// Package redisqueue is the webhooks.Queue on Redis Streams: one stream, one
// consumer group; each node reads as its own consumer, and XAUTOCLAIM moves
// jobs a dead node left unacked to a live one. It also holds the
// webhooks.AttemptLog on Redis (attempts.go), so every node shows every
// node's attempts. It imports webhooks, never the other way round.
package redisqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-rt/switchboard/webhooks"
)

// Options configure a Queue; the zero value works.
type Options struct {
	// Prefix goes before every key ("switchboard:" if empty).
	Prefix string
	// ClaimIdle is how long a job may stay read and unacked before another
	// consumer takes it over (30 s if zero). Keep it above the longest
	// delivery attempt.
	ClaimIdle time.Duration
}

// Queue is a webhooks.Queue on a Redis stream.
type Queue struct {
	rdb       redis.UniversalClient
	stream    string
	group     string
	claimIdle time.Duration
}

var _ webhooks.Queue = (*Queue)(nil)

const field = "job"

// New returns a Queue on rdb and makes sure its stream and group exist.
func New(ctx context.Context, rdb redis.UniversalClient, o Options) (*Queue, error) {
	if o.Prefix == "" {
		o.Prefix = "switchboard:"
	}
	if o.ClaimIdle <= 0 {
		o.ClaimIdle = 30 * time.Second
	}
	q := &Queue{rdb: rdb, stream: o.Prefix + "webhooks:jobs", group: "delivery", claimIdle: o.ClaimIdle}
	if err := q.ensureGroup(ctx); err != nil {
		return nil, err
	}
	return q, nil
}

func (q *Queue) ensureGroup(ctx context.Context) error {
	err := q.rdb.XGroupCreateMkStream(ctx, q.stream, q.group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("redisqueue: create group: %w", err)
	}
	return nil
}

// Add implements webhooks.Queue.
func (q *Queue) Add(ctx context.Context, j webhooks.Job) error {
	b, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("redisqueue: encode job: %w", err)
	}
	if err := q.rdb.XAdd(ctx, &redis.XAddArgs{Stream: q.stream, Values: []any{field, b}}).Err(); err != nil {
		return fmt.Errorf("redisqueue: add: %w", err)
	}
	return nil
}

// Read implements webhooks.Queue: first jobs idle too long in other
// consumers' pending lists, then new ones.
func (q *Queue) Read(ctx context.Context, consumer string, n int, block time.Duration) ([]webhooks.Job, error) {
	msgs, _, err := q.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: q.stream, Group: q.group, Consumer: consumer,
		MinIdle: q.claimIdle, Start: "0-0", Count: int64(n),
	}).Result()
	if err != nil && strings.HasPrefix(err.Error(), "NOGROUP") {
		// The stream was deleted under us (e.g. Redis lost its data): recreate.
		if err = q.ensureGroup(ctx); err == nil {
			msgs = nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("redisqueue: autoclaim: %w", err)
	}
	jobs := q.decode(ctx, msgs)
	if len(jobs) >= n {
		return jobs, nil
	}
	b := time.Duration(-1) // go-redis: negative = no BLOCK argument
	if block > 0 && len(jobs) == 0 {
		b = block
	}
	streams, err := q.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: q.group, Consumer: consumer, Streams: []string{q.stream, ">"},
		Count: int64(n - len(jobs)), Block: b,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return jobs, nil
	}
	if err != nil {
		if strings.HasPrefix(err.Error(), "NOGROUP") {
			return jobs, q.ensureGroup(ctx)
		}
		return jobs, fmt.Errorf("redisqueue: read: %w", err)
	}
	for _, s := range streams {
		jobs = append(jobs, q.decode(ctx, s.Messages)...)
	}
	return jobs, nil
}

// decode turns stream entries into jobs; an entry that does not decode is
// acked and dropped, since no retry can fix it.
func (q *Queue) decode(ctx context.Context, msgs []redis.XMessage) []webhooks.Job {
	jobs := make([]webhooks.Job, 0, len(msgs))
	for _, m := range msgs {
		raw, _ := m.Values[field].(string)
		var j webhooks.Job
		if err := json.Unmarshal([]byte(raw), &j); err != nil {
			_ = q.Ack(ctx, m.ID)
			continue
		}
		j.ID = m.ID
		jobs = append(jobs, j)
	}
	return jobs
}

// Ack implements webhooks.Queue: the entry leaves the pending list and the
// stream, so the stream's length is the queue depth.
func (q *Queue) Ack(ctx context.Context, id string) error {
	_, err := q.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAck(ctx, q.stream, q.group, id)
		p.XDel(ctx, q.stream, id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisqueue: ack %s: %w", id, err)
	}
	return nil
}

// Len implements webhooks.Queue.
func (q *Queue) Len(ctx context.Context) (int64, error) {
	n, err := q.rdb.XLen(ctx, q.stream).Result()
	if err != nil {
		return 0, fmt.Errorf("redisqueue: len: %w", err)
	}
	return n, nil
}
