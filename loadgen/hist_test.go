package loadgen

import (
	"math"
	"sync"
	"testing"
)

func TestSummarizePercentiles(t *testing.T) {
	h := newHistogram()
	// 1 ms … 1000 ms, once each, spread over the shards as sockets would.
	for i := 1; i <= 1000; i++ {
		h.record(i, int64(i)*1000)
	}
	l := summarize(h.merged())
	if l == nil {
		t.Fatal("summarize of a filled histogram returned nil")
	}
	want := map[string][2]float64{ // got, want (ms)
		"p50":  {l.P50, 500},
		"p90":  {l.P90, 900},
		"p99":  {l.P99, 990},
		"p999": {l.P999, 999},
		"max":  {l.Max, 1000},
		"mean": {l.Mean, 500.5},
	}
	for name, gw := range want {
		// HDR with 3 significant digits: within 0.1 % (plus rounding).
		if math.Abs(gw[0]-gw[1]) > gw[1]*0.0011 {
			t.Errorf("%s = %v ms, want %v ms ± 0.1%%", name, gw[0], gw[1])
		}
	}
	if l.Count != 1000 {
		t.Errorf("count = %d, want 1000", l.Count)
	}
}

func TestSummarizeEmptyIsNil(t *testing.T) {
	if l := summarize(newHistogram().merged()); l != nil {
		t.Fatalf("empty histogram summarised as %+v, want nil (no latency is not zero latency)", l)
	}
	if l := summarize(nil); l != nil {
		t.Fatalf("nil histogram summarised as %+v", l)
	}
}

func TestHistogramClampsOutOfRange(t *testing.T) {
	h := newHistogram()
	h.record(0, -5)           // clock went backwards: counted as the minimum
	h.record(1, histMaxUS*10) // absurdly late: counted at the maximum
	m := h.merged()
	if m.TotalCount() != 2 {
		t.Fatalf("count = %d, want 2: out-of-range values must not be dropped", m.TotalCount())
	}
	if !m.ValuesAreEquivalent(m.Max(), histMaxUS) {
		t.Errorf("max = %d, want ≈%d", m.Max(), histMaxUS)
	}
}

func TestHistogramConcurrentRecord(t *testing.T) {
	h := newHistogram()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				h.record(g*1000+i, 250)
			}
		}()
	}
	wg.Wait()
	if n := h.merged().TotalCount(); n != 8000 {
		t.Fatalf("count = %d, want 8000", n)
	}
}

func TestHistogramEncodeRoundTrip(t *testing.T) {
	h := newHistogram()
	for i := 1; i <= 100; i++ {
		h.record(i, int64(i*37))
	}
	m := h.merged()
	back, err := decodeHist(encodeHist(m))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := summarize(m), summarize(back); *a != *b {
		t.Fatalf("after encode/decode %+v, want %+v", b, a)
	}
	empty, err := decodeHist("")
	if err != nil || empty.TotalCount() != 0 {
		t.Fatalf("decodeHist(\"\") = %v, %v; want an empty histogram", empty, err)
	}
}
