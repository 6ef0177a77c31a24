// Package redisbus is the bus on Redis, for many nodes: a node subscribes
// to a Redis pub/sub channel per Pusher channel it has local subscribers
// for, so it receives only what it delivers, once, and in publish order
// (Redis keeps the order of one channel's messages on one connection).
// Messages for every node (terminate a user, watchlist online/offline)
// go through one node-wide channel.
//
// On Redis Cluster (a *redis.ClusterClient) it uses sharded pub/sub
// (SPUBLISH/SSUBSCRIBE): a message is handled by the one shard that owns
// its channel's slot instead of being broadcast over the cluster bus to
// every Redis node, so adding shards adds fan-out capacity.
//
// It imports bus only; cmd/switchboard chooses it with --redis-url.
package redisbus

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-rt/switchboard/bus"
)

// Options configure a Bus.
type Options struct {
	// Prefix starts every Redis channel name, so several deployments (or
	// tests) can share one Redis. Default "sb:". On Redis Cluster a prefix
	// holding a hash tag ("{…}") would put every channel in one slot, and
	// so all fan-out on one shard.
	Prefix string
	Logger *slog.Logger
	// History is the most any channel keeps of its events (a stream per
	// channel), whatever its messages' History asks; the zero value keeps
	// none.
	History bus.HistoryOptions
}

// Bus is one node's connection to the Redis bus.
type Bus struct {
	rdb redis.UniversalClient
	// cluster is rdb when it is a Redis Cluster client: sharded pub/sub.
	cluster *redis.ClusterClient
	prefix  string
	log     *slog.Logger
	history bus.HistoryOptions

	mu       sync.RWMutex
	handlers []*attachment

	// Listen waits for Redis to confirm a subscription, so that an event
	// published right after it returns is not missed.
	wmu     sync.Mutex
	waiters map[string][]chan struct{}

	// smu guards which shard subscribes to which topic. A topic is on one
	// shard at a time: that is what makes delivery once per node.
	smu    sync.Mutex
	closed bool
	shards map[string]*shard // by the address of the Redis node
	route  map[string]*shard // topic → the shard subscribed to it
	// live is shards' values for Healthy, which must not wait for smu
	// (held across a subscribe, which may be dialling).
	live atomic.Pointer[[]*shard]

	ctx    context.Context // ends with Close; every receive loop runs under it
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// shard is one pub/sub connection and the topics subscribed on it. On one
// Redis there is a single shard. On Redis Cluster there is one per primary
// that owns a slot of a topic this node listens to: SSUBSCRIBE only
// accepts channels of slots the connected node serves, and go-redis's
// cluster PubSub is pinned to one node, so one PubSub cannot hold channels
// of several shards.
type shard struct {
	addr    string
	ps      *redis.PubSub
	topics  map[string]struct{} // guarded by Bus.smu
	closed  bool                // guarded by Bus.smu: closed by the Bus, not lost
	healthy atomic.Bool
}

type attachment struct{ h bus.Handler }

var _ bus.Bus = (*Bus)(nil)

// New connects a node to the bus on rdb and starts receiving; Close stops
// it. It fails when Redis cannot be reached.
func New(ctx context.Context, rdb redis.UniversalClient, opts Options) (*Bus, error) {
	if opts.Prefix == "" {
		opts.Prefix = "sb:"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Bus{rdb: rdb, prefix: opts.Prefix, log: opts.Logger, history: opts.History,
		waiters: map[string][]chan struct{}{}, shards: map[string]*shard{}, route: map[string]*shard{}}
	b.cluster, _ = rdb.(*redis.ClusterClient)
	b.ctx, b.cancel = context.WithCancel(context.Background())
	// The node-wide subscription's confirmation: Redis is reachable and
	// this node hears node-wide messages from here on.
	if err := b.listen(ctx, b.nodeWideTopic()); err != nil {
		_ = b.Close()
		return nil, err
	}
	return b, nil
}

// Attach adds the node's local receiver; the returned func removes it.
func (b *Bus) Attach(h bus.Handler) (detach func()) {
	a := &attachment{h: h}
	b.mu.Lock()
	b.handlers = append(b.handlers, a)
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for i, x := range b.handlers {
			if x == a {
				b.handlers = append(b.handlers[:i:i], b.handlers[i+1:]...)
				return
			}
		}
	}
}

// Publish sends msg to every node that listens to its channel (or, for
// node-wide kinds, to every node). An error means Redis did not take it.
func (b *Bus) Publish(ctx context.Context, msg *bus.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	topic := b.nodeWideTopic()
	if msg.Kind == bus.KindEvent {
		topic = b.channelTopic(msg.AppID, msg.Channel)
	}
	if bus.Sequenced(msg) {
		return b.publishSequenced(ctx, topic, msg)
	}
	var err error
	if b.cluster != nil {
		err = b.cluster.SPublish(ctx, topic, encode(msg)).Err()
	} else {
		err = b.rdb.Publish(ctx, topic, encode(msg)).Err()
	}
	if err != nil {
		return fmt.Errorf("redisbus: publish: %w", err)
	}
	return nil
}

// publishSequenced numbers the event, keeps it and publishes it in one
// script, so numbers, history and delivery order agree however many nodes
// publish to the channel. The counter's keys carry the topic as their
// hash tag: on Redis Cluster they live in the topic's slot, where the
// script may SPUBLISH. The script puts the position in front of the
// encoded message ("S<seq>:<epoch>:"; a plain message starts with its
// kind, a small byte).
//
// History is the event's retention (ARGV[6] events, ARGV[7] ms of age, 0:
// none), which becomes the channel's: the stream is trimmed to it on every
// publish (MAXLEN exactly, then the entries older than the age, oldest
// first: entry ids are positions, not times, so MINID takes the first
// entry young enough), and deleted when the retention keeps nothing. Each
// entry records the age limit it was written under ('a'), so a read
// applies the newest one.
var publishSequenced = redis.NewScript(`
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[3]
  redis.call('SET', KEYS[2], epoch)
  redis.call('DEL', KEYS[1], KEYS[3])
end
local seq = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
local keep = tonumber(ARGV[6])
if keep > 0 then
  local t = redis.call('TIME')
  local now = t[1] * 1000 + math.floor(t[2] / 1000)
  local age = tonumber(ARGV[7])
  redis.call('XADD', KEYS[3], 'MAXLEN', keep, seq .. '-1', 'm', ARGV[2], 't', now, 'a', age)
  if age > 0 then
    local cutoff = now - age
    local count = 1 -- usually the oldest is young enough: look at it alone
    while true do
      local batch = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', count)
      local first = nil
      for _, e in ipairs(batch) do
        local f, at = e[2], 0
        for i = 1, #f, 2 do
          if f[i] == 't' then at = tonumber(f[i + 1]) end
        end
        if at >= cutoff then
          first = e[1]
          break
        end
      end
      if first then
        redis.call('XTRIM', KEYS[3], 'MINID', first)
        break
      end
      -- every entry read is too old (the one just added never is)
      local last = tonumber(string.match(batch[#batch][1], '^%d+'))
      redis.call('XTRIM', KEYS[3], 'MINID', string.format('%d', last + 1) .. '-0')
      count = 64
    end
  end
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
else
  redis.call('DEL', KEYS[3])
end
redis.call(ARGV[5], ARGV[1], 'S' .. seq .. ':' .. epoch .. ':' .. ARGV[2])
return {seq, epoch}`)

// positionKeys are the counter, epoch and history stream of a topic,
// under the prefix like every key, with the topic as their hash tag.
func (b *Bus) positionKeys(topic string) []string {
	tag := b.prefix + "{" + topic + "}:"
	return []string{tag + "seq", tag + "epoch", tag + "history"}
}

func (b *Bus) publishSequenced(ctx context.Context, topic string, msg *bus.Message) error {
	cmd := "PUBLISH"
	if b.cluster != nil {
		cmd = "SPUBLISH"
	}
	ttl := max(bus.DefaultPositionTTL, b.history.MaxAge)
	h := msg.History.Within(b.history)
	r, err := publishSequenced.Run(ctx, b.rdb, b.positionKeys(topic),
		topic, encode(msg), newEpoch(), ttl.Milliseconds(), cmd, h.Length, h.MaxAge.Milliseconds()).Slice()
	if err != nil {
		return fmt.Errorf("redisbus: publish: %w", err)
	}
	seq, _ := r[0].(int64)
	epoch, _ := r[1].(string)
	msg.Seq, msg.Epoch = uint64(seq), epoch
	return nil
}

var _ bus.History = (*Bus)(nil)

// Since implements bus.History from the channel's stream, whose entry
// ids are the positions ("<seq>-1"). Entries older than the age limit of
// the newest one (the channel's retention as of its last event) are not
// counted: publishes trim them, reads between publishes skip them.
func (b *Bus) Since(ctx context.Context, appID, channel string, after uint64, limit int) (bus.Retained, error) {
	keys := b.positionKeys(b.channelTopic(appID, channel))
	pipe := b.rdb.Pipeline()
	seq, epoch := pipe.Get(ctx, keys[0]), pipe.Get(ctx, keys[1])
	var all *redis.XMessageSliceCmd
	if b.history.Length > 0 {
		all = pipe.XRange(ctx, keys[2], "-", "+")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return bus.Retained{}, fmt.Errorf("redisbus: history: %w", err)
	}
	newest, _ := seq.Uint64()
	r := bus.Retained{Epoch: epoch.Val(), Newest: newest}
	if all == nil {
		return r, nil
	}
	entries := all.Val()
	oldestTime := int64(0)
	if len(entries) > 0 {
		age, _ := strconv.ParseInt(fmt.Sprint(entries[len(entries)-1].Values["a"]), 10, 64)
		if age > 0 {
			oldestTime = time.Now().UnixMilli() - age
		}
	}
	for _, x := range entries {
		at, _ := strconv.ParseInt(fmt.Sprint(x.Values["t"]), 10, 64)
		n, _, _ := strings.Cut(x.ID, "-")
		pos, err := strconv.ParseUint(n, 10, 64)
		if err != nil || at < oldestTime {
			continue
		}
		if r.Oldest == 0 {
			r.Oldest = pos
		}
		if pos <= after || len(r.Events) >= limit {
			continue
		}
		raw, _ := x.Values["m"].(string)
		msg, err := decode([]byte(raw))
		if err != nil {
			return bus.Retained{}, fmt.Errorf("redisbus: history of %s: %w", channel, err)
		}
		msg.Seq, msg.Epoch = pos, r.Epoch
		r.Events = append(r.Events, msg)
	}
	return r, nil
}

// newEpoch is a candidate epoch; the script keeps the channel's current
// one while its counter lives.
func newEpoch() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Listen subscribes this node to a channel's events and returns once
// Redis has confirmed it.
func (b *Bus) Listen(ctx context.Context, appID, channel string) error {
	return b.listen(ctx, b.channelTopic(appID, channel))
}

func (b *Bus) listen(ctx context.Context, topic string) error {
	confirmed := make(chan struct{})
	b.wmu.Lock()
	b.waiters[topic] = append(b.waiters[topic], confirmed)
	b.wmu.Unlock()
	if err := b.subscribe(ctx, topic); err != nil {
		b.dropWaiter(topic, confirmed)
		return fmt.Errorf("redisbus: subscribe: %w", err)
	}
	select {
	case <-confirmed:
		return nil
	case <-ctx.Done():
		b.dropWaiter(topic, confirmed)
		return ctx.Err()
	}
}

// subscribe subscribes topic on the shard that owns it now, leaving the
// one it was on if that is another. Like go-redis's PubSub, it keeps the
// topic even when the command could not be sent: the reconnect sends it.
func (b *Bus) subscribe(ctx context.Context, topic string) error {
	b.smu.Lock()
	defer b.smu.Unlock()
	if b.closed {
		return redis.ErrClosed
	}
	to, created, err := b.shardFor(ctx, topic)
	if err != nil {
		return err
	}
	if from := b.route[topic]; from != nil && from != to {
		_ = b.leave(ctx, from, topic)
	}
	return b.join(ctx, to, created, topic)
}

// shardFor returns the shard for topic, new (and not yet receiving) if
// created. Caller holds smu.
func (b *Bus) shardFor(ctx context.Context, topic string) (sh *shard, created bool, err error) {
	var node *redis.Client
	addr := ""
	if b.cluster != nil {
		if node, err = b.cluster.MasterForKey(ctx, topic); err != nil {
			return nil, false, err
		}
		addr = node.Options().Addr
	}
	if sh := b.shards[addr]; sh != nil {
		return sh, false, nil
	}
	sh = &shard{addr: addr, topics: map[string]struct{}{}}
	if node != nil {
		// The node's own client, not the cluster's PubSub: that one
		// reconnects to the owner of whichever of its channels comes first
		// in a map, so after a resharding it could land on another node
		// than the one this shard stands for.
		sh.ps = node.SSubscribe(ctx)
	} else {
		sh.ps = b.rdb.Subscribe(ctx)
	}
	sh.healthy.Store(true)
	b.shards[addr] = sh
	b.publishLive()
	return sh, true, nil
}

// join subscribes topic on sh and, for a new shard, starts its receive
// loop. Caller holds smu.
func (b *Bus) join(ctx context.Context, sh *shard, created bool, topic string) error {
	sh.topics[topic] = struct{}{}
	b.route[topic] = sh
	var err error
	if b.cluster != nil {
		err = sh.ps.SSubscribe(ctx, topic)
	} else {
		err = sh.ps.Subscribe(ctx, topic)
	}
	if err != nil {
		sh.healthy.Store(false)
	}
	if created {
		// Only after the first subscribe, which dialled: a Receive before
		// it would have connected with nothing to subscribe.
		b.wg.Add(1)
		go b.receive(sh)
	}
	return err
}

// leave unsubscribes topic from sh, and closes a cluster shard left with
// no topics: after a failover or resharding its node may own nothing.
// Caller holds smu.
func (b *Bus) leave(ctx context.Context, sh *shard, topic string) error {
	delete(sh.topics, topic)
	if b.route[topic] == sh {
		delete(b.route, topic)
	}
	if b.cluster == nil {
		return sh.ps.Unsubscribe(ctx, topic)
	}
	if len(sh.topics) == 0 {
		b.closeShard(sh)
		return nil
	}
	return sh.ps.SUnsubscribe(ctx, topic)
}

func (b *Bus) closeShard(sh *shard) {
	sh.closed = true
	_ = sh.ps.Close()
	if b.shards[sh.addr] == sh {
		delete(b.shards, sh.addr)
		b.publishLive()
	}
}

func (b *Bus) publishLive() {
	l := slices.Collect(maps.Values(b.shards))
	b.live.Store(&l)
}

func (b *Bus) dropWaiter(topic string, w chan struct{}) {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	ws := b.waiters[topic]
	for i, x := range ws {
		if x == w {
			b.waiters[topic] = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	if len(b.waiters[topic]) == 0 {
		delete(b.waiters, topic)
	}
}

func (b *Bus) confirm(topic string) {
	b.wmu.Lock()
	ws := b.waiters[topic]
	delete(b.waiters, topic)
	b.wmu.Unlock()
	for _, w := range ws {
		close(w)
	}
}

// Ignore undoes Listen.
func (b *Bus) Ignore(ctx context.Context, appID, channel string) error {
	topic := b.channelTopic(appID, channel)
	b.smu.Lock()
	defer b.smu.Unlock()
	sh := b.route[topic]
	if sh == nil {
		return nil
	}
	if err := b.leave(ctx, sh, topic); err != nil {
		return fmt.Errorf("redisbus: unsubscribe: %w", err)
	}
	return nil
}

// Healthy reports whether the node's connections to Redis work; while one
// does not, the node serves its local clients but hears nothing (or, on
// Redis Cluster, not everything) from the others (readiness should say
// so).
func (b *Bus) Healthy() bool {
	l := b.live.Load()
	if l == nil {
		return false
	}
	for _, sh := range *l {
		if !sh.healthy.Load() {
			return false
		}
	}
	return true
}

// Close stops receiving and leaves every subscription.
func (b *Bus) Close() error {
	b.cancel()
	b.smu.Lock()
	if b.closed {
		b.smu.Unlock()
		return nil
	}
	b.closed = true
	var err error
	for _, sh := range b.shards {
		sh.closed = true
		if e := sh.ps.Close(); e != nil && err == nil {
			err = e
		}
	}
	b.smu.Unlock()
	b.wg.Wait()
	return err
}

const minBackoff, maxBackoff = 50 * time.Millisecond, 2 * time.Second

func (b *Bus) receive(sh *shard) {
	defer b.wg.Done()
	ctx := b.ctx
	backoff := minBackoff
	pause := func() bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
		return true
	}
	for {
		// After a connection error the next Receive reconnects and
		// subscribes again to every channel; nothing is buffered here.
		v, err := sh.ps.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil || b.shardClosed(sh) {
				return
			}
			var rerr redis.Error
			if b.cluster != nil && errors.As(err, &rerr) && !errors.Is(err, redis.ErrClosed) {
				// Redis refused a subscription and the connection is fine:
				// MOVED (the slot changed owner since it was routed), or
				// CROSSSLOT when go-redis re-subscribed a reconnected
				// shard's channels in one SSUBSCRIBE. Subscribing each
				// topic again, where it now belongs, repairs both.
				b.log.Warn("redis bus: subscription refused; routing the channels again", "node", sh.addr, "err", err)
				b.cluster.ReloadState(ctx)
				if !pause() {
					return
				}
				b.reroute(sh, b.refused(sh, err), true)
				continue
			}
			if sh.healthy.Swap(false) {
				b.log.Error("redis bus: connection lost; serving local clients only until it is back", "node", sh.addr, "err", err)
			}
			if !pause() {
				return
			}
			if b.cluster != nil {
				// A failover moves the shard's slots to another node: the
				// topics follow them; those still owned here are
				// re-subscribed by go-redis when it reconnects.
				b.cluster.ReloadState(ctx)
				b.reroute(sh, nil, false)
			}
			continue
		}
		backoff = minBackoff
		if !sh.healthy.Swap(true) {
			b.log.Info("redis bus: connection back; subscriptions restored", "node", sh.addr)
		}
		switch m := v.(type) {
		case *redis.Subscription:
			switch m.Kind {
			case "subscribe", "ssubscribe":
				b.confirm(m.Channel)
			case "sunsubscribe":
				// Unasked for (Ignore has already dropped the route when
				// its own answer comes): Redis drops a shard channel's
				// subscribers when its slot moves to another shard. If
				// the client's view of the slots is still the old one,
				// the SSUBSCRIBE here is refused with MOVED, and the
				// refusal's path retries once the view is reloaded.
				b.cluster.ReloadState(ctx)
				b.reroute(sh, []string{m.Channel}, true)
			}
		case *redis.Message:
			b.deliver(m)
		}
	}
}

// refused is the topics of sh that a refusal is about: after MOVED, those
// of its slot, since a resharding moves slots one by one and a shard may
// hold thousands of channels; else (CROSSSLOT) all of them, nil.
func (b *Bus) refused(sh *shard, err error) []string {
	slot, ok := movedSlot(err.Error())
	if !ok {
		return nil
	}
	b.smu.Lock()
	defer b.smu.Unlock()
	out := []string{}
	for t := range sh.topics {
		if keySlot(t) == slot {
			out = append(out, t)
		}
	}
	return out
}

func (b *Bus) shardClosed(sh *shard) bool {
	b.smu.Lock()
	defer b.smu.Unlock()
	return sh.closed || b.closed
}

// reroute moves topics (all of sh's when nil) that are still routed to sh
// to the shard that owns them now; with resubscribe, those that stay are
// subscribed again on sh.
func (b *Bus) reroute(sh *shard, topics []string, resubscribe bool) {
	ctx := b.ctx
	b.smu.Lock()
	defer b.smu.Unlock()
	if b.closed || sh.closed {
		return
	}
	if topics == nil {
		topics = slices.Collect(maps.Keys(sh.topics))
	}
	type move struct {
		to      *shard
		created bool
	}
	moves := map[string]move{}
	for _, t := range topics {
		if b.route[t] != sh {
			continue // left or moved since
		}
		to, created, err := b.shardFor(ctx, t)
		if err != nil {
			b.log.Warn("redis bus: cannot route a channel; retrying on the next error", "topic", t, "err", err)
			continue
		}
		if to != sh {
			moves[t] = move{to, created}
			continue
		}
		if resubscribe {
			if err := sh.ps.SSubscribe(ctx, t); err != nil {
				b.log.Warn("redis bus: subscribe again", "topic", t, "err", err)
			}
		}
	}
	if len(moves) == 0 {
		return
	}
	if len(moves) == len(sh.topics) {
		// Everything leaves (a failed-over primary): drop the connection
		// rather than unsubscribe one by one, each of which would try to
		// dial a node that may be gone.
		for t := range moves {
			delete(sh.topics, t)
			delete(b.route, t)
		}
		b.closeShard(sh)
	} else {
		for t := range moves {
			_ = b.leave(ctx, sh, t)
		}
	}
	for t, m := range moves {
		if err := b.join(ctx, m.to, m.created, t); err != nil {
			b.log.Warn("redis bus: subscribe on the channel's new shard", "topic", t, "node", m.to.addr, "err", err)
		}
	}
}

func (b *Bus) deliver(m *redis.Message) {
	msg, err := decode([]byte(m.Payload))
	if err != nil {
		b.log.Error("redis bus: undecodable message dropped", "channel", m.Channel, "err", err)
		return
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, a := range b.handlers {
		a.h.Deliver(msg)
	}
}

// channelTopic is the Redis channel of one Pusher channel. The app id is
// length-prefixed, so no app id or channel name can make two pairs meet.
//
// It has no hash tag, unlike State's keys: no key or script goes with a
// pub/sub channel, so nothing needs it in the app's slot, and hashing the
// whole name spreads one app's channels over the shards of a Redis
// Cluster, so a busy app's fan-out is not all on one shard. Per channel is
// enough for order: one channel is one slot.
func (b *Bus) channelTopic(appID, channel string) string {
	return b.prefix + "c:" + fmt.Sprint(len(appID)) + ":" + appID + ":" + channel
}

// nodeWideTopic carries the messages for every node. On Redis Cluster it
// is a shard channel too, which every node SSUBSCRIBEs, rather than a
// classic channel: a classic PUBLISH on a cluster is copied over the
// cluster bus to every Redis node whether a subscriber is there or not,
// while these messages are few, and on one shard they cost one message
// per Switchboard node, with the same code path and order as events.
func (b *Bus) nodeWideTopic() string { return b.prefix + "nodes" }

// encode writes a message as its kind and six length-prefixed fields.
func encode(m *bus.Message) []byte {
	n := 1
	fields := [...][]byte{[]byte(m.AppID), []byte(m.Channel), []byte(m.Event), m.Data, []byte(m.UserID), []byte(m.ExcludeSocketID)}
	for _, f := range fields {
		n += binary.MaxVarintLen32 + len(f)
	}
	out := make([]byte, 1, n)
	out[0] = byte(m.Kind)
	for _, f := range fields {
		out = binary.AppendUvarint(out, uint64(len(f)))
		out = append(out, f...)
	}
	return out
}

var errCorrupt = errors.New("corrupt bus message")

func decode(b []byte) (*bus.Message, error) {
	var seq uint64
	var epoch string
	if len(b) > 0 && b[0] == 'S' {
		s, rest, ok := bytes.Cut(b[1:], []byte{':'})
		e, body, ok2 := bytes.Cut(rest, []byte{':'})
		n, err := strconv.ParseUint(string(s), 10, 64)
		if !ok || !ok2 || err != nil || len(e) == 0 {
			return nil, errCorrupt
		}
		seq, epoch, b = n, string(e), body
	}
	if len(b) < 1 {
		return nil, errCorrupt
	}
	m := &bus.Message{Kind: bus.Kind(b[0]), Seq: seq, Epoch: epoch}
	b = b[1:]
	var fields [6][]byte
	for i := range fields {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, errCorrupt
		}
		fields[i] = b[k : k+int(n)]
		b = b[k+int(n):]
	}
	if len(b) != 0 {
		return nil, errCorrupt
	}
	m.AppID, m.Channel, m.Event = string(fields[0]), string(fields[1]), string(fields[2])
	m.Data = append([]byte(nil), fields[3]...)
	m.UserID, m.ExcludeSocketID = string(fields[4]), string(fields[5])
	return m, nil
}
