package bus

import (
	"context"
	"strings"
	"sync"
)

// Kind says what a Message asks the receiving nodes to do.
type Kind uint8

const (
	// KindEvent delivers Event/Data on Channel to its subscribers.
	KindEvent Kind = iota
	// KindTerminateUser closes every connection signed in as UserID.
	KindTerminateUser
	// KindUserOnline and KindUserOffline tell watchers of UserID that its
	// first connection signed in or its last one left.
	KindUserOnline
	KindUserOffline
	// KindActivity carries one entry of an app's live debug console (Data
	// is its JSON) to every node, where the dashboard's watchers of the
	// app receive it. KindWatch says that someone watches AppID's console,
	// so every node emits the app's activity for a while (package
	// activity). Neither is sequenced nor kept in history, and the edge
	// ignores both.
	KindActivity
	KindWatch
)

// Message is one unit the bus carries. Messages are immutable once
// published: receivers share them.
type Message struct {
	Kind    Kind
	AppID   string
	Channel string
	Event   string
	// Data is the raw JSON value of the frame's data field: a JSON string
	// for events published through the API, any value for client events.
	Data []byte
	// UserID is the sender of a presence client event (added to the frame
	// as user_id), or the user a KindTerminateUser/KindUser* is about.
	UserID string
	// ExcludeSocketID is left out of delivery (the publisher's own socket).
	ExcludeSocketID string

	// Seq and Epoch are a sequenced event's position in its channel,
	// assigned by the bus in Publish (which sets them on the message it
	// is given): Seq counts the channel's events from 1, in the order every
	// node delivers them; Epoch names the count, and changes when the bus
	// starts it over (it lost or expired it), so positions compare only
	// within one epoch. Zero for messages that are not Sequenced.
	Seq   uint64
	Epoch string

	// History is what the channel keeps of its events from this one on:
	// the app's retention, zero (the default) keeping nothing. The bus
	// bounds it by its own ceiling and applies it when it sequences the
	// event, so a changed retention holds from the next event on. It is
	// the publishing node's business: it does not travel to other nodes.
	History HistoryOptions
}

// Sequenced reports whether m gets a position: every channel event but
// the protocol's own (pusher: and pusher_internal: events, such as
// member_added), which a client that missed them gets again on
// resubscribing.
func Sequenced(m *Message) bool {
	return m.Kind == KindEvent && !strings.HasPrefix(m.Event, "pusher_internal:") && !strings.HasPrefix(m.Event, "pusher:")
}

// Handler is a node's receiver of messages for local delivery. Deliver
// must not block: it queues and returns.
type Handler interface {
	Deliver(msg *Message)
}

// Bus delivers published messages to every attached node that has
// subscribers for the message's channel (or, for app-wide kinds, every
// node), once per node, in publish order per channel.
type Bus interface {
	Publish(ctx context.Context, msg *Message) error
	// Listen and Ignore tell the bus that this node gained its first or
	// lost its last local subscriber of a channel, so a bus that routes by
	// channel sends the node only what it needs.
	Listen(ctx context.Context, appID, channel string) error
	Ignore(ctx context.Context, appID, channel string) error
}

// Memory is the single-process Bus: Publish hands the message to every
// attached handler on the caller's goroutine. Handlers only queue, so a
// publish never waits for a subscriber's socket.
type Memory struct {
	mu       sync.RWMutex
	handlers []*attachment
	seq      *sequencer
}

// attachment wraps a handler so detach finds its own entry by pointer:
// comparing Handler interface values panics when the dynamic type is not
// comparable (a func or a struct holding a slice).
type attachment struct{ h Handler }

var _ Bus = (*Memory)(nil)

// NewMemory returns a bus with no nodes attached that keeps no history.
func NewMemory() *Memory { return NewMemoryWithHistory(HistoryOptions{}) }

// NewMemoryWithHistory returns a bus that keeps each channel's recent
// events as its messages' History says (in a ring per channel), never
// more than ceiling.
func NewMemoryWithHistory(ceiling HistoryOptions) *Memory {
	return &Memory{seq: newSequencer(DefaultPositionTTL, ceiling)}
}

var _ History = (*Memory)(nil)

// Since implements History.
func (m *Memory) Since(_ context.Context, appID, channel string, after uint64, limit int) (Retained, error) {
	return m.seq.since(appID, channel, after, limit), nil
}

// Attach adds a node's handler; the returned func detaches it.
func (m *Memory) Attach(h Handler) (detach func()) {
	a := &attachment{h}
	m.mu.Lock()
	m.handlers = append(m.handlers, a)
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		for i, x := range m.handlers {
			if x == a {
				m.handlers = append(m.handlers[:i:i], m.handlers[i+1:]...)
				return
			}
		}
	}
}

// Publish delivers msg to every attached node.
func (m *Memory) Publish(ctx context.Context, msg *Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.RLock()
	hs := m.handlers
	m.mu.RUnlock()
	deliver := func() {
		for _, a := range hs {
			a.h.Deliver(msg)
		}
	}
	if Sequenced(msg) {
		// Numbered and delivered under the channel's lock, so every
		// handler sees the channel's events in number order.
		m.seq.next(msg, deliver)
		return nil
	}
	deliver()
	return nil
}

// Listen is a no-op: every node in the process sees every message and the
// hub skips channels it has no subscribers for.
func (m *Memory) Listen(context.Context, string, string) error { return nil }

// Ignore is a no-op, as Listen.
func (m *Memory) Ignore(context.Context, string, string) error { return nil }
