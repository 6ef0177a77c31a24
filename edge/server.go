package edge

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/internal/periodic"
	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
)

// appFinder is the part of tenants.Directory the edge needs on connect.
type appFinder interface {
	AppByKey(ctx context.Context, key string) (*tenants.App, error)
}

// Options configure a Server. The zero value of every field but Apps, Bus
// and State works.
type Options struct {
	Apps     appFinder
	Bus      bus.Bus
	State    bus.State
	Logger   *slog.Logger
	Registry prometheus.Registerer

	// ActivityTimeout is sent to clients as activity_timeout; the server
	// pings a client silent for this long. Default 120 s.
	ActivityTimeout time.Duration
	// PongTimeout is how long a pinged client has to answer before it is
	// closed with 4201. Default 30 s.
	PongTimeout time.Duration
	// SweepInterval is how often idle, unanswered and unauthenticated
	// sockets are checked. Default 1 s; timeouts are exact to within it.
	SweepInterval time.Duration
	// MaxQueueBytes bounds a socket's outbound queue; a socket that falls
	// further behind is closed with 4100. Default 1 MiB.
	MaxQueueBytes int
	// MaxFrameBytes is the largest inbound frame; larger ones close the
	// socket with 1009. Default 64 KiB.
	MaxFrameBytes int
	// MaxChannelsPerConnection bounds one socket's subscriptions. Default 1000.
	MaxChannelsPerConnection int
	// WriteTimeout cuts a socket whose writes stall this long (checked on
	// every sweep, so within a SweepInterval more). Default 10 s.
	WriteTimeout time.Duration
	// CloseTimeout bounds writing the close frame. Default 2 s.
	CloseTimeout time.Duration
	// PresenceGrace holds member_removed and watchlist offline this long,
	// so a page reload does not produce a removed/added pair. Default 3 s;
	// negative disables.
	PresenceGrace time.Duration
	// SubscriptionCountDelay coalesces subscription_count broadcasts of a
	// channel. Default 250 ms; negative sends every change at once.
	SubscriptionCountDelay time.Duration
	// NodeID prefixes socket ids; random when zero.
	NodeID uint32
	// Connections, when set, enforces max_connections across the cluster
	// instead of per node.
	Connections clusterConnections
	// History, when set, gives a client that resubscribes with the last
	// position it saw the events it missed (the bus that keeps them).
	History bus.History
	// Webhooks receives channel_occupied/vacated, member_added/removed,
	// client_event, cache_miss and subscription_count events of apps
	// whose webhooks ask for them; nil turns webhooks off.
	Webhooks Webhooks
	// Activity receives what the dashboard's debug console shows of
	// watched apps; nil turns it off.
	Activity Activity
	// Usage meters deliveries, client events and connections and
	// enforces the daily message quota on client events (usage.go);
	// nil meters nothing.
	Usage Usage
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.ActivityTimeout, protocol.DefaultActivityTimeoutSeconds*time.Second)
	def(&o.PongTimeout, protocol.DefaultPongTimeoutSeconds*time.Second)
	def(&o.SweepInterval, time.Second)
	def(&o.WriteTimeout, 10*time.Second)
	def(&o.CloseTimeout, 2*time.Second)
	def(&o.PresenceGrace, 3*time.Second)
	def(&o.SubscriptionCountDelay, 250*time.Millisecond)
	if o.MaxQueueBytes <= 0 {
		o.MaxQueueBytes = 1 << 20
	}
	if o.MaxFrameBytes <= 0 {
		o.MaxFrameBytes = 64 << 10
	}
	if o.MaxChannelsPerConnection <= 0 {
		o.MaxChannelsPerConnection = 1000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.NodeID == 0 {
		o.NodeID = NewNodeID()
	}
	if o.Usage == nil {
		o.Usage = noUsage{}
	}
	return o
}

// NewNodeID returns a random non-zero node id (socket ids start with it).
func NewNodeID() uint32 {
	for {
		var b [4]byte
		_, _ = rand.Read(b[:])
		if id := binary.BigEndian.Uint32(b[:]) >> 1; id != 0 {
			return id
		}
	}
}

// Server is one edge node: it upgrades /app/{key} requests, runs the
// protocol on each socket and delivers bus messages to local subscribers.
type Server struct {
	opts     Options
	log      *slog.Logger
	upgrader *gws.Upgrader
	hub      *hub
	delay    *delayer
	writers  *writers
	metrics  *metrics
	start    time.Time

	// ctx bounds calls into the bus and state made for sockets; it is
	// cancelled when the server has drained.
	ctx    context.Context
	cancel context.CancelFunc

	fallback httpSessions // pusher-js's HTTP transports (httpfallback.go)

	nextSocket atomic.Uint64
	draining   atomic.Bool
	appConns   sync.Map // app id → *atomic.Int64

	cmu   sync.Mutex
	conns map[*conn]struct{}
	done  chan struct{} // closed when conns becomes empty while draining
}

// New builds a server; it starts nothing until Run.
func New(opts Options) *Server {
	opts = opts.withDefaults()
	s := &Server{
		opts:  opts,
		log:   opts.Logger,
		hub:   newHub(),
		delay: newDelayer(),
		// A few writers per CPU: with thousands of runnable writers the
		// HTTP publish waited behind all of them (p50 171 ms at 1×5,000
		// subscribers, 20 events/s); with few, each socket's queue fills
		// between visits and goes out in one writev. See performance.md.
		writers: newWriters(8 * runtime.GOMAXPROCS(0)),
		metrics: newMetrics(opts.Registry),
		start:   time.Now(),
		conns:   map[*conn]struct{}{},
	}
	s.fallback.m = map[string]*httpSession{}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.upgrader = gws.NewUpgrader((*events)(s), &gws.ServerOption{
		ReadMaxPayloadSize: opts.MaxFrameBytes,
		// Clients send a few small frames (subscribe, ping, the odd client
		// event); gws's 4 KiB default read buffer was the largest part of
		// an idle socket's memory. Larger frames still read whole, in
		// more than one read.
		ReadBufferSize: readBufferSize,
		// Our own frames go straight to the socket (see conn_write.go),
		// which is only sound without per-message compression.
		PermessageDeflate: gws.PermessageDeflate{Enabled: false},
		NewSession:        func() gws.SessionStorage { return &session{} },
		HandshakeTimeout:  5 * time.Second,
	})
	return s
}

// readBufferSize is each socket's read buffer (see NewUpgrader above).
const readBufferSize = 1024

// now is a monotonic clock in nanoseconds since the server started.
func (s *Server) now() int64 { return int64(time.Since(s.start)) }

// Run sweeps sockets for timeouts until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	periodic.Every(ctx, s.opts.SweepInterval, func(context.Context) { s.sweep() })
	return nil
}

func (s *Server) snapshot() []*conn {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	out := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

func (s *Server) sweep() {
	s.writers.unstick()
	now := s.now()
	activity := int64(s.opts.ActivityTimeout)
	pong := int64(s.opts.PongTimeout)
	writeNow, stall := s.writers.now(), int64(s.opts.WriteTimeout)
	for _, c := range s.snapshot() {
		c.cutIfStalled(writeNow, stall)
		if ps := c.pingSent.Load(); ps != 0 {
			if now-ps > pong {
				c.closeWith(protocol.ErrPongTimeout)
			}
			continue
		}
		if now-c.lastActive.Load() >= activity {
			c.pingSent.Store(now)
			c.send(pingFrame)
		}
		if c.app.EnableUserAuthentication && !c.signedIn.Load() &&
			now-c.connectedAt >= int64(c.app.UserAuthenticationTimeout)*int64(time.Second) {
			c.closeWith(protocol.ErrUnauthorized)
		}
	}
}

// Connections returns how many sockets are open.
func (s *Server) Connections() int {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	return len(s.conns)
}

// Drain refuses new sockets, tells every client to reconnect elsewhere
// (4200) and waits until they are gone or ctx ends, then cuts the rest. It
// then waits out the presence grace period (within ctx) and applies every
// removal still held.
func (s *Server) Drain(ctx context.Context) error {
	if s.draining.Swap(true) {
		return nil
	}
	s.cmu.Lock()
	s.done = make(chan struct{})
	if len(s.conns) == 0 {
		close(s.done)
	}
	done := s.done
	s.cmu.Unlock()
	for _, c := range s.snapshot() {
		c.closeWith(protocol.ErrServerClosing)
	}
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		for _, c := range s.snapshot() {
			_ = c.nc.Close()
		}
		select {
		case <-done:
		case <-time.After(s.opts.CloseTimeout):
		}
	}
	// Removals held for the grace period run when it ends, as they would
	// have without the drain: a client that reconnected to another node
	// within it keeps its presence without a removed/added pair. Only the
	// drain deadline cuts the wait short; flush runs what is left.
	s.delay.settle(ctx)
	s.delay.flush()
	s.writers.close()
	s.cancel()
	return err
}

// ServeHTTP upgrades a request for /app/{key} (after any path prefix).
// Every refusal that pusher-js must see (unknown app, disabled, quota,
// protocol version) completes the upgrade and closes with the protocol's
// code, because a browser sees an HTTP error only as close code 1006.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if key, session, op, ok := fallbackPath(r.URL.Path); ok {
		s.serveFallback(w, r, key, session, op)
		return
	}
	if key, ok := sseKey(r.URL.Path); ok {
		s.serveSSE(w, r, key)
		return
	}
	key, ok := appKeyFromPath(r.URL.Path)
	if !ok {
		writeJSONError(w, http.StatusNotFound, "path_not_found", "WebSocket path must end in /app/{key}")
		return
	}
	app, reject := s.admit(r, key)
	ws, err := s.upgrader.Upgrade(w, r)
	if err != nil {
		return // gws answered 400
	}
	c := newConn(s, ws, app, reject)
	c.key = key
	ws.Session().Store("", c)
	go ws.ReadLoop()
}

func (s *Server) admit(r *http.Request, key string) (*tenants.App, *protocol.Error) {
	if s.draining.Load() {
		return nil, protocol.ErrServerClosing
	}
	q := r.URL.Query()
	if err := checkProtocol(q.Get("protocol"), q.Has("protocol")); err != nil {
		return nil, err
	}
	if v := q.Get("version"); v != "" && !validClientVersion(v) {
		return nil, protocol.ErrInvalidVersion
	}
	app, err := s.opts.Apps.AppByKey(r.Context(), key)
	switch {
	case errors.Is(err, tenants.ErrNotFound):
		return nil, protocol.ErrAppNotFound.WithMessage("App key " + truncate(key, 64) + " not in this cluster")
	case err != nil:
		s.log.Error("app lookup failed", "err", err)
		return nil, protocol.ErrOverCapacity
	case !app.Enabled:
		return app, protocol.ErrAppDisabled
	}
	if origin := r.Header.Get("Origin"); origin != "" && !app.OriginAllowed(origin) {
		return app, protocol.ErrUnauthorized.WithMessage("Origin " + truncate(origin, 64) + " is not allowed")
	}
	return app, nil
}

func checkProtocol(v string, present bool) *protocol.Error {
	if !present || v == "" {
		return protocol.ErrNoProtocol
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < protocol.MinVersion || n > protocol.MaxVersion {
		return protocol.ErrUnsupportedProtocol
	}
	return nil
}

// validClientVersion accepts what SDKs send: digits first, then digits,
// letters, dots, dashes and pluses ("8.4.0", "7.0.0-beta.1").
func validClientVersion(v string) bool {
	if len(v) > 64 || v[0] < '0' || v[0] > '9' {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '-' || c == '+') {
			return false
		}
	}
	return true
}

func appKeyFromPath(p string) (string, bool) {
	i := strings.LastIndex(p, "/app/")
	if i < 0 {
		return "", false
	}
	key := p[i+len("/app/"):]
	return key, key != "" && !strings.Contains(key, "/")
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b := append([]byte(`{"error":`), protocol.AppendJSONString(nil, msg)...)
	b = append(b, `,"code":`...)
	b = protocol.AppendJSONString(b, code)
	_, _ = w.Write(append(b, '}'))
}

// register counts a socket toward its app's connection limit; it fails
// with 4004 past the limit.
func (s *Server) register(c *conn) *protocol.Error {
	counted, refused := s.acquireClusterConnection(c)
	if refused {
		return protocol.ErrOverConnectionQuota
	}
	v, _ := s.appConns.LoadOrStore(c.app.ID, new(atomic.Int64))
	n := v.(*atomic.Int64)
	if cur, max := n.Add(1), c.app.MaxConnections; !counted && max != tenants.Unlimited && cur > int64(max) {
		n.Add(-1)
		return protocol.ErrOverConnectionQuota
	}
	c.counted, c.clusterCounted = true, counted
	s.opts.Usage.Connected(c.app.ID)
	s.cmu.Lock()
	s.conns[c] = struct{}{}
	s.cmu.Unlock()
	return nil
}

func (s *Server) unregister(c *conn) {
	if !c.counted {
		return
	}
	if v, ok := s.appConns.Load(c.app.ID); ok {
		v.(*atomic.Int64).Add(-1)
	}
	s.opts.Usage.Disconnected(c.app.ID)
	s.releaseClusterConnection(c)
	s.cmu.Lock()
	delete(s.conns, c)
	if s.done != nil && len(s.conns) == 0 {
		select {
		case <-s.done:
		default:
			close(s.done)
		}
	}
	s.cmu.Unlock()
}

// Deliver implements bus.Handler: it queues a message on the local sockets
// it concerns and returns without waiting for any of them.
func (s *Server) Deliver(msg *bus.Message) {
	switch msg.Kind {
	case bus.KindEvent:
		start := time.Now()
		n := s.hub.fanout(msg, !s.writers.coalescing.Load())
		if n > 0 {
			s.metrics.fanout.Observe(time.Since(start).Seconds())
			s.metrics.app(msg.AppID).messagesOut.Add(float64(n))
			if metered(msg.Event) {
				// Once per fan-out, not per socket: one atomic add.
				s.opts.Usage.Delivered(msg.AppID, n)
			}
		}
	case bus.KindTerminateUser:
		s.hub.eachUserConn(msg.AppID, msg.UserID, false, func(c *conn) { c.closeWith(protocol.ErrTerminated) })
	case bus.KindUserOnline, bus.KindUserOffline:
		name := "online"
		if msg.Kind == bus.KindUserOffline {
			name = "offline"
		}
		frame := watchlistFrame(watchlistEvent{name, []string{msg.UserID}})
		s.hub.eachUserConn(msg.AppID, msg.UserID, true, func(c *conn) { c.send(frame) })
	}
}

// session is the smallest gws.SessionStorage: one slot for our *conn,
// instead of gws's default map per socket.
type session struct{ c *conn }

func (s *session) Len() int { return 1 }
func (s *session) Load(string) (any, bool) {
	return s.c, s.c != nil
}
func (s *session) Delete(string)                  { s.c = nil }
func (s *session) Store(_ string, v any)          { s.c, _ = v.(*conn) }
func (s *session) Range(f func(string, any) bool) { f("", s.c) }
func connOf(ws *gws.Conn) *conn                   { return ws.Session().(*session).c }
