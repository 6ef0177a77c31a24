package bustest

import (
	"fmt"
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

// RunHistory runs the History suite; open returns a bus whose ceiling is
// ceiling. Retention is per message (its app's, Message.History).
func RunHistory(t *testing.T, open func(t *testing.T, ceiling bus.HistoryOptions) HistoryBus) {
	t.Run("KeepsTheLastEvents", func(t *testing.T) {
		b := open(t, bus.HistoryOptions{Length: 1000})
		app := uniqueApp(t)
		keep := bus.HistoryOptions{Length: 5}
		var epoch string
		for i := 1; i <= 8; i++ {
			epoch = publish(t, b, app, "h", i, keep).Epoch
		}
		// Protocol events are neither numbered nor kept.
		if err := b.Publish(t.Context(), &bus.Message{Kind: bus.KindEvent, AppID: app, Channel: "h", Event: protocol.EventMemberAdded, Data: []byte(`"{}"`), History: keep}); err != nil {
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
	t.Run("PerApp", func(t *testing.T) {
		// One bus, three apps: each channel keeps what its app asks.
		b := open(t, bus.HistoryOptions{Length: 1000})
		small, large, off := uniqueApp(t), uniqueApp(t), uniqueApp(t)
		for i := 1; i <= 10; i++ {
			publish(t, b, small, "h", i, bus.HistoryOptions{Length: 3})
			publish(t, b, large, "h", i, bus.HistoryOptions{Length: 7, MaxAge: time.Hour})
			publish(t, b, off, "h", i, bus.HistoryOptions{})
		}
		r := since(t, b, small, "h", 0, 100)
		wantEvents(t, r.Events, r.Epoch, 8, 10)
		r = since(t, b, large, "h", 0, 100)
		wantEvents(t, r.Events, r.Epoch, 4, 10)
		r = since(t, b, off, "h", 0, 100)
		if len(r.Events) != 0 || r.Oldest != 0 || r.Newest != 10 || r.Epoch == "" {
			t.Fatalf("an app with history off keeps nothing but keeps counting: %+v", r)
		}
	})
	t.Run("Ceiling", func(t *testing.T) {
		// The server's ceiling bounds whatever an app asks.
		b := open(t, bus.HistoryOptions{Length: 4, MaxAge: time.Hour})
		app := uniqueApp(t)
		for i := 1; i <= 9; i++ {
			publish(t, b, app, "h", i, bus.HistoryOptions{Length: 100})
		}
		r := since(t, b, app, "h", 0, 100)
		wantEvents(t, r.Events, r.Epoch, 6, 9)
	})
	t.Run("DropsOldEvents", func(t *testing.T) {
		b := open(t, bus.HistoryOptions{Length: 100})
		app := uniqueApp(t)
		m := publish(t, b, app, "h", 1, bus.HistoryOptions{Length: 10, MaxAge: 300 * time.Millisecond})
		eventually(t, waitFor, func() error {
			if r := since(t, b, app, "h", 0, 10); len(r.Events) != 0 || r.Oldest != 0 || r.Newest != 1 {
				return fmt.Errorf("after MaxAge: %+v", r)
			}
			return nil
		})
		r := since(t, b, app, "h", 0, 10)
		if r.Recoverable(m.Epoch, 0) || !r.Recoverable(m.Epoch, 1) {
			t.Fatal("a subscriber that missed an expired event must not be told it can recover; one that saw it can")
		}
	})
	t.Run("CeilingAge", func(t *testing.T) {
		b := open(t, bus.HistoryOptions{Length: 100, MaxAge: 300 * time.Millisecond})
		app := uniqueApp(t)
		publish(t, b, app, "h", 1, bus.HistoryOptions{Length: 10}) // no age limit of the app's own
		eventually(t, waitFor, func() error {
			if r := since(t, b, app, "h", 0, 10); len(r.Events) != 0 || r.Newest != 1 {
				return fmt.Errorf("after the ceiling's MaxAge: %+v", r)
			}
			return nil
		})
	})
	t.Run("LoweredOnTheNextPublish", func(t *testing.T) {
		b := open(t, bus.HistoryOptions{Length: 1000})
		app := uniqueApp(t)
		for i := 1; i <= 10; i++ {
			publish(t, b, app, "h", i, bus.HistoryOptions{Length: 10})
		}
		if r := since(t, b, app, "h", 0, 100); r.Oldest != 1 {
			t.Fatalf("before lowering: %+v", r)
		}
		// The app's retention drops to 3: the next event trims the rest.
		epoch := publish(t, b, app, "h", 11, bus.HistoryOptions{Length: 3}).Epoch
		r := since(t, b, app, "h", 0, 100)
		wantEvents(t, r.Events, epoch, 9, 11)
		// Raised again: the channel grows back from what it kept.
		for i := 12; i <= 14; i++ {
			publish(t, b, app, "h", i, bus.HistoryOptions{Length: 10})
		}
		wantEvents(t, since(t, b, app, "h", 0, 100).Events, epoch, 9, 14)
		// Turned off: nothing kept, the count goes on in the same epoch.
		m := publish(t, b, app, "h", 15, bus.HistoryOptions{})
		r = since(t, b, app, "h", 0, 100)
		if m.Epoch != epoch || m.Seq != 15 || len(r.Events) != 0 || r.Oldest != 0 || r.Newest != 15 {
			t.Fatalf("history off: event %d of %q, retained %+v", m.Seq, m.Epoch, r)
		}
		if !r.Recoverable(epoch, 15) || r.Recoverable(epoch, 14) {
			t.Fatal("with history off only a subscriber that missed nothing recovers")
		}
		// On again: kept from the next event.
		publish(t, b, app, "h", 16, bus.HistoryOptions{Length: 10})
		r = since(t, b, app, "h", 0, 100)
		wantEvents(t, r.Events, epoch, 16, 16)
		if r.Recoverable(epoch, 14) || !r.Recoverable(epoch, 15) {
			t.Fatalf("after history came back: %+v", r)
		}
	})
	t.Run("AgeLoweredOnTheNextPublish", func(t *testing.T) {
		b := open(t, bus.HistoryOptions{Length: 1000})
		app := uniqueApp(t)
		first := publish(t, b, app, "h", 1, bus.HistoryOptions{Length: 1000, MaxAge: time.Hour})
		// Once the first event is older than the new limit, an event under
		// that limit drops it (the count, far from 1000, does not); the
		// new event stays.
		eventually(t, waitFor, func() error {
			m := publish(t, b, app, "h", 2, bus.HistoryOptions{Length: 1000, MaxAge: 200 * time.Millisecond})
			r := since(t, b, app, "h", 0, 1000)
			if r.Epoch != first.Epoch || r.Oldest < 2 || len(r.Events) == 0 || r.Events[len(r.Events)-1].Seq != m.Seq {
				return fmt.Errorf("the hour-old limit still holds: %+v", r)
			}
			return nil
		})
	})
	t.Run("NoHistory", func(t *testing.T) {
		b := open(t, bus.HistoryOptions{})
		app := uniqueApp(t)
		m := publish(t, b, app, "h", 1, bus.HistoryOptions{Length: 10}) // the ceiling keeps none
		r := since(t, b, app, "h", 0, 10)
		if len(r.Events) != 0 || r.Newest != 1 || r.Epoch != m.Epoch || r.Recoverable(m.Epoch, 0) {
			t.Fatalf("without history: %+v", r)
		}
	})
}

// publish sends event "e" with data i on ch, kept as h says.
func publish(t *testing.T, b HistoryBus, app, ch string, i int, h bus.HistoryOptions) *bus.Message {
	t.Helper()
	m := &bus.Message{Kind: bus.KindEvent, AppID: app, Channel: ch, Event: "e", Data: []byte(strconv.Itoa(i)), History: h}
	if err := b.Publish(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	return m
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
