package webhooks

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rt/switchboard/tenants"
)

// NotifierOptions configure a Notifier; zero values take the defaults.
type NotifierOptions struct {
	Queue Queue
	// Buffer bounds the events waiting to be written to the queue (10000).
	Buffer int
	// BatchWindow is how long events of a batch_webhooks app gather per URL
	// before one request carries them all (250 ms).
	BatchWindow time.Duration
	// MaxBatch caps the events in one request (100).
	MaxBatch int
	// Trusted says whether a webhook URL of an app came from the operator
	// (the apps file) and may reach private addresses; nil means none is.
	// It is asked per URL, not per app, because a tenant may later replace
	// the webhooks of an app the operator seeded.
	Trusted  func(app *tenants.App, url string) bool
	Log      *slog.Logger
	Registry prometheus.Registerer
}

type notice struct {
	app *tenants.App
	ev  Event
	at  time.Time
}

// Notifier takes events from socket and HTTP paths without blocking them,
// keeps those each URL asked for, and writes jobs to the durable queue.
type Notifier struct {
	o        NotifierOptions
	in       chan notice
	overflow prometheus.Counter
	dropped  atomic.Int64
}

// NewNotifier returns a Notifier; Run starts it.
func NewNotifier(o NotifierOptions) *Notifier {
	if o.Buffer <= 0 {
		o.Buffer = 10000
	}
	if o.BatchWindow <= 0 {
		o.BatchWindow = 250 * time.Millisecond
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 100
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{o: o, in: make(chan notice, o.Buffer)}
	n.overflow = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchboard_webhooks_buffer_overflow_total", Help: "Webhook events dropped because the local buffer was full.",
	})
	if o.Registry != nil {
		o.Registry.MustRegister(n.overflow)
	}
	return n
}

// Notify hands ev of app to the buffer and returns at once; when the buffer
// is full the event is counted, logged (once per 1000) and dropped.
func (n *Notifier) Notify(app *tenants.App, ev Event) {
	if len(app.Webhooks) == 0 {
		return
	}
	select {
	case n.in <- notice{app: app, ev: ev, at: time.Now()}:
	default:
		n.overflow.Inc()
		if n.dropped.Add(1)%1000 == 1 {
			n.o.Log.Warn("webhooks: buffer full, events dropped", "app_id", app.ID, "event", ev.Name)
		}
	}
}

type batchKey struct{ appID, url string }

type batch struct {
	app     *tenants.App
	trusted bool
	first   time.Time
	events  []Event
}

// Run writes buffered events to the queue until ctx is done, then writes
// what is still buffered and every open batch: the caller stops it after
// the edge has drained, whose last removals are events too.
func (n *Notifier) Run(ctx context.Context) error {
	batches := map[batchKey]*batch{}
	tick := time.NewTicker(n.o.BatchWindow / 2)
	defer tick.Stop()
	flush := func(k batchKey, b *batch) {
		delete(batches, k)
		n.add(context.WithoutCancel(ctx), k, b.app, b.trusted, b.first, b.events)
	}
	take := func(x notice) {
		for _, w := range x.app.Webhooks {
			if !Wants(w, x.ev) {
				continue
			}
			trusted := n.o.Trusted != nil && n.o.Trusted(x.app, w.URL)
			k := batchKey{x.app.ID, w.URL}
			if !x.app.BatchWebhooks {
				n.add(context.WithoutCancel(ctx), k, x.app, trusted, x.at, []Event{x.ev})
				continue
			}
			b, ok := batches[k]
			if !ok {
				b = &batch{app: x.app, trusted: trusted, first: x.at}
				batches[k] = b
			}
			b.events = append(b.events, x.ev)
			if len(b.events) >= n.o.MaxBatch {
				flush(k, b)
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			for len(n.in) > 0 { // only Run receives, so this never blocks
				take(<-n.in)
			}
			for k, b := range batches {
				flush(k, b)
			}
			return nil
		case x := <-n.in:
			take(x)
		case now := <-tick.C:
			for k, b := range batches {
				if now.Sub(b.first) >= n.o.BatchWindow {
					flush(k, b)
				}
			}
		}
	}
}

func (n *Notifier) add(ctx context.Context, k batchKey, app *tenants.App, trusted bool, at time.Time, events []Event) {
	j := Job{AppID: k.appID, URL: k.url, Trusted: trusted, Payload: NewPayload(at, events...)}
	if err := n.o.Queue.Add(ctx, j); err != nil {
		n.o.Log.Error("webhooks: queue job", "app_id", app.ID, "err", err)
	}
}
