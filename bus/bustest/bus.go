package bustest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/protocol"
)

// RunBus runs the Bus suite. open is called once per subtest and returns
// the bus under test and attach, which joins a node's handler to it (a
// multi-node bus connects a new node) and returns the func that detaches
// it again. Messages are published through the returned Bus after it has
// been told to Listen to their channel.
func RunBus(t *testing.T, open func(t *testing.T) (b bus.Bus, attach func(h bus.Handler) (detach func()))) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, f *busFixture)
	}{
		{"EveryNodeOnceInOrder", testEveryNodeOnceInOrder},
		{"MessageFieldsSurvive", testMessageFieldsSurvive},
		{"OrderPerChannelUnderConcurrency", testOrderPerChannelUnderConcurrency},
		{"PositionsPerChannel", testPositionsPerChannel},
		{"AppWideKindsReachEveryNode", testAppWideKinds},
		{"DetachStopsDelivery", testDetachStopsDelivery},
		{"CancelledContext", testCancelledContext},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, attach := open(t)
			tc.run(t, &busFixture{t: t, b: b, attach: attach, ctx: t.Context(), app: uniqueApp(t)})
		})
	}
}

type busFixture struct {
	t      *testing.T
	b      bus.Bus
	attach func(bus.Handler) func()
	ctx    context.Context
	app    string
}

// node attaches a new recorder and detaches it when the test ends.
func (f *busFixture) node() *recorder {
	r := &recorder{}
	detach := f.attach(r)
	r.detach = func() {
		detach()
		r.mu.Lock()
		r.detached = true
		r.mu.Unlock()
	}
	f.t.Cleanup(detach)
	return r
}

func (f *busFixture) listen(channels ...string) {
	f.t.Helper()
	for _, ch := range channels {
		if err := f.b.Listen(f.ctx, f.app, ch); err != nil {
			f.t.Fatalf("Listen(%s): %v", ch, err)
		}
	}
}

func (f *busFixture) publish(m *bus.Message) {
	f.t.Helper()
	if err := f.b.Publish(f.ctx, m); err != nil {
		f.t.Fatalf("Publish(%+v): %v", m, err)
	}
}

// event publishes event number i on ch, its data the number.
func (f *busFixture) event(ch string, i int) {
	f.t.Helper()
	f.publish(&bus.Message{Kind: bus.KindEvent, AppID: f.app, Channel: ch, Event: "e", Data: []byte(strconv.Itoa(i))})
}

// recorder is a node's Handler that keeps what it is given. Deliver only
// appends, as a real node's queues do.
type recorder struct {
	mu       sync.Mutex
	msgs     []*bus.Message
	detach   func()
	detached bool
	late     []*bus.Message // delivered after detach returned
}

func (r *recorder) Deliver(m *bus.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.detached {
		r.late = append(r.late, m)
		return
	}
	r.msgs = append(r.msgs, m)
}

// lateCount is how many messages arrived after detach returned.
func (r *recorder) lateCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.late)
}

func (r *recorder) got() []*bus.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*bus.Message(nil), r.msgs...)
}

// waitCount waits until r holds n messages, then checks it holds no more.
func (r *recorder) waitCount(t *testing.T, n int) []*bus.Message {
	t.Helper()
	eventually(t, waitFor, func() error {
		if got := len(r.got()); got < n {
			return fmt.Errorf("node has %d of %d messages", got, n)
		}
		return nil
	})
	msgs := r.got()
	if len(msgs) != n {
		t.Fatalf("node has %d messages, want exactly %d", len(msgs), n)
	}
	return msgs
}

// wantSequence checks that msgs on ch carry 0, 1, 2, … in that order.
func wantSequence(t *testing.T, msgs []*bus.Message, ch string, n int) {
	t.Helper()
	next := 0
	for _, m := range msgs {
		if m.Channel != ch {
			continue
		}
		if string(m.Data) != strconv.Itoa(next) {
			t.Fatalf("channel %s: message %d carries %s (out of order or duplicated)", ch, next, m.Data)
		}
		next++
	}
	if next != n {
		t.Fatalf("channel %s: %d messages, want %d", ch, next, n)
	}
}

// sameMessage compares every field, fields added later included; byte
// slices by content, where nil and empty are the same, since an encoding
// on the wire may not tell them apart.
func sameMessage(a, b *bus.Message) bool {
	va, vb := reflect.ValueOf(*a), reflect.ValueOf(*b)
	for i := range va.NumField() {
		fa, fb := va.Field(i), vb.Field(i)
		if fa.Kind() == reflect.Slice {
			if !bytes.Equal(fa.Bytes(), fb.Bytes()) {
				return false
			}
		} else if !fa.Equal(fb) {
			return false
		}
	}
	return true
}

func testEveryNodeOnceInOrder(t *testing.T, f *busFixture) {
	const n = 100
	nodes := []*recorder{f.node(), f.node(), f.node()}
	f.listen("news")
	for i := range n {
		f.event("news", i)
	}
	// Everything published before the marker arrives before it; a node
	// that got something twice holds more than n+1 messages.
	f.event("news", n)
	for i, r := range nodes {
		t.Run(fmt.Sprint("node", i), func(t *testing.T) {
			wantSequence(t, r.waitCount(t, n+1), "news", n+1)
		})
	}
}

func testMessageFieldsSurvive(t *testing.T, f *busFixture) {
	r := f.node()
	f.listen("presence-room", "private-x")
	sent := []*bus.Message{
		{Kind: bus.KindEvent, AppID: f.app, Channel: "presence-room", Event: "client-typing",
			Data: []byte(`{"text":"héllo \"quoted\"\n","n":[1,2]}`), UserID: "ann", ExcludeSocketID: "123.456"},
		{Kind: bus.KindEvent, AppID: f.app, Channel: "private-x", Event: "empty", Data: []byte(`""`)},
		// Pusher's largest payload, 10 KB, as a JSON string.
		{Kind: bus.KindEvent, AppID: f.app, Channel: "private-x", Event: "big",
			Data: []byte(`"` + strings.Repeat("x", protocol.DefaultMaxEventPayloadKB*1024-2) + `"`)},
	}
	for _, m := range sent {
		f.publish(m)
	}
	// Order is promised per channel only: a sharded bus carries different
	// channels on different connections.
	got := perChannel(r.waitCount(t, len(sent)))
	for ch, want := range perChannel(sent) {
		for i := range want {
			switch {
			case i >= len(got[ch]):
				t.Errorf("%s: message %d missing, want\n%+v", ch, i, *want[i])
			case !sameMessage(got[ch][i], want[i]):
				t.Errorf("%s: message %d arrived as\n%+v\nwant\n%+v", ch, i, *got[ch][i], *want[i])
			}
		}
	}
}

func perChannel(msgs []*bus.Message) map[string][]*bus.Message {
	out := map[string][]*bus.Message{}
	for _, m := range msgs {
		out[m.Channel] = append(out[m.Channel], m)
	}
	return out
}

func testOrderPerChannelUnderConcurrency(t *testing.T, f *busFixture) {
	const channels, n = 4, 100
	nodes := []*recorder{f.node(), f.node()}
	for c := range channels {
		f.listen(fmt.Sprint("ch-", c))
	}
	var wg sync.WaitGroup
	for c := range channels {
		ch := fmt.Sprint("ch-", c)
		wg.Go(func() {
			for i := range n {
				err := f.b.Publish(f.ctx, &bus.Message{Kind: bus.KindEvent, AppID: f.app, Channel: ch, Event: "e", Data: []byte(strconv.Itoa(i))})
				if err != nil {
					t.Errorf("publish on %s: %v", ch, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, r := range nodes {
		msgs := r.waitCount(t, channels*n)
		for c := range channels {
			wantSequence(t, msgs, fmt.Sprint("ch-", c), n)
		}
	}
}

func testAppWideKinds(t *testing.T, f *busFixture) {
	nodes := []*recorder{f.node(), f.node()}
	sent := []*bus.Message{
		{Kind: bus.KindTerminateUser, AppID: f.app, UserID: "ann"},
		{Kind: bus.KindUserOnline, AppID: f.app, UserID: "bob"},
		{Kind: bus.KindUserOffline, AppID: f.app, UserID: "bob"},
	}
	// No Listen: these are about users, not channels, and every node
	// must see them.
	for _, m := range sent {
		f.publish(m)
	}
	for _, r := range nodes {
		got := r.waitCount(t, len(sent))
		for i := range sent {
			if !sameMessage(got[i], sent[i]) {
				t.Errorf("message %d arrived as %+v, want %+v", i, *got[i], *sent[i])
			}
		}
	}
}

func testDetachStopsDelivery(t *testing.T, f *busFixture) {
	gone, stays := f.node(), f.node()
	f.listen("c")
	f.event("c", 0)
	gone.waitCount(t, 1)
	stays.waitCount(t, 1)

	gone.detach()
	gone.detach() // idempotent
	f.event("c", 1)
	f.event("c", 2)
	// stays receiving both is the barrier: whatever the bus would still
	// have handed the detached node is in its late list by now.
	stays.waitCount(t, 3)
	if n := gone.lateCount(); n != 0 || len(gone.got()) != 1 {
		t.Fatalf("detached node got %d messages after detach", n+len(gone.got())-1)
	}
}

func testCancelledContext(t *testing.T, f *busFixture) {
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	err := f.b.Publish(ctx, &bus.Message{Kind: bus.KindEvent, AppID: f.app, Channel: "c", Event: "e", Data: []byte(`1`)})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish with a cancelled context: err=%v, want context.Canceled", err)
	}
	if err := f.b.Listen(f.ctx, f.app, "c"); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	if err := f.b.Ignore(f.ctx, f.app, "c"); err != nil {
		t.Fatalf("Ignore: %v", err)
	}
}

// testPositionsPerChannel: concurrent publishers to one channel get
// positions 1, 2, 3… with one epoch, every node delivers them in that
// order, Publish sets them on the message it is given, and the protocol's
// own events and app-wide messages get none.
func testPositionsPerChannel(t *testing.T, f *busFixture) {
	const publishers, each = 4, 50
	nodes := []*recorder{f.node(), f.node()}
	f.listen("seq-a", "seq-b")
	var wg sync.WaitGroup
	var mu sync.Mutex
	assigned := map[uint64]string{} // seq on seq-a → data, as Publish set them
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				m := &bus.Message{Kind: bus.KindEvent, AppID: f.app, Channel: "seq-a", Event: "e", Data: []byte(fmt.Sprintf(`"%d-%d"`, p, i))}
				if err := f.b.Publish(f.ctx, m); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
				mu.Lock()
				assigned[m.Seq] = string(m.Data)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	internal := &bus.Message{Kind: bus.KindEvent, AppID: f.app, Channel: "seq-a", Event: protocol.EventMemberAdded, Data: []byte(`"{}"`)}
	f.publish(internal)
	other := &bus.Message{Kind: bus.KindEvent, AppID: f.app, Channel: "seq-b", Event: "e", Data: []byte(`1`)}
	f.publish(other)
	if internal.Seq != 0 || internal.Epoch != "" {
		t.Fatalf("pusher_internal event got position %d/%q", internal.Seq, internal.Epoch)
	}
	if other.Seq != 1 || other.Epoch == "" {
		t.Fatalf("first event of another channel: position %d/%q, want 1 and an epoch", other.Seq, other.Epoch)
	}
	if len(assigned) != publishers*each {
		t.Fatalf("%d distinct positions for %d events", len(assigned), publishers*each)
	}
	for i, r := range nodes {
		msgs := perChannel(r.waitCount(t, publishers*each+2))
		a := msgs["seq-a"]
		epoch := a[0].Epoch
		for j, m := range a[:publishers*each] {
			if m.Seq != uint64(j+1) || m.Epoch != epoch || epoch == "" {
				t.Fatalf("node %d: event %d on seq-a has position %d/%q, want %d/%q", i, j, m.Seq, m.Epoch, j+1, epoch)
			}
			if assigned[m.Seq] != string(m.Data) {
				t.Fatalf("node %d: position %d carries %s, Publish gave it to %s", i, m.Seq, m.Data, assigned[m.Seq])
			}
		}
		if last := a[len(a)-1]; last.Event != protocol.EventMemberAdded || last.Seq != 0 {
			t.Fatalf("node %d: internal event arrived as %+v", i, *last)
		}
	}
}
