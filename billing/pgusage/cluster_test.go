package pgusage_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/billing"
	"github.com/switchboard-rt/switchboard/billing/pgusage"
	"github.com/switchboard-rt/switchboard/billing/redisusage"
	"github.com/switchboard-rt/switchboard/internal/redistest"
)

// TestTwoNodesOnRedis: two nodes meter the same app, flush into Redis and
// two rollers copy into PostgreSQL. The hourly row equals what was
// flushed to the message; a node that dies between flushes loses only
// what it counted since its last one.
func TestTwoNodesOnRedis(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t)
	rdb := redistest.Client(t)
	c := redisusage.New(rdb, redisusage.Options{Prefix: redistest.Prefix(t, rdb)})

	m1, m2 := billing.NewMeter(), billing.NewMeter()
	f1 := billing.NewFlusher("node-1", m1, c, billing.FlusherOptions{})
	f2 := billing.NewFlusher("node-2", m2, c, billing.FlusherOptions{})
	const events, subsPerNode = 50, 7
	for i := range events {
		// A publish enters on node 1 and fans out on both nodes.
		m1.Published("app1", 1)
		m1.Delivered("app1", subsPerNode)
		m2.Delivered("app1", subsPerNode)
		if i%10 == 9 {
			for _, f := range []*billing.Flusher{f1, f2} {
				if err := f.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	// Node 2 counts 5 more deliveries and dies before its next flush.
	m2.Delivered("app1", 5)
	lost := m2.Unflushed("app1")

	hours := []time.Time{billing.HourOf(time.Now()).Add(-time.Hour), billing.HourOf(time.Now())}
	r1 := pgusage.NewRoller(s, c, pgusage.RollerOptions{})
	for range 2 {
		if _, err := s.Rollup(ctx, c, hours); err != nil {
			t.Fatal(err)
		}
		if _, err := r1.Once(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := s.AppUsage(ctx, "app1", hours[0], hours[1].Add(time.Hour), billing.ByHour)
	if err != nil {
		t.Fatal(err)
	}
	var got int64
	for _, r := range rows {
		got += r.Messages
	}
	want := int64(events * (1 + 2*subsPerNode))
	if got != want || lost != 5 {
		t.Fatalf("rolled up %d messages, want %d; lost %d, want 5", got, want, lost)
	}
}
