package activity_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/activity"
	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/bus/redisbus"
	"github.com/switchboard-rt/switchboard/internal/redistest"
	"github.com/switchboard-rt/switchboard/internal/testwait"
)

// attacher is what both buses offer the feed.
type attacher interface {
	bus.Bus
	Attach(bus.Handler) func()
}

// node is one node's feed on a shared bus, running until the test ends.
func node(t *testing.T, b attacher, name string, o activity.Options) *activity.Feed {
	t.Helper()
	o.Bus, o.Node = b, name
	f := activity.New(o)
	detach := b.Attach(f)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = f.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; detach(); f.Close() })
	return f
}

func next(t *testing.T, ch <-chan []byte) bus.Activity {
	t.Helper()
	select {
	case b, ok := <-ch:
		if !ok {
			t.Fatal("stream closed")
		}
		var e bus.Activity
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("entry %s: %v", b, err)
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no entry within 10 s")
	}
	return bus.Activity{}
}

// crossNodes: a console opened on node A makes node B emit the app's
// activity, which reaches A's watcher; other apps stay silent.
func crossNodes(t *testing.T, a, b *activity.Feed) {
	if b.Watched("app-1") {
		t.Fatal("watched before anyone watches")
	}
	entries, stop := a.Watch("app-1")
	defer stop()
	testwait.Until(t, 10*time.Second, func() bool { return b.Watched("app-1") })
	if b.Watched("app-2") {
		t.Fatal("app-2 watched")
	}
	b.Emit("app-2", bus.Activity{Type: activity.Subscribed, Channel: "nobody-watches"})
	b.Emit("app-1", bus.Activity{Type: activity.Subscribed, Channel: "news", SocketID: "1.2"})
	e := next(t, entries)
	if e.Type != activity.Subscribed || e.Channel != "news" || e.SocketID != "1.2" || e.Node != "node-b" || e.Time == 0 {
		t.Fatalf("entry: %+v", e)
	}
}

func TestFeedAcrossNodesMemory(t *testing.T) {
	m := bus.NewMemory()
	crossNodes(t, node(t, m, "node-a", activity.Options{}), node(t, m, "node-b", activity.Options{}))
}

func TestFeedAcrossNodesRedis(t *testing.T) {
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t, rdb)
	open := func() *redisbus.Bus {
		b, err := redisbus.New(t.Context(), rdb, redisbus.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	crossNodes(t, node(t, open(), "node-a", activity.Options{}), node(t, open(), "node-b", activity.Options{}))
}

// Nobody watching: Emit is a check and nothing more.
func TestEmitUnwatchedAllocatesNothing(t *testing.T) {
	f := activity.New(activity.Options{Bus: bus.NewMemory()})
	e := bus.Activity{Type: activity.ClientEvent, Channel: "private-x", Data: `{"a":1}`}
	if n := testing.AllocsPerRun(1000, func() {
		if f.Watched("app-1") {
			f.Emit("app-1", e)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per unwatched emit", n)
	}
}

// A node stops emitting once the watch notices stop: 3×WatchEvery after
// the last one.
func TestWatchExpires(t *testing.T) {
	m := bus.NewMemory()
	o := activity.Options{WatchEvery: 20 * time.Millisecond}
	a, b := node(t, m, "a", o), node(t, m, "b", o)
	_, stop := a.Watch("app-1")
	testwait.Until(t, 10*time.Second, func() bool { return b.Watched("app-1") })
	stop()
	testwait.Until(t, 10*time.Second, func() bool { return !b.Watched("app-1") && !a.Watched("app-1") })
}

// A watcher that does not read loses entries beyond its queue and is told
// how many, instead of slowing the others down.
func TestSlowWatcherGetsDroppedNotice(t *testing.T) {
	m := bus.NewMemory()
	f := node(t, m, "a", activity.Options{QueueLen: 2})
	slow, stop := f.Watch("app-1")
	defer stop()
	fast, stopFast := f.Watch("app-1")
	defer stopFast()
	testwait.Until(t, 10*time.Second, func() bool { return f.Watched("app-1") })
	for i := range 5 {
		f.Emit("app-1", bus.Activity{Type: activity.APIMessage, Event: fmt.Sprint(i)})
		if e := next(t, fast); e.Event != fmt.Sprint(i) {
			t.Fatalf("fast watcher got %+v", e)
		}
	}
	for i := range 2 {
		if e := next(t, slow); e.Event != fmt.Sprint(i) {
			t.Fatalf("slow watcher entry %d: %+v", i, e)
		}
	}
	f.Emit("app-1", bus.Activity{Type: activity.APIMessage, Event: "after"})
	if e := next(t, slow); e.Type != activity.Dropped || e.Count != 3 {
		t.Fatalf("want a dropped notice of 3, got %+v", e)
	}
	if e := next(t, slow); e.Event != "after" {
		t.Fatalf("after the notice: %+v", e)
	}
}

// Close ends every stream, and a console opened after it ends at once.
func TestCloseEndsStreams(t *testing.T) {
	f := activity.New(activity.Options{Bus: bus.NewMemory()})
	ch, stop := f.Watch("app-1")
	f.Close()
	if _, ok := <-ch; ok {
		t.Fatal("stream still open after Close")
	}
	stop()
	ch, _ = f.Watch("app-1")
	if _, ok := <-ch; ok {
		t.Fatal("a stream opened after Close is open")
	}
	select {
	case <-f.Done():
	default:
		t.Fatal("Done not closed")
	}
}

// Data is cut to MaxActivityData.
func TestLongDataTruncated(t *testing.T) {
	m := bus.NewMemory()
	f := node(t, m, "a", activity.Options{})
	ch, stop := f.Watch("app-1")
	defer stop()
	testwait.Until(t, 10*time.Second, func() bool { return f.Watched("app-1") })
	long := make([]byte, bus.MaxActivityData+100)
	for i := range long {
		long[i] = 'x'
	}
	f.Emit("app-1", bus.Activity{Type: activity.ClientEvent, Data: string(long)})
	if e := next(t, ch); len(e.Data) != bus.MaxActivityData || !e.Truncated {
		t.Fatalf("data of %d bytes, truncated %v", len(e.Data), e.Truncated)
	}
}

// A watched app busier than MaxRate puts at most a burst of entries on
// the bus, then one Dropped entry counting the rest.
func TestEmitRateLimited(t *testing.T) {
	m := bus.NewMemory()
	f := node(t, m, "a", activity.Options{MaxRate: 5, QueueLen: 100})
	ch, stop := f.Watch("app-1")
	defer stop()
	testwait.Until(t, 10*time.Second, func() bool { return f.Watched("app-1") })
	for i := range 20 {
		f.Emit("app-1", bus.Activity{Type: activity.APIMessage, Event: fmt.Sprint(i)})
	}
	for i := range 10 {
		if e := next(t, ch); e.Event != fmt.Sprint(i) {
			t.Fatalf("entry %d: %+v", i, e)
		}
	}
	var got []byte
	testwait.Until(t, 10*time.Second, func() bool {
		f.Emit("app-1", bus.Activity{Type: activity.APIMessage, Event: "later"})
		select {
		case got = <-ch:
			return true
		default:
			return false
		}
	})
	var e bus.Activity
	_ = json.Unmarshal(got, &e)
	if e.Type != activity.Dropped || e.Count < 10 || e.Detail == "" {
		t.Fatalf("want a dropped entry counting at least 10, got %+v", e)
	}
	if e := next(t, ch); e.Event != "later" {
		t.Fatalf("after the notice: %+v", e)
	}
}
