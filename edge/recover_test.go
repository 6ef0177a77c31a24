package edge_test

import (
	"encoding/json"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/edge"
	"github.com/switchboard-rt/switchboard/protocol"
)

type position struct {
	Seq   uint64 `json:"seq"`
	Epoch string `json:"epoch"`
}

func positionOf(t *testing.T, f frame) position {
	t.Helper()
	var p position
	if err := json.Unmarshal([]byte(f.raw), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// subscribeAt sends pusher:subscribe with a position (nil: none, {}:
// positions from now on).
func (c *client) subscribeAt(channel string, pos map[string]any) {
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": channel, "position": pos}})
	c.expect(protocol.EventSubscriptionSucceeded, channel)
}

// TestResubscribeFillsTheGap: a client that comes back with the last
// position it saw gets exactly the events after it, in order, then live
// ones, while a publisher keeps publishing.
func TestResubscribeFillsTheGap(t *testing.T) {
	n := newNode(t, edge.Options{})
	first := n.dial()
	first.subscribeAt("feed", map[string]any{})
	for i := 1; i <= 5; i++ {
		publish(t, n, "feed", "e", strconv.Itoa(i))
	}
	var last position
	for range 5 {
		last = positionOf(t, first.expect("e", "feed"))
	}
	if last.Seq != 5 {
		t.Fatalf("last position %+v", last)
	}
	// Events 6..25 are missed; the publisher keeps going while the client
	// comes back at 3 (as if it had missed 4 and 5 as well).
	var wg sync.WaitGroup
	stop := make(chan struct{})
	published := 5
	var mu sync.Mutex
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			published++
			i := published
			mu.Unlock()
			publish(t, n, "feed", "e", strconv.Itoa(i))
			time.Sleep(time.Millisecond)
		}
	})
	time.Sleep(20 * time.Millisecond)
	back := n.dial()
	back.subscribeAt("feed", map[string]any{"epoch": last.Epoch, "seq": 3})
	time.Sleep(30 * time.Millisecond)
	close(stop)
	wg.Wait()
	publish(t, n, "feed", "end", `""`)
	want := uint64(4)
	for {
		f := back.next()
		if f.Event == "end" {
			break
		}
		if f.Event != "e" {
			t.Fatalf("unexpected frame %s", f.raw)
		}
		p := positionOf(t, f)
		if p.Seq != want || p.Epoch != last.Epoch || f.dataString(t) != strconv.FormatUint(want, 10) {
			t.Fatalf("got %s, want position %d", f.raw, want)
		}
		want++
	}
	if want != uint64(published)+1 {
		t.Fatalf("received up to %d, published %d", want-1, published)
	}
}

// TestRecoveryFails: an unknown epoch (history lost) or a position older
// than the history tells the client so, then live events follow.
func TestRecoveryFails(t *testing.T) {
	n := newNode(t, edge.Options{})
	publish(t, n, "feed", "e", "1")
	c := n.dial()
	c.subscribeAt("feed", map[string]any{"epoch": "gone", "seq": 7})
	f := c.expect(edge.EventRecoveryFailed, "feed")
	var data struct {
		Epoch  string `json:"epoch"`
		From   uint64 `json:"from"`
		Oldest uint64 `json:"oldest"`
	}
	if err := json.Unmarshal([]byte(f.dataString(t)), &data); err != nil {
		t.Fatal(err)
	}
	if data.Epoch == "" || data.Epoch == "gone" || data.From != 7 || data.Oldest != 1 {
		t.Fatalf("recovery_failed data %+v", data)
	}
	publish(t, n, "feed", "e", "2")
	if p := positionOf(t, c.expect("e", "feed")); p.Seq != 2 {
		t.Fatalf("live event after the failure: %+v", p)
	}
}
