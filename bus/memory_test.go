package bus_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/bus/bustest"
)

func TestMemoryState(t *testing.T) {
	bustest.RunState(t, func(*testing.T) bus.State { return bus.NewMemoryState() })
}

func TestMemoryBus(t *testing.T) {
	bustest.RunBus(t, func(*testing.T) (bus.Bus, func(bus.Handler) func()) {
		m := bus.NewMemory()
		return m, m.Attach
	})
}

// handlerFunc is deliberately a func type: interface values holding it
// cannot be compared, which Attach's detach must cope with.
type handlerFunc func(*bus.Message)

func (f handlerFunc) Deliver(m *bus.Message) { f(m) }

func TestMemoryDeliversBeforePublishReturns(t *testing.T) {
	m := bus.NewMemory()
	var got []string
	detach := m.Attach(handlerFunc(func(msg *bus.Message) { got = append(got, "a:"+msg.Event) }))
	m.Attach(handlerFunc(func(msg *bus.Message) { got = append(got, "b:"+msg.Event) }))
	if err := m.Publish(t.Context(), &bus.Message{AppID: "a", Channel: "c", Event: "one"}); err != nil {
		t.Fatal(err)
	}
	detach()
	detach()
	if err := m.Publish(t.Context(), &bus.Message{AppID: "a", Channel: "c", Event: "two"}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a:one", "b:one", "b:two"}; !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
}

// sink records what the bus delivers.
type sink struct {
	mu   sync.Mutex
	msgs []*bus.Message
}

func (s *sink) Deliver(m *bus.Message) {
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
}

func newPublisher(t *testing.T, ttl time.Duration) (*bus.Publisher, *bus.MemoryState, *sink) {
	m, st, s := bus.NewMemory(), bus.NewMemoryState(), &sink{}
	t.Cleanup(m.Attach(s))
	return &bus.Publisher{Bus: m, State: st, CacheTTL: ttl}, st, s
}

func TestPublisherCachesOnlyCacheChannels(t *testing.T) {
	ctx := t.Context()
	p, st, s := newPublisher(t, 0)
	cached := map[string]bool{
		"cache-x":                   true,
		"private-cache-x":           true,
		"presence-cache-x":          true,
		"private-encrypted-cache-x": true,
		"plain":                     false,
		"cachey":                    false,
		"private-x":                 false,
		"presence-x":                false,
		"private-encrypted-x":       false,
	}
	var channels []string
	for ch := range cached {
		channels = append(channels, ch)
	}
	before := time.Now()
	keep := bus.HistoryOptions{Length: 7, MaxAge: time.Minute}
	if err := p.Publish(ctx, "app", keep, channels, "my-event", []byte(`"data"`), "1.1"); err != nil {
		t.Fatal(err)
	}
	if len(s.msgs) != len(channels) {
		t.Fatalf("%d messages for %d channels", len(s.msgs), len(channels))
	}
	for i, m := range s.msgs {
		want := bus.Message{Kind: bus.KindEvent, AppID: "app", Channel: channels[i], Event: "my-event", Data: []byte(`"data"`), ExcludeSocketID: "1.1"}
		if m.Kind != want.Kind || m.AppID != want.AppID || m.Channel != want.Channel || m.Event != want.Event ||
			string(m.Data) != string(want.Data) || m.ExcludeSocketID != want.ExcludeSocketID || m.UserID != "" || m.History != keep {
			t.Errorf("message %d = %+v, want %+v", i, *m, want)
		}
	}
	for ch, want := range cached {
		ev, ok, err := st.Cache(ctx, "app", ch)
		if err != nil || ok != want {
			t.Errorf("%s: cached=%v err=%v, want cached=%v", ch, ok, err, want)
			continue
		}
		if !ok {
			continue
		}
		if ev.Event != "my-event" || string(ev.Data) != `"data"` {
			t.Errorf("%s: cached %+v", ch, ev)
		}
		if lo, hi := before.Add(bus.DefaultCacheTTL), time.Now().Add(bus.DefaultCacheTTL); ev.Expires.Before(lo) || ev.Expires.After(hi) {
			t.Errorf("%s: expires %v, want DefaultCacheTTL from now", ch, ev.Expires)
		}
	}
}

func TestPublisherCacheTTL(t *testing.T) {
	p, st, _ := newPublisher(t, time.Minute)
	before := time.Now()
	if err := p.Publish(t.Context(), "app", bus.HistoryOptions{}, []string{"cache-x"}, "e", []byte(`1`), ""); err != nil {
		t.Fatal(err)
	}
	ev, ok, _ := st.Cache(t.Context(), "app", "cache-x")
	if !ok || ev.Expires.Before(before.Add(time.Minute)) || ev.Expires.After(time.Now().Add(time.Minute)) {
		t.Fatalf("cached %+v %v, want it to expire a minute from now", ev, ok)
	}
}

func TestPublisherCancelledContext(t *testing.T) {
	p, _, s := newPublisher(t, 0)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := p.Publish(ctx, "app", bus.HistoryOptions{}, []string{"a", "b"}, "e", []byte(`1`), ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if len(s.msgs) != 0 {
		t.Fatalf("delivered %d messages", len(s.msgs))
	}
}

// failingState fails every cache write.
type failingState struct{ bus.State }

var errBackend = errors.New("backend down")

func (failingState) SetCache(context.Context, string, string, bus.CachedEvent, time.Duration) error {
	return errBackend
}

func TestPublisherCacheErrorStopsPublish(t *testing.T) {
	p, _, s := newPublisher(t, 0)
	p.State = failingState{p.State}
	if err := p.Publish(t.Context(), "app", bus.HistoryOptions{}, []string{"plain", "cache-x", "after"}, "e", []byte(`1`), ""); !errors.Is(err, errBackend) {
		t.Fatalf("err %v, want the state's error", err)
	}
	if len(s.msgs) != 1 || s.msgs[0].Channel != "plain" {
		t.Fatalf("delivered %+v, want only the channel before the failure", s.msgs)
	}
}

func TestPublisherTerminateUser(t *testing.T) {
	p, _, s := newPublisher(t, 0)
	if err := p.TerminateUser(t.Context(), "app", "user-7"); err != nil {
		t.Fatal(err)
	}
	if len(s.msgs) != 1 {
		t.Fatalf("%d messages", len(s.msgs))
	}
	if m := s.msgs[0]; m.Kind != bus.KindTerminateUser || m.AppID != "app" || m.UserID != "user-7" || m.Channel != "" {
		t.Fatalf("message %+v", *m)
	}
}

func TestMemoryHistory(t *testing.T) {
	bustest.RunHistory(t, func(t *testing.T, h bus.HistoryOptions) bustest.HistoryBus {
		return bus.NewMemoryWithHistory(h)
	})
}

type discard struct{}

func (discard) Deliver(*bus.Message) {}

// BenchmarkMemoryPublish is the bus's share of the fan-out path: the
// channel's position (and, with the app's history on, its ring) per event,
// next to a protocol event that gets neither. The bus's ceiling is the
// server's default.
func BenchmarkMemoryPublish(b *testing.B) {
	for _, c := range []struct {
		name    string
		event   string
		history bus.HistoryOptions
	}{
		{"unsequenced", "pusher_internal:member_added", bus.HistoryOptions{}},
		{"sequenced", "e", bus.HistoryOptions{}},
		{"sequenced+history100", "e", bus.HistoryOptions{Length: 100}},
		{"sequenced+history100+age", "e", bus.HistoryOptions{Length: 100, MaxAge: time.Minute}},
	} {
		b.Run(c.name, func(b *testing.B) {
			m := bus.NewMemoryWithHistory(bus.HistoryOptions{Length: 10_000, MaxAge: 24 * time.Hour})
			m.Attach(discard{})
			ctx := context.Background()
			data := []byte(`"payload"`)
			b.ReportAllocs()
			for b.Loop() {
				_ = m.Publish(ctx, &bus.Message{Kind: bus.KindEvent, AppID: "a", Channel: "ch", Event: c.event, Data: data, History: c.history})
			}
		})
	}
}
