package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/switchboard-rt/switchboard/accounts"
	"github.com/switchboard-rt/switchboard/activity"
	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/dashboard"
	"github.com/switchboard-rt/switchboard/edge"
	"github.com/switchboard-rt/switchboard/internal/testwait"
	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
)

// runFeed runs a node's feed on b until the test ends.
func runFeed(t *testing.T, b *bus.Memory, name string) *activity.Feed {
	f := activity.New(activity.Options{Bus: b, Node: name})
	detach := b.Attach(f)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = f.Run(ctx); close(done) }()
	t.Cleanup(func() { f.Close(); cancel(); <-done; detach() })
	return f
}

// edgeNode is a second node's edge on the shared bus, with its own feed.
func edgeNode(t *testing.T, b *bus.Memory, st bus.State, store tenants.Store, feed *activity.Feed) *httptest.Server {
	srv := edge.New(edge.Options{Apps: tenants.NewDirectory(store, 0), Bus: b, State: st, Activity: feed,
		PresenceGrace: -1, SubscriptionCountDelay: -1})
	detach := b.Attach(srv)
	hs := httptest.NewServer(srv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Run(ctx); close(done) }()
	t.Cleanup(func() {
		dctx, c := context.WithTimeout(context.Background(), 2*time.Second)
		defer c()
		_ = srv.Drain(dctx)
		cancel()
		<-done
		detach()
		hs.Close()
	})
	return hs
}

// wsClient is a bare Pusher client: its frames, decoded.
type wsClient struct {
	ws       *gws.Conn
	frames   chan map[string]any
	socketID string
}

type wsHandler struct{ frames chan map[string]any }

func (wsHandler) OnOpen(*gws.Conn)             {}
func (h wsHandler) OnClose(*gws.Conn, error)   {}
func (wsHandler) OnPing(c *gws.Conn, p []byte) { _ = c.WritePong(p) }
func (wsHandler) OnPong(*gws.Conn, []byte)     {}
func (h wsHandler) OnMessage(_ *gws.Conn, m *gws.Message) {
	var f map[string]any
	_ = json.Unmarshal(m.Bytes(), &f)
	m.Close()
	h.frames <- f
}

func dialPusher(t *testing.T, hs *httptest.Server, key string) *wsClient {
	c := &wsClient{frames: make(chan map[string]any, 100)}
	ws, _, err := gws.NewClient(wsHandler{c.frames}, &gws.ClientOption{Addr: "ws" + strings.TrimPrefix(hs.URL, "http") + "/app/" + key + "?protocol=7"})
	if err != nil {
		t.Fatal(err)
	}
	c.ws = ws
	go ws.ReadLoop()
	t.Cleanup(func() { ws.NetConn().Close() })
	est := c.expect(t, "pusher:connection_established")
	var d struct {
		SocketID string `json:"socket_id"`
	}
	_ = json.Unmarshal([]byte(est["data"].(string)), &d)
	c.socketID = d.SocketID
	return c
}

func (c *wsClient) expect(t *testing.T, event string) map[string]any {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f := <-c.frames:
			if f["event"] == event {
				return f
			}
		case <-deadline:
			t.Fatalf("no %s within 10 s", event)
		}
	}
}

// sseStream reads a console stream's "data:" entries.
type sseStream struct {
	entries chan bus.Activity
	ready   chan struct{}
}

func openStream(t *testing.T, b *browser, path string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", b.f.srv.URL+path, nil)
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	s := &sseStream{entries: make(chan bus.Activity, 100), ready: make(chan struct{})}
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			line := sc.Text()
			if line == "event: ready" {
				close(s.ready)
			}
			if d, ok := strings.CutPrefix(line, "data: "); ok && d != "{}" {
				var e bus.Activity
				if json.Unmarshal([]byte(d), &e) == nil {
					s.entries <- e
				}
			}
		}
	}()
	select {
	case <-s.ready:
	case <-time.After(10 * time.Second):
		t.Fatal("stream not ready")
	}
	return s
}

// await returns the first entry of type kind (on channel ch if set).
func (s *sseStream) await(t *testing.T, kind, ch string) bus.Activity {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-s.entries:
			if e.Type == kind && (ch == "" || e.Channel == ch) {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s entry within 10 s", kind)
		}
	}
}

// The console on node 1 shows what happens on node 2 (a second edge on
// the shared bus): the connection, the subscription, the channel
// occupied, and a client's client event; the event creator's event
// reaches node 2's subscriber.
func TestUIConsoleStreamAcrossNodes(t *testing.T) {
	store, accts := tenants.NewMemoryStore(), accounts.NewMemoryStore()
	b, st := bus.NewMemory(), bus.NewMemoryState()
	feed1, feed2 := runFeed(t, b, "node-1"), runFeed(t, b, "node-2")
	f := newUIFixture(t, store, accts, dashboard.UIOptions{Activity: feed1, Publisher: withoutHistory{&bus.Publisher{Bus: b, State: st}}})
	node2 := edgeNode(t, b, st, store, feed2)
	f.user(f.tenantA, "a@example.com", accounts.RoleOwner)
	f.user(f.tenantA, "v@example.com", accounts.RoleViewer)
	appID, key, _ := f.app(f.tenantA, "live")
	settings, _ := store.AppSettings(t.Context(), f.tenantA.ID, appID)
	settings.EnableClientMessages = true
	if _, err := store.UpdateApp(t.Context(), f.tenantA.ID, settings, "test"); err != nil {
		t.Fatal(err)
	}

	owner, viewer := f.signIn("a@example.com"), f.signIn("v@example.com")
	f.want(owner.get("/dashboard/apps/"+appID+"/console"), 200, `id="event-creator"`)
	vpage := viewer.get("/dashboard/apps/" + appID + "/console")
	f.want(vpage, 200, "may watch but not send events")
	if strings.Contains(vpage.body, `id="event-creator"`) {
		t.Fatal("the viewer is offered the event creator")
	}

	// A viewer may watch.
	s := openStream(t, viewer, "/dashboard/apps/"+appID+"/console/stream")
	testwait.Until(t, 10*time.Second, func() bool { return feed2.Watched(appID) })

	c := dialPusher(t, node2, key)
	if e := s.await(t, activity.Connected, ""); e.Node != "node-2" || e.SocketID == "" {
		t.Fatalf("connection entry: %+v", e)
	}
	_ = c.ws.WriteString(`{"event":"pusher:subscribe","data":{"channel":"my-channel"}}`)
	c.expect(t, "pusher_internal:subscription_succeeded")
	s.await(t, activity.Subscribed, "my-channel")
	s.await(t, activity.Occupied, "my-channel")

	// The event creator (owner) publishes through the normal path.
	form := url.Values{"csrf": {owner.token("/dashboard/apps/" + appID + "/console")}, "channel": {"my-channel"}, "event": {"my-event"}, "data": {`{"hello":"world"}`}}
	req, _ := http.NewRequest("POST", f.srv.URL+"/dashboard/apps/"+appID+"/console/events", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if p := owner.do(req); p.status != 200 || !strings.Contains(p.body, `"ok":true`) {
		t.Fatalf("event creator: %d %s", p.status, p.body)
	}
	got := c.expect(t, "my-event")
	if got["channel"] != "my-channel" || got["data"] != `{"hello":"world"}` {
		t.Fatalf("the subscriber got %v", got)
	}

	// A client event on node 2 shows with its data.
	_ = c.ws.WriteString(`{"event":"pusher:subscribe","data":{"channel":"private-x","auth":"` + key + `:` + sign(t, store, f.tenantA.ID, appID, c) + `"}}`)
	c.expect(t, "pusher_internal:subscription_succeeded")
	_ = c.ws.WriteString(`{"event":"client-typing","channel":"private-x","data":{"who":"me"}}`)
	if e := s.await(t, "client_event", "private-x"); e.Event != "client-typing" || e.Data != `{"who":"me"}` {
		t.Fatalf("client event entry: %+v", e)
	}
	// No entry ever carries the secret.
	secret := secretOf(t, store, f.tenantA.ID, appID)
	_ = c.ws.NetConn().Close()
	if e := s.await(t, activity.Disconnected, ""); strings.Contains(e.Detail+e.Data, secret) {
		t.Fatal("an entry holds the secret")
	}
}

func secretOf(t *testing.T, store tenants.Store, tenantID, appID string) string {
	a, err := store.TenantApp(t.Context(), tenantID, appID)
	if err != nil {
		t.Fatal(err)
	}
	return a.Secret()
}

// sign is the channel auth signature of private-x for c's socket.
func sign(t *testing.T, store tenants.Store, tenantID, appID string, c *wsClient) string {
	t.Helper()
	return protocol.Sign(secretOf(t, store, tenantID, appID), []byte(protocol.ChannelAuthString(c.socketID, "private-x", "")))
}

// A stream outlives no session: signing out (or a removal, or expiry)
// ends it at the next heartbeat with a reason the page shows.
func TestUIConsoleStreamEndsWithSession(t *testing.T) {
	b := bus.NewMemory()
	feed := runFeed(t, b, "node-1")
	f := newUIFixture(t, tenants.NewMemoryStore(), accounts.NewMemoryStore(), dashboard.UIOptions{Activity: feed, StreamHeartbeat: 20 * time.Millisecond})
	f.user(f.tenantA, "a@example.com", accounts.RoleOwner)
	appID, _, _ := f.app(f.tenantA, "live")
	owner := f.signIn("a@example.com")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/dashboard/apps/"+appID+"/console/stream", nil)
	res, err := owner.c.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("stream: %v %v", res, err)
	}
	defer res.Body.Close()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	f.want(owner.form("/dashboard/sign-out"), http.StatusSeeOther, "")
	ended := false
	for l := range lines {
		if strings.Contains(l, `"reason":"signed out"`) {
			ended = true
		}
	}
	if !ended {
		t.Fatal("the stream closed without saying the session ended")
	}
}

// withoutHistory publishes as the event creator does, for an app that
// keeps no history (cmd/switchboard passes the app's retention).
type withoutHistory struct{ p *bus.Publisher }

func (w withoutHistory) Publish(ctx context.Context, appID string, channels []string, event string, data []byte, excludeSocketID string) error {
	return w.p.Publish(ctx, appID, bus.HistoryOptions{}, channels, event, data, excludeSocketID)
}
