package webhooks

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// Attempt is the record of one delivery attempt.
type Attempt struct {
	AppID   string `json:"app_id"`
	URL     string `json:"url"`
	Attempt int    `json:"attempt"` // 1 for the first try
	Events  int    `json:"events"`
	// Names are the payload's event names, in order.
	Names   []string      `json:"event_names"`
	Time    time.Time     `json:"time"`
	Status  int           `json:"status,omitempty"` // HTTP status; 0 if none came
	Latency time.Duration `json:"latency_ns"`
	Error   string        `json:"error,omitempty"`
}

// Endpoint is the health of one webhook URL of an app.
type Endpoint struct {
	URL       string `json:"url"`
	Failing   bool   `json:"failing"`
	Failures  int    `json:"consecutive_failures"`
	LastError string `json:"last_error,omitempty"`
}

// AttemptLog is where the worker records its attempts and the management
// API reads them: the latest attempts of each app, newest first, and each
// endpoint's run of failures. An endpoint is failing once failingAfter
// consecutive attempts failed, until one succeeds.
type AttemptLog interface {
	Record(ctx context.Context, a Attempt, failingAfter int) error
	Deliveries(ctx context.Context, appID string, limit int) ([]Attempt, error)
	Endpoints(ctx context.Context, appID string) ([]Endpoint, error)
}

var _ AttemptLog = (*Attempts)(nil)

// Attempts is the AttemptLog in memory: each node keeps its own. It holds
// the latest attempts of each app in a bounded ring plus each endpoint's
// run of failures. Safe for concurrent use.
type Attempts struct {
	size int
	mu   sync.Mutex
	apps map[string]*appAttempts
}

type appAttempts struct {
	ring      []Attempt
	next      int
	endpoints map[string]*Endpoint
}

// NewAttempts keeps the latest size attempts per app.
func NewAttempts(size int) *Attempts {
	if size <= 0 {
		size = 100
	}
	return &Attempts{size: size, apps: map[string]*appAttempts{}}
}

// Record implements AttemptLog.
func (a *Attempts) Record(_ context.Context, r Attempt, failingAfter int) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	aa, ok := a.apps[r.AppID]
	if !ok {
		aa = &appAttempts{endpoints: map[string]*Endpoint{}}
		a.apps[r.AppID] = aa
	}
	if len(aa.ring) < a.size {
		aa.ring = append(aa.ring, r)
	} else {
		aa.ring[aa.next] = r
	}
	aa.next = (aa.next + 1) % a.size
	e, ok := aa.endpoints[r.URL]
	if !ok {
		e = &Endpoint{URL: r.URL}
		aa.endpoints[r.URL] = e
	}
	if r.Error == "" {
		e.Failures, e.Failing, e.LastError = 0, false, ""
		return nil
	}
	e.Failures++
	e.LastError = r.Error
	e.Failing = e.Failures >= failingAfter
	return nil
}

// Deliveries implements AttemptLog: up to limit of the app's latest
// attempts, newest first (all it keeps if limit <= 0).
func (a *Attempts) Deliveries(_ context.Context, appID string, limit int) ([]Attempt, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	aa, ok := a.apps[appID]
	if !ok {
		return nil, nil
	}
	n := len(aa.ring)
	if limit <= 0 || limit > n {
		limit = n
	}
	out := make([]Attempt, 0, limit)
	for i := 1; i <= limit; i++ {
		out = append(out, aa.ring[(aa.next-i+n)%n])
	}
	return out, nil
}

// Endpoints implements AttemptLog: the health of the app's webhook URLs
// seen so far, by URL.
func (a *Attempts) Endpoints(_ context.Context, appID string) ([]Endpoint, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	aa, ok := a.apps[appID]
	if !ok {
		return nil, nil
	}
	out := make([]Endpoint, 0, len(aa.endpoints))
	for _, e := range aa.endpoints {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(x, y Endpoint) int { return strings.Compare(x.URL, y.URL) })
	return out, nil
}
