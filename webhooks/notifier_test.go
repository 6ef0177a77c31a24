package webhooks_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rt/switchboard/tenants"
	"github.com/switchboard-rt/switchboard/webhooks"
)

func runNotifier(t *testing.T, o webhooks.NotifierOptions) *webhooks.Notifier {
	n := webhooks.NewNotifier(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

func readAll(t *testing.T, q webhooks.Queue, want int) []webhooks.Job {
	t.Helper()
	var jobs []webhooks.Job
	eventually(t, 20*time.Second, func() error {
		js, err := q.Read(context.Background(), "t", 100, 0)
		if err != nil {
			return err
		}
		jobs = append(jobs, js...)
		if len(jobs) < want {
			return fmt.Errorf("%d jobs of %d", len(jobs), want)
		}
		return nil
	})
	return jobs
}

func TestNotifierFiltersAndOneEventPerRequest(t *testing.T) {
	q := webhooks.NewMemoryQueue(time.Hour)
	n := runNotifier(t, webhooks.NotifierOptions{Queue: q, Registry: prometheus.NewRegistry()})
	app := &tenants.App{ID: "1", Webhooks: []tenants.Webhook{
		{URL: "http://a/all", EventTypes: []string{"channel_occupied", "channel_vacated"}},
		{URL: "http://a/orders", EventTypes: []string{"channel_occupied"},
			Filter: &tenants.WebhookFilter{ChannelNameStartsWith: "orders-"}},
	}}
	n.Notify(app, webhooks.Event{Name: webhooks.ChannelOccupied, Channel: "orders-1"})
	n.Notify(app, webhooks.Event{Name: webhooks.ChannelOccupied, Channel: "chat"})
	n.Notify(app, webhooks.Event{Name: webhooks.MemberAdded, Channel: "presence-x", UserID: "u"})
	jobs := readAll(t, q, 3)
	count := map[string]int{}
	for _, j := range jobs {
		if len(j.Payload.Events) != 1 {
			t.Fatalf("job with %d events", len(j.Payload.Events))
		}
		count[j.URL]++
	}
	if len(jobs) != 3 || count["http://a/all"] != 2 || count["http://a/orders"] != 1 {
		t.Fatalf("jobs per URL = %v", count)
	}
}

func TestNotifierBatches(t *testing.T) {
	q := webhooks.NewMemoryQueue(time.Hour)
	n := runNotifier(t, webhooks.NotifierOptions{Queue: q, BatchWindow: 2 * time.Second, Registry: prometheus.NewRegistry()})
	app := &tenants.App{ID: "1", BatchWebhooks: true, Webhooks: []tenants.Webhook{
		{URL: "http://a/h", EventTypes: []string{"channel_occupied"}},
	}}
	for i := range 5 {
		n.Notify(app, webhooks.Event{Name: webhooks.ChannelOccupied, Channel: fmt.Sprint("c", i)})
	}
	jobs := readAll(t, q, 1)
	total := 0
	for _, j := range jobs {
		total += len(j.Payload.Events)
	}
	// On a busy machine the window may close between Notify calls; the
	// events still arrive, in fewer requests than events.
	eventually(t, 20*time.Second, func() error {
		js, _ := q.Read(context.Background(), "t", 100, 0)
		jobs = append(jobs, js...)
		total = 0
		for _, j := range jobs {
			total += len(j.Payload.Events)
		}
		if total < 5 {
			return fmt.Errorf("%d events of 5", total)
		}
		return nil
	})
	if len(jobs) >= 5 {
		t.Fatalf("5 events in %d requests: not batched", len(jobs))
	}
}

// Trust is per URL: a URL the operator wrote may reach private addresses,
// one a tenant added to the same app may not.
func TestNotifierTrustsPerURL(t *testing.T) {
	q := webhooks.NewMemoryQueue(time.Hour)
	n := runNotifier(t, webhooks.NotifierOptions{Queue: q, Registry: prometheus.NewRegistry(),
		Trusted: func(app *tenants.App, url string) bool { return app.ID == "1" && url == "http://10.0.0.1/ops" }})
	app := &tenants.App{ID: "1", Webhooks: []tenants.Webhook{
		{URL: "http://10.0.0.1/ops", EventTypes: []string{"channel_occupied"}},
		{URL: "http://10.0.0.2/tenant", EventTypes: []string{"channel_occupied"}},
	}}
	n.Notify(app, webhooks.Event{Name: webhooks.ChannelOccupied, Channel: "c"})
	for _, j := range readAll(t, q, 2) {
		if j.Trusted != (j.URL == "http://10.0.0.1/ops") {
			t.Errorf("%s trusted = %v", j.URL, j.Trusted)
		}
	}
}

// Events still buffered when Run is stopped (the edge's drain emits its
// last vacated events just before) are written to the queue, not lost.
func TestNotifierStopWritesWhatItHolds(t *testing.T) {
	q := webhooks.NewMemoryQueue(time.Hour)
	n := webhooks.NewNotifier(webhooks.NotifierOptions{Queue: q, Registry: prometheus.NewRegistry()})
	app := &tenants.App{ID: "1", Webhooks: []tenants.Webhook{{URL: "http://a/h", EventTypes: []string{"channel_vacated"}}}}
	for i := range 3 {
		n.Notify(app, webhooks.Event{Name: webhooks.ChannelVacated, Channel: fmt.Sprint("c", i)})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := n.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if l, _ := q.Len(context.Background()); l != 3 {
		t.Fatalf("%d jobs queued, want 3", l)
	}
}
