package edge

import (
	"encoding/json"
	"math"
	"net"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/tenants"
)

// sinkConn is an in-process subscriber's socket: it counts and discards
// what is written, so the benchmarks measure the hub and write path
// without the 20,000-socket limit of one process.
type sinkConn struct {
	net.Conn
	frames *atomic.Int64
}

func (s sinkConn) Write(b []byte) (int, error)      { s.frames.Add(1); return len(b), nil }
func (s sinkConn) SetWriteDeadline(time.Time) error { return nil }
func (s sinkConn) Close() error                     { return nil }

func benchServer(b *testing.B) *Server {
	b.Helper()
	store := tenants.NewMemoryStore()
	app := tenants.NewApp("app", "key", "secret")
	_ = store.PutApp(b.Context(), app)
	return New(Options{Apps: tenants.NewDirectory(store, 0), Bus: bus.NewMemory(), State: bus.NewMemoryState(), MaxQueueBytes: 1 << 30})
}

func benchConn(s *Server, app *tenants.App, frames *atomic.Int64) *conn {
	c := &conn{srv: s, app: app, nc: sinkConn{frames: frames}, socketID: "1." + strconv.Itoa(int(s.nextSocket.Add(1)))}
	c.am = s.metrics.app(app.ID)
	return c
}

func benchmarkFanout(b *testing.B, subs int) {
	s := benchServer(b)
	// Every event waits for the last write of the one before (a closed
	// loop), so a hold would be waited out on every event: these figures
	// are the path of a server that is not saturated, where nothing is
	// held. BenchmarkFanoutCoalesced measures the other.
	s.writers.on, s.writers.off = math.Inf(1), math.Inf(1)
	frames, msg := benchChannel(s, subs)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Deliver(msg)
		// Wait until every subscriber's frame is written, so the figure is
		// the whole cost of one event: encode, queue and write.
		want := int64(subs) * int64(i+1)
		for frames.Load() < want {
			runtime.Gosched()
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(subs), "ns/delivery")
	s.writers.close()
}

// BenchmarkFanoutCoalesced is fan-out on a saturated server (coalescing
// forced on): per iteration two events, the first held on every socket
// and released by the second, both written with one writev per socket.
func BenchmarkFanoutCoalesced_10000Subs(b *testing.B) {
	const subs = 10000
	s := benchServer(b)
	s.writers.on, s.writers.off = 0, -1
	frames, msg := benchChannel(s, subs)
	// One event first, so that every socket has a recent write and the
	// next event's frame is held (coalescing starts with the first window).
	s.writers.checkLoad(int64(loadWindow))
	s.Deliver(msg)
	for frames.Load() < subs {
		runtime.Gosched()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Deliver(msg)
		s.Deliver(msg)
		want := int64(subs) * int64(2*i+3)
		for frames.Load() < want {
			runtime.Gosched()
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(2*subs), "ns/delivery")
	s.writers.close()
}

// benchChannel subscribes subs sockets of s to "news" and returns the
// count of frames written to them and an event for the channel.
func benchChannel(s *Server, subs int) (*atomic.Int64, *bus.Message) {
	app := tenants.NewApp("app", "key", "secret")
	frames := new(atomic.Int64)
	for range subs {
		c := benchConn(s, app, frames)
		s.hub.add(&subscription{conn: c, channel: "news"}, nil)
	}
	data, _ := json.Marshal(`{"price":101.25,"symbol":"ACME","ts":1732406400123,"pad":"0123456789012345678901234567890123456789"}`)
	return frames, &bus.Message{AppID: "app", Channel: "news", Event: "tick", Data: data}
}

func BenchmarkFanout_1Subs(b *testing.B)     { benchmarkFanout(b, 1) }
func BenchmarkFanout_100Subs(b *testing.B)   { benchmarkFanout(b, 100) }
func BenchmarkFanout_1000Subs(b *testing.B)  { benchmarkFanout(b, 1000) }
func BenchmarkFanout_10000Subs(b *testing.B) { benchmarkFanout(b, 10000) }

// BenchmarkSubscribeUnsubscribe is the churn of one socket joining and
// leaving a public channel through the protocol handler, shared state
// included.
func BenchmarkSubscribeUnsubscribe(b *testing.B) {
	s := benchServer(b)
	app := tenants.NewApp("app", "key", "secret")
	var frames atomic.Int64
	others := benchConn(s, app, &frames)
	s.hub.add(&subscription{conn: others, channel: "room"}, nil)
	c := benchConn(s, app, &frames)
	sub := []byte(`{"event":"pusher:subscribe","data":{"auth":"","channel":"room"}}`)
	unsub := []byte(`{"event":"pusher:unsubscribe","data":{"channel":"room"}}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.handle(sub)
		c.handle(unsub)
	}
	b.StopTimer()
	s.writers.close()
}

func BenchmarkEventFrame(b *testing.B) {
	data, _ := json.Marshal(`{"price":101.25,"symbol":"ACME","ts":1732406400123}`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = eventFrame("tick", "private-prices-acme", data, "")
	}
}
