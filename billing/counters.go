package billing

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Batch is one flush of one node: the deltas drained at one instant.
// (Node, Seq) identifies it; Counters apply a batch at most once, so a
// retried flush never counts twice.
type Batch struct {
	Node   string
	Seq    int64
	Hour   time.Time // UTC hour the deltas are booked to
	Deltas []Delta
}

// NodeUsage is one node's total for one app over one UTC hour, the unit
// the rollup copies (absolute values, so copying twice is harmless).
type NodeUsage struct {
	Node  string
	AppID string
	Hour  time.Time
	Usage
}

// Counters are the shared counters every node flushes into: memory for
// one node, billing/redisusage for a cluster. Both pass billing/usagetest.
type Counters interface {
	// Add books a batch, once per (Node, Seq); a batch already booked is
	// a no-op returning nil.
	Add(ctx context.Context, b Batch) error
	// Hour returns every (node, app) total booked to the UTC hour h,
	// sorted by app then node.
	Hour(ctx context.Context, h time.Time) ([]NodeUsage, error)
	// Messages returns an app's billed messages (Usage.Messages) booked
	// to the hours in [from, to).
	Messages(ctx context.Context, appID string, from, to time.Time) (int64, error)
}

// HourOf truncates t to its UTC hour.
func HourOf(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }

// DayOf truncates t to its UTC day.
func DayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// MemoryCounters are Counters in process, for a single node.
type MemoryCounters struct {
	mu sync.Mutex
	// booked remembers batches, with their hour, for as long as their
	// hour is kept: long enough for any retry.
	booked map[batchID]time.Time
	hours  map[time.Time]map[nodeApp]*Usage
	latest time.Time
}

// memoryKeep is how long MemoryCounters keep an hour, as redisusage's
// default TTL: the rollup copies it many times before it goes.
const memoryKeep = 72 * time.Hour

type batchID struct {
	node string
	seq  int64
}

type nodeApp struct{ node, app string }

// NewMemoryCounters returns empty counters.
func NewMemoryCounters() *MemoryCounters {
	return &MemoryCounters{booked: map[batchID]time.Time{}, hours: map[time.Time]map[nodeApp]*Usage{}}
}

var _ Counters = (*MemoryCounters)(nil)

// Add implements Counters.
func (c *MemoryCounters) Add(_ context.Context, b Batch) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := batchID{b.Node, b.Seq}
	if _, ok := c.booked[id]; ok {
		return nil
	}
	h := HourOf(b.Hour)
	c.booked[id] = h
	if h.After(c.latest) {
		c.latest = h
		c.prune(h.Add(-memoryKeep))
	}
	m := c.hours[h]
	if m == nil {
		m = map[nodeApp]*Usage{}
		c.hours[h] = m
	}
	for _, d := range b.Deltas {
		k := nodeApp{b.Node, d.AppID}
		u := m[k]
		if u == nil {
			u = &Usage{}
			m[k] = u
		}
		peak := max(u.PeakConnections, d.PeakConnections)
		u.Add(d.Usage)
		u.PeakConnections = peak
	}
	return nil
}

// prune drops hours, and the batches booked to them, before cut.
func (c *MemoryCounters) prune(cut time.Time) {
	for h := range c.hours {
		if h.Before(cut) {
			delete(c.hours, h)
		}
	}
	for id, h := range c.booked {
		if h.Before(cut) {
			delete(c.booked, id)
		}
	}
}

// Hour implements Counters.
func (c *MemoryCounters) Hour(_ context.Context, h time.Time) ([]NodeUsage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h = HourOf(h)
	var out []NodeUsage
	for k, u := range c.hours[h] {
		out = append(out, NodeUsage{Node: k.node, AppID: k.app, Hour: h, Usage: *u})
	}
	SortNodeUsage(out)
	return out, nil
}

// Messages implements Counters.
func (c *MemoryCounters) Messages(_ context.Context, appID string, from, to time.Time) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for h := HourOf(from); h.Before(to); h = h.Add(time.Hour) {
		for k, u := range c.hours[h] {
			if k.app == appID {
				n += u.Messages()
			}
		}
	}
	return n, nil
}

// SortNodeUsage sorts by app, then node.
func SortNodeUsage(us []NodeUsage) {
	sort.Slice(us, func(i, j int) bool {
		if us[i].AppID != us[j].AppID {
			return us[i].AppID < us[j].AppID
		}
		return us[i].Node < us[j].Node
	})
}
