package redisbus_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/bus/bustest"
	"github.com/switchboard-rt/switchboard/bus/redisbus"
	"github.com/switchboard-rt/switchboard/internal/redistest"
)

// The suites run on one started cluster; each subtest has its own prefix.
func TestClusterBus(t *testing.T) {
	t.Parallel() // each starts a cluster of its own
	cc := redistest.Cluster(t)
	bustest.RunBus(t, func(t *testing.T) (bus.Bus, func(bus.Handler) func()) {
		c := &cluster{t: t, rdb: cc, prefix: redistest.Prefix(t, cc)}
		c.pub = c.node()
		return c, c.attach
	})
}

func TestClusterHistory(t *testing.T) {
	t.Parallel() // each starts a cluster of its own
	cc := redistest.Cluster(t)
	bustest.RunHistory(t, func(t *testing.T, h bus.HistoryOptions) bustest.HistoryBus {
		b, err := redisbus.New(t.Context(), cc, redisbus.Options{Prefix: redistest.Prefix(t, cc), History: h})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	})
}

func TestClusterState(t *testing.T) {
	t.Parallel() // each starts a cluster of its own
	cc := redistest.Cluster(t)
	bustest.RunState(t, func(t *testing.T) bus.State {
		return redisbus.NewState(cc, redistest.Prefix(t, cc), "n1")
	})
	// Liveness and the limits use keys outside the app's slot too (the
	// node list, a node's app set): they must work across shards.
	t.Run("DeadNodeIsReaped", func(t *testing.T) { deadNodeIsReaped(t, cc, redistest.Prefix(t, cc)) })
	t.Run("ConnectionLimitAcrossNodes", func(t *testing.T) { connectionLimitAcrossNodes(t, cc, redistest.Prefix(t, cc)) })
}

// newClusterClient is another node's own client on the same cluster, as
// a second process would have.
func newClusterClient(t *testing.T, cc *redis.ClusterClient) *redis.ClusterClient {
	t.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cc.Options().Addrs})
	t.Cleanup(func() { c.Close() })
	return c
}

func newBus(t *testing.T, rdb redis.UniversalClient, prefix string) *redisbus.Bus {
	t.Helper()
	b, err := redisbus.New(t.Context(), rdb, redisbus.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// One app's channels spread over the shards: a node listening to them is
// subscribed on more than one primary, and events on each arrive.
func TestClusterChannelsSpreadOverShards(t *testing.T) {
	t.Parallel() // each starts a cluster of its own
	cc := redistest.Cluster(t)
	p := redistest.Prefix(t, cc)
	b := newBus(t, cc, p)
	got := make(chan *bus.Message, 64)
	b.Attach(handlerFunc(func(m *bus.Message) { got <- m }))
	const n = 24
	for i := range n {
		if err := b.Listen(t.Context(), "app", fmt.Sprint("ch-", i)); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	perShard := map[string]int{}
	err := cc.ForEachMaster(t.Context(), func(ctx context.Context, c *redis.Client) error {
		chs, err := c.PubSubShardChannels(ctx, p+"*").Result()
		mu.Lock()
		defer mu.Unlock()
		for _, ch := range chs {
			if strings.HasPrefix(ch, p+"c:") {
				perShard[c.Options().Addr]++
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, k := range perShard {
		total += k
	}
	if len(perShard) < 2 || total != n {
		t.Fatalf("%d channels subscribed as %v (by primary); want all %d, on more than one", total, perShard, n)
	}
	for i := range n {
		if err := b.Publish(t.Context(), &bus.Message{AppID: "app", Channel: fmt.Sprint("ch-", i), Event: "e", Data: []byte(`1`)}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for len(seen) < n {
		select {
		case m := <-got:
			if seen[m.Channel] {
				t.Fatalf("%s delivered twice", m.Channel)
			}
			seen[m.Channel] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d channels delivered", len(seen), n)
		}
	}
	// Leaving every channel closes the shards' connections but the one
	// with the node-wide channel; the bus stays healthy and can listen
	// again.
	for i := range n {
		if err := b.Ignore(t.Context(), "app", fmt.Sprint("ch-", i)); err != nil {
			t.Fatal(err)
		}
	}
	if !b.Healthy() {
		t.Fatal("unhealthy after leaving every channel")
	}
	if err := b.Listen(t.Context(), "app", "ch-0"); err != nil {
		t.Fatal(err)
	}
}

// Two nodes, each with its own client: what one publishes on channels of
// every shard reaches the other once and in order per channel, both ways,
// and node-wide messages reach both.
func TestClusterTwoNodesInOrder(t *testing.T) {
	t.Parallel() // each starts a cluster of its own
	cc := redistest.Cluster(t)
	p := redistest.Prefix(t, cc)
	nodes := []*redisbus.Bus{newBus(t, newClusterClient(t, cc), p), newBus(t, newClusterClient(t, cc), p)}
	type recv struct {
		mu   sync.Mutex
		msgs []*bus.Message
	}
	recvs := []*recv{{}, {}}
	for i, b := range nodes {
		r := recvs[i]
		b.Attach(handlerFunc(func(m *bus.Message) { r.mu.Lock(); r.msgs = append(r.msgs, m); r.mu.Unlock() }))
	}
	const channels, n = 6, 200
	for i, b := range nodes {
		for c := range channels {
			if err := b.Listen(t.Context(), "app", fmt.Sprintf("n%d-%d", i, c)); err != nil {
				t.Fatal(err)
			}
		}
	}
	var wg sync.WaitGroup
	for i := range nodes {
		from := nodes[1-i] // node i's channels, published by the other
		for c := range channels {
			ch := fmt.Sprintf("n%d-%d", i, c)
			wg.Go(func() {
				for k := range n {
					if err := from.Publish(t.Context(), &bus.Message{AppID: "app", Channel: ch, Event: "e", Data: []byte(strconv.Itoa(k))}); err != nil {
						t.Errorf("publish on %s: %v", ch, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	if err := nodes[0].Publish(t.Context(), &bus.Message{Kind: bus.KindTerminateUser, AppID: "app", UserID: "ann"}); err != nil {
		t.Fatal(err)
	}
	for i, r := range recvs {
		want := channels*n + 1
		deadline := time.Now().Add(10 * time.Second)
		for {
			r.mu.Lock()
			got := len(r.msgs)
			r.mu.Unlock()
			if got >= want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d has %d of %d messages", i, got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
		r.mu.Lock()
		msgs := r.msgs
		r.mu.Unlock()
		if len(msgs) != want {
			t.Fatalf("node %d has %d messages, want exactly %d", i, len(msgs), want)
		}
		next := map[string]int{}
		terminated := false
		for _, m := range msgs {
			if m.Kind == bus.KindTerminateUser {
				terminated = true
				continue
			}
			if !strings.HasPrefix(m.Channel, fmt.Sprintf("n%d-", i)) {
				t.Fatalf("node %d got %s, which it does not listen to", i, m.Channel)
			}
			if string(m.Data) != strconv.Itoa(next[m.Channel]) {
				t.Fatalf("node %d, %s: message %d carries %s", i, m.Channel, next[m.Channel], m.Data)
			}
			next[m.Channel]++
		}
		if !terminated {
			t.Fatalf("node %d did not get the node-wide message", i)
		}
	}
}

// A crashed primary comes back (its slots, no data): the node's shard
// connection to it reconnects, its channels — several slots, so go-redis's
// one-command re-subscription is refused as CROSSSLOT — are subscribed
// again one by one, and events flow; the other shards never stopped.
func TestClusterPrimaryRestart(t *testing.T) {
	t.Parallel() // each starts a cluster of its own
	tc := redistest.StartCluster(t, 0)
	cc := newClusterClient(t, tc.Client)
	b := newBus(t, cc, "sbtest:restart:") // its own cluster, gone with the test
	got := make(chan *bus.Message, 256)
	b.Attach(handlerFunc(func(m *bus.Message) { got <- m }))
	const n = 24
	for i := range n {
		if err := b.Listen(t.Context(), "app", fmt.Sprint("ch-", i)); err != nil {
			t.Fatal(err)
		}
	}
	// The primary with the most of our channels.
	var victim string
	most := 0
	for _, a := range tc.Addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		chs, err := c.PubSubShardChannels(t.Context(), "sbtest:restart:c:*").Result()
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(chs) > most {
			victim, most = a, len(chs)
		}
	}
	if most < 2 {
		t.Fatalf("no primary holds two of the %d channels", n)
	}

	tc.Kill(victim)
	waitUntil(t, 10*time.Second, func() bool { return !b.Healthy() })
	tc.Restart(victim)
	waitUntil(t, 15*time.Second, b.Healthy)

	// Every channel delivers again, each once per publish.
	pending := map[string]bool{}
	for i := range n {
		pending[fmt.Sprint("ch-", i)] = true
	}
	drain := func() {
		for {
			select {
			case m := <-got:
				delete(pending, m.Channel)
			default:
				return
			}
		}
	}
	waitUntil(t, 15*time.Second, func() bool {
		drain()
		for ch := range pending {
			_ = b.Publish(t.Context(), &bus.Message{AppID: "app", Channel: ch, Event: "e", Data: []byte(`1`)})
		}
		time.Sleep(50 * time.Millisecond)
		drain()
		return len(pending) == 0
	})
}

// A slot that moves to another primary (resharding) takes its channel's
// subscription with it: the old owner drops the subscriber, the bus
// subscribes on the new owner, and events arrive once each.
func TestClusterSlotMoves(t *testing.T) {
	t.Parallel() // each starts a cluster of its own
	tc := redistest.StartCluster(t, 0)
	cc := newClusterClient(t, tc.Client)
	const p = "sbtest:slot:" // its own cluster, gone with the test
	b := newBus(t, cc, p)
	got := make(chan *bus.Message, 256)
	b.Attach(handlerFunc(func(m *bus.Message) { got <- m }))
	if err := b.Listen(t.Context(), "app", "news"); err != nil {
		t.Fatal(err)
	}
	topic := p + "c:3:app:news"
	ctx := t.Context()
	slot, err := tc.Client.ClusterKeySlot(ctx, topic).Result()
	if err != nil {
		t.Fatal(err)
	}
	src, err := tc.Client.MasterForKey(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	clients := map[string]*redis.Client{}
	ids := map[string]string{}
	for _, a := range tc.Addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		defer c.Close()
		clients[a] = c
		id, err := c.ClusterMyID(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids[a] = id
	}
	var dst string
	for _, a := range tc.Addrs {
		if a != src.Options().Addr {
			dst = a
			break
		}
	}
	from := src.Options().Addr
	// The slot holds no keys (pub/sub channels are none), so the move is
	// the two SETSLOT steps and the new owner, told to everyone.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(clients[dst].Do(ctx, "cluster", "setslot", slot, "importing", ids[from]).Err())
	must(clients[from].Do(ctx, "cluster", "setslot", slot, "migrating", ids[dst]).Err())
	for _, a := range []string{dst, from} {
		must(clients[a].Do(ctx, "cluster", "setslot", slot, "node", ids[dst]).Err())
	}
	for _, a := range tc.Addrs {
		if a != dst && a != from {
			must(clients[a].Do(ctx, "cluster", "setslot", slot, "node", ids[dst]).Err())
		}
	}

	// The subscription follows the slot.
	waitUntil(t, 15*time.Second, func() bool {
		chs, err := clients[dst].PubSubShardChannels(ctx, topic).Result()
		return err == nil && len(chs) == 1
	})
	waitUntil(t, 15*time.Second, func() bool {
		if b.Publish(ctx, &bus.Message{AppID: "app", Channel: "news", Event: "probe", Data: []byte(`0`)}) != nil {
			return false
		}
		select {
		case <-got:
			return true
		case <-time.After(200 * time.Millisecond):
			return false
		}
	})
	// Settled: the late probes are in, then each event arrives once.
	time.Sleep(300 * time.Millisecond)
	for len(got) > 0 {
		<-got
	}
	for i := range 50 {
		if err := b.Publish(ctx, &bus.Message{AppID: "app", Channel: "news", Event: "e", Data: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		select {
		case m := <-got:
			if string(m.Data) != strconv.Itoa(i) {
				t.Fatalf("event %d carries %s", i, m.Data)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d never arrived", i)
		}
	}
	select {
	case m := <-got:
		t.Fatalf("extra delivery %+v", m)
	case <-time.After(200 * time.Millisecond):
	}
	if !b.Healthy() {
		t.Fatal("unhealthy after the move")
	}
}

// A primary dies and its replica takes over: the node's connection to the
// dead one is given up, its channels are subscribed on the new primary,
// and the bus is healthy again without a restart.
func TestClusterFailover(t *testing.T) {
	t.Parallel() // each starts a cluster of its own
	tc := redistest.StartCluster(t, 1)
	cc := newClusterClient(t, tc.Client)
	const p = "sbtest:failover:" // its own cluster, gone with the test
	b := newBus(t, cc, p)
	got := make(chan *bus.Message, 256)
	b.Attach(handlerFunc(func(m *bus.Message) { got <- m }))
	const n = 24
	for i := range n {
		if err := b.Listen(t.Context(), "app", fmt.Sprint("ch-", i)); err != nil {
			t.Fatal(err)
		}
	}
	var victim string
	most := 0
	for _, a := range tc.Addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		chs, err := c.PubSubShardChannels(t.Context(), p+"c:*").Result()
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(chs) > most {
			victim, most = a, len(chs)
		}
	}
	if most == 0 {
		t.Fatal("no primary holds a channel")
	}

	tc.Kill(victim)
	waitUntil(t, 10*time.Second, func() bool { return !b.Healthy() })
	waitUntil(t, 30*time.Second, b.Healthy)

	pending := map[string]bool{}
	for i := range n {
		pending[fmt.Sprint("ch-", i)] = true
	}
	drain := func() {
		for {
			select {
			case m := <-got:
				delete(pending, m.Channel)
			default:
				return
			}
		}
	}
	waitUntil(t, 20*time.Second, func() bool {
		drain()
		for ch := range pending {
			_ = b.Publish(t.Context(), &bus.Message{AppID: "app", Channel: ch, Event: "e", Data: []byte(`1`)})
		}
		time.Sleep(50 * time.Millisecond)
		drain()
		return len(pending) == 0
	})
}

// The bus's slot function agrees with Redis, hash tags included.
func TestKeySlotMatchesRedis(t *testing.T) {
	t.Parallel()
	rdb := redistest.Cluster(t)
	for _, k := range []string{"", "a", "sb:nodes", "sb:c:3:app:news", "{user1000}.following", "foo{}{bar}", "foo{{bar}}zap", "foo{bar}{zap}", "héllo"} {
		want, err := rdb.ClusterKeySlot(t.Context(), k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := redisbus.KeySlot(k); int64(got) != want {
			t.Errorf("slot of %q: %d, Redis says %d", k, got, want)
		}
	}
}
