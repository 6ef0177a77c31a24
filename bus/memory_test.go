package bus_test

import (
	"context"
	"testing"

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

type sink struct{ msgs []*bus.Message }

func (s *sink) Deliver(m *bus.Message) { s.msgs = append(s.msgs, m) }

func TestPublisherCachesOnlyCacheChannels(t *testing.T) {
	ctx := context.Background()
	m, st := bus.NewMemory(), bus.NewMemoryState()
	s := &sink{}
	m.Attach(s)
	p := &bus.Publisher{Bus: m, State: st}
	if err := p.Publish(ctx, "a", []string{"cache-x", "plain", "private-cache-y"}, "e", []byte(`"d"`), "1.1"); err != nil {
		t.Fatal(err)
	}
	if len(s.msgs) != 3 || s.msgs[0].ExcludeSocketID != "1.1" {
		t.Fatalf("%+v", s.msgs)
	}
	for ch, want := range map[string]bool{"cache-x": true, "plain": false, "private-cache-y": true} {
		if _, ok, _ := st.Cache(ctx, "a", ch); ok != want {
			t.Errorf("%s cached=%v", ch, ok)
		}
	}
	if err := p.TerminateUser(ctx, "a", "7"); err != nil || s.msgs[3].Kind != bus.KindTerminateUser || s.msgs[3].UserID != "7" {
		t.Fatalf("terminate %+v %v", s.msgs, err)
	}
}
