package loadgen

import (
	"math"
	"sync"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds, from 1 µs to the hard cap on a
// run's length, with 3 significant digits (0.1 % resolution).
const (
	histMinUS   = 1
	histMaxUS   = int64(maxDuration/1000) * 2 // a late message may arrive after the cap
	histSigFigs = 3
	histShards  = 32 // power of two; receive goroutines spread over them
)

func newHDR() *hdrhistogram.Histogram { return hdrhistogram.New(histMinUS, histMaxUS, histSigFigs) }

// histogram is an HDR histogram split into shards so that thousands of
// receive goroutines do not serialise on one mutex: each socket records
// into the shard of its index. Merged on demand for reporting.
type histogram struct {
	shards [histShards]histShard
}

type histShard struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
	_  [40]byte // keep neighbouring shards' mutexes off one cache line
}

func newHistogram() *histogram {
	h := &histogram{}
	for i := range h.shards {
		h.shards[i].h = newHDR()
	}
	return h
}

// record adds one latency in microseconds to shard i (any int). Values out
// of range are clamped so that nothing is silently dropped.
func (h *histogram) record(i int, us int64) {
	if us < histMinUS {
		us = histMinUS
	} else if us > histMaxUS {
		us = histMaxUS
	}
	s := &h.shards[i&(histShards-1)]
	s.mu.Lock()
	_ = s.h.RecordValue(us)
	s.mu.Unlock()
}

// merged returns a new histogram holding every shard's values.
func (h *histogram) merged() *hdrhistogram.Histogram {
	out := newHDR()
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.Lock()
		out.Merge(s.h)
		s.mu.Unlock()
	}
	return out
}

// Latency is a latency distribution in milliseconds, as it appears in a
// result: count, p50, p90, p99, p99.9, max and mean.
type Latency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

// summarize reads the percentiles (recorded in µs) of h as milliseconds,
// rounded to the microsecond. An empty histogram gives nil: "no latency
// measured" must not read as "zero latency".
func summarize(h *hdrhistogram.Histogram) *Latency {
	if h == nil || h.TotalCount() == 0 {
		return nil
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return &Latency{
		Count: h.TotalCount(),
		P50:   ms(h.ValueAtQuantile(50)),
		P90:   ms(h.ValueAtQuantile(90)),
		P99:   ms(h.ValueAtQuantile(99)),
		P999:  ms(h.ValueAtQuantile(99.9)),
		Max:   ms(h.Max()),
		Mean:  math.Round(h.Mean()) / 1000,
	}
}

// encodeHist and decodeHist carry a histogram from a child process to its
// parent (percentiles cannot be merged, histograms can).
func encodeHist(h *hdrhistogram.Histogram) string {
	if h == nil || h.TotalCount() == 0 {
		return ""
	}
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return ""
	}
	return string(b)
}

func decodeHist(s string) (*hdrhistogram.Histogram, error) {
	if s == "" {
		return newHDR(), nil
	}
	return hdrhistogram.Decode([]byte(s))
}
