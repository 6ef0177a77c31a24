package edge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rt/switchboard/edge"
	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
	"github.com/switchboard-rt/switchboard/webhooks"
)

// receiver is a customer's webhook endpoint: it checks each request the
// way pusher-http-node's WebHook does and keeps the events of the valid
// ones.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	events []protocol.WebhookEvent
}

func newReceiver(t *testing.T, key, secret string) *receiver {
	r := &receiver{t: t}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if ct := req.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("webhook Content-Type %q", ct)
		}
		if k := req.Header.Get("X-Pusher-Key"); k != key {
			t.Errorf("webhook X-Pusher-Key %q", k)
		}
		if !protocol.ValidSignature(secret, body, req.Header.Get("X-Pusher-Signature")) {
			t.Errorf("webhook signature does not match its body %s", body)
			return
		}
		var p webhooks.Payload
		if err := json.Unmarshal(body, &p); err != nil || p.TimeMS == 0 || len(p.Events) == 0 {
			t.Errorf("webhook body %s: %v", body, err)
			return
		}
		r.mu.Lock()
		r.events = append(r.events, p.Events...)
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// want waits until every event in evs has arrived (requests go out
// concurrently, so in any order) and takes them out of the received ones.
func (r *receiver) want(evs ...protocol.WebhookEvent) {
	r.t.Helper()
	eventually(r.t, 5*time.Second, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		rest := slices.Clone(r.events)
		for _, e := range evs {
			i := slices.IndexFunc(rest, func(g protocol.WebhookEvent) bool { return sameEvent(g, e) })
			if i < 0 {
				return fmt.Errorf("no %+v among %+v", e, r.events)
			}
			rest = slices.Delete(rest, i, i+1)
		}
		r.events = rest
		return nil
	})
}

func sameEvent(a, b protocol.WebhookEvent) bool {
	sc := func(p *int) int {
		if p == nil {
			return -1
		}
		return *p
	}
	return a.Name == b.Name && a.Channel == b.Channel && a.UserID == b.UserID && a.Event == b.Event &&
		a.Data == b.Data && a.SocketID == b.SocketID && sc(a.SubscriptionCount) == sc(b.SubscriptionCount)
}

// none fails if any event not yet taken by want arrives within d.
func (r *receiver) none(d time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		evs := slices.Clone(r.events)
		r.mu.Unlock()
		if len(evs) > 0 {
			r.t.Fatalf("unexpected webhook events %+v", evs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hookNode is a node whose app sends every webhook event type to a
// receiver, through the real notifier, memory queue and delivery worker.
func hookNode(t *testing.T, opts edge.Options, app *tenants.App) (*node, *receiver) {
	t.Helper()
	r := newReceiver(t, app.Keys[0].Key, app.Keys[0].Secret)
	app.Webhooks = []tenants.Webhook{{URL: r.srv.URL, EventTypes: tenants.WebhookEventTypes}}
	q := webhooks.NewMemoryQueue(0)
	notifier := webhooks.NewNotifier(webhooks.NotifierOptions{Queue: q, Registry: prometheus.NewRegistry(),
		Trusted: func(*tenants.App, string) bool { return true }})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() { _ = notifier.Run(ctx) })
	opts.Webhooks = notifier
	n := newNode(t, opts, app)
	worker := webhooks.NewWorker(webhooks.WorkerOptions{Queue: q, Apps: tenants.NewDirectory(n.store, 0),
		BaseBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Registry: prometheus.NewRegistry()})
	wg.Go(func() { _ = worker.Run(ctx) })
	return n, r
}

func ev(name, channel string) protocol.WebhookEvent {
	return protocol.WebhookEvent{Name: name, Channel: channel}
}

func member(name, channel, userID string) protocol.WebhookEvent {
	return protocol.WebhookEvent{Name: name, Channel: channel, UserID: userID}
}

func TestWebhooksOccupiedVacatedAndMembers(t *testing.T) {
	n, r := hookNode(t, edge.Options{}, testApp())
	a, b := n.dial(), n.dial()

	a.join("orders", "")
	r.want(ev(webhooks.ChannelOccupied, "orders"))
	b.join("orders", "")
	a.join("presence-room", `{"user_id":"10"}`)
	r.want(ev(webhooks.ChannelOccupied, "presence-room"), member(webhooks.MemberAdded, "presence-room", "10"))
	b.join("presence-room", `{"user_id":"10"}`) // the same user again: no event
	r.none(100 * time.Millisecond)

	a.send(`{"event":"pusher:unsubscribe","data":{"channel":"orders"}}`)
	a.send(`{"event":"pusher:unsubscribe","data":{"channel":"presence-room"}}`)
	r.none(100 * time.Millisecond) // b is still in both
	b.send(`{"event":"pusher:unsubscribe","data":{"channel":"orders"}}`)
	r.want(ev(webhooks.ChannelVacated, "orders"))
	_ = b.ws.WriteClose(1000, nil)
	r.want(member(webhooks.MemberRemoved, "presence-room", "10"), ev(webhooks.ChannelVacated, "presence-room"))
	r.none(100 * time.Millisecond)
}

func TestWebhooksClientEventsAndCacheMiss(t *testing.T) {
	n, r := hookNode(t, edge.Options{}, testApp())
	a, b := n.dial(), n.dial()
	a.join("private-chat", "")
	b.join("private-chat", "")
	a.join("presence-chat", `{"user_id":"ann"}`)
	r.want(ev(webhooks.ChannelOccupied, "private-chat"), ev(webhooks.ChannelOccupied, "presence-chat"),
		member(webhooks.MemberAdded, "presence-chat", "ann"))

	a.send(`{"event":"client-typing","channel":"private-chat","data":{"on":true}}`)
	a.send(`{"event":"client-said","channel":"presence-chat","data":"hi \"there\""}`)
	r.want(
		protocol.WebhookEvent{Name: webhooks.ClientEvent, Channel: "private-chat", Event: "client-typing", Data: `{"on":true}`, SocketID: a.socketID},
		protocol.WebhookEvent{Name: webhooks.ClientEvent, Channel: "presence-chat", Event: "client-said", Data: `hi "there"`, SocketID: a.socketID, UserID: "ann"},
	)

	b.join("cache-prices", "")
	b.expect(protocol.EventCacheMiss, "cache-prices")
	r.want(ev(webhooks.ChannelOccupied, "cache-prices"), ev(webhooks.CacheMiss, "cache-prices"))
	publish(t, n, "cache-prices", "price", "1")
	a.join("cache-prices", "")
	a.expect("price", "cache-prices")
	r.none(100 * time.Millisecond) // a cache hit is no miss
}

func TestWebhooksSubscriptionCount(t *testing.T) {
	app := testApp()
	app.EnableSubscriptionCount = true
	n, r := hookNode(t, edge.Options{}, app)
	a, b := n.dial(), n.dial()
	a.join("counted", "")
	r.want(ev(webhooks.ChannelOccupied, "counted"), count("counted", 1))
	b.join("counted", "")
	r.want(count("counted", 2))
}

func count(channel string, n int) protocol.WebhookEvent {
	return protocol.WebhookEvent{Name: webhooks.SubscriptionCount, Channel: channel, SubscriptionCount: &n}
}

// A page reload within the grace period is neither a vacated/occupied
// pair nor a member_removed/added pair; a real departure is reported once
// the grace has passed. An explicit unsubscribe is not held back.
func TestWebhooksGraceHidesReload(t *testing.T) {
	const grace = 300 * time.Millisecond
	n, r := hookNode(t, edge.Options{PresenceGrace: grace}, testApp())
	old := n.dial()
	old.join("news", "")
	old.join("presence-room", `{"user_id":"u"}`)
	r.want(ev(webhooks.ChannelOccupied, "news"), ev(webhooks.ChannelOccupied, "presence-room"),
		member(webhooks.MemberAdded, "presence-room", "u"))

	_ = old.ws.WriteClose(1000, nil)
	reloaded := n.dial()
	reloaded.join("news", "")
	reloaded.join("presence-room", `{"user_id":"u"}`)
	r.none(2 * grace)

	_ = reloaded.ws.WriteClose(1000, nil)
	start := time.Now()
	r.want(ev(webhooks.ChannelVacated, "news"), member(webhooks.MemberRemoved, "presence-room", "u"),
		ev(webhooks.ChannelVacated, "presence-room"))
	if d := time.Since(start); d < grace-50*time.Millisecond {
		t.Fatalf("vacated after %s, before the grace period", d)
	}

	c := n.dial()
	c.join("direct", "")
	r.want(ev(webhooks.ChannelOccupied, "direct"))
	c.send(`{"event":"pusher:unsubscribe","data":{"channel":"direct"}}`)
	start = time.Now()
	r.want(ev(webhooks.ChannelVacated, "direct"))
	if d := time.Since(start); d >= grace {
		t.Fatalf("an unsubscribe's vacated took %s", d)
	}
}

// An app without webhooks costs the socket paths nothing (see
// wantsWebhook); the notifier is never called for it.
func TestWebhooksOnlyForAppsThatAsk(t *testing.T) {
	n, r := hookNode(t, edge.Options{}, testApp())
	other := tenants.NewApp("app-2", "key-2", "secret-2")
	other.Webhooks = []tenants.Webhook{{URL: r.srv.URL, EventTypes: []string{webhooks.MemberAdded}}}
	if err := n.store.PutApp(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	c := n.dialKey("key-2")
	auth := protocol.ChannelAuth("key-2", "secret-2", c.socketID, "private-x", "")
	c.subscribe("private-x", auth, "")
	c.expect(protocol.EventSubscriptionSucceeded, "private-x")
	r.none(200 * time.Millisecond)
}

// Webhooks set while a socket is connected apply to its events once the
// control plane's change reaches the node (Revalidate).
func TestWebhooksChangedWhileConnected(t *testing.T) {
	app := testApp()
	n, r := hookNode(t, edge.Options{}, app)
	hooks := app.Webhooks
	app.Webhooks = nil
	ctx := context.Background()
	if err := n.store.PutApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	c := n.dial()
	c.join("before", "")
	r.none(100 * time.Millisecond)

	changed := *app
	changed.Webhooks = hooks
	if err := n.store.PutApp(ctx, &changed); err != nil {
		t.Fatal(err)
	}
	n.srv.Revalidate(ctx, tenants.Change{AppIDs: []string{app.ID}})
	c.join("after", "")
	r.want(ev(webhooks.ChannelOccupied, "after"))
	c.send(`{"event":"pusher:unsubscribe","data":{"channel":"before"}}`)
	r.want(ev(webhooks.ChannelVacated, "before"))
}
