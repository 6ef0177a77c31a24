package webhooks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rt/switchboard/internal/testwait"
	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
	"github.com/switchboard-rt/switchboard/webhooks"
)

type apps map[string]*tenants.App

func (a apps) AppByID(_ context.Context, id string) (*tenants.App, error) {
	if app, ok := a[id]; ok {
		return app, nil
	}
	return nil, tenants.ErrNotFound
}

var testApps = apps{"1": {ID: "1", Keys: []tenants.Key{{Key: "k1", Secret: "s1"}}}}

// callMeter counts WebhookCall per app, as billing.Meter does.
type callMeter struct {
	mu sync.Mutex
	n  map[string]int
}

func (m *callMeter) WebhookCall(appID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n == nil {
		m.n = map[string]int{}
	}
	m.n[appID]++
}

func (m *callMeter) get(appID string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n[appID]
}

func eventually(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	testwait.Eventually(t, d, f)
}

func startWorker(t *testing.T, o webhooks.WorkerOptions) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := webhooks.NewWorker(o)
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func newJob(url string, trusted bool) webhooks.Job {
	return webhooks.Job{AppID: "1", URL: url, Trusted: trusted,
		Payload: webhooks.NewPayload(time.Now(), webhooks.Event{Name: webhooks.ChannelOccupied, Channel: "c"})}
}

func TestWorkerRetriesUntilDelivered(t *testing.T) {
	var calls atomic.Int32
	var badSig atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Pusher-Signature") != protocol.WebhookSignature("s1", b) {
			badSig.Add(1)
		}
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	q := webhooks.NewMemoryQueue(time.Minute)
	att := webhooks.NewAttempts(10)
	meter := &callMeter{}
	startWorker(t, webhooks.WorkerOptions{Queue: q, Apps: testApps, Attempts: att, Usage: meter,
		BaseBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Registry: prometheus.NewRegistry()})
	if err := q.Add(context.Background(), newJob(srv.URL, true)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() error {
		if n, _ := q.Len(context.Background()); n != 0 || calls.Load() < 3 {
			return fmt.Errorf("calls %d, queued %d", calls.Load(), n)
		}
		return nil
	})
	if badSig.Load() != 0 {
		t.Errorf("%d requests with a bad signature", badSig.Load())
	}
	// Billing counts every request sent, retries included.
	if got := meter.get("1"); got != 3 {
		t.Errorf("webhook calls metered = %d, want 3 (one per attempt)", got)
	}
	d, _ := att.Deliveries(context.Background(), "1", 10)
	if len(d) != 3 || d[0].Status != 200 || d[0].Attempt != 3 || d[2].Status != 500 || d[2].Error == "" {
		t.Fatalf("attempts = %+v", d)
	}
}

func TestFailingEndpointDoesNotDelayHealthyOne(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer slow.Close()
	defer close(release)
	var mu sync.Mutex
	got := 0
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got++
		mu.Unlock()
	}))
	defer healthy.Close()
	q := webhooks.NewMemoryQueue(time.Minute)
	startWorker(t, webhooks.WorkerOptions{Queue: q, Apps: testApps, PerURL: 2, MaxInFlight: 64,
		Timeout: time.Minute, Registry: prometheus.NewRegistry()})
	ctx := context.Background()
	for range 20 {
		_ = q.Add(ctx, newJob(slow.URL, true))
	}
	for range 10 {
		_ = q.Add(ctx, newJob(healthy.URL, true))
	}
	// The slow endpoint holds its two slots and never answers; all ten
	// healthy jobs still go through.
	eventually(t, 20*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if got != 10 {
			return fmt.Errorf("healthy endpoint got %d of 10", got)
		}
		return nil
	})
}

func TestUntrustedURLCannotReachLoopback(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer srv.Close()
	q := webhooks.NewMemoryQueue(time.Minute)
	att := webhooks.NewAttempts(10)
	startWorker(t, webhooks.WorkerOptions{Queue: q, Apps: testApps, Attempts: att, FailingAfter: 1,
		BaseBackoff: time.Hour, MaxBackoff: time.Hour, RetryFor: time.Millisecond, Registry: prometheus.NewRegistry()})
	_ = q.Add(context.Background(), newJob(srv.URL, false))
	eventually(t, 20*time.Second, func() error {
		if d, _ := att.Deliveries(context.Background(), "1", 1); len(d) == 0 {
			return fmt.Errorf("no attempt recorded")
		}
		return nil
	})
	ds, _ := att.Deliveries(context.Background(), "1", 1)
	d := ds[0]
	if !strings.Contains(d.Error, "private") || calls.Load() != 0 {
		t.Fatalf("attempt %+v, receiver calls %d", d, calls.Load())
	}
	if e, _ := att.Endpoints(context.Background(), "1"); len(e) != 1 || !e[0].Failing || e[0].LastError == "" {
		t.Fatalf("endpoints = %+v", e)
	}
}

// First attempts of one channel's events reach a URL in the order they
// were queued, however the receiver's answers are timed; other channels
// are not held up behind them.
func TestWorkerKeepsAChannelsOrder(t *testing.T) {
	var mu sync.Mutex
	got := map[string][]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p webhooks.Payload
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &p); err != nil {
			t.Error(err)
			return
		}
		time.Sleep(time.Duration(rand.N(3)) * time.Millisecond)
		mu.Lock()
		for _, e := range p.Events {
			got[e.Channel] = append(got[e.Channel], e.Name)
		}
		mu.Unlock()
	}))
	defer srv.Close()
	q := webhooks.NewMemoryQueue(time.Minute)
	var want []string
	for i := range 30 {
		name := webhooks.ChannelOccupied
		if i%2 == 1 {
			name = webhooks.ChannelVacated
		}
		want = append(want, name)
		for _, ch := range []string{"a", "b"} {
			j := webhooks.Job{AppID: "1", URL: srv.URL, Trusted: true,
				Payload: webhooks.NewPayload(time.Now(), webhooks.Event{Name: name, Channel: ch})}
			if err := q.Add(context.Background(), j); err != nil {
				t.Fatal(err)
			}
		}
	}
	startWorker(t, webhooks.WorkerOptions{Queue: q, Apps: testApps, PerURL: 8, Registry: prometheus.NewRegistry()})
	eventually(t, 20*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got["a"]) < 30 || len(got["b"]) < 30 {
			return fmt.Errorf("%d and %d of 30", len(got["a"]), len(got["b"]))
		}
		return nil
	})
	for _, ch := range []string{"a", "b"} {
		if strings.Join(got[ch], ",") != strings.Join(want, ",") {
			t.Fatalf("channel %s got %v", ch, got[ch])
		}
	}
}
