package redisbus_test

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/bus/redisbus"
	"github.com/switchboard-rt/switchboard/internal/testwait"
)

// ownRedis runs a redis-server of this test's own on port, never the
// shared one; it returns a func that kills it (as a crash would).
func ownRedis(t *testing.T, port int) (kill func()) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not installed")
		}
		t.Skip("redis-server not installed")
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	kill = func() {
		_ = cmd.Process.Kill()
		<-done
	}
	t.Cleanup(kill)
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port)})
	defer rdb.Close()
	waitUntil(t, 10*time.Second, func() bool { return rdb.Ping(t.Context()).Err() == nil })
	return kill
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitUntil(t *testing.T, d time.Duration, ok func() bool) { t.Helper(); testwait.Until(t, d, ok) }

// When Redis goes away a node says it is unhealthy and publishes fail
// (the API answers 503); when Redis is back the node reconnects by itself,
// its subscriptions are restored and events flow again.
func TestRedisRestart(t *testing.T) {
	port := freePort(t)
	kill := ownRedis(t, port)
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	p := "sbtest:restart:" // its own Redis, gone with the test
	listener := newBus(t, rdb, p)
	publish, got := newsFeed(t, listener)

	kill()
	waitUntil(t, 10*time.Second, func() bool { return !listener.Healthy() })
	if err := publish(); err == nil {
		t.Fatal("a publish with Redis down reported success")
	}

	ownRedis(t, port) // a fresh, empty Redis on the same address
	waitUntil(t, 15*time.Second, listener.Healthy)
	// The subscription is back: events published now arrive.
	flowsAgain(t, 10*time.Second, publish, got)
}

// newsFeed makes b listen to channel "news" of app "app" and checks that
// an event published there arrives; it returns that publish and the
// events received.
func newsFeed(t *testing.T, b *redisbus.Bus) (publish func() error, got chan *bus.Message) {
	t.Helper()
	got = make(chan *bus.Message, 64)
	b.Attach(handlerFunc(func(m *bus.Message) { got <- m }))
	if err := b.Listen(t.Context(), "app", "news"); err != nil {
		t.Fatal(err)
	}
	publish = func() error {
		return b.Publish(t.Context(), &bus.Message{AppID: "app", Channel: "news", Event: "e", Data: []byte(`"x"`)})
	}
	if err := publish(); err != nil {
		t.Fatal(err)
	}
	<-got
	return publish, got
}

// flowsAgain publishes until an event arrives, within d.
func flowsAgain(t *testing.T, d time.Duration, publish func() error, got chan *bus.Message) {
	t.Helper()
	waitUntil(t, d, func() bool {
		if publish() != nil {
			return false
		}
		select {
		case <-got:
			return true
		case <-time.After(200 * time.Millisecond):
			return false
		}
	})
}
