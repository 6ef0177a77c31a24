package redisbus_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-rt/switchboard/internal/redistest"
)

// Behind Sentinel the primary dies and its replica is promoted: the bus
// says it is unhealthy, reconnects to the new primary through the
// Sentinel, and its subscription works again.
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t)
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: redistest.SentinelMaster, SentinelAddrs: []string{s.Sentinel}})
	t.Cleanup(func() { rdb.Close() })
	b := newBus(t, rdb, "sbtest:sentinel:") // its own servers, gone with the test
	publish, got := newsFeed(t, b)

	s.KillPrimary()
	waitUntil(t, 10*time.Second, func() bool { return !b.Healthy() })
	waitUntil(t, 30*time.Second, b.Healthy)
	flowsAgain(t, 15*time.Second, publish, got)
	cfg, err := rdb.ConfigGet(t.Context(), "port").Result()
	if err != nil {
		t.Fatal(err)
	}
	if "127.0.0.1:"+cfg["port"] != s.Replica {
		t.Fatalf("client is on port %s, not the promoted replica %s", cfg["port"], s.Replica)
	}
}
