// Package activity is the live feed behind the dashboard's debug console:
// what happens to an app (connections, subscriptions, occupied and
// vacated channels, API messages, client events, webhook calls) on any
// node, streamed to whoever watches the app.
//
// It costs nothing while nobody watches: producers (edge, the publish
// path, the webhook attempt log) ask Watched first, which is one atomic
// load when no app is watched anywhere and a map lookup otherwise, and
// build an Entry only when it says yes.
//
// Across nodes it rides the bus: a node with a watcher of an app
// publishes a bus.KindWatch message for it every WatchEvery; every node
// that receives one emits the app's activity until 3×WatchEvery passes
// without another. Entries go as bus.KindActivity messages to every node,
// which hands them to its local watchers of the app. Both kinds are
// node-wide, neither sequenced nor kept: on Redis they use the node-wide
// channel, so no per-app subscription is needed.
//
// It imports bus only; cmd/switchboard wires it to the edge, the API's
// publisher, the webhook attempt log and the dashboard.
package activity

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/switchboard-rt/switchboard/bus"
)

// Entry types. The edge emits the first ones (and uses the webhook
// event names for the channel and member ones); the publish path and the
// webhook attempt log the last two.
const (
	Connected     = "connection"
	Disconnected  = "disconnection"
	Subscribed    = "subscribed"
	Unsubscribed  = "unsubscribed"
	Occupied      = "channel_occupied"
	Vacated       = "channel_vacated"
	MemberAdded   = "member_added"
	MemberRemoved = "member_removed"
	CacheMiss     = "cache_miss"
	ClientEvent   = "client_event"
	APIMessage    = "api_message"
	Webhook       = "webhook"
	// Dropped is the notice a slow watcher gets in place of the entries
	// its full queue could not take (Count says how many).
	Dropped = "dropped"
)

// Entry is one line of the debug console; the type lives in bus so that
// producers (edge) need not import this package.
type Entry = bus.Activity

// publisher is the part of the bus the feed publishes to.
type publisher interface {
	Publish(ctx context.Context, msg *bus.Message) error
}

// Options configure a Feed; only Bus is required.
type Options struct {
	Bus publisher
	// Node names this node in entries (e.g. the edge's node id).
	Node string
	// WatchEvery is how often a node with watchers says so (5 s); nodes
	// stop emitting an app's activity 3×WatchEvery after the last one.
	WatchEvery time.Duration
	// QueueLen bounds each watcher's queue (256 entries) and the feed's
	// outbound queue (4×QueueLen); past it entries are dropped and counted.
	QueueLen int
	// MaxRate caps the entries one node emits per app and second (200,
	// bursts of twice that): a watched app busy with thousands of events
	// a second would otherwise put them all on the bus for every node.
	// Entries over it are counted and reported as one Dropped entry.
	MaxRate int
	Logger  *slog.Logger
	Now     func() time.Time
}

// Feed is one node's part of the live activity feed. Run must be running
// for anything to cross the bus.
type Feed struct {
	o Options

	// watched is the apps watched anywhere, with when that ends (Unix
	// nanoseconds); nil when none is, so Watched is one load then. The map
	// is never changed once stored: writers copy it under mu.
	watched atomic.Pointer[map[string]int64]

	mu       sync.Mutex
	watchers map[string]map[*watcher]struct{} // this node's, by app id
	closed   bool
	done     chan struct{} // closed by Close: streams end

	limits  sync.Map          // app id → *appLimit, while the app is watched
	out     chan *bus.Message // to publish, so producers never wait for the bus
	kick    chan struct{}     // a new watcher: say so at once
	dropped atomic.Int64      // entries the outbound queue had no room for
}

// appLimit is the emission rate of one watched app on this node.
type appLimit struct {
	lim        *rate.Limiter
	suppressed atomic.Int64
}

// watcher is one open console.
type watcher struct {
	ch      chan []byte
	dropped atomic.Int64
}

// New returns a Feed; Run starts it.
func New(o Options) *Feed {
	if o.WatchEvery <= 0 {
		o.WatchEvery = 5 * time.Second
	}
	if o.QueueLen <= 0 {
		o.QueueLen = 256
	}
	if o.MaxRate <= 0 {
		o.MaxRate = 200
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Feed{o: o, watchers: map[string]map[*watcher]struct{}{}, done: make(chan struct{}),
		out: make(chan *bus.Message, 4*o.QueueLen), kick: make(chan struct{}, 1)}
}

// Watched reports whether anyone, on any node, watches appID's console.
// Producers call it before building an Entry.
func (f *Feed) Watched(appID string) bool {
	m := f.watched.Load()
	if m == nil {
		return false
	}
	_, ok := (*m)[appID]
	return ok
}

// Emit sends e to appID's watchers on every node, if the app is watched.
// It never blocks: when the outbound queue is full the entry is dropped
// and counted.
func (f *Feed) Emit(appID string, e Entry) {
	if !f.Watched(appID) {
		return
	}
	if e.Time == 0 {
		e.Time = f.o.Now().UnixMilli()
	}
	l := f.limitFor(appID)
	if !l.lim.Allow() {
		l.suppressed.Add(1)
		return
	}
	if n := l.suppressed.Swap(0); n > 0 {
		f.emit(appID, Entry{Type: Dropped, Count: n, Time: e.Time, Node: f.o.Node,
			Detail: "over the console's limit of " + strconv.Itoa(f.o.MaxRate) + " entries a second per node"})
	}
	f.emit(appID, e)
}

func (f *Feed) limitFor(appID string) *appLimit {
	if l, ok := f.limits.Load(appID); ok {
		return l.(*appLimit)
	}
	l, _ := f.limits.LoadOrStore(appID, &appLimit{lim: rate.NewLimiter(rate.Limit(f.o.MaxRate), 2*f.o.MaxRate)})
	return l.(*appLimit)
}

func (f *Feed) emit(appID string, e Entry) {
	if e.Node == "" {
		e.Node = f.o.Node
	}
	if len(e.Data) > bus.MaxActivityData {
		e.Data, e.Truncated = e.Data[:bus.MaxActivityData], true
	}
	data, err := json.Marshal(e)
	if err != nil {
		return
	}
	f.enqueue(&bus.Message{Kind: bus.KindActivity, AppID: appID, Data: data})
}

func (f *Feed) enqueue(m *bus.Message) {
	select {
	case f.out <- m:
	default:
		if f.dropped.Add(1)%1000 == 1 {
			f.o.Logger.Warn("activity: outbound queue full, console entries dropped", "app_id", m.AppID)
		}
	}
}

// Deliver implements bus.Handler: watch notices mark apps watched, and
// entries go to this node's watchers of their app. It never blocks.
func (f *Feed) Deliver(m *bus.Message) {
	switch m.Kind {
	case bus.KindWatch:
		f.markWatched(m.AppID)
	case bus.KindActivity:
		f.mu.Lock()
		defer f.mu.Unlock()
		for w := range f.watchers[m.AppID] {
			w.offer(m.Data)
		}
	}
}

// offer queues data for a watcher, or counts it dropped. A watcher that
// dropped entries gets a Dropped notice first, as soon as there is room.
func (w *watcher) offer(data []byte) {
	if n := w.dropped.Load(); n > 0 {
		notice, _ := json.Marshal(Entry{Type: Dropped, Count: n, Time: time.Now().UnixMilli()})
		select {
		case w.ch <- notice:
			w.dropped.Add(-n)
		default:
			w.dropped.Add(1)
			return
		}
	}
	select {
	case w.ch <- data:
	default:
		w.dropped.Add(1)
	}
}

func (f *Feed) markWatched(appID string) {
	until := f.o.Now().Add(3 * f.o.WatchEvery).UnixNano()
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.watched.Load()
	if old != nil && (*old)[appID] >= until {
		return
	}
	m := make(map[string]int64, 1)
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[appID] = until
	f.watched.Store(&m)
}

// sweep forgets apps whose watch notices stopped.
func (f *Feed) sweep() {
	now := f.o.Now().UnixNano()
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.watched.Load()
	f.limits.Range(func(k, _ any) bool {
		if old == nil || (*old)[k.(string)] <= now {
			f.limits.Delete(k)
		}
		return true
	})
	if old == nil {
		return
	}
	m := make(map[string]int64, len(*old))
	for k, v := range *old {
		if v > now {
			m[k] = v
		}
	}
	switch {
	case len(m) == len(*old):
	case len(m) == 0:
		f.watched.Store(nil)
	default:
		f.watched.Store(&m)
	}
}

// Watch opens a console on appID: entries (each a JSON Entry) arrive on
// the channel until stop is called or the feed closes, which closes it.
func (f *Feed) Watch(appID string) (entries <-chan []byte, stop func()) {
	w := &watcher{ch: make(chan []byte, f.o.QueueLen)}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		close(w.ch)
		return w.ch, func() {}
	}
	if f.watchers[appID] == nil {
		f.watchers[appID] = map[*watcher]struct{}{}
	}
	f.watchers[appID][w] = struct{}{}
	f.mu.Unlock()
	select {
	case f.kick <- struct{}{}:
	default:
	}
	var once sync.Once
	return w.ch, func() {
		once.Do(func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			if _, ok := f.watchers[appID][w]; !ok {
				return // closed with the feed
			}
			delete(f.watchers[appID], w)
			if len(f.watchers[appID]) == 0 {
				delete(f.watchers, appID)
			}
			close(w.ch)
		})
	}
}

// Done is closed when the feed closes (the node drains): open streams end.
func (f *Feed) Done() <-chan struct{} { return f.done }

// Close ends every open console; new ones end at once. Idempotent.
func (f *Feed) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.closed = true
	close(f.done)
	for _, ws := range f.watchers {
		for w := range ws {
			close(w.ch)
		}
	}
	f.watchers = map[string]map[*watcher]struct{}{}
}

// Run publishes watch notices and queued entries until ctx ends.
func (f *Feed) Run(ctx context.Context) error {
	t := time.NewTicker(f.o.WatchEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			f.announce(ctx)
			f.sweep()
		case <-f.kick:
			f.announce(ctx)
		case m := <-f.out:
			f.publish(ctx, m)
		}
	}
}

// announce says which apps this node's consoles watch.
func (f *Feed) announce(ctx context.Context) {
	f.mu.Lock()
	apps := make([]string, 0, len(f.watchers))
	for id := range f.watchers {
		apps = append(apps, id)
	}
	f.mu.Unlock()
	for _, id := range apps {
		f.publish(ctx, &bus.Message{Kind: bus.KindWatch, AppID: id})
	}
}

func (f *Feed) publish(ctx context.Context, m *bus.Message) {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := f.o.Bus.Publish(pctx, m); err != nil && ctx.Err() == nil {
		f.o.Logger.Warn("activity: publish", "app_id", m.AppID, "err", err)
	}
}

// Dropped is how many entries the outbound queue had no room for.
func (f *Feed) Dropped() int64 { return f.dropped.Load() }

// NodeName formats a node id for Options.Node.
func NodeName(id uint32) string { return strconv.FormatUint(uint64(id), 10) }
