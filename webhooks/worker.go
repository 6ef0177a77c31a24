package webhooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rt/switchboard/tenants"
)

// appFinder is the part of tenants.Directory delivery needs: the app's
// current key signs each attempt (secrets never go into the queue).
type appFinder interface {
	AppByID(ctx context.Context, id string) (*tenants.App, error)
}

// WorkerOptions configure a Worker; zero values take the documented defaults.
type WorkerOptions struct {
	Queue    Queue
	Apps     appFinder
	Consumer string // this node's consumer name in the queue; "worker" if empty
	// Timeout bounds one attempt (10 s).
	Timeout time.Duration
	// RetryFor is how long a job is retried after it was created (5 min, as Pusher).
	RetryFor time.Duration
	// BaseBackoff and MaxBackoff shape the exponential backoff with full
	// jitter (1 s, 20 s). Keep MaxBackoff below the queue's claim timeout.
	BaseBackoff, MaxBackoff time.Duration
	// PerURL caps concurrent requests to one URL (4) so a slow endpoint
	// holds only its own slots; MaxInFlight caps all jobs in hand (256).
	PerURL, MaxInFlight int
	// AllowPrivate lets untrusted (tenant-set) URLs reach private, loopback
	// and link-local addresses; checked on the resolved IP at dial time.
	AllowPrivate bool
	// FailingAfter consecutive failed attempts mark an endpoint failing (5).
	FailingAfter int
	Log          *slog.Logger
	Registry     prometheus.Registerer
	Attempts     AttemptLog // where attempts are recorded; a new in-memory ring of 100 per app if nil
	// Usage counts every request sent (retries included) for billing;
	// nil counts none.
	Usage CallMeter
}

// CallMeter counts webhook calls per app (billing.Meter, wired in
// cmd/switchboard); it must not block.
type CallMeter interface {
	WebhookCall(appID string)
}

// Worker delivers jobs from the queue: at-least-once, signed, retried with
// backoff until RetryFor has passed.
type Worker struct {
	o        WorkerOptions
	trusted  *http.Client
	guarded  *http.Client
	mu       sync.Mutex
	perURL   map[string]chan struct{}
	lanes    map[string]chan struct{} // lane → done channel of its latest job
	attempts *prometheus.CounterVec
	latency  prometheus.Histogram
	depth    prometheus.GaugeFunc
}

// NewWorker returns a Worker; Run starts it.
func NewWorker(o WorkerOptions) *Worker {
	if o.Consumer == "" {
		o.Consumer = "worker"
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Timeout, 10*time.Second)
	def(&o.RetryFor, 5*time.Minute)
	def(&o.BaseBackoff, time.Second)
	def(&o.MaxBackoff, 20*time.Second)
	if o.PerURL <= 0 {
		o.PerURL = 4
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 256
	}
	if o.FailingAfter <= 0 {
		o.FailingAfter = 5
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Attempts == nil {
		o.Attempts = NewAttempts(100)
	}
	w := &Worker{o: o, perURL: map[string]chan struct{}{}, lanes: map[string]chan struct{}{}}
	w.trusted = &http.Client{Timeout: o.Timeout, CheckRedirect: noRedirect}
	w.guarded = Client(o.AllowPrivate, o.Timeout)
	w.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_webhooks_attempts_total", Help: "Webhook delivery attempts by result.",
	}, []string{"result"})
	w.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "switchboard_webhooks_attempt_duration_seconds", Help: "Webhook attempt latency.",
		Buckets: prometheus.DefBuckets,
	})
	w.depth = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "switchboard_webhooks_queue_depth", Help: "Webhook jobs queued and not yet acked.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		n, _ := o.Queue.Len(ctx)
		return float64(n)
	})
	if o.Registry != nil {
		o.Registry.MustRegister(w.attempts, w.latency, w.depth)
	}
	return w
}

// Client is the HTTP client for URLs a tenant sets: it follows no
// redirect and, unless allowPrivate, refuses to connect to private,
// loopback, link-local and multicast addresses (checked on the address
// actually dialled, so DNS cannot slip one past).
func Client(allowPrivate bool, timeout time.Duration) *http.Client {
	if allowPrivate {
		return &http.Client{Timeout: timeout, CheckRedirect: noRedirect}
	}
	d := &net.Dialer{Timeout: timeout, Control: publicOnly}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = d.DialContext
	return &http.Client{Timeout: timeout, Transport: tr, CheckRedirect: noRedirect}
}

// Redirects are not followed: the signed body is for the configured URL,
// and a redirect could lead a guarded request to an internal address.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// errPrivate is the error of an attempt refused by the address check.
var errPrivate = errors.New("destination address is private, loopback or link-local")

func publicOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsUnspecified() || ip.IsMulticast() {
		return errPrivate
	}
	return nil
}

// Run reads and delivers jobs until ctx is done, then waits for the jobs in
// hand; unfinished ones stay unacked in the queue for another consumer.
func (w *Worker) Run(ctx context.Context) error {
	slots := make(chan struct{}, w.o.MaxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		slots <- struct{}{}
		free := w.o.MaxInFlight - len(slots) + 1
		jobs, err := w.o.Queue.Read(ctx, w.o.Consumer, free, time.Second)
		if err != nil && ctx.Err() == nil {
			w.o.Log.Warn("webhooks: read queue", "err", err)
			<-slots
			sleep(ctx, time.Second)
			continue
		}
		if len(jobs) == 0 {
			<-slots
			continue
		}
		for i, j := range jobs {
			if i > 0 {
				slots <- struct{}{}
			}
			prev, done := w.enter(j)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				defer w.leave(j, done)
				if prev != nil {
					select {
					case <-prev:
					case <-ctx.Done():
						return
					}
				}
				w.handle(ctx, j)
			}()
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// lane orders first attempts: jobs of one URL and channel (of one URL,
// for a batch) are attempted one after the other, in the order this
// worker read them, so a receiver sees a channel's occupied before its
// vacated (spec §6.3: in order when no retry is involved). Retries go
// out of order, as the spec allows, so a failing job holds up no other.
// Different channels of one URL still go in parallel, up to PerURL.
func lane(j Job) string {
	if j.Attempt > 0 {
		return ""
	}
	if len(j.Payload.Events) == 1 {
		return j.URL + "\x00" + j.Payload.Events[0].Channel
	}
	return j.URL
}

// enter is called in read order: it returns the done channel of the
// job before j in its lane (nil if none) and j's own.
func (w *Worker) enter(j Job) (prev, done chan struct{}) {
	k := lane(j)
	if k == "" {
		return nil, nil
	}
	done = make(chan struct{})
	w.mu.Lock()
	prev = w.lanes[k]
	w.lanes[k] = done
	w.mu.Unlock()
	return prev, done
}

func (w *Worker) leave(j Job, done chan struct{}) {
	if done == nil {
		return
	}
	k := lane(j)
	w.mu.Lock()
	if w.lanes[k] == done {
		delete(w.lanes, k)
	}
	w.mu.Unlock()
	close(done)
}

func (w *Worker) slot(url string) chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.perURL[url]
	if !ok {
		s = make(chan struct{}, w.o.PerURL)
		w.perURL[url] = s
	}
	return s
}

func (w *Worker) handle(ctx context.Context, j Job) {
	if d := time.Until(j.NotBefore); d > 0 && !sleep(ctx, d) {
		return
	}
	s := w.slot(j.URL)
	select {
	case s <- struct{}{}:
	case <-ctx.Done():
		return
	}
	_, err := w.attempt(ctx, j)
	<-s
	if ctx.Err() != nil {
		return // shutting down: leave the job for another consumer
	}
	if err == nil {
		w.ack(ctx, j)
		return
	}
	next := time.Now().Add(w.backoff(j.Attempt))
	if j.GiveUpAt.IsZero() {
		j.GiveUpAt = time.UnixMilli(j.Payload.TimeMS).Add(w.o.RetryFor)
	}
	if next.After(j.GiveUpAt) {
		w.o.Log.Warn("webhooks: giving up", "app_id", j.AppID, "attempts", j.Attempt+1, "err", err)
		w.attempts.WithLabelValues("dropped").Inc()
		w.ack(ctx, j)
		return
	}
	retry := j
	retry.ID, retry.Attempt, retry.NotBefore = "", j.Attempt+1, next
	if aerr := w.o.Queue.Add(ctx, retry); aerr != nil {
		w.o.Log.Warn("webhooks: requeue", "app_id", j.AppID, "err", aerr)
		return // unacked: the queue hands it out again after its claim timeout
	}
	w.ack(ctx, j)
}

func (w *Worker) ack(ctx context.Context, j Job) {
	if err := w.o.Queue.Ack(ctx, j.ID); err != nil {
		w.o.Log.Warn("webhooks: ack", "app_id", j.AppID, "err", err)
	}
}

// backoff is full jitter over BaseBackoff·2^attempt, capped at MaxBackoff.
func (w *Worker) backoff(attempt int) time.Duration {
	d := w.o.MaxBackoff
	if attempt < 30 {
		if e := w.o.BaseBackoff << attempt; e > 0 && e < d {
			d = e
		}
	}
	return d/2 + rand.N(d/2+1)
}

// Test sends p to url once, now, signed with the app's primary key like
// every delivery and through the same address guard (untrusted URLs may
// not reach private addresses), and records the attempt in the log. It
// is the dashboard's "send test webhook": no retry, no queue.
func (w *Worker) Test(ctx context.Context, appID, url string, trusted bool, p Payload) Attempt {
	rec, _ := w.attempt(ctx, Job{AppID: appID, URL: url, Trusted: trusted, Payload: p})
	return rec
}

func (w *Worker) attempt(ctx context.Context, j Job) (Attempt, error) {
	start := time.Now()
	rec := Attempt{AppID: j.AppID, URL: j.URL, Attempt: j.Attempt + 1, Time: start, Events: len(j.Payload.Events)}
	rec.Names = make([]string, len(j.Payload.Events))
	for i, e := range j.Payload.Events {
		rec.Names[i] = e.Name
	}
	err := w.send(ctx, j, &rec)
	rec.Latency = time.Since(start)
	w.latency.Observe(rec.Latency.Seconds())
	if err != nil {
		rec.Error = err.Error()
		w.attempts.WithLabelValues("failed").Inc()
	} else {
		w.attempts.WithLabelValues("ok").Inc()
	}
	if ctx.Err() == nil {
		if rerr := w.o.Attempts.Record(ctx, rec, w.o.FailingAfter); rerr != nil {
			w.o.Log.Warn("webhooks: record attempt", "app_id", j.AppID, "err", rerr)
		}
	}
	return rec, err
}

func (w *Worker) send(ctx context.Context, j Job, rec *Attempt) error {
	if err := ValidateURL(j.URL); err != nil {
		return err
	}
	app, err := w.o.Apps.AppByID(ctx, j.AppID)
	if err != nil {
		return fmt.Errorf("app %s: %w", j.AppID, err)
	}
	req, err := NewRequest(ctx, app, j.URL, j.Payload)
	if err != nil {
		return err
	}
	c := w.guarded
	if j.Trusted {
		c = w.trusted
	}
	resp, err := c.Do(req)
	if w.o.Usage != nil && !errors.Is(err, errPrivate) {
		// Billed per request sent, answered or not; one refused by the
		// address check never left.
		w.o.Usage.WebhookCall(j.AppID)
	}
	if err != nil {
		if errors.Is(err, errPrivate) {
			return errPrivate
		}
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	rec.Status = resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
