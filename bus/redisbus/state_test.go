package redisbus_test

import (
	"context"
	"testing"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/bus/bustest"
	"github.com/switchboard-rt/switchboard/bus/redisbus"
)

func TestRedisState(t *testing.T) {
	bustest.RunState(t, func(t *testing.T) bus.State {
		rdb, p := client(t), prefix(t)
		t.Cleanup(func() {
			// Leave nothing behind on the shared Redis.
			ctx := context.Background() // t.Context() is already cancelled here
			iter := rdb.Scan(ctx, 0, p+"*", 1000).Iterator()
			for iter.Next(ctx) {
				rdb.Del(ctx, iter.Val())
			}
		})
		return redisbus.NewState(rdb, p)
	})
}
