package billing

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestMeterCountsAndDrains(t *testing.T) {
	m := NewMeter()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				m.Published("a", 1)
				m.Delivered("a", 3)
				m.App("b").Delivered(1)
			}
			m.APIRequest("a")
			m.WebhookCall("b")
		})
	}
	wg.Wait()
	if got := m.Unflushed("a"); got != 32000 {
		t.Fatalf("Unflushed(a) = %d, want 32000", got)
	}
	ds := m.Drain(time.Now())
	got := map[string]Usage{}
	for _, d := range ds {
		got[d.AppID] = d.Usage
	}
	if want := (Usage{Published: 8000, Delivered: 24000, APIRequests: 8}); got["a"] != want {
		t.Errorf("a: %+v, want %+v", got["a"], want)
	}
	if want := (Usage{Delivered: 8000, WebhookCalls: 8}); got["b"] != want {
		t.Errorf("b: %+v, want %+v", got["b"], want)
	}
	// Drained but not settled still counts for quotas.
	if got := m.Unflushed("a"); got != 32000 {
		t.Errorf("Unflushed(a) before settle = %d, want 32000", got)
	}
	m.settle(ds)
	if got := m.Unflushed("a"); got != 0 {
		t.Errorf("Unflushed(a) after settle = %d", got)
	}
	if ds := m.Drain(time.Now()); len(ds) != 0 {
		t.Errorf("second drain: %+v", ds)
	}
}

func TestMeterConnections(t *testing.T) {
	m := NewMeter()
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	now := t0
	m.now = func() time.Time { return now }
	m.Connected("a")
	m.Connected("a")
	now = now.Add(30 * time.Second)
	m.Connected("a") // 2 sockets × 30 s
	now = now.Add(10 * time.Second)
	m.Disconnected("a") // 3 × 10 s
	m.Disconnected("a")
	now = now.Add(20 * time.Second) // 1 × 20 s
	ds := m.Drain(now)
	if len(ds) != 1 {
		t.Fatalf("drain: %+v", ds)
	}
	if u := ds[0].Usage; u.ConnectionSeconds != 110 || u.PeakConnections != 3 {
		t.Errorf("got %+v, want 110 connection-seconds and peak 3", u)
	}
	if m.Connections("a") != 1 {
		t.Errorf("Connections = %d, want 1", m.Connections("a"))
	}
	now = now.Add(60 * time.Second)
	ds = m.Drain(now)
	if u := ds[0].Usage; u.ConnectionSeconds != 60 || u.PeakConnections != 1 {
		t.Errorf("next interval: %+v, want 60 connection-seconds and peak 1", u)
	}
}

// TestFlusherCrashLosesAtMostOneInterval: what a node counted is in the
// shared counters after each flush; a crash (the Meter thrown away)
// loses only what was counted since the last flush.
func TestFlusherCrashLosesAtMostOneInterval(t *testing.T) {
	ctx := context.Background()
	c := NewMemoryCounters()
	m := NewMeter()
	f := NewFlusher("n1", m, c, FlusherOptions{})
	for i := range 10 {
		m.Published("a", 1)
		m.Delivered("a", 10)
		if i%3 == 2 {
			if err := f.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	// 10 publishes, flushed after the 3rd, 6th and 9th: the 10th is lost.
	lost := m.Unflushed("a")
	h := HourOf(time.Now())
	got, _ := c.Messages(ctx, "a", h.Add(-time.Hour), h.Add(time.Hour))
	if got != 99 || lost != 11 || got+lost != 110 {
		t.Errorf("flushed %d, unflushed %d; want 99 and 11", got, lost)
	}
}

func TestFlusherRunFlushesOnStop(t *testing.T) {
	c := NewMemoryCounters()
	m := NewMeter()
	f := NewFlusher("n1", m, c, FlusherOptions{Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	m.Published("a", 5)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	h := HourOf(time.Now())
	if got, _ := c.Messages(context.Background(), "a", h.Add(-time.Hour), h.Add(time.Hour)); got != 5 {
		t.Errorf("flushed on stop: %d, want 5", got)
	}
}
