package edge

import (
	"context"
	"sync"
	"testing"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
)

// listenCounter is the memory bus, counting Listen and Ignore per channel.
type listenCounter struct {
	*bus.Memory
	mu     sync.Mutex
	listen map[string]int
}

func (l *listenCounter) Listen(_ context.Context, _, ch string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.listen[ch]++
	return nil
}

func (l *listenCounter) Ignore(_ context.Context, _, ch string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.listen[ch]--
	return nil
}

// A node listens to a channel from its first local subscription to its
// last, whichever of them was a presence reservation that failed.
func TestUnreserveKeepsTheNodeListening(t *testing.T) {
	lc := &listenCounter{Memory: bus.NewMemory(), listen: map[string]int{}}
	s := New(Options{Apps: tenants.NewDirectory(tenants.NewMemoryStore(), 0), Bus: lc})
	t.Cleanup(s.writers.close)
	app := &tenants.App{ID: "app"}
	newSub := func(ch string) *subscription {
		c := &conn{srv: s, app: app, nc: &recordConn{}, socketID: "1.1"}
		c.am = s.metrics.app("")
		return &subscription{conn: c, channel: ch, kind: protocol.Classify(ch)}
	}

	// The reservation was first, another subscriber came meanwhile: it
	// must start the listening the other one relies on.
	first, other := newSub("presence-a"), newSub("presence-a")
	if !s.hub.reserve(first) {
		t.Fatal("first reservation not first")
	}
	if s.hub.add(other, nil) {
		t.Fatal("second subscriber counted as first")
	}
	first.conn.unreserve(first, true)
	// The reservation came after the first subscriber, which then left:
	// it was the last, so the listening ends with it.
	late := newSub("presence-b")
	leaver := newSub("presence-b")
	s.hub.add(leaver, nil)
	lc.listen["presence-b"] = 1 // leaver's subscribe listened
	if s.hub.reserve(late) {
		t.Fatal("late reservation counted as first")
	}
	s.hub.remove(leaver) // not the last: late is there
	late.conn.unreserve(late, false)
	// Alone, first and last: nothing to start or end.
	alone := newSub("presence-c")
	s.hub.reserve(alone)
	alone.conn.unreserve(alone, true)

	want := map[string]int{"presence-a": 1, "presence-b": 0}
	for ch, n := range want {
		if lc.listen[ch] != n {
			t.Errorf("%s: listening %d, want %d", ch, lc.listen[ch], n)
		}
	}
	if n, ok := lc.listen["presence-c"]; ok {
		t.Errorf("presence-c: listen count touched (%d)", n)
	}
}
