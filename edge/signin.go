package edge

import (
	"encoding/json"
	"strconv"

	"golang.org/x/time/rate"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/protocol"
)

// signin handles pusher:signin: it binds the socket to a user, makes it
// reachable through #server-to-user-{id} and terminate_connections, and
// starts its watchlist.
func (c *conn) signin(data json.RawMessage) {
	d, err := protocol.DecodeSignin(data)
	if err != nil {
		c.signinFailed("pusher:signin needs data with auth and user_data")
		return
	}
	key, sig, ok := protocol.SplitAuth(d.Auth)
	if !ok {
		c.signinFailed("Missing or malformed auth: expected \"<app key>:<signature>\"")
		return
	}
	secret, ok := c.app.SecretFor(key)
	if !ok || !protocol.ValidSignature(secret, []byte(protocol.UserAuthString(c.socketID, d.UserData)), sig) {
		c.signinFailed("Invalid signature: expected HMAC SHA256 hex digest of " + c.socketID + "::user::<user_data>")
		return
	}
	user, err := protocol.ParseUserData(d.UserData)
	if err != nil {
		c.signinFailed(err.Error())
		return
	}
	if len(user.Watchlist) > protocol.DefaultMaxWatchlistSize {
		c.signinFailed("watchlist has more than " + strconv.Itoa(protocol.DefaultMaxWatchlistSize) + " users")
		return
	}
	if c.user != nil {
		if c.user.ID != user.ID {
			c.signinFailed("Connection is already signed in as another user")
			return
		}
		c.send(signinSuccessFrame(d.UserData))
		return
	}
	c.user = &user
	c.signedIn.Store(true)
	c.send(signinSuccessFrame(d.UserData))
	c.srv.hub.signIn(c)

	ctx, appID := c.srv.ctx, c.app.ID
	first, err := c.srv.opts.State.AddUser(ctx, appID, user.ID, c.socketID)
	if err != nil {
		c.srv.log.Error("signin: shared state", "app_id", appID, "err", err)
	}
	if first {
		c.publish(&bus.Message{Kind: bus.KindUserOnline, AppID: appID, UserID: user.ID})
	}
	if len(user.Watchlist) > 0 {
		online, err := c.srv.opts.State.OnlineUsers(ctx, appID, user.Watchlist)
		if err != nil {
			c.srv.log.Error("signin: watchlist", "app_id", appID, "err", err)
			return
		}
		c.send(watchlistFrame(watchlistEvent{"online", online}, watchlistEvent{"offline", missing(user.Watchlist, online)}))
	}
}

// signinFailed reports a failed sign-in with 4009. The connection stays
// open unless the app requires every connection to sign in.
func (c *conn) signinFailed(msg string) {
	err := protocol.ErrUnauthorized.WithMessage(msg)
	if c.app.EnableUserAuthentication {
		c.closeWith(err)
		return
	}
	c.sendError(err, "")
}

func signinSuccessFrame(userData string) []byte {
	inner := append([]byte(`{"user_data":`), protocol.AppendJSONString(nil, userData)...)
	return stringEventFrame(protocol.EventSigninSuccess, "", string(append(inner, '}')))
}

// signOut undoes signin when the socket closes. The user's offline status
// is held for the presence grace period, as member_removed is.
func (c *conn) signOut() {
	if c.user == nil {
		return
	}
	c.srv.hub.signOut(c)
	s, appID, userID, socketID := c.srv, c.app.ID, c.user.ID, c.socketID
	s.delay.after("u\x00"+appID+"\x00"+userID+"\x00"+socketID, s.opts.PresenceGrace, func() {
		last, err := s.opts.State.RemoveUser(s.ctx, appID, userID, socketID)
		if err != nil {
			s.log.Error("signout: shared state", "app_id", appID, "err", err)
			return
		}
		if last {
			if err := s.opts.Bus.Publish(s.ctx, &bus.Message{Kind: bus.KindUserOffline, AppID: appID, UserID: userID}); err != nil {
				s.log.Error("signout: publish", "app_id", appID, "err", err)
			}
		}
	})
}

type watchlistEvent struct {
	name    string
	userIDs []string
}

// watchlistFrame encodes pusher_internal:watchlist_events with the
// non-empty events given.
func watchlistFrame(evs ...watchlistEvent) []byte {
	b := []byte(`{"events":[`)
	n := 0
	for _, ev := range evs {
		if len(ev.userIDs) == 0 {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = append(b, `{"name":`...)
		b = protocol.AppendJSONString(b, ev.name)
		b = append(b, `,"user_ids":[`...)
		for i, id := range ev.userIDs {
			if i > 0 {
				b = append(b, ',')
			}
			b = protocol.AppendJSONString(b, id)
		}
		b = append(b, "]}"...)
	}
	b = append(b, "]}"...)
	return stringEventFrame(protocol.EventWatchlist, "", string(b))
}

func missing(all, present []string) []string {
	in := make(map[string]bool, len(present))
	for _, id := range present {
		in[id] = true
	}
	var out []string
	for _, id := range all {
		if !in[id] {
			out = append(out, id)
		}
	}
	return out
}

// clientEvent relays a client-* event to the channel's other subscribers
// after the checks the protocol requires, in its order.
func (c *conn) clientEvent(f protocol.ClientFrame) {
	app := c.app
	reject := func(msg string) { c.sendError(&protocol.Error{Message: "Client event rejected: " + msg}, f.Channel) }
	sub := c.subs[f.Channel]
	switch {
	case f.Channel == "":
		reject("a channel is required")
	case !protocol.Classify(f.Channel).AllowsClientEvents():
		reject("client events are only allowed on private and presence channels")
	case !app.EnableClientMessages:
		reject("client events are not enabled for this app")
	case sub == nil:
		reject("not subscribed to channel " + f.Channel)
	case len(f.Event) > app.MaxEventNameLength:
		reject("event name is longer than " + strconv.Itoa(app.MaxEventNameLength) + " characters")
	case len(f.Data) > app.MaxEventPayloadBytes():
		reject("data is larger than " + strconv.Itoa(app.MaxEventPayloadBytes()) + " bytes")
	case !c.allowClientEvent():
		c.sendError(protocol.ErrClientEventRateLimit, f.Channel)
	case c.srv.opts.Usage.AllowMessages(app.ID, 1) != nil:
		c.sendError(protocol.ErrClientEventOverQuota, f.Channel)
	default:
		if c.publish(&bus.Message{AppID: app.ID, Channel: f.Channel, Event: f.Event, Data: f.Data, UserID: sub.userID, ExcludeSocketID: c.socketID,
			History: historyOf(app)}) == nil {
			c.srv.opts.Usage.Published(app.ID, 1)
		}
		c.clientEventWebhook(f, sub.userID)
	}
}

func (c *conn) allowClientEvent() bool {
	n := c.app.MaxClientEventsPerSecond
	if n < 0 {
		return true
	}
	if c.limiter == nil {
		c.limiter = rate.NewLimiter(rate.Limit(n), max(n, 1))
	}
	return n > 0 && c.limiter.Allow()
}
