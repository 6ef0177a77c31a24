package edge

import "github.com/switchboard-rt/switchboard/bus"

// Activity is the dashboard's live debug console feed (*activity.Feed);
// nil turns it off. Watched is asked before an entry is built, so a
// socket of an app nobody watches pays a nil check and one atomic load.
// Emit must not block: it is called on sockets' read goroutines.
type Activity interface {
	Watched(appID string) bool
	Emit(appID string, e bus.Activity)
}

// Activity entry types the edge emits; webhook-shaped ones use the
// webhook's name (channel_occupied, member_added, client_event, …).
const (
	activityConnected    = "connection"
	activityDisconnected = "disconnection"
	activitySubscribed   = "subscribed"
	activityUnsubscribed = "unsubscribed"
)

func (s *Server) watched(appID string) bool {
	return s.opts.Activity != nil && s.opts.Activity.Watched(appID)
}

// socketActivity reports a socket's own step (connect, subscribe, …).
func (c *conn) socketActivity(kind, channel, userID string) {
	if c.srv.watched(c.app.ID) {
		c.srv.opts.Activity.Emit(c.app.ID, bus.Activity{Type: kind, SocketID: c.socketID, Channel: channel, UserID: userID})
	}
}
