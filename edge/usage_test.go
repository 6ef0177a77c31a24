package edge_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/edge"
	"github.com/switchboard-rt/switchboard/internal/testwait"
	"github.com/switchboard-rt/switchboard/protocol"
)

// counts is what the edge metered.
type counts struct {
	delivered, published, fanouts int
	open, connected               int
}

// usage records what the edge meters, as billing.Meter would count it,
// and refuses messages once over is set.
type usage struct {
	mu sync.Mutex
	counts
	over bool
}

func (u *usage) Delivered(_ string, n int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.delivered += n
	u.fanouts++
}
func (u *usage) Published(_ string, n int) { u.mu.Lock(); u.published += n; u.mu.Unlock() }
func (u *usage) Connected(string)          { u.mu.Lock(); u.open++; u.connected++; u.mu.Unlock() }
func (u *usage) Disconnected(string)       { u.mu.Lock(); u.open--; u.mu.Unlock() }
func (u *usage) AllowMessages(string, int64) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.over {
		return errors.New("over quota")
	}
	return nil
}

func (u *usage) snapshot() counts {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.counts
}

func TestUsageMetering(t *testing.T) {
	u := &usage{}
	n := newNode(t, edge.Options{Usage: u})
	a, b, c := n.dial(), n.dial(), n.dial()
	for _, x := range []*client{a, b, c} {
		x.join("private-room", "")
	}
	// An API event to 3 subscribers: one fan-out, 3 delivered.
	if err := n.pub.Publish(context.Background(), "app-1", bus.HistoryOptions{}, []string{"private-room"}, "ev", []byte(`"x"`), ""); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*client{a, b, c} {
		x.expect("ev", "private-room")
	}
	// A client event: published 1, delivered to the 2 others.
	a.send(`{"event":"client-typing","channel":"private-room","data":{}}`)
	b.expect("client-typing", "private-room")
	c.expect("client-typing", "private-room")
	testwait.Eventually(t, 5*time.Second, func() error {
		got := u.snapshot()
		if got.delivered != 5 || got.published != 1 || got.fanouts != 2 || got.open != 3 || got.connected != 3 {
			return fmt.Errorf("metered %+v, want delivered 5 in 2 fan-outs, published 1, 3 open", got)
		}
		return nil
	})

	// Over quota: the client event is refused with 4303, the socket stays
	// open, nothing is published or delivered.
	u.mu.Lock()
	u.over = true
	u.mu.Unlock()
	a.send(`{"event":"client-typing","channel":"private-room","data":{}}`)
	f := a.expect(protocol.EventError, "private-room")
	var d struct {
		Code    int
		Message string
	}
	f.dataObject(t, &d)
	if d.Code != protocol.ErrClientEventOverQuota.Code || d.Code != 4303 {
		t.Fatalf("over quota: %s", f.raw)
	}
	b.quiet("client-typing", 100*time.Millisecond)
	if got := u.snapshot(); got.published != 1 || got.delivered != 5 {
		t.Fatalf("refused client event was metered: %+v", got)
	}

	c.ws.WriteClose(1000, nil)
	testwait.Eventually(t, 5*time.Second, func() error {
		if got := u.snapshot(); got.open != 2 {
			return fmt.Errorf("open %d after a close, want 2", got.open)
		}
		return nil
	})
}
