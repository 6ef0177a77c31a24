package edge_test

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/edge"
	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
)

func TestPublicSubscribeAndDelivery(t *testing.T) {
	n := newNode(t, edge.Options{})
	a, b := n.dial(), n.dial()
	f := a.join("news", "")
	if s := f.dataString(t); s != "{}" {
		t.Fatalf("succeeded data %q", s)
	}
	b.join("news", "")
	b.join("sport", "")

	publish(t, n, "news", "headline", `{"id":42}`)
	for _, c := range []*client{a, b} {
		f := c.expect("headline", "news")
		if got := f.dataString(t); got != `{"id":42}` {
			t.Fatalf("data %q", got)
		}
	}
	// One publish to two channels: a socket on both gets two frames.
	raw, _ := json.Marshal("x")
	if err := n.pub.Publish(context.Background(), "app-1", n.history("app-1"), []string{"news", "sport"}, "both", raw, ""); err != nil {
		t.Fatal(err)
	}
	b.expect("both", "news")
	b.expect("both", "sport")
	a.expect("both", "news")
	a.quiet("both", 100*time.Millisecond)
}

func TestExcludeSocketID(t *testing.T) {
	n := newNode(t, edge.Options{})
	a, b := n.dial(), n.dial()
	a.join("news", "")
	b.join("news", "")
	raw, _ := json.Marshal("x")
	if err := n.pub.Publish(context.Background(), "app-1", n.history("app-1"), []string{"news"}, "ev", raw, a.socketID); err != nil {
		t.Fatal(err)
	}
	b.expect("ev", "news")
	a.quiet("ev", 100*time.Millisecond)
}

func TestSubscribeTwiceIsIdempotent(t *testing.T) {
	n := newNode(t, edge.Options{})
	a := n.dial()
	a.join("news", "")
	a.join("news", "")
	publish(t, n, "news", "ev", "1")
	a.expect("ev", "news")
	a.quiet("ev", 100*time.Millisecond) // delivered once, not twice
	c, _ := n.state.Channel(context.Background(), "app-1", "news")
	if c.Subscriptions != 1 {
		t.Fatalf("subscriptions %d", c.Subscriptions)
	}
}

func TestUnsubscribe(t *testing.T) {
	n := newNode(t, edge.Options{})
	a := n.dial()
	a.join("news", "")
	a.send(`{"event":"pusher:unsubscribe","data":{"channel":"news"}}`)
	a.send(`{"event":"pusher:unsubscribe","data":{"channel":"never"}}`)
	a.send(`{"event":"pusher:ping","data":{}}`)
	a.expect(protocol.EventPong, "") // no reply to either unsubscribe came first
	publish(t, n, "news", "ev", "1")
	a.quiet("ev", 100*time.Millisecond)
	eventually(t, time.Second, func() error {
		if c, _ := n.state.Channel(context.Background(), "app-1", "news"); c.Subscriptions != 0 {
			return errorf("still %d subscriptions", c.Subscriptions)
		}
		return nil
	})
}

func expectSubscriptionError(t *testing.T, c *client, channel string, status int) {
	t.Helper()
	f := c.expect(protocol.EventSubscriptionError, channel)
	var d struct {
		Type   string `json:"type"`
		Error  string `json:"error"`
		Status int    `json:"status"`
	}
	f.dataObject(t, &d)
	if d.Status != status || d.Type == "" || d.Error == "" {
		t.Fatalf("subscription_error %+v, want status %d", d, status)
	}
	c.expect(protocol.EventError, "")
}

func TestInvalidChannelNames(t *testing.T) {
	n := newNode(t, edge.Options{})
	c := n.dial()
	for _, name := range []string{"has space", strings.Repeat("a", 165), "bad:colon", "#server-to-user-"} {
		c.subscribe(name, "", "")
		expectSubscriptionError(t, c, name, 400)
	}
	c.join(strings.Repeat("a", 164), "")
}

func TestPrivateChannelAuth(t *testing.T) {
	other := tenants.NewApp("app-2", "key-2", "secret-2")
	n := newNode(t, edge.Options{}, testApp(), other)
	c, d := n.dial(), n.dial()

	c.join("private-orders", "")
	c.join("private-encrypted-secrets", "")
	c.join("private-cache-x", "")

	cases := []struct{ name, auth string }{
		{"missing auth", ""},
		{"signature for another socket", protocol.ChannelAuth("key-1", "secret-1", d.socketID, "private-a", "")},
		{"key of another app", protocol.ChannelAuth("key-2", "secret-2", c.socketID, "private-a", "")},
		{"wrong secret", protocol.ChannelAuth("key-1", "nope", c.socketID, "private-a", "")},
		{"garbage", "key-1:zzzz"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.subscribe("private-a", tc.auth, "")
			expectSubscriptionError(t, c, "private-a", 401)
		})
	}
	// A failed subscription leaves no state.
	if cn, _ := n.state.Channel(context.Background(), "app-1", "private-a"); cn.Subscriptions != 0 {
		t.Fatalf("rejected subscription counted: %+v", cn)
	}
}

func TestRotatedKeysBothAuthorize(t *testing.T) {
	app := testApp()
	app.Keys = append(app.Keys, tenants.Key{Key: "key-1b", Secret: "secret-1b"})
	n := newNode(t, edge.Options{}, app)
	c := n.dial()
	c.subscribe("private-x", protocol.ChannelAuth("key-1b", "secret-1b", c.socketID, "private-x", ""), "")
	c.expect(protocol.EventSubscriptionSucceeded, "private-x")
}

func TestCacheChannels(t *testing.T) {
	n := newNode(t, edge.Options{})
	a := n.dial()
	a.join("cache-prices", "")
	miss := a.next()
	if miss.Event != protocol.EventCacheMiss || miss.Channel != "cache-prices" {
		t.Fatalf("want cache_miss, got %s", miss.raw)
	}
	publish(t, n, "cache-prices", "price", `{"eur":1}`)
	a.expect("price", "cache-prices")

	b := n.dial()
	b.join("cache-prices", "")
	f := b.next()
	if f.Event != "price" || f.dataString(t) != `{"eur":1}` {
		t.Fatalf("want cached event, got %s", f.raw)
	}
	a.quiet("price", 100*time.Millisecond) // existing subscribers don't get it again

	// private-cache and encrypted cache work the same way
	b.join("private-cache-p", "")
	b.expect(protocol.EventCacheMiss, "private-cache-p")
	b.join("private-encrypted-cache-p", "")
	b.expect(protocol.EventCacheMiss, "private-encrypted-cache-p")
}

func TestSubscriptionCount(t *testing.T) {
	app := testApp()
	app.EnableSubscriptionCount = true
	n := newNode(t, edge.Options{}, app)
	a, b := n.dial(), n.dial()
	a.join("room", "")
	count := func(c *client, want int) {
		t.Helper()
		deadline := time.Now().Add(wait)
		for time.Now().Before(deadline) {
			f := c.expect(protocol.EventSubscriptionCount, "room")
			var d struct {
				SubscriptionCount int `json:"subscription_count"`
			}
			f.dataObject(t, &d)
			if d.SubscriptionCount == want {
				return
			}
		}
		t.Fatalf("no subscription_count %d", want)
	}
	count(a, 1)
	b.join("room", "")
	count(a, 2)
	count(b, 2)
	b.send(`{"event":"pusher:unsubscribe","data":{"channel":"room"}}`)
	count(a, 1)

	// never on presence channels
	a.join("presence-room", `{"user_id":"1"}`)
	a.quiet(protocol.EventSubscriptionCount, 150*time.Millisecond)
}

func TestNoSubscriptionCountWhenDisabled(t *testing.T) {
	n := newNode(t, edge.Options{})
	a := n.dial()
	a.join("room", "")
	a.quiet(protocol.EventSubscriptionCount, 150*time.Millisecond)
}

func TestTooManyChannels(t *testing.T) {
	n := newNode(t, edge.Options{MaxChannelsPerConnection: 2})
	c := n.dial()
	c.join("a", "")
	c.join("b", "")
	c.subscribe("c", "", "")
	expectSubscriptionError(t, c, "c", 403)
}

func TestSlowConsumerIsCut(t *testing.T) {
	n := newNode(t, edge.Options{MaxQueueBytes: 64 << 10})
	slow := n.dialRaw("key-1", "protocol=7")
	slow.next()
	slow.send(`{"event":"pusher:subscribe","data":{"channel":"firehose"}}`)
	slow.expect(protocol.EventSubscriptionSucceeded, "firehose")
	fast := n.dial()
	fast.join("firehose", "")
	// Stop reading on the slow client: its socket buffers fill, then its
	// queue, and the server must cut it without stalling the fast one.
	slow.ws.NetConn().(interface{ SetReadBuffer(int) error }).SetReadBuffer(4096)
	pauseReads(slow)
	payload := strings.Repeat("x", 8000)
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		publish(t, n, "firehose", "ev", payload)
		fast.expect("ev", "firehose")
		if n.srv.Connections() == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slow consumer not cut after %d events", i)
		}
	}
}

// A socket whose reader stopped, with room left in its queue, is cut once
// a write to it has been blocked for WriteTimeout; a socket that reads
// on all the while is not.
func TestStalledWriteIsCut(t *testing.T) {
	n := newNode(t, edge.Options{MaxQueueBytes: 64 << 20, WriteTimeout: 300 * time.Millisecond})
	stalled := n.dial()
	stalled.join("firehose", "")
	stalled.ws.NetConn().(interface{ SetReadBuffer(int) error }).SetReadBuffer(4096)
	pauseReads(stalled)
	reader := n.dial()
	reader.join("ticks", "")
	payload := strings.Repeat("x", 60<<10)
	// 12 MB: more than the socket buffers hold, less than the queue.
	for i := 0; i < 200; i++ {
		publish(t, n, "firehose", "ev", payload)
	}
	// Several write timeouts pass while the reader keeps up.
	for i := 0; i < 20; i++ {
		publish(t, n, "ticks", "tick", strconv.Itoa(i))
		reader.expect("tick", "ticks")
		time.Sleep(50 * time.Millisecond)
	}
	eventually(t, 5*time.Second, func() error {
		if got := n.srv.Connections(); got != 1 {
			return errorf("%d sockets open, want the reader's only", got)
		}
		return nil
	})
	publish(t, n, "ticks", "after", "x")
	reader.expect("after", "ticks")
}

// A small channel's events are written by the publisher itself until the
// socket buffer is full; what it cannot take goes to a writer, and the
// reader still gets every event once, in order.
func TestDirectWritesKeepOrderWhenTheSocketFills(t *testing.T) {
	n := newNode(t, edge.Options{MaxQueueBytes: 16 << 20})
	c := n.dial()
	c.join("room", "")
	// No small receive buffer: reading back through a 4 KiB window takes
	// most of a minute. 10 MB fills the default ones (the receiver's does
	// not grow while nobody reads).
	pauseReads(c)
	const events = 200
	payload := strings.Repeat("y", 50000)
	for i := 0; i < events; i++ {
		publish(t, n, "room", "ev", strconv.Itoa(i)+":"+payload)
	}
	resumeReads(c)
	for i := 0; i < events; i++ {
		f := c.expect("ev", "room")
		if got, _, _ := strings.Cut(f.dataString(t), ":"); got != strconv.Itoa(i) {
			t.Fatalf("event %d arrived as %s", i, got)
		}
	}
}

func TestServerToUserAndTerminate(t *testing.T) {
	n := newNode(t, edge.Options{})
	u7a, u7b, other := n.dial(), n.dial(), n.dial()
	for _, c := range []*client{u7a, u7b} {
		c.signin(`{"id":"7"}`)
		c.expect(protocol.EventSigninSuccess, "")
		c.join("#server-to-user-7", "")
	}
	other.subscribe("#server-to-user-7", "", "")
	expectSubscriptionError(t, other, "#server-to-user-7", 401)
	other.signin(`{"id":"8"}`)
	other.expect(protocol.EventSigninSuccess, "")
	other.subscribe("#server-to-user-7", "", "")
	expectSubscriptionError(t, other, "#server-to-user-7", 401)
	other.join("#server-to-user-8", "")

	publish(t, n, "#server-to-user-7", "hello", "hi 7")
	u7a.expect("hello", "#server-to-user-7")
	u7b.expect("hello", "#server-to-user-7")
	other.quiet("hello", 100*time.Millisecond)

	if err := n.pub.TerminateUser(context.Background(), "app-1", "7"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client{u7a, u7b} {
		f := c.expect(protocol.EventError, "")
		var d struct{ Code int }
		f.dataObject(t, &d)
		if d.Code != 4009 {
			t.Fatalf("code %d", d.Code)
		}
		c.expectClose(4009)
	}
	other.send(`{"event":"pusher:ping","data":{}}`)
	other.expect(protocol.EventPong, "")
}

var _ = bus.KindEvent

// Sockets that stop reading must not hold up the others, however many
// writers they block.
func TestStuckReadersDoNotStallOthers(t *testing.T) {
	n := newNode(t, edge.Options{MaxQueueBytes: 64 << 20, SweepInterval: 50 * time.Millisecond})
	var stuck []*client
	for i := 0; i < 24; i++ {
		c := n.dial()
		c.join("busy", "")
		pauseReads(c)
		stuck = append(stuck, c)
	}
	healthy := n.dial()
	healthy.join("busy", "")
	payload := strings.Repeat("x", 60<<10)
	// Fill the stuck sockets' kernel buffers so writes to them block.
	for i := 0; i < 120; i++ {
		publish(t, n, "busy", "fill", payload)
	}
	// Well inside the 10 s write timeout that would free blocked writers
	// anyway.
	deadline := time.After(4 * time.Second)
	for got := 0; got < 120; {
		select {
		case f := <-healthy.frames:
			if f.Event == "fill" {
				got++
			}
		case <-deadline:
			t.Fatalf("healthy socket got %d of 120 events while others were stuck", got)
		}
	}
	publish(t, n, "busy", "after", "x")
	healthy.expect("after", "busy")
	_ = stuck
}

// TestPositionsOnlyForSubscribersThatAsk: a subscriber that sends a
// position in pusher:subscribe gets each event with "seq" and "epoch";
// everyone else gets Pusher's frame, byte for byte.
func TestPositionsOnlyForSubscribersThatAsk(t *testing.T) {
	n := newNode(t, edge.Options{})
	plain, tracked := n.dial(), n.dial()
	plain.join("ticks", "")
	tracked.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": "ticks", "position": map[string]any{}}})
	tracked.expect(protocol.EventSubscriptionSucceeded, "ticks")
	var epoch string
	for i := 1; i <= 3; i++ {
		publish(t, n, "ticks", "tick", strconv.Itoa(i))
		want := `{"event":"tick","channel":"ticks","data":"` + strconv.Itoa(i) + `"}`
		if f := plain.expect("tick", "ticks"); f.raw != want {
			t.Fatalf("plain subscriber got %s, want %s", f.raw, want)
		}
		f := tracked.expect("tick", "ticks")
		var pos struct {
			Seq   uint64 `json:"seq"`
			Epoch string `json:"epoch"`
		}
		if err := json.Unmarshal([]byte(f.raw), &pos); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			epoch = pos.Epoch
		}
		if pos.Seq != uint64(i) || pos.Epoch == "" || pos.Epoch != epoch {
			t.Fatalf("event %d: position %d/%q (first epoch %q): %s", i, pos.Seq, pos.Epoch, epoch, f.raw)
		}
	}
}

// An SSE client that stops reading, its receive window shut, does not
// hold the stream's handler (and its connection) past the write timeout.
func TestSSEClientThatStopsReadingIsCut(t *testing.T) {
	n := newNode(t, edge.Options{WriteTimeout: 300 * time.Millisecond})
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", n.http.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /app/key-1/events?channels=firehose HTTP/1.1\r\nHost: test\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() error {
		c, err := n.state.Channel(context.Background(), "app-1", "firehose")
		if err != nil || c.Subscriptions != 1 {
			return errorf("%d subscriptions (%v), want the stream's", c.Subscriptions, err)
		}
		return nil
	})
	payload := strings.Repeat("x", 60<<10)
	for i := 0; i < 100; i++ { // 6 MB, never read
		publish(t, n, "firehose", "ev", payload)
	}
	closed := make(chan struct{})
	go func() { n.http.Close(); close(closed) }() // waits for every handler to return
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream's handler is still writing to a client that stopped reading")
	}
}
