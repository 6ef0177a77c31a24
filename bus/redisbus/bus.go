// Package redisbus is the bus on Redis, for many nodes: a node subscribes
// to a Redis pub/sub channel per Pusher channel it has local subscribers
// for, so it receives only what it delivers, once, and in publish order
// (Redis keeps the order of one channel's messages on one connection).
// Messages for every node (terminate a user, watchlist online/offline)
// go through one node-wide channel.
//
// It imports bus only; cmd/switchboard chooses it with --redis-url.
package redisbus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-rt/switchboard/bus"
)

// Options configure a Bus.
type Options struct {
	// Prefix starts every Redis channel name, so several deployments (or
	// tests) can share one Redis. Default "sb:".
	Prefix string
	Logger *slog.Logger
}

// Bus is one node's connection to the Redis bus.
type Bus struct {
	rdb    redis.UniversalClient
	prefix string
	log    *slog.Logger
	ps     *redis.PubSub

	mu       sync.RWMutex
	handlers []*attachment

	// Listen waits for Redis to confirm a subscription, so that an event
	// published right after it returns is not missed.
	wmu     sync.Mutex
	waiters map[string][]chan struct{}

	healthy atomic.Bool // the receiving connection works

	cancel context.CancelFunc
	done   chan struct{}
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
	b := &Bus{rdb: rdb, prefix: opts.Prefix, log: opts.Logger, done: make(chan struct{}), waiters: map[string][]chan struct{}{}}
	b.ps = rdb.Subscribe(ctx, b.nodeWideTopic())
	// The subscription's confirmation: Redis is reachable and this node
	// hears node-wide messages from here on.
	if _, err := b.ps.Receive(ctx); err != nil {
		_ = b.ps.Close()
		return nil, fmt.Errorf("redisbus: subscribe: %w", err)
	}
	b.healthy.Store(true)
	rctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	go b.receive(rctx)
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
	if err := b.rdb.Publish(ctx, topic, encode(msg)).Err(); err != nil {
		return fmt.Errorf("redisbus: publish: %w", err)
	}
	return nil
}

// Listen subscribes this node to a channel's events and returns once
// Redis has confirmed it.
func (b *Bus) Listen(ctx context.Context, appID, channel string) error {
	topic := b.channelTopic(appID, channel)
	confirmed := make(chan struct{})
	b.wmu.Lock()
	b.waiters[topic] = append(b.waiters[topic], confirmed)
	b.wmu.Unlock()
	if err := b.ps.Subscribe(ctx, topic); err != nil {
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
	return b.ps.Unsubscribe(ctx, b.channelTopic(appID, channel))
}

// Healthy reports whether the node's connection to Redis works; while it
// does not, the node serves its local clients but hears nothing from the
// others (readiness should say so).
func (b *Bus) Healthy() bool { return b.healthy.Load() }

// Close stops receiving and leaves every subscription.
func (b *Bus) Close() error {
	b.cancel()
	err := b.ps.Close()
	<-b.done
	return err
}

func (b *Bus) receive(ctx context.Context) {
	defer close(b.done)
	backoff := 50 * time.Millisecond
	for {
		// After a connection error the next Receive reconnects and
		// subscribes again to every channel; nothing is buffered here.
		v, err := b.ps.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, redis.ErrClosed) {
				return
			}
			if b.healthy.Swap(false) {
				b.log.Error("redis bus: connection lost; serving local clients only until it is back", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		if !b.healthy.Swap(true) {
			b.log.Info("redis bus: connection back; subscriptions restored")
		}
		switch m := v.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				b.confirm(m.Channel)
			}
		case *redis.Message:
			b.deliver(m)
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
func (b *Bus) channelTopic(appID, channel string) string {
	return b.prefix + "c:" + fmt.Sprint(len(appID)) + ":" + appID + ":" + channel
}

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
	if len(b) < 1 {
		return nil, errCorrupt
	}
	m := &bus.Message{Kind: bus.Kind(b[0])}
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
