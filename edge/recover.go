package edge

import (
	"strconv"
	"sync"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
)

// Gap-fill. A client that resubscribes with the last position it saw
// (protocol.SubscribeData.Position) gets the events it missed, in order,
// before any live one, with no duplicate: the subscription joins the hub
// first with a recovery in progress, so live events wait in it; the
// missed ones are read from history and sent; then the waiting live ones
// follow, less those history already sent. A live event can also arrive
// after the recovery ended and still be one history sent (on Redis the
// history is written before the event reaches this node): sentThrough
// filters those.

// historyOf is what the app's channels keep of its client events: its
// history settings after its plan's caps (the bus applies the server's
// ceiling). What it keeps is what gap-fill can give back; an app with
// history off keeps nothing, and only a subscriber that missed nothing
// recovers.
func historyOf(app *tenants.App) bus.HistoryOptions {
	n, age := app.HistoryRetention()
	return bus.HistoryOptions{Length: n, MaxAge: age}
}

// EventRecoveryFailed tells a client that its missed events are gone
// (another epoch, or older than the history keeps): it should reload the
// channel's state.
const EventRecoveryFailed = "switchboard:recovery_failed"

// maxHeld bounds the live events held for one recovering subscriber;
// past it the recovery fails rather than hold more.
const maxHeld = 4096

// maxRecovered bounds the missed events one resubscription replays.
const maxRecovered = 10_000

type recovery struct {
	mu       sync.Mutex
	done     bool
	held     []heldFrame
	overflow bool
}

type heldFrame struct {
	seq   uint64
	frame []byte
}

// held reports whether the live event msg needs no sending now: already
// sent from history, or kept until the recovery ends. Fan-out calls it
// for subscribers that asked for positions.
func (s *subscription) held(msg *bus.Message, frame []byte) bool {
	seq := msg.Seq
	if seq <= s.sentThrough.Load() && msg.Epoch == s.resumeEpoch {
		return true
	}
	r := s.recovery.Load()
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return false
	}
	if len(r.held) >= maxHeld {
		r.overflow = true
	} else {
		r.held = append(r.held, heldFrame{seq, frame})
	}
	return true
}

// recover sends what sub missed since pos and then the live events held
// meanwhile. It runs on the socket's goroutine after the subscription
// joined the hub with its recovery set.
func (c *conn) recover(sub *subscription, pos protocol.Position) {
	r := sub.recovery.Load()
	ctx, app, ch := c.srv.ctx, c.app, sub.channel
	var sent uint64
	failed := func(epoch string, oldest uint64) {
		data := `{"epoch":` + string(protocol.AppendJSONString(nil, epoch)) +
			`,"from":` + strconv.FormatUint(pos.Seq, 10) + `,"oldest":` + strconv.FormatUint(oldest, 10) + `}`
		c.send(stringEventFrame(EventRecoveryFailed, ch, data))
	}
	var got bus.Retained
	var err error
	if c.srv.opts.History != nil {
		got, err = c.srv.opts.History.Since(ctx, app.ID, ch, pos.Seq, maxRecovered)
	}
	switch {
	case err != nil:
		c.srv.log.Error("recovery: history", "app_id", app.ID, "channel", ch, "err", err)
		failed("", 0)
	case !got.Recoverable(pos.Epoch, pos.Seq) || (got.Newest > pos.Seq && uint64(len(got.Events)) < got.Newest-pos.Seq):
		failed(got.Epoch, got.Oldest)
	default:
		for _, m := range got.Events {
			c.send(messageFrame(m, true))
			sent = m.Seq
		}
	}
	sub.sentThrough.Store(sent)

	r.mu.Lock()
	defer r.mu.Unlock()
	r.done = true
	if r.overflow {
		failed(got.Epoch, got.Oldest)
	}
	for _, h := range r.held {
		if h.seq > sent {
			c.send(h.frame)
		}
	}
	r.held = nil
	sub.recovery.Store(nil)
}
