// Package redistest gives tests the shared local Redis (or
// SWITCHBOARD_TEST_REDIS_URL's) and a key prefix of their own, whose keys
// are deleted when the test ends; nothing ever flushes the server.
// Without a reachable Redis a test skips, except under CI=true, where it
// fails. Cluster starts a Redis Cluster of the test's own.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
)

// URL is the test Redis's address, for servers a test starts itself.
func URL() string {
	if u := os.Getenv("SWITCHBOARD_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// Client connects to the test Redis and closes the connection at the end.
func Client(t testing.TB) redis.UniversalClient {
	t.Helper()
	opts, err := redis.ParseURL(URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		rdb.Close()
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis: %v", err)
		}
		t.Skipf("Redis not reachable: %v", err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// Prefix returns a random key prefix, "sbtest:<hex>:", and deletes every
// key under it on rdb when the test ends.
func Prefix(t testing.TB, rdb redis.UniversalClient) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	p := "sbtest:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		ctx := context.Background() // the test's context is already cancelled here
		// On a cluster SCAN sees one node's keys: sweep every primary.
		if cc, ok := rdb.(*redis.ClusterClient); ok {
			_ = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
				deletePrefix(ctx, c, p)
				return nil
			})
			return
		}
		deletePrefix(ctx, rdb, p)
	})
	return p
}

func deletePrefix(ctx context.Context, rdb redis.UniversalClient, p string) {
	iter := rdb.Scan(ctx, 0, p+"*", 1000).Iterator()
	for iter.Next(ctx) {
		rdb.Del(ctx, iter.Val())
	}
}
