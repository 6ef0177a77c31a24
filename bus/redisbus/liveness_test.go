package redisbus_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/bus/redisbus"
	"github.com/switchboard-rt/switchboard/internal/redistest"
	"github.com/switchboard-rt/switchboard/protocol"
)

// departures collects what a Liveness reports, safe for the test to read
// while Run calls it.
type departures struct {
	mu  sync.Mutex
	got []bus.Departure
}

func (d *departures) add(_ context.Context, x bus.Departure) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got = append(d.got, x)
}

func (d *departures) list() []bus.Departure {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.got)
}

// TestDeadNodeIsReaped: node A registers, adds a plain subscription, two
// presence sockets (one user on A, one on B) and a signed-in user, then
// stops beating. Node B removes exactly A's entries, reports each, and
// the REST-visible counts no longer include them.
func TestDeadNodeIsReaped(t *testing.T) {
	rdb, prefix := prefixed(t)
	deadNodeIsReaped(t, rdb, prefix)
}

func deadNodeIsReaped(t *testing.T, rdb redis.UniversalClient, prefix string) {
	ctx := t.Context()
	a, b := redisbus.NewState(rdb, prefix, "A"), redisbus.NewState(rdb, prefix, "B")
	const timeout = 600 * time.Millisecond

	// A joins and beats, then dies (its Run is cancelled without Leave).
	aLive := redisbus.NewLiveness(a, redisbus.LivenessOptions{Timeout: timeout})
	if err := aLive.Join(ctx); err != nil {
		t.Fatal(err)
	}
	actx, kill := context.WithCancel(ctx)
	aDone := make(chan struct{})
	go func() {
		defer close(aDone)
		_ = aLive.Run(actx)
	}()

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := a.AddSubscription(ctx, "app", "news", "1.1")
	must(err)
	_, err = b.AddSubscription(ctx, "app", "news", "2.1")
	must(err)
	_, err = a.AddSubscription(ctx, "app", "only-on-a", "1.1")
	must(err)
	_, err = a.AddMember(ctx, "app", "presence-room", "1.2", protocol.Member{UserID: "ann"}, 0)
	must(err)
	_, err = a.AddMember(ctx, "app", "presence-room", "1.3", protocol.Member{UserID: "bob"}, 0)
	must(err)
	_, err = b.AddMember(ctx, "app", "presence-room", "2.2", protocol.Member{UserID: "bob"}, 0)
	must(err)
	_, err = a.AddUser(ctx, "app", "ann", "1.2")
	must(err)
	ok, err := a.AcquireConnection(ctx, "app", 10)
	if err != nil || !ok {
		t.Fatalf("AcquireConnection: %v %v", ok, err)
	}
	kill()
	<-aDone

	var seen departures
	start := time.Now()
	go func() {
		_ = redisbus.NewLiveness(b, redisbus.LivenessOptions{Timeout: timeout, Departed: seen.add}).Run(ctx)
	}()
	waitUntil(t, 10*time.Second, func() bool { return len(seen.list()) == 5 })
	t.Logf("A's entries removed %v after it stopped", time.Since(start).Round(time.Millisecond))

	got := seen.list()
	slices.SortFunc(got, func(x, y bus.Departure) int {
		return compare(x.Channel+"|"+x.SocketID, y.Channel+"|"+y.SocketID)
	})
	// The two presence sockets go in either order: the count each saw
	// after it is 2 then 1.
	if n := got[2].Subscriptions + got[3].Subscriptions; n != 3 {
		t.Fatalf("presence counts after removal: %+v", got[2:4])
	}
	got[2].Subscriptions, got[3].Subscriptions = 0, 0
	want := []bus.Departure{
		{AppID: "app", SocketID: "1.1", Channel: "news", Subscriptions: 1},
		{AppID: "app", SocketID: "1.1", Channel: "only-on-a", Subscriptions: 0},
		{AppID: "app", SocketID: "1.2", Channel: "presence-room", UserID: "ann", Gone: true},
		{AppID: "app", SocketID: "1.3", Channel: "presence-room", UserID: "bob", Gone: false},
		{AppID: "app", SocketID: "1.2", UserID: "ann", Gone: true},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("departures:\n got %+v\nwant %+v", got, want)
	}
	chans, err := b.Channels(ctx, "app", "")
	must(err)
	if len(chans) != 2 || chans["news"].Subscriptions != 1 || chans["presence-room"] != (bus.Counts{Subscriptions: 1, Users: 1}) {
		t.Fatalf("channels after reaping: %+v", chans)
	}
	if online, _ := b.OnlineUsers(ctx, "app", []string{"ann"}); len(online) != 0 {
		t.Fatalf("ann still online: %v", online)
	}
	// A's connection no longer counts: B may take all 10.
	for i := range 10 {
		if ok, err := b.AcquireConnection(ctx, "app", 10); err != nil || !ok {
			t.Fatalf("connection %d refused after A's were dropped: %v", i, err)
		}
	}
	// B's own entries are untouched.
	if m, _ := b.Members(ctx, "app", "presence-room"); len(m) != 1 || m[0].UserID != "bob" {
		t.Fatalf("members: %+v", m)
	}
}

// prefixed is the test Redis and a key prefix of the test's own.
func prefixed(t *testing.T) (redis.UniversalClient, string) {
	rdb := redistest.Client(t)
	return rdb, redistest.Prefix(t, rdb)
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestLostRegistrationIsReported: when the node's registration vanishes
// (Redis lost its data), Lost is called so the node can add its state back.
func TestLostRegistrationIsReported(t *testing.T) {
	rdb, prefix := prefixed(t)
	s := redisbus.NewState(rdb, prefix, "A")
	lost := make(chan struct{}, 1)
	l := redisbus.NewLiveness(s, redisbus.LivenessOptions{Timeout: 300 * time.Millisecond, Lost: func(context.Context) {
		select {
		case lost <- struct{}{}:
		default:
		}
	}})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = l.Run(ctx) }()
	defer func() { cancel(); <-done }()

	waitUntil(t, 5*time.Second, func() bool { return rdb.ZScore(ctx, prefix+"nodes", "A").Err() == nil })
	select {
	case <-lost:
		t.Fatal("Lost on a healthy start")
	case <-time.After(400 * time.Millisecond):
	}
	rdb.Del(ctx, prefix+"nodes") // what a restart without persistence does to it
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("Lost not called after the registration vanished")
	}
}

// TestLeaveRemovesEverything: a drained node leaves no keys behind.
func TestLeaveRemovesEverything(t *testing.T) {
	rdb, prefix := prefixed(t)
	ctx := t.Context()
	s := redisbus.NewState(rdb, prefix, "A")
	var seen departures
	l := redisbus.NewLiveness(s, redisbus.LivenessOptions{Departed: seen.add})
	if _, err := s.AddMember(ctx, "app", "presence-x", "1.1", protocol.Member{UserID: "u"}, 0); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.AcquireConnection(ctx, "app", -1); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := l.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if d := seen.list(); len(d) != 1 || !d[0].Gone {
		t.Fatalf("departures: %+v", d)
	}
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Fatalf("keys left after Leave: %v", keys)
	}
}

// TestConnectionLimitAcrossNodes: the limit holds for the sum of nodes.
func TestConnectionLimitAcrossNodes(t *testing.T) {
	rdb, prefix := prefixed(t)
	connectionLimitAcrossNodes(t, rdb, prefix)
}

func connectionLimitAcrossNodes(t *testing.T, rdb redis.UniversalClient, prefix string) {
	ctx := t.Context()
	a, b := redisbus.NewState(rdb, prefix, "A"), redisbus.NewState(rdb, prefix, "B")
	acquire := func(s *redisbus.State) bool {
		ok, err := s.AcquireConnection(ctx, "app", 3)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !acquire(a) || !acquire(b) || !acquire(a) {
		t.Fatal("refused below the limit")
	}
	if acquire(b) || acquire(a) {
		t.Fatal("admitted over the limit of 3 across two nodes")
	}
	if err := a.ReleaseConnection(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if !acquire(b) {
		t.Fatal("refused after a release")
	}
}

// TestRatesAcrossNodes: two nodes together admit at most the rate in one
// second, and the next second starts afresh.
func TestRatesAcrossNodes(t *testing.T) {
	rdb, prefix := prefixed(t)
	ctx := t.Context()
	st := redisbus.NewState(rdb, prefix, "A")
	clock := time.Unix(1_800_000_000, 0)
	nodes := []*redisbus.Rates{redisbus.NewRates(st), redisbus.NewRates(redisbus.NewState(rdb, prefix, "B"))}
	for _, r := range nodes {
		redisbus.SetRatesClock(r, func() time.Time { return clock })
	}
	const rate = 40
	admitted := 0
	for i := range 200 {
		ok, retry, err := nodes[i%2].Take(ctx, "app", "backend", 1, rate)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			admitted++
		} else if retry <= 0 || retry > time.Second {
			t.Fatalf("retry %v", retry)
		}
	}
	if admitted > rate || admitted < rate-2*(rate/8) {
		t.Fatalf("admitted %d in one second across two nodes, limit %d", admitted, rate)
	}
	clock = clock.Add(time.Second)
	if ok, _, err := nodes[0].Take(ctx, "app", "backend", 1, rate); err != nil || !ok {
		t.Fatalf("refused in the next second: %v", err)
	}
	// A request for more than the rate is capped, not refused for ever.
	clock = clock.Add(time.Second)
	if ok, _, err := nodes[1].Take(ctx, "app", "backend", 100, rate); err != nil || !ok {
		t.Fatalf("a batch larger than the rate refused in a fresh second: %v", err)
	}
}
