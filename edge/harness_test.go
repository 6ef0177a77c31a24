package edge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/edge"
	"github.com/switchboard-rt/switchboard/internal/testwait"
	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
)

// node is an edge server on a loopback port with memory bus and state.
type node struct {
	t      *testing.T
	srv    *edge.Server
	http   *httptest.Server
	bus    *bus.Memory
	state  *bus.MemoryState
	store  *tenants.MemoryStore
	pub    *bus.Publisher
	cancel context.CancelFunc
}

func newNode(t *testing.T, opts edge.Options, apps ...*tenants.App) *node {
	t.Helper()
	store := tenants.NewMemoryStore()
	if len(apps) == 0 {
		apps = []*tenants.App{testApp()}
	}
	for _, a := range apps {
		if err := store.PutApp(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	n := &node{t: t, bus: bus.NewMemoryWithHistory(bus.HistoryOptions{Length: 10_000}), state: bus.NewMemoryState(), store: store}
	n.pub = &bus.Publisher{Bus: n.bus, State: n.state}
	opts.Apps = tenants.NewDirectory(store, 0)
	opts.Bus, opts.State, opts.History = n.bus, n.state, n.bus
	if opts.SweepInterval == 0 {
		opts.SweepInterval = 20 * time.Millisecond
	}
	if opts.PresenceGrace == 0 {
		opts.PresenceGrace = -1
	}
	if opts.SubscriptionCountDelay == 0 {
		opts.SubscriptionCountDelay = -1
	}
	n.srv = edge.New(opts)
	detach := n.bus.Attach(n.srv)
	n.http = httptest.NewServer(n.srv)
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	done := make(chan struct{})
	go func() { _ = n.srv.Run(ctx); close(done) }()
	t.Cleanup(func() {
		dctx, c := context.WithTimeout(context.Background(), 2*time.Second)
		defer c()
		_ = n.srv.Drain(dctx)
		cancel()
		<-done
		detach()
		n.http.Close()
	})
	return n
}

func testApp() *tenants.App {
	a := tenants.NewApp("app-1", "key-1", "secret-1")
	a.EnableClientMessages = true
	a.HistoryMaxEvents = 1000 // gap-fill tests need it; history is opt-in
	return a
}

// history is what the app's channels keep, as the HTTP API publishes it
// (restapi reads it from the same settings).
func (n *node) history(appID string) bus.HistoryOptions {
	a, err := n.store.AppByID(context.Background(), appID)
	if err != nil {
		n.t.Fatal(err)
	}
	events, age := a.HistoryRetention()
	return bus.HistoryOptions{Length: events, MaxAge: age}
}

func (n *node) url(key string, query string) string {
	return "ws" + strings.TrimPrefix(n.http.URL, "http") + "/app/" + key + "?" + query
}

// frame is a received server frame, decoded.
type frame struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
	UserID  string          `json:"user_id"`
	raw     string
}

// dataString decodes data sent as a JSON string.
func (f frame) dataString(t *testing.T) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(f.Data, &s); err != nil {
		t.Fatalf("data of %s is not a JSON string: %s", f.Event, f.Data)
	}
	return s
}

// dataObject decodes data sent as a JSON string containing an object, or
// as an object.
func (f frame) dataObject(t *testing.T, v any) {
	t.Helper()
	b := []byte(f.Data)
	if len(b) > 0 && b[0] == '"' {
		b = []byte(f.dataString(t))
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("data of %s: %v: %s", f.Event, err, f.Data)
	}
}

// client is a raw WebSocket client speaking the Pusher protocol.
type client struct {
	t        *testing.T
	ws       *gws.Conn
	frames   chan frame
	closed   chan struct{}
	mu       sync.Mutex
	code     uint16
	socketID string
	paused   atomic.Bool
	resume   chan struct{} // closed by resumeReads
}

type clientHandler struct{ c *client }

func (h clientHandler) OnOpen(*gws.Conn) {}
func (h clientHandler) OnClose(_ *gws.Conn, err error) {
	h.c.mu.Lock()
	if ce, ok := err.(*gws.CloseError); ok {
		h.c.code = ce.Code
	}
	h.c.mu.Unlock()
	close(h.c.closed)
}
func (h clientHandler) OnPing(c *gws.Conn, p []byte) { _ = c.WritePong(p) }
func (h clientHandler) OnPong(*gws.Conn, []byte)     {}
func (h clientHandler) OnMessage(_ *gws.Conn, m *gws.Message) {
	if h.c.paused.Load() {
		select {
		case <-h.c.t.Context().Done():
			m.Close()
			return
		case <-h.c.resume:
		}
	}
	var f frame
	f.raw = m.Data.String()
	if err := json.Unmarshal(m.Bytes(), &f); err != nil {
		f.Event = "!invalid-json"
	}
	m.Close()
	select {
	case h.c.frames <- f:
	default:
		h.c.t.Errorf("client frame buffer full")
	}
}

// dialRaw connects without waiting for the handshake frame.
func (n *node) dialRaw(key, query string) *client {
	n.t.Helper()
	return n.dialOpts(&gws.ClientOption{Addr: n.url(key, query)})
}

// dial connects to app key-1 and waits for connection_established.
func (n *node) dial() *client { return n.dialKey("key-1") }

func (n *node) dialKey(key string) *client {
	n.t.Helper()
	c := n.dialRaw(key, "protocol=7&client=js&version=8.4.0&flash=false")
	f := c.next()
	if f.Event != protocol.EventConnectionEstablished {
		n.t.Fatalf("first frame: %s", f.raw)
	}
	var d struct {
		SocketID        string `json:"socket_id"`
		ActivityTimeout int    `json:"activity_timeout"`
	}
	f.dataObject(n.t, &d)
	c.socketID = d.SocketID
	return c
}

func (c *client) send(v any) {
	c.t.Helper()
	var b []byte
	switch x := v.(type) {
	case string:
		b = []byte(x)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			c.t.Fatal(err)
		}
	}
	if err := c.ws.WriteMessage(gws.OpcodeText, b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

const wait = 3 * time.Second

// next returns the next frame or fails after a deadline.
func (c *client) next() frame {
	c.t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-c.closed:
		select {
		case f := <-c.frames:
			return f
		default:
		}
		c.t.Fatalf("connection closed (code %d) while waiting for a frame", c.closeCode())
	case <-time.After(wait):
		c.t.Fatalf("no frame within %s", wait)
	}
	return frame{}
}

// expect skips frames until one has the event (and channel, if given).
func (c *client) expect(event, channel string) frame {
	c.t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case f := <-c.frames:
			if f.Event == event && (channel == "" || f.Channel == channel) {
				return f
			}
		case <-deadline:
			c.t.Fatalf("no %s on %q within %s", event, channel, wait)
		}
	}
}

// quiet fails if a frame with the event arrives within d.
func (c *client) quiet(event string, d time.Duration) {
	c.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case f := <-c.frames:
			if event == "" || f.Event == event {
				c.t.Fatalf("unexpected frame: %s", f.raw)
			}
		case <-deadline:
			return
		}
	}
}

func (c *client) closeCode() uint16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.code
}

// expectClose waits for the server to close with code.
func (c *client) expectClose(code uint16) {
	c.t.Helper()
	select {
	case <-c.closed:
	case <-time.After(wait):
		c.t.Fatalf("not closed within %s (want %d)", wait, code)
	}
	if got := c.closeCode(); got != code {
		c.t.Fatalf("close code %d, want %d", got, code)
	}
}

func (c *client) subscribe(channel, auth, channelData string) {
	c.t.Helper()
	d := map[string]string{"channel": channel, "auth": auth}
	if channelData != "" {
		d["channel_data"] = channelData
	}
	c.send(map[string]any{"event": "pusher:subscribe", "data": d})
}

// join subscribes with a valid signature and waits for success.
func (c *client) join(channel string, channelData string) frame {
	c.t.Helper()
	auth := ""
	if protocol.Classify(channel).NeedsAuth() {
		auth = protocol.ChannelAuth("key-1", "secret-1", c.socketID, channel, channelData)
	}
	c.subscribe(channel, auth, channelData)
	return c.expect(protocol.EventSubscriptionSucceeded, channel)
}

func (c *client) signin(userData string) {
	c.t.Helper()
	c.send(map[string]any{"event": "pusher:signin", "data": map[string]string{
		"auth": protocol.UserAuth("key-1", "secret-1", c.socketID, userData), "user_data": userData,
	}})
}

func eventually(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	testwait.Eventually(t, d, f)
}

func publish(t *testing.T, n *node, channel, event, data string) {
	t.Helper()
	raw, _ := json.Marshal(data)
	if err := n.pub.Publish(context.Background(), "app-1", n.history("app-1"), []string{channel}, event, raw, ""); err != nil {
		t.Fatal(err)
	}
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func (n *node) dialWithOrigin(key, origin string) *client {
	n.t.Helper()
	return n.dialOpts(&gws.ClientOption{Addr: n.url(key, "protocol=7"), RequestHeader: http.Header{"Origin": []string{origin}}})
}

func (n *node) dialRawURL(url string) *client {
	n.t.Helper()
	return n.dialOpts(&gws.ClientOption{Addr: url})
}

func (n *node) dialOpts(opt *gws.ClientOption) *client {
	n.t.Helper()
	c := &client{t: n.t, frames: make(chan frame, 4096), closed: make(chan struct{}), resume: make(chan struct{})}
	ws, _, err := gws.NewClient(clientHandler{c}, opt)
	if err != nil {
		n.t.Fatalf("dial: %v", err)
	}
	c.ws = ws
	go ws.ReadLoop()
	n.t.Cleanup(func() { _ = ws.WriteClose(1000, nil) })
	return c
}

// pauseReads stops draining the client's socket: gws reads on the
// ReadLoop goroutine, which blocks while the frame buffer is full, so
// filling the buffer with a blocking handler stalls reads.
func pauseReads(c *client) {
	c.paused.Store(true)
}

// resumeReads lets a paused client read on, from the frame it held.
func resumeReads(c *client) {
	c.paused.Store(false)
	close(c.resume)
}
