package edge_test

import (
	"encoding/json"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/edge"
	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
)

type position struct {
	Seq   uint64 `json:"seq"`
	Epoch string `json:"epoch"`
}

func positionOf(t *testing.T, f frame) position {
	t.Helper()
	var p position
	if err := json.Unmarshal([]byte(f.raw), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// subscribeAt sends pusher:subscribe with a position (nil: none, {}:
// positions from now on).
func (c *client) subscribeAt(channel string, pos map[string]any) {
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": channel, "position": pos}})
	c.expect(protocol.EventSubscriptionSucceeded, channel)
}

// TestResubscribeFillsTheGap: a client that comes back with the last
// position it saw gets exactly the events after it, in order, then live
// ones, while a publisher keeps publishing.
func TestResubscribeFillsTheGap(t *testing.T) {
	n := newNode(t, edge.Options{})
	first := n.dial()
	first.subscribeAt("feed", map[string]any{})
	for i := 1; i <= 5; i++ {
		publish(t, n, "feed", "e", strconv.Itoa(i))
	}
	var last position
	for range 5 {
		last = positionOf(t, first.expect("e", "feed"))
	}
	if last.Seq != 5 {
		t.Fatalf("last position %+v", last)
	}
	// Events 6..25 are missed; the publisher keeps going while the client
	// comes back at 3 (as if it had missed 4 and 5 as well).
	var wg sync.WaitGroup
	stop := make(chan struct{})
	published := 5
	var mu sync.Mutex
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			published++
			i := published
			mu.Unlock()
			publish(t, n, "feed", "e", strconv.Itoa(i))
			time.Sleep(time.Millisecond)
		}
	})
	time.Sleep(20 * time.Millisecond)
	back := n.dial()
	back.subscribeAt("feed", map[string]any{"epoch": last.Epoch, "seq": 3})
	time.Sleep(30 * time.Millisecond)
	close(stop)
	wg.Wait()
	publish(t, n, "feed", "end", `""`)
	want := uint64(4)
	for {
		f := back.next()
		if f.Event == "end" {
			break
		}
		if f.Event != "e" {
			t.Fatalf("unexpected frame %s", f.raw)
		}
		p := positionOf(t, f)
		if p.Seq != want || p.Epoch != last.Epoch || f.dataString(t) != strconv.FormatUint(want, 10) {
			t.Fatalf("got %s, want position %d", f.raw, want)
		}
		want++
	}
	if want != uint64(published)+1 {
		t.Fatalf("received up to %d, published %d", want-1, published)
	}
}

// TestRecoveryFails: an unknown epoch (history lost) or a position older
// than the history tells the client so, then live events follow.
func TestRecoveryFails(t *testing.T) {
	n := newNode(t, edge.Options{})
	publish(t, n, "feed", "e", "1")
	c := n.dial()
	c.subscribeAt("feed", map[string]any{"epoch": "gone", "seq": 7})
	data := recoveryFailed(t, c)
	if data.Epoch == "" || data.Epoch == "gone" || data.From != 7 || data.Oldest != 1 {
		t.Fatalf("recovery_failed data %+v", data)
	}
	publish(t, n, "feed", "e", "2")
	if p := positionOf(t, c.expect("e", "feed")); p.Seq != 2 {
		t.Fatalf("live event after the failure: %+v", p)
	}
}

// TestRecoveryFollowsTheAppsRetention: gap-fill gives back what the app's
// history settings keep, and no more; an app with history off keeps
// counting, so a client that missed nothing resumes and one that missed
// something is told to reload.
func TestRecoveryFollowsTheAppsRetention(t *testing.T) {
	small := tenants.NewApp("app-small", "key-small", "secret-small")
	small.HistoryMaxEvents = 3
	off := tenants.NewApp("app-off", "key-off", "secret-off") // history is opt-in
	n := newNode(t, edge.Options{}, testApp(), small, off)
	publishTo := func(app string, i int) {
		t.Helper()
		raw, _ := json.Marshal(strconv.Itoa(i))
		if err := n.pub.Publish(t.Context(), app, n.history(app), []string{"feed"}, "e", raw, ""); err != nil {
			t.Fatal(err)
		}
	}
	var epoch string
	for i := 1; i <= 10; i++ {
		publishTo("app-small", i)
		publishTo("app-off", i)
	}
	r, _ := n.bus.Since(t.Context(), "app-small", "feed", 0, 100)
	epoch = r.Epoch

	// Missed 6..10, only 8..10 kept: reload.
	c := n.dialKey("key-small")
	c.subscribeAt("feed", map[string]any{"epoch": epoch, "seq": 5})
	wantRecoveryFailed(t, c, epoch, 5, 8)
	// Missed 8..10: all kept, given back in order.
	c = n.dialKey("key-small")
	c.subscribeAt("feed", map[string]any{"epoch": epoch, "seq": 7})
	for want := uint64(8); want <= 10; want++ {
		if p := positionOf(t, c.expect("e", "feed")); p.Seq != want {
			t.Fatalf("gap-fill gave %d, want %d", p.Seq, want)
		}
	}

	r, _ = n.bus.Since(t.Context(), "app-off", "feed", 0, 100)
	if len(r.Events) != 0 || r.Newest != 10 {
		t.Fatalf("an app with history off: %+v", r)
	}
	c = n.dialKey("key-off")
	c.subscribeAt("feed", map[string]any{"epoch": r.Epoch, "seq": 9})
	wantRecoveryFailed(t, c, r.Epoch, 9, 0)
	c = n.dialKey("key-off")
	c.subscribeAt("feed", map[string]any{"epoch": r.Epoch, "seq": 10}) // missed nothing
	publishTo("app-off", 11)
	if f := c.next(); f.Event != "e" || positionOf(t, f).Seq != 11 {
		t.Fatalf("after resuming at the newest position: %s", f.raw)
	}
}

func wantRecoveryFailed(t *testing.T, c *client, epoch string, from, oldest uint64) {
	t.Helper()
	data := recoveryFailed(t, c)
	if data.Epoch != epoch || data.From != from || data.Oldest != oldest {
		t.Fatalf("recovery_failed %+v, want epoch %q from %d oldest %d", data, epoch, from, oldest)
	}
}

// TestClientEventsKeptAsTheAppSays: client events are history too, under
// the app's retention.
func TestClientEventsKeptAsTheAppSays(t *testing.T) {
	app := testApp()
	app.HistoryMaxEvents = 2
	n := newNode(t, edge.Options{}, app)
	a, b := n.dial(), n.dial()
	a.join("private-chat", "")
	b.join("private-chat", "")
	for i := range 3 {
		a.send(map[string]any{"event": "client-n", "channel": "private-chat", "data": strconv.Itoa(i)})
		b.expect("client-n", "private-chat")
	}
	r, err := n.bus.Since(t.Context(), "app-1", "private-chat", 0, 10)
	if err != nil || r.Newest != 3 || r.Oldest != 2 || len(r.Events) != 2 || r.Events[0].Event != "client-n" {
		t.Fatalf("kept %+v, %v; want client events 2..3", r, err)
	}
}

// recoveryFailed reads the next frame, which must be recovery_failed on
// "feed", and returns its data.
func recoveryFailed(t *testing.T, c *client) (data struct {
	Epoch  string `json:"epoch"`
	From   uint64 `json:"from"`
	Oldest uint64 `json:"oldest"`
}) {
	t.Helper()
	f := c.expect(edge.EventRecoveryFailed, "feed")
	if err := json.Unmarshal([]byte(f.dataString(t)), &data); err != nil {
		t.Fatal(err)
	}
	return data
}
