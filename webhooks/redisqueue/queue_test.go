package redisqueue_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-rt/switchboard/webhooks"
	"github.com/switchboard-rt/switchboard/webhooks/queuetest"
	"github.com/switchboard-rt/switchboard/webhooks/redisqueue"
)

// The shared test Redis: each test uses its own random prefix, deletes its
// keys at the end and never flushes.
func client(t *testing.T) redis.UniversalClient {
	t.Helper()
	u := os.Getenv("SWITCHBOARD_TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		rdb.Close()
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis: %v", err)
		}
		t.Skipf("Redis not reachable: %v", err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func TestQueue(t *testing.T) {
	queuetest.Run(t, func(t *testing.T, claimIdle time.Duration) webhooks.Queue {
		rdb := client(t)
		var b [6]byte
		_, _ = rand.Read(b[:])
		p := "sbtest:" + hex.EncodeToString(b[:]) + ":"
		q, err := redisqueue.New(t.Context(), rdb, redisqueue.Options{Prefix: p, ClaimIdle: claimIdle})
		if err != nil {
			t.Fatal(err)
		}
		// t.Context is already cancelled when cleanups run.
		t.Cleanup(func() { rdb.Del(context.Background(), p+"webhooks:jobs") })
		return q
	})
}
