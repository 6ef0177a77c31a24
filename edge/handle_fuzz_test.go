package edge

import (
	"sync/atomic"
	"testing"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/tenants"
)

// FuzzHandleFrame drives the whole protocol handler with arbitrary client
// frames: whatever arrives, the server must not panic.
func FuzzHandleFrame(f *testing.F) {
	seeds := []string{
		`{"event":"pusher:ping","data":{}}`,
		`{"event":"pusher:subscribe","data":{"auth":"","channel":"news"}}`,
		`{"event":"pusher:subscribe","data":"{\"channel\":\"cache-x\"}"}`,
		`{"event":"pusher:subscribe","data":{"channel":"private-a","auth":"key:abc"}}`,
		`{"event":"pusher:subscribe","data":{"channel":"presence-a","auth":"key:abc","channel_data":"{\"user_id\":1}"}}`,
		`{"event":"pusher:subscribe","data":{"channel":"#server-to-user-1","auth":""}}`,
		`{"event":"pusher:unsubscribe","data":{"channel":"news"}}`,
		`{"event":"pusher:signin","data":{"auth":"key:abc","user_data":"{\"id\":\"1\"}"}}`,
		`{"event":"client-x","channel":"private-a","data":{"a":1}}`,
		`{"event":"client-x","channel":"presence-a","data":"s"}`,
		`{"event":"pusher:subscribe","data":{"channel":`,
		`{"event":`, `[]`, `null`, `"x"`, ``,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	store := tenants.NewMemoryStore()
	app := tenants.NewApp("app", "key", "secret")
	app.EnableClientMessages = true
	app.EnableSubscriptionCount = true
	_ = store.PutApp(f.Context(), app)
	memBus, state := bus.NewMemory(), bus.NewMemoryState()
	s := New(Options{Apps: tenants.NewDirectory(store, 0), Bus: memBus, State: state, PresenceGrace: -1, SubscriptionCountDelay: -1})
	memBus.Attach(s)
	var frames atomic.Int64
	f.Fuzz(func(t *testing.T, b []byte) {
		c := &conn{srv: s, app: app, nc: sinkConn{frames: &frames}, socketID: "1.1"}
		c.am = s.metrics.app(app.ID)
		c.handle(b)
		// and as the data of a client event and a subscription
		c.handle(append(append([]byte(`{"event":"client-x","channel":"private-a","data":`), b...), '}'))
		c.handle(append(append([]byte(`{"event":"pusher:subscribe","data":`), b...), '}'))
		for _, sub := range c.subs {
			c.leave(sub, true)
		}
	})
}
