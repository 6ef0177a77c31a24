package billing_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/billing"
	"github.com/switchboard-rt/switchboard/billing/usagetest"
)

func TestMemoryCounters(t *testing.T) {
	usagetest.Run(t, func(*testing.T) billing.Counters { return billing.NewMemoryCounters() })
}

func TestMemoryCountersForgetOldHours(t *testing.T) {
	ctx := context.Background()
	c := billing.NewMemoryCounters()
	h := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	add := func(seq int64, at time.Time) {
		t.Helper()
		if err := c.Add(ctx, billing.Batch{Node: "n", Seq: seq, Hour: at, Deltas: []billing.Delta{{AppID: "a", Usage: billing.Usage{Published: 1}}}}); err != nil {
			t.Fatal(err)
		}
	}
	add(1, h)
	add(2, h.Add(72*time.Hour))
	if n, _ := c.Messages(ctx, "a", h, h.Add(time.Hour)); n != 1 {
		t.Fatalf("an hour 72 h old is kept: %d", n)
	}
	add(3, h.Add(73*time.Hour))
	if n, _ := c.Messages(ctx, "a", h, h.Add(time.Hour)); n != 0 {
		t.Fatalf("an hour older than 72 h is dropped: %d", n)
	}
}
