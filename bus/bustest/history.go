package bustest

import (
	"strconv"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/protocol"
)

// HistoryBus is a bus that keeps history.
type HistoryBus interface {
	bus.Bus
	bus.History
}

// RunHistory runs the History suite; open returns a bus keeping what h
// says.
func RunHistory(t *testing.T, open func(t *testing.T, h bus.HistoryOptions) HistoryBus) {
	t.Run("KeepsTheLastEvents", func(t *testing.T) {
		b := open(t, bus.HistoryOptions{Length: 5})
		app := uniqueApp(t)
		var epoch string
		for i := 1; i <= 8; i++ {
			m := &bus.Message{Kind: bus.KindEvent, AppID: app, Channel: "h", Event: "e", Data: []byte(strconv.Itoa(i))}
			if err := b.Publish(t.Context(), m); err != nil {
				t.Fatal(err)
			}
			epoch = m.Epoch
		}
		// Protocol events are neither numbered nor kept.
		if err := b.Publish(t.Context(), &bus.Message{Kind: bus.KindEvent, AppID: app, Channel: "h", Event: protocol.EventMemberAdded, Data: []byte(`"{}"`)}); err != nil {
			t.Fatal(err)
		}
		r := since(t, b, app, "h", 0, 100)
		if r.Epoch != epoch || r.Oldest != 4 || r.Newest != 8 {
			t.Fatalf("retained epoch %q oldest %d newest %d, want %q 4 8", r.Epoch, r.Oldest, r.Newest, epoch)
		}
		wantEvents(t, r.Events, epoch, 4, 8)
		wantEvents(t, since(t, b, app, "h", 6, 100).Events, epoch, 7, 8)
		wantEvents(t, since(t, b, app, "h", 0, 2).Events, epoch, 4, 5)
		for _, c := range []struct {
			epoch string
			seq   uint64
			ok    bool
		}{{epoch, 8, true}, {epoch, 3, true}, {epoch, 2, false}, {epoch, 9, false}, {"another", 8, false}} {
			if got := since(t, b, app, "h", c.seq, 100).Recoverable(c.epoch, c.seq); got != c.ok {
				t.Errorf("Recoverable(%q, %d) = %v, want %v", c.epoch, c.seq, got, c.ok)
			}
		}
		if r := since(t, b, app, "never-used", 0, 10); r.Newest != 0 || len(r.Events) != 0 || r.Recoverable(epoch, 3) {
			t.Fatalf("unused channel: %+v (a position on it cannot be recovered)", r)
		}
	})
	t.Run("DropsOldEvents", func(t *testing.T) {
		b := open(t, bus.HistoryOptions{Length: 10, MaxAge: 300 * time.Millisecond})
		app := uniqueApp(t)
		m := &bus.Message{Kind: bus.KindEvent, AppID: app, Channel: "h", Event: "e", Data: []byte(`1`)}
		if err := b.Publish(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		r := since(t, b, app, "h", 0, 10)
		if len(r.Events) != 0 || r.Oldest != 0 || r.Newest != 1 {
			t.Fatalf("after MaxAge: %+v", r)
		}
		if r.Recoverable(m.Epoch, 0) || !r.Recoverable(m.Epoch, 1) {
			t.Fatal("a subscriber that missed an expired event must not be told it can recover; one that saw it can")
		}
	})
	t.Run("NoHistory", func(t *testing.T) {
		b := open(t, bus.HistoryOptions{})
		app := uniqueApp(t)
		m := &bus.Message{Kind: bus.KindEvent, AppID: app, Channel: "h", Event: "e", Data: []byte(`1`)}
		if err := b.Publish(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		r := since(t, b, app, "h", 0, 10)
		if len(r.Events) != 0 || r.Newest != 1 || r.Epoch != m.Epoch || r.Recoverable(m.Epoch, 0) {
			t.Fatalf("without history: %+v", r)
		}
	})
}

func since(t *testing.T, b HistoryBus, app, ch string, after uint64, limit int) bus.Retained {
	t.Helper()
	r, err := b.Since(t.Context(), app, ch, after, limit)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// wantEvents checks events are positions from..to of epoch, with data
// equal to their position.
func wantEvents(t *testing.T, events []*bus.Message, epoch string, from, to uint64) {
	t.Helper()
	if len(events) != int(to-from+1) {
		t.Fatalf("%d events, want %d..%d", len(events), from, to)
	}
	for i, m := range events {
		seq := from + uint64(i)
		if m.Seq != seq || m.Epoch != epoch || string(m.Data) != strconv.FormatUint(seq, 10) || m.Event != "e" || m.Channel != "h" {
			t.Fatalf("event %d: %+v", i, *m)
		}
	}
}
