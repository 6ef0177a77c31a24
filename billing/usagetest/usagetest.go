// Package usagetest is the conformance suite of billing.Counters: every
// implementation must pass Run.
package usagetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/billing"
)

// Run tests the Counters that open returns (a fresh, empty one per call).
func Run(t *testing.T, open func(t *testing.T) billing.Counters) {
	h := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	ctx := context.Background()

	t.Run("AddAndRead", func(t *testing.T) {
		c := open(t)
		b := billing.Batch{Node: "n1", Seq: 1, Hour: h.Add(17 * time.Minute), Deltas: []billing.Delta{
			{AppID: "a", Usage: billing.Usage{Published: 3, Delivered: 30, APIRequests: 2, WebhookCalls: 1, ConnectionSeconds: 50, PeakConnections: 10}},
			{AppID: "b", Usage: billing.Usage{Published: 1}},
		}}
		must(t, c.Add(ctx, b))
		must(t, c.Add(ctx, billing.Batch{Node: "n1", Seq: 2, Hour: h, Deltas: []billing.Delta{
			{AppID: "a", Usage: billing.Usage{Delivered: 5, PeakConnections: 4}},
		}}))
		must(t, c.Add(ctx, billing.Batch{Node: "n2", Seq: 1, Hour: h, Deltas: []billing.Delta{
			{AppID: "a", Usage: billing.Usage{Published: 7, PeakConnections: 20}},
		}}))
		got, err := c.Hour(ctx, h)
		must(t, err)
		want := []billing.NodeUsage{
			{Node: "n1", AppID: "a", Hour: h, Usage: billing.Usage{Published: 3, Delivered: 35, APIRequests: 2, WebhookCalls: 1, ConnectionSeconds: 50, PeakConnections: 10}},
			{Node: "n2", AppID: "a", Hour: h, Usage: billing.Usage{Published: 7, PeakConnections: 20}},
			{Node: "n1", AppID: "b", Hour: h, Usage: billing.Usage{Published: 1}},
		}
		equal(t, got, want)
		n, err := c.Messages(ctx, "a", h, h.Add(time.Hour))
		must(t, err)
		if n != 45 {
			t.Errorf("Messages = %d, want 45", n)
		}
		if n, _ := c.Messages(ctx, "a", h.Add(time.Hour), h.Add(2*time.Hour)); n != 0 {
			t.Errorf("Messages of the next hour = %d, want 0", n)
		}
	})

	t.Run("BatchBookedOnce", func(t *testing.T) {
		c := open(t)
		b := billing.Batch{Node: "n1", Seq: 9, Hour: h, Deltas: []billing.Delta{{AppID: "a", Usage: billing.Usage{Published: 2}}}}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() { must(t, c.Add(ctx, b)) })
		}
		wg.Wait()
		must(t, c.Add(ctx, b))
		if n, _ := c.Messages(ctx, "a", h, h.Add(time.Hour)); n != 2 {
			t.Errorf("a batch added 9 times counts %d, want 2", n)
		}
		// The same seq from another node is another batch.
		b.Node = "n2"
		must(t, c.Add(ctx, b))
		if n, _ := c.Messages(ctx, "a", h, h.Add(time.Hour)); n != 4 {
			t.Errorf("Messages = %d, want 4", n)
		}
	})

	t.Run("MessagesOverDay", func(t *testing.T) {
		c := open(t)
		day := billing.DayOf(h)
		for i := range 24 {
			must(t, c.Add(ctx, billing.Batch{Node: "n", Seq: int64(i), Hour: day.Add(time.Duration(i) * time.Hour),
				Deltas: []billing.Delta{{AppID: "a", Usage: billing.Usage{Published: 1, Delivered: 1}}}}))
		}
		must(t, c.Add(ctx, billing.Batch{Node: "n", Seq: 99, Hour: day.Add(24 * time.Hour),
			Deltas: []billing.Delta{{AppID: "a", Usage: billing.Usage{Published: 100}}}}))
		n, err := c.Messages(ctx, "a", day, day.Add(24*time.Hour))
		must(t, err)
		if n != 48 {
			t.Errorf("day's messages = %d, want 48", n)
		}
	})

	t.Run("EmptyHour", func(t *testing.T) {
		c := open(t)
		got, err := c.Hour(ctx, h)
		must(t, err)
		if len(got) != 0 {
			t.Errorf("empty hour: %v", got)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func equal(t *testing.T, got, want []billing.NodeUsage) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows %+v, want %+v", len(got), got, want)
	}
	for i := range got {
		if !got[i].Hour.Equal(want[i].Hour) || got[i].Node != want[i].Node || got[i].AppID != want[i].AppID || got[i].Usage != want[i].Usage {
			t.Errorf("row %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}
