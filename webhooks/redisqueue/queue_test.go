package redisqueue_test

import (
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/internal/redistest"
	"github.com/switchboard-rt/switchboard/webhooks"
	"github.com/switchboard-rt/switchboard/webhooks/queuetest"
	"github.com/switchboard-rt/switchboard/webhooks/redisqueue"
)

// The shared test Redis: each test uses its own random prefix, deletes its
// keys at the end and never flushes.
func TestQueue(t *testing.T) {
	queuetest.Run(t, func(t *testing.T, claimIdle time.Duration) webhooks.Queue {
		rdb := redistest.Client(t)
		p := redistest.Prefix(t, rdb) // deletes the stream afterwards
		q, err := redisqueue.New(t.Context(), rdb, redisqueue.Options{Prefix: p, ClaimIdle: claimIdle})
		if err != nil {
			t.Fatal(err)
		}
		return q
	})
}

func TestAttempts(t *testing.T) {
	queuetest.RunAttempts(t, func(t *testing.T, size int) webhooks.AttemptLog {
		rdb := redistest.Client(t)
		return redisqueue.NewAttempts(rdb, redistest.Prefix(t, rdb), size)
	})
}
