package edge

import (
	"context"
	"encoding/json"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
)

// clusterConnections counts an app's connections across every node
// (redisbus.State implements it). Without it a node enforces
// max_connections on its own sockets only.
type clusterConnections interface {
	AcquireConnection(ctx context.Context, appID string, max int) (bool, error)
	ReleaseConnection(ctx context.Context, appID string) error
	// SetConnections restores this node's count after the shared state
	// lost it.
	SetConnections(ctx context.Context, appID string, n int) error
}

// acquireClusterConnection counts c toward its app's cluster-wide limit.
// counted reports that the cluster now counts it; refused that the app is
// full. When the shared counter is unreachable neither is set and the
// caller falls back to this node's own count.
func (s *Server) acquireClusterConnection(c *conn) (counted, refused bool) {
	cc, max := s.opts.Connections, c.app.MaxConnections
	if cc == nil || max == tenants.Unlimited {
		return false, false
	}
	ok, err := cc.AcquireConnection(s.ctx, c.app.ID, max)
	if err != nil {
		s.log.Warn("connection limit: shared counter unreachable; enforcing this node's share only", "app_id", c.app.ID, "err", err)
		return false, false
	}
	return ok, !ok
}

func (s *Server) releaseClusterConnection(c *conn) {
	if !c.clusterCounted {
		return
	}
	if err := s.opts.Connections.ReleaseConnection(s.ctx, c.app.ID); err != nil {
		s.log.Warn("connection limit: release failed", "app_id", c.app.ID, "err", err)
	}
}

// Departed announces what a dead node can no longer: a presence member's
// last connection in a channel (member_removed) or a user's last signed-in
// connection (watchlist offline), and the webhooks of the removal. The shared state has already forgotten
// the entry; see redisbus.Liveness.
func (s *Server) Departed(ctx context.Context, d bus.Departure) {
	s.departureWebhooks(ctx, d)
	if !d.Gone || d.UserID == "" {
		return
	}
	msg := &bus.Message{Kind: bus.KindUserOffline, AppID: d.AppID, UserID: d.UserID}
	if d.Channel != "" {
		msg = &bus.Message{AppID: d.AppID, Channel: d.Channel, Event: protocol.EventMemberRemoved, Data: memberRemovedData(d.UserID)}
	}
	s.publish(ctx, msg)
}

// appByID is the part of tenants.Directory that finds the app of a dead
// node's entry, for its webhooks.
type appByID interface {
	AppByID(ctx context.Context, id string) (*tenants.App, error)
}

// departureWebhooks sends the member_removed and channel_vacated webhooks
// the dead node would have sent when its sockets closed, and the
// channel's new subscription_count.
func (s *Server) departureWebhooks(ctx context.Context, d bus.Departure) {
	apps, ok := s.opts.Apps.(appByID)
	if d.Channel == "" || !ok {
		return
	}
	app, err := apps.AppByID(ctx, d.AppID)
	if err != nil {
		s.log.Warn("departed node: app not found", "app_id", d.AppID, "err", err)
		return
	}
	if d.Subscriptions > 0 {
		s.countChanged(app, d.Channel, protocol.Classify(d.Channel))
	}
	presence := d.UserID != ""
	if presence && d.Gone {
		s.memberWebhook(app, protocol.WebhookMemberRemoved, d.Channel, d.UserID)
	}
	// A presence removal that was not the user's last cannot empty the
	// channel (as in undoState).
	if d.Subscriptions == 0 && (!presence || d.Gone) {
		s.channelWebhook(app, protocol.WebhookChannelVacated, d.Channel)
	}
}

// Reassert adds this node's sockets back to the shared state: after Redis
// lost its data (a restart without persistence) or after the other nodes
// took this one for dead, the cluster must count them again. A user whose
// membership the cluster had lost is announced again to clients with
// member_added; no webhook is sent (after a Redis restart that would be an
// occupied for every channel of the cluster). It returns how many entries
// it wrote.
func (s *Server) Reassert(ctx context.Context) int {
	subs := s.hub.subscriptions()
	// undo[i] is what re-adding subs[i] decided, so that taking it back
	// below emits no webhook for a transition nobody saw.
	undo := make([]joined, len(subs))
	n := 0
	for i, sub := range subs {
		appID, socketID, ch := sub.conn.app.ID, sub.conn.socketID, sub.channel
		var err error
		if sub.kind.Kind == protocol.KindPresence {
			m := protocol.Member{UserID: sub.userID, UserInfo: json.RawMessage(sub.userInfo)}
			var u bus.MemberUpdate
			u, err = s.opts.State.AddMember(ctx, appID, ch, socketID, m, 0)
			if err == nil && u.UserChanged {
				s.publish(ctx, &bus.Message{AppID: appID, Channel: ch, Event: protocol.EventMemberAdded,
					Data: memberAddedData(m), ExcludeSocketID: socketID})
			}
			undo[i] = joined{occupied: u.UserChanged && u.Subscriptions == 1, member: u.UserChanged}
		} else {
			var count int
			count, err = s.opts.State.AddSubscription(ctx, appID, ch, socketID)
			undo[i] = joined{occupied: count == 1}
		}
		if err != nil {
			s.log.Error("reassert: shared state", "app_id", appID, "channel", ch, "err", err)
			continue
		}
		n++
	}
	// A socket whose removal from the shared state ran while this was
	// adding it back is there again: remove it once more. (One whose
	// removal is still held for the grace period goes when it runs.)
	for i, sub := range subs {
		if sub.stateRemoved.Load() && !s.hub.contains(sub) {
			sub.conn.undoState(sub, undo[i])
		}
	}
	for _, u := range s.hub.signedIn() {
		if _, err := s.opts.State.AddUser(ctx, u.app, u.name, u.socketID); err != nil {
			s.log.Error("reassert: signed-in user", "app_id", u.app, "err", err)
			continue
		}
		n++
	}
	if cc := s.opts.Connections; cc != nil {
		perApp := map[string]int{}
		for _, c := range s.snapshot() {
			if c.clusterCounted {
				perApp[c.app.ID]++
			}
		}
		for app, count := range perApp {
			if err := cc.SetConnections(ctx, app, count); err != nil {
				s.log.Error("reassert: connection count", "app_id", app, "err", err)
			}
		}
	}
	return n
}

func (s *Server) publish(ctx context.Context, msg *bus.Message) error {
	err := s.opts.Bus.Publish(ctx, msg)
	if err != nil {
		s.log.Error("publish", "app_id", msg.AppID, "channel", msg.Channel, "event", msg.Event, "err", err)
	}
	return err
}

// subscriptions lists every local subscription; the fields Reassert reads
// (socket, channel, kind, member) never change after subscribe. One still
// reserved is left out: its subscribe is adding it to the shared state.
func (h *hub) subscriptions() []*subscription {
	var out []*subscription
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		sh.channels.Range(func(_, _ string, lc *localChannel) bool {
			for _, s := range lc.subs {
				if s.joining.Load() == nil {
					out = append(out, s)
				}
			}
			return true
		})
		sh.mu.RUnlock()
	}
	return out
}

// contains reports whether s is still a local subscriber.
func (h *hub) contains(s *subscription) bool {
	k := chanKey{s.conn.app.ID, s.channel}
	sh := h.shard(k)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	lc, _ := sh.channels.Get(k.app, k.name)
	return lc != nil && s.pos < len(lc.subs) && lc.subs[s.pos] == s
}

type signedInSocket struct{ app, name, socketID string }

// signedIn lists every local signed-in socket with its user.
func (h *hub) signedIn() []signedInSocket {
	h.umu.RLock()
	defer h.umu.RUnlock()
	var out []signedInSocket
	for k, conns := range h.users {
		for c := range conns {
			out = append(out, signedInSocket{k.app, k.name, c.socketID})
		}
	}
	return out
}
