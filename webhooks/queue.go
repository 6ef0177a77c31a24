package webhooks

import (
	"context"
	"sync"
	"time"
)

// Job is one webhook request waiting for delivery: the payload for one URL
// of one app. Retries re-add the job with Attempt+1 and a later NotBefore.
type Job struct {
	// ID is assigned by the queue on Add.
	ID    string `json:"-"`
	AppID string `json:"app_id"`
	URL   string `json:"url"`
	// Trusted is set for URLs from the operator's apps file: they may point
	// at private addresses whatever the operator setting says.
	Trusted   bool      `json:"trusted,omitempty"`
	Payload   Payload   `json:"payload"`
	Attempt   int       `json:"attempt"`
	NotBefore time.Time `json:"not_before"`
	// GiveUpAt ends the retries (created + the retry period, 5 min by default).
	GiveUpAt time.Time `json:"give_up_at"`
}

// Queue is the durable queue between the local buffer and the delivery
// workers. Once Add returns nil the job survives the crash of the node that
// added it; a job read but not acked within the queue's claim timeout is
// handed to another consumer by a later Read (at-least-once).
type Queue interface {
	Add(ctx context.Context, j Job) error
	// Read returns up to n jobs for consumer, waiting up to block for one:
	// jobs other consumers left unacked too long first, then new ones.
	Read(ctx context.Context, consumer string, n int, block time.Duration) ([]Job, error)
	Ack(ctx context.Context, id string) error
	// Len counts jobs added and not yet acked.
	Len(ctx context.Context) (int64, error)
}

// MemoryQueue is the embedded Queue: durable only as long as the process.
type MemoryQueue struct {
	claimIdle time.Duration

	mu      sync.Mutex
	seq     uint64
	order   []string // ids in add order, acked ones removed lazily
	entries map[string]*memEntry
	wake    chan struct{}
}

type memEntry struct {
	job       Job
	owner     string
	claimedAt time.Time
}

// NewMemoryQueue returns a MemoryQueue whose unacked jobs move to another
// consumer after claimIdle (30 s if zero).
func NewMemoryQueue(claimIdle time.Duration) *MemoryQueue {
	if claimIdle <= 0 {
		claimIdle = 30 * time.Second
	}
	return &MemoryQueue{claimIdle: claimIdle, entries: map[string]*memEntry{}, wake: make(chan struct{})}
}

var _ Queue = (*MemoryQueue)(nil)

// Add implements Queue.
func (q *MemoryQueue) Add(_ context.Context, j Job) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.seq++
	j.ID = formatID(q.seq)
	q.entries[j.ID] = &memEntry{job: j}
	q.order = append(q.order, j.ID)
	close(q.wake)
	q.wake = make(chan struct{})
	return nil
}

func formatID(n uint64) string {
	const digits = "0123456789"
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = digits[n%10]
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}

// Read implements Queue.
func (q *MemoryQueue) Read(ctx context.Context, consumer string, n int, block time.Duration) ([]Job, error) {
	timer := time.NewTimer(block)
	defer timer.Stop()
	for {
		q.mu.Lock()
		jobs := q.take(consumer, n, time.Now())
		wake := q.wake
		q.mu.Unlock()
		if len(jobs) > 0 || block <= 0 {
			return jobs, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			q.mu.Lock()
			jobs = q.take(consumer, n, time.Now())
			q.mu.Unlock()
			return jobs, nil
		case <-wake:
		}
	}
}

// take claims up to n jobs; q.mu is held.
func (q *MemoryQueue) take(consumer string, n int, now time.Time) []Job {
	var out []Job
	live := q.order[:0]
	for _, id := range q.order {
		e, ok := q.entries[id]
		if !ok {
			continue
		}
		live = append(live, id)
		if len(out) >= n {
			continue
		}
		if e.owner == "" || (e.owner != consumer && now.Sub(e.claimedAt) >= q.claimIdle) {
			e.owner, e.claimedAt = consumer, now
			out = append(out, e.job)
		}
	}
	q.order = live
	return out
}

// Ack implements Queue.
func (q *MemoryQueue) Ack(_ context.Context, id string) error {
	q.mu.Lock()
	delete(q.entries, id)
	q.mu.Unlock()
	return nil
}

// Len implements Queue.
func (q *MemoryQueue) Len(context.Context) (int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return int64(len(q.entries)), nil
}
