package redisusage_test

import (
	"testing"

	"github.com/switchboard-rt/switchboard/billing"
	"github.com/switchboard-rt/switchboard/billing/redisusage"
	"github.com/switchboard-rt/switchboard/billing/usagetest"
	"github.com/switchboard-rt/switchboard/internal/redistest"
)

func TestCounters(t *testing.T) {
	usagetest.Run(t, func(t *testing.T) billing.Counters {
		rdb := redistest.Client(t)
		return redisusage.New(rdb, redisusage.Options{Prefix: redistest.Prefix(t, rdb)})
	})
}
