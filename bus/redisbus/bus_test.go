package redisbus_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/bus/bustest"
	"github.com/switchboard-rt/switchboard/bus/redisbus"
	"github.com/switchboard-rt/switchboard/internal/redistest"
	"github.com/switchboard-rt/switchboard/internal/testwait"
)

// cluster is several nodes on one Redis, seen by the suite as one Bus:
// Listen subscribes every node (as each node's edge would for its own
// subscribers), and Publish goes through a node of its own.
type cluster struct {
	t      *testing.T
	rdb    redis.UniversalClient
	prefix string
	pub    *redisbus.Bus

	mu        sync.Mutex
	nodes     []*redisbus.Bus
	listening [][2]string
}

func (c *cluster) node() *redisbus.Bus {
	b, err := redisbus.New(c.t.Context(), c.rdb, redisbus.Options{Prefix: c.prefix})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { b.Close() })
	return b
}

func (c *cluster) Publish(ctx context.Context, m *bus.Message) error { return c.pub.Publish(ctx, m) }

func (c *cluster) Listen(ctx context.Context, app, ch string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.listening = append(c.listening, [2]string{app, ch})
	for _, n := range c.nodes {
		if err := n.Listen(ctx, app, ch); err != nil {
			return err
		}
	}
	return nil
}

func (c *cluster) Ignore(ctx context.Context, app, ch string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if err := n.Ignore(ctx, app, ch); err != nil {
			return err
		}
	}
	return nil
}

func (c *cluster) attach(h bus.Handler) func() {
	n := c.node()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.listening {
		if err := n.Listen(c.t.Context(), l[0], l[1]); err != nil {
			c.t.Fatal(err)
		}
	}
	c.nodes = append(c.nodes, n)
	return n.Attach(h)
}

func TestRedisBus(t *testing.T) {
	bustest.RunBus(t, func(t *testing.T) (bus.Bus, func(bus.Handler) func()) {
		rdb := redistest.Client(t)
		c := &cluster{t: t, rdb: rdb, prefix: redistest.Prefix(t, rdb)}
		c.pub = c.node()
		return c, c.attach
	})
}

// A node receives only the channels it listens to.
func TestNodeHearsOnlyItsChannels(t *testing.T) {
	rdb := redistest.Client(t)
	p := redistest.Prefix(t, rdb)
	a, err := redisbus.New(t.Context(), rdb, redisbus.Options{Prefix: p})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	got := make(chan *bus.Message, 4)
	a.Attach(handlerFunc(func(m *bus.Message) { got <- m }))
	if err := a.Listen(t.Context(), "app", "mine"); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []string{"other", "mine"} {
		if err := a.Publish(t.Context(), &bus.Message{AppID: "app", Channel: ch, Event: "e", Data: []byte(`"x"`)}); err != nil {
			t.Fatal(err)
		}
	}
	if m := <-got; m.Channel != "mine" {
		t.Fatalf("node got %q, which it does not listen to", m.Channel)
	}
	if err := a.Ignore(t.Context(), "app", "mine"); err != nil {
		t.Fatal(err)
	}
}

type handlerFunc func(*bus.Message)

func (f handlerFunc) Deliver(m *bus.Message) { f(m) }

// FuzzDecode: whatever arrives on a bus channel, decoding never panics,
// and what encode writes decodes to the same message.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0, 1, 'a', 1, 'c', 1, 'e', 3, '"', 'x', '"', 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := redisbus.Decode(b)
		if err != nil {
			return
		}
		again, err := redisbus.Decode(redisbus.Encode(m))
		if err != nil || again.AppID != m.AppID || again.Channel != m.Channel || string(again.Data) != string(m.Data) || again.Kind != m.Kind {
			t.Fatalf("round trip of %q: %+v, %v", b, again, err)
		}
	})
}

func TestRedisHistory(t *testing.T) {
	bustest.RunHistory(t, func(t *testing.T, h bus.HistoryOptions) bustest.HistoryBus {
		rdb := redistest.Client(t)
		b, err := redisbus.New(t.Context(), rdb, redisbus.Options{Prefix: redistest.Prefix(t, rdb), History: h})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	})
}

// TestRedisHistoryTrimmedOnPublish checks what reads cannot tell apart
// from a filter: a publish under a lowered retention removes what the
// retention no longer allows from Redis itself, and history turned off
// removes the stream.
func TestRedisHistoryTrimmedOnPublish(t *testing.T) {
	rdb := redistest.Client(t)
	b, err := redisbus.New(t.Context(), rdb, redisbus.Options{Prefix: redistest.Prefix(t, rdb), History: bus.HistoryOptions{Length: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	key := b.HistoryKey("app", "ch")
	publish := func(h bus.HistoryOptions) {
		t.Helper()
		if err := b.Publish(t.Context(), &bus.Message{Kind: bus.KindEvent, AppID: "app", Channel: "ch", Event: "e", Data: []byte(`1`), History: h}); err != nil {
			t.Fatal(err)
		}
	}
	length := func() int64 {
		t.Helper()
		n, err := rdb.XLen(t.Context(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for range 100 {
		publish(bus.HistoryOptions{Length: 500, MaxAge: time.Hour})
	}
	if n := length(); n != 100 {
		t.Fatalf("stream of %d entries, want 100", n)
	}
	publish(bus.HistoryOptions{Length: 10, MaxAge: time.Hour})
	if n := length(); n != 10 {
		t.Fatalf("after lowering the count: %d entries, want 10", n)
	}
	// Age: 130 entries that all outlive a 100 ms limit (more than one
	// batch of the script's trimming loop), then one under that limit.
	for range 130 {
		publish(bus.HistoryOptions{Length: 500, MaxAge: time.Hour})
	}
	testwait.Eventually(t, 5*time.Second, func() error {
		publish(bus.HistoryOptions{Length: 500, MaxAge: 100 * time.Millisecond})
		if n := length(); n > 20 {
			return fmt.Errorf("%d entries left under a 100 ms age limit", n)
		}
		return nil
	})
	publish(bus.HistoryOptions{})
	if n, err := rdb.Exists(t.Context(), key).Result(); err != nil || n != 0 {
		t.Fatalf("history off: the stream still exists (%d, %v)", n, err)
	}
}
