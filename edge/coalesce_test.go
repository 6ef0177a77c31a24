package edge_test

import (
	"fmt"
	"testing"

	"github.com/switchboard-rt/switchboard/edge"
	"github.com/switchboard-rt/switchboard/protocol"
)

// Under load the writers hold a socket's lone frame for the next one, and
// carry small channels too (instead of the publisher writing to them
// itself); every event still arrives, in order, and a drain sends what is
// held before closing.
func TestCoalescingKeepsEveryEventInOrder(t *testing.T) {
	for _, subs := range []int{3, 12} { // a small channel, and one the writers always carry
		t.Run(fmt.Sprint(subs, "subs"), func(t *testing.T) {
			n := newNode(t, edge.Options{})
			edge.ForceCoalescing(n.srv)
			var clients []*client
			for range subs {
				c := n.dial()
				c.join("news", "")
				clients = append(clients, c)
			}
			const events = 30
			for i := range events {
				publish(t, n, "news", "tick", fmt.Sprint(i))
			}
			for _, c := range clients {
				for i := range events {
					if got := c.expect("tick", "news").dataString(t); got != fmt.Sprint(i) {
						t.Fatalf("event %d: data %q", i, got)
					}
				}
			}
			// One more event, likely held now, then a drain: it arrives before the 4200.
			publish(t, n, "news", "tick", "last")
			go func() { _ = n.srv.Drain(t.Context()) }()
			for _, c := range clients {
				if got := c.expect("tick", "news").dataString(t); got != "last" {
					t.Fatalf("last event: data %q", got)
				}
				c.expectClose(uint16(protocol.ErrServerClosing.Code))
			}
		})
	}
}
