// Package bustest is the conformance suite for bus.State and bus.Bus: every
// implementation (memory now, Redis later) must pass it unchanged. Tests
// use app ids unique to each run, so suites may share a backend.
package bustest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/protocol"
)

func uniqueApp(t *testing.T) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "app-" + hex.EncodeToString(b[:])
}

func eventually(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// RunState runs the State suite against the implementation open returns.
func RunState(t *testing.T, open func(t *testing.T) bus.State) {
	ctx := context.Background()
	t.Run("subscription counts", func(t *testing.T) {
		s, app := open(t), uniqueApp(t)
		for i, want := range []int{1, 2, 2} {
			n, err := s.AddSubscription(ctx, app, "news", []string{"1.1", "1.2", "1.2"}[i])
			if err != nil || n != want {
				t.Fatalf("add %d: %d %v", i, n, err)
			}
		}
		if n, _ := s.RemoveSubscription(ctx, app, "news", "1.1"); n != 1 {
			t.Fatalf("remove: %d", n)
		}
		if n, _ := s.RemoveSubscription(ctx, app, "news", "9.9"); n != 1 {
			t.Fatalf("remove unknown: %d", n)
		}
		c, _ := s.Channel(ctx, app, "news")
		if c.Subscriptions != 1 || c.Users != 0 {
			t.Fatalf("counts %+v", c)
		}
		_, _ = s.RemoveSubscription(ctx, app, "news", "1.2")
		if c, _ := s.Channel(ctx, app, "news"); c != (bus.Counts{}) {
			t.Fatalf("empty channel %+v", c)
		}
	})
	t.Run("channels lists occupied channels by prefix", func(t *testing.T) {
		s, app, other := open(t), uniqueApp(t), uniqueApp(t)
		_, _ = s.AddSubscription(ctx, app, "news", "1.1")
		_, _ = s.AddSubscription(ctx, app, "private-a", "1.1")
		_, _ = s.AddMember(ctx, app, "presence-r", "1.2", protocol.Member{UserID: "u"}, 0)
		_, _ = s.AddSubscription(ctx, other, "elsewhere", "1.3")
		_, _ = s.AddSubscription(ctx, app, "gone", "1.4")
		_, _ = s.RemoveSubscription(ctx, app, "gone", "1.4")
		all, err := s.Channels(ctx, app, "")
		if err != nil || len(all) != 3 || all["presence-r"].Users != 1 || all["news"].Subscriptions != 1 {
			t.Fatalf("%v %v", all, err)
		}
		pres, _ := s.Channels(ctx, app, "presence-")
		if len(pres) != 1 {
			t.Fatalf("prefix: %v", pres)
		}
	})
	t.Run("presence members are users, not sockets", func(t *testing.T) {
		s, app := open(t), uniqueApp(t)
		ch := "presence-room"
		first, err := s.AddMember(ctx, app, ch, "1.1", protocol.Member{UserID: "a", UserInfo: []byte(`{"n":1}`)}, 0)
		if !first || err != nil {
			t.Fatal("first socket of a must be first")
		}
		if first, _ := s.AddMember(ctx, app, ch, "1.2", protocol.Member{UserID: "a"}, 0); first {
			t.Fatal("second socket of a is not a new member")
		}
		if first, _ := s.AddMember(ctx, app, ch, "1.1", protocol.Member{UserID: "a"}, 0); first {
			t.Fatal("re-adding a socket is not a new member")
		}
		if first, _ := s.AddMember(ctx, app, ch, "1.3", protocol.Member{UserID: "b"}, 0); !first {
			t.Fatal("b is new")
		}
		ms, _ := s.Members(ctx, app, ch)
		sort.Slice(ms, func(i, j int) bool { return ms[i].UserID < ms[j].UserID })
		if len(ms) != 2 || ms[0].UserID != "a" || string(ms[0].UserInfo) != `{"n":1}` || ms[1].UserInfo != nil {
			t.Fatalf("members %+v", ms)
		}
		c, _ := s.Channel(ctx, app, ch)
		if c.Users != 2 || c.Subscriptions != 3 {
			t.Fatalf("presence sockets count as subscriptions: %+v", c)
		}
		if last, _ := s.RemoveMember(ctx, app, ch, "1.1", "a"); last {
			t.Fatal("a still has a socket")
		}
		if last, _ := s.RemoveMember(ctx, app, ch, "1.1", "a"); last {
			t.Fatal("removing twice")
		}
		if last, _ := s.RemoveMember(ctx, app, ch, "1.2", "a"); !last {
			t.Fatal("a's last socket left")
		}
		// RemoveSubscription of a presence socket removes its member too.
		_, _ = s.RemoveSubscription(ctx, app, ch, "1.3")
		if c, _ := s.Channel(ctx, app, ch); c != (bus.Counts{}) {
			t.Fatalf("after leaving %+v", c)
		}
	})
	t.Run("member limit", func(t *testing.T) {
		s, app := open(t), uniqueApp(t)
		ch := "presence-full"
		_, _ = s.AddMember(ctx, app, ch, "1.1", protocol.Member{UserID: "a"}, 2)
		_, _ = s.AddMember(ctx, app, ch, "1.2", protocol.Member{UserID: "b"}, 2)
		if _, err := s.AddMember(ctx, app, ch, "1.3", protocol.Member{UserID: "c"}, 2); !errors.Is(err, bus.ErrMemberLimit) {
			t.Fatalf("third user: %v", err)
		}
		if _, err := s.AddMember(ctx, app, ch, "1.4", protocol.Member{UserID: "a"}, 2); err != nil {
			t.Fatalf("existing member's new socket: %v", err)
		}
		if c, _ := s.Channel(ctx, app, ch); c.Users != 2 || c.Subscriptions != 3 {
			t.Fatalf("refused member recorded: %+v", c)
		}
	})
	t.Run("cache", func(t *testing.T) {
		s, app := open(t), uniqueApp(t)
		if _, ok, _ := s.Cache(ctx, app, "cache-x"); ok {
			t.Fatal("empty cache hit")
		}
		if err := s.SetCache(ctx, app, "cache-x", bus.CachedEvent{Event: "e", Data: []byte(`"d"`)}, time.Minute); err != nil {
			t.Fatal(err)
		}
		ev, ok, err := s.Cache(ctx, app, "cache-x")
		if !ok || err != nil || ev.Event != "e" || string(ev.Data) != `"d"` || time.Until(ev.Expires) <= 0 {
			t.Fatalf("%+v %v %v", ev, ok, err)
		}
		_ = s.SetCache(ctx, app, "cache-y", bus.CachedEvent{Event: "e", Data: []byte(`"d"`)}, 50*time.Millisecond)
		eventually(t, 3*time.Second, func() error {
			if _, ok, _ := s.Cache(ctx, app, "cache-y"); ok {
				return fmt.Errorf("cache entry did not expire")
			}
			return nil
		})
		if all, _ := s.Channels(ctx, app, ""); len(all) != 0 {
			t.Fatalf("a cached event makes no channel occupied: %v", all)
		}
	})
	t.Run("users online", func(t *testing.T) {
		s, app := open(t), uniqueApp(t)
		if first, _ := s.AddUser(ctx, app, "u", "1.1"); !first {
			t.Fatal("first")
		}
		if first, _ := s.AddUser(ctx, app, "u", "1.2"); first {
			t.Fatal("second socket")
		}
		online, _ := s.OnlineUsers(ctx, app, []string{"u", "v"})
		if len(online) != 1 || online[0] != "u" {
			t.Fatalf("online %v", online)
		}
		if last, _ := s.RemoveUser(ctx, app, "u", "1.1"); last {
			t.Fatal("not last")
		}
		if last, _ := s.RemoveUser(ctx, app, "u", "1.2"); !last {
			t.Fatal("last")
		}
		if online, _ := s.OnlineUsers(ctx, app, []string{"u"}); len(online) != 0 {
			t.Fatalf("still online %v", online)
		}
	})
	t.Run("concurrent churn", func(t *testing.T) {
		s, app := open(t), uniqueApp(t)
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 200; i++ {
					id := fmt.Sprintf("%d.%d", g, i)
					_, _ = s.AddSubscription(ctx, app, "busy", id)
					_, _ = s.AddMember(ctx, app, "presence-busy", id, protocol.Member{UserID: fmt.Sprint(i % 10)}, 0)
					if i%2 == 0 {
						_, _ = s.RemoveSubscription(ctx, app, "busy", id)
						_, _ = s.RemoveMember(ctx, app, "presence-busy", id, fmt.Sprint(i%10))
					}
				}
			}(g)
		}
		wg.Wait()
		c, _ := s.Channel(ctx, app, "busy")
		p, _ := s.Channel(ctx, app, "presence-busy")
		if c.Subscriptions != 800 || p.Subscriptions != 800 || p.Users != 5 {
			t.Fatalf("after churn: %+v %+v", c, p)
		}
	})
}

type recorder struct {
	mu   sync.Mutex
	msgs []*bus.Message
}

func (r *recorder) Deliver(m *bus.Message) { r.mu.Lock(); r.msgs = append(r.msgs, m); r.mu.Unlock() }
func (r *recorder) get() []*bus.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*bus.Message(nil), r.msgs...)
}

// RunBus runs the Bus suite. open returns the bus and a way to attach a
// node's handler to it.
func RunBus(t *testing.T, open func(t *testing.T) (bus.Bus, func(bus.Handler) (detach func()))) {
	ctx := context.Background()
	t.Run("every node gets each message once, in order", func(t *testing.T) {
		b, attach := open(t)
		app := uniqueApp(t)
		n1, n2 := &recorder{}, &recorder{}
		d1, d2 := attach(n1), attach(n2)
		defer d1()
		defer d2()
		if err := b.Listen(ctx, app, "news"); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 50; i++ {
			if err := b.Publish(ctx, &bus.Message{AppID: app, Channel: "news", Event: "e", Data: []byte(fmt.Sprint(i))}); err != nil {
				t.Fatal(err)
			}
		}
		for _, n := range []*recorder{n1, n2} {
			eventually(t, 3*time.Second, func() error {
				if got := len(n.get()); got != 50 {
					return fmt.Errorf("%d of 50", got)
				}
				return nil
			})
			for i, m := range n.get() {
				if string(m.Data) != fmt.Sprint(i) {
					t.Fatalf("message %d out of order: %s", i, m.Data)
				}
			}
		}
	})
	t.Run("detach stops delivery", func(t *testing.T) {
		b, attach := open(t)
		app := uniqueApp(t)
		n := &recorder{}
		detach := attach(n)
		_ = b.Listen(ctx, app, "c")
		_ = b.Publish(ctx, &bus.Message{AppID: app, Channel: "c", Event: "e", Data: []byte(`1`)})
		eventually(t, 3*time.Second, func() error {
			if len(n.get()) != 1 {
				return fmt.Errorf("not delivered")
			}
			return nil
		})
		detach()
		_ = b.Publish(ctx, &bus.Message{AppID: app, Channel: "c", Event: "e", Data: []byte(`2`)})
		time.Sleep(50 * time.Millisecond)
		if len(n.get()) != 1 {
			t.Fatal("delivered after detach")
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		b, _ := open(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := b.Publish(cctx, &bus.Message{AppID: uniqueApp(t), Channel: "c"}); err == nil {
			t.Fatal("publish with a cancelled context succeeded")
		}
	})
}
