package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/switchboard-rt/switchboard/activity"
	"github.com/switchboard-rt/switchboard/dashboard"
	"github.com/switchboard-rt/switchboard/tenants"
	"github.com/switchboard-rt/switchboard/webhooks"
	"github.com/switchboard-rt/switchboard/webhooks/redisqueue"
)

// webhookPipeline is the node's webhook path: the notifier the edge hands
// events to, the durable queue and the attempt log (in memory, or on the
// Redis the nodes share) and this node's delivery worker.
type webhookPipeline struct {
	notifier *webhooks.Notifier
	worker   *webhooks.Worker
	queue    webhooks.Queue
	attempts webhooks.AttemptLog
	durable  bool // jobs outlive this process
	// trusted says whether an app's webhook URL is the operator's.
	trusted func(app *tenants.App, url string) bool
}

// openWebhooks builds the pipeline; start runs it. fileApps are the apps
// of the apps file: their URLs as written there are the operator's and
// trusted to reach private addresses; any other URL only with
// --webhooks-allow-private.
func openWebhooks(ctx context.Context, cfg serveConfig, bb *busBackend, apps *tenants.Directory, fileApps []*tenants.App,
	feed *activity.Feed, reg prometheus.Registerer, log *slog.Logger, meter webhooks.CallMeter) (*webhookPipeline, error) {
	p := &webhookPipeline{}
	if bb.rdb != nil {
		q, err := redisqueue.New(ctx, bb.rdb, redisqueue.Options{Prefix: cfg.RedisPrefix, ClaimIdle: cfg.WebhooksClaimAfter})
		if err != nil {
			return nil, fmt.Errorf("--redis-url: webhook queue: %w", err)
		}
		p.queue, p.durable = q, true
		p.attempts = redisqueue.NewAttempts(bb.rdb, cfg.RedisPrefix, 100)
	} else {
		p.queue = webhooks.NewMemoryQueue(0)
		p.attempts = webhooks.NewAttempts(100)
	}
	p.attempts = activityAttempts{p.attempts, feed} // webhook calls show in the debug console
	operator := map[string]map[string]bool{}
	for _, a := range fileApps {
		for _, w := range a.Webhooks {
			if operator[a.ID] == nil {
				operator[a.ID] = map[string]bool{}
			}
			operator[a.ID][w.URL] = true
		}
	}
	wlog := log.With("component", "webhooks")
	p.trusted = func(app *tenants.App, url string) bool { return operator[app.ID][url] }
	p.notifier = webhooks.NewNotifier(webhooks.NotifierOptions{
		Queue: p.queue, Log: wlog, Registry: reg, Trusted: p.trusted,
	})
	p.worker = webhooks.NewWorker(webhooks.WorkerOptions{
		Queue: p.queue, Apps: apps, Consumer: consumerName(), AllowPrivate: cfg.WebhooksAllowPrivate,
		Attempts: p.attempts, Log: wlog, Registry: reg, Usage: meter,
	})
	return p, nil
}

// consumerName names this node in the Redis consumer group: a fresh name
// per process, so a restarted node's unacked jobs are claimed like a dead
// node's rather than mistaken for its own.
func consumerName() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])
}

// start runs the notifier, and the worker when deliver is set (control
// nodes deliver; edge-only nodes only enqueue, for the control nodes to
// take from the shared queue), in g. The returned stop is for after the
// edge has drained (its last removals are events): the notifier writes
// what it holds and ends; with the memory queue the worker gets until
// ctx ends, at most settle, to deliver what is queued, since those jobs
// die with the process; then it ends. A Redis queue keeps them for the
// other nodes or the next start.
func (p *webhookPipeline) start(g *errgroup.Group, deliver bool) (stop func(ctx context.Context)) {
	nctx, stopNotifier := context.WithCancel(context.Background())
	wctx, stopWorker := context.WithCancel(context.Background())
	notified := make(chan struct{})
	g.Go(func() error { defer close(notified); return p.notifier.Run(nctx) })
	if deliver {
		g.Go(func() error { return p.worker.Run(wctx) })
	}
	return func(ctx context.Context) {
		stopNotifier()
		<-notified
		if deliver && !p.durable {
			const settle = 2 * time.Second
			sctx, cancel := context.WithTimeout(ctx, settle)
			waitEmpty(sctx, p.queue)
			cancel()
		}
		stopWorker()
	}
}

func waitEmpty(ctx context.Context, q webhooks.Queue) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if n, err := q.Len(ctx); err != nil || n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// deliveriesView shows the attempt log to the management API.
type deliveriesView struct{ log webhooks.AttemptLog }

func (v deliveriesView) WebhookDeliveries(ctx context.Context, appID string, limit int) ([]dashboard.WebhookDelivery, []dashboard.WebhookEndpoint, error) {
	attempts, err := v.log.Deliveries(ctx, appID, limit)
	if err != nil {
		return nil, nil, err
	}
	endpoints, err := v.log.Endpoints(ctx, appID)
	if err != nil {
		return nil, nil, err
	}
	var d []dashboard.WebhookDelivery
	for _, x := range attempts {
		d = append(d, dashboard.WebhookDelivery{
			Time: x.Time, URL: x.URL, Attempt: x.Attempt, Status: x.Status,
			LatencyMS: float64(x.Latency.Microseconds()) / 1000, Error: x.Error, Events: x.Names,
		})
	}
	var e []dashboard.WebhookEndpoint
	for _, x := range endpoints {
		e = append(e, dashboard.WebhookEndpoint{URL: x.URL, Failing: x.Failing, ConsecutiveFailures: x.Failures, LastError: x.LastError})
	}
	return d, e, nil
}
