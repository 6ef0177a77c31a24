package redisbus_test

import (
	"testing"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/bus/bustest"
	"github.com/switchboard-rt/switchboard/bus/redisbus"
	"github.com/switchboard-rt/switchboard/internal/redistest"
)

func TestRedisState(t *testing.T) {
	bustest.RunState(t, func(t *testing.T) bus.State {
		rdb := redistest.Client(t)
		return redisbus.NewState(rdb, redistest.Prefix(t, rdb), "n1")
	})
}
