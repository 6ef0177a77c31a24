package edge

import (
	"encoding/json"

	"github.com/switchboard-rt/switchboard/bus"

	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
)

// Webhooks receives the webhook events the edge detects (protocol spec §6);
// *webhooks.Notifier implements it. Notify is called on sockets' read
// goroutines and on grace timers, so it must never block.
type Webhooks interface {
	Notify(app *tenants.App, ev protocol.WebhookEvent)
}

// wantsWebhook is the check made before any webhook work: does the app
// have an endpoint listing this event type? It allocates nothing, so
// sockets of apps without webhooks pay a nil check or a short loop.
// Channel-name filters are left to the notifier, off the socket's
// goroutine.
func (s *Server) wantsWebhook(app *tenants.App, name string) bool {
	if s.opts.Webhooks == nil {
		return false
	}
	for i := range app.Webhooks {
		for _, t := range app.Webhooks[i].EventTypes {
			if t == name {
				return true
			}
		}
	}
	return false
}

// webhookApp is the app whose webhooks decide where this socket's events
// go: the latest one Revalidate saw, else the one it connected to.
func (c *conn) webhookApp() *tenants.App {
	if a := c.current.Load(); a != nil {
		return a
	}
	return c.app
}

// channelWebhook emits an event that carries only the channel
// (occupied, vacated, cache_miss).
func (s *Server) channelWebhook(app *tenants.App, name, channel string) {
	if s.watched(app.ID) {
		s.opts.Activity.Emit(app.ID, bus.Activity{Type: name, Channel: channel})
	}
	if s.wantsWebhook(app, name) {
		s.opts.Webhooks.Notify(app, protocol.WebhookEvent{Name: name, Channel: channel})
	}
}

func (s *Server) memberWebhook(app *tenants.App, name, channel, userID string) {
	if s.watched(app.ID) {
		s.opts.Activity.Emit(app.ID, bus.Activity{Type: name, Channel: channel, UserID: userID})
	}
	if s.wantsWebhook(app, name) {
		s.opts.Webhooks.Notify(app, protocol.WebhookEvent{Name: name, Channel: channel, UserID: userID})
	}
}

func (s *Server) subscriptionCountWebhook(app *tenants.App, channel string, n int) {
	if s.wantsWebhook(app, protocol.WebhookSubscriptionCount) {
		s.opts.Webhooks.Notify(app, protocol.WebhookEvent{Name: protocol.WebhookSubscriptionCount, Channel: channel, SubscriptionCount: &n})
	}
}

// clientEventWebhook reports an accepted client event. Its data goes out
// as a string (§6.2): a string the client sent as itself, anything else
// as its JSON text.
func (c *conn) clientEventWebhook(f protocol.ClientFrame, userID string) {
	app := c.webhookApp()
	if c.srv.watched(app.ID) {
		c.srv.opts.Activity.Emit(app.ID, bus.Activity{Type: protocol.WebhookClientEvent, SocketID: c.socketID,
			Channel: f.Channel, Event: f.Event, UserID: userID, Data: string(f.Data)})
	}
	if !c.srv.wantsWebhook(app, protocol.WebhookClientEvent) {
		return
	}
	data := string(f.Data)
	if len(f.Data) > 0 && f.Data[0] == '"' {
		var s string
		if json.Unmarshal(f.Data, &s) == nil {
			data = s
		}
	}
	c.srv.opts.Webhooks.Notify(app, protocol.WebhookEvent{
		Name: protocol.WebhookClientEvent, Channel: f.Channel, Event: f.Event, Data: data,
		SocketID: c.socketID, UserID: userID,
	})
}

// joined is what adding a subscription to the shared state changed,
// cluster-wide: the channel became occupied (its count went 0 → 1) and,
// on presence channels, the user became a member. Both are decided by the
// shared state atomically with the add, so across nodes exactly one add
// sees each transition.
type joined struct {
	occupied, member bool
}

// leftUndoing reports the events a removal from the shared state must
// emit. vacated and memberGone are what the removal decided; undo is what
// the add being taken back decided (zero for an ordinary leave). A
// subscription that fails after its add must leave no events (§2.4), so a
// transition the add made and the removal reversed is dropped; but when
// another socket came or went in between, one side of the pair was this
// socket's alone, and dropping it would leave the cluster with an
// occupied and no vacated, or the reverse.
func leftUndoing(undo joined, vacated, memberGone bool) (occupied, vac, added, removed bool) {
	return undo.occupied && !vacated, vacated && !undo.occupied, undo.member && !memberGone, memberGone && !undo.member
}
