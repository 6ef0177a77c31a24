package edge

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
)

// subscriptionError is a rejected subscription, reported to pusher-js on
// the channel (pusher:subscription_error, so channel.bind fires) and on the
// connection (pusher:error); the connection stays open.
type subscriptionError struct {
	status  int    // HTTP-style status pusher-js passes to the app
	kind    string // AuthError, LimitReached, BadRequest, ServerError
	message string
}

func (c *conn) rejectSubscription(channel string, e subscriptionError) {
	if channel != "" {
		data := `{"type":` + string(protocol.AppendJSONString(nil, e.kind)) +
			`,"error":` + string(protocol.AppendJSONString(nil, e.message)) +
			`,"status":` + strconv.Itoa(e.status) + `}`
		c.sendNow(stringEventFrame(protocol.EventSubscriptionError, channel, data))
	}
	code := 0
	if e.status == 401 {
		code = protocol.ErrUnauthorized.Code
	}
	msg := e.message
	if channel != "" {
		msg = "Subscription to " + channel + " rejected: " + e.message
	}
	c.sendError(&protocol.Error{Code: code, Message: msg}, "")
}

func (c *conn) subscribe(data json.RawMessage) {
	d, err := protocol.DecodeSubscribe(data)
	if err != nil || d.Channel == "" {
		c.rejectSubscription("", subscriptionError{400, "BadRequest", "pusher:subscribe needs data with a channel"})
		return
	}
	ch, app := d.Channel, c.app
	if !protocol.ValidChannelName(ch, app.MaxChannelNameLength) {
		c.rejectSubscription(ch, subscriptionError{400, "BadRequest", "Invalid channel name: at most " +
			strconv.Itoa(app.MaxChannelNameLength) + " characters from A-Z a-z 0-9 _ - = @ , . ;"})
		return
	}
	kind := protocol.Classify(ch)
	if sub := c.subs[ch]; sub != nil {
		// Idempotent: confirm again, without a second member_added.
		frames, e := c.welcomeFrames(sub)
		if e != nil {
			c.rejectSubscription(ch, *e)
			return
		}
		for _, f := range frames {
			c.sendNow(f)
		}
		return
	}
	if len(c.subs) >= c.srv.opts.MaxChannelsPerConnection {
		c.rejectSubscription(ch, subscriptionError{403, "LimitReached", "Too many channels on one connection (limit " +
			strconv.Itoa(c.srv.opts.MaxChannelsPerConnection) + ")"})
		return
	}
	sub := &subscription{conn: c, channel: ch, kind: kind, positions: d.Position != nil}
	resume := d.Position != nil && d.Position.Epoch != ""
	if resume {
		sub.resumeEpoch = d.Position.Epoch
		sub.recovery.Store(&recovery{})
	}
	var member protocol.Member
	switch {
	case kind.Kind == protocol.KindServerToUser:
		if id, _ := protocol.ServerToUserID(ch); c.user == nil || c.user.ID != id {
			c.rejectSubscription(ch, subscriptionError{401, "AuthError", "Only a connection signed in as that user may subscribe"})
			return
		}
	case kind.NeedsAuth():
		var e *subscriptionError
		if member, e = c.authorize(ch, kind, d); e != nil {
			c.rejectSubscription(ch, *e)
			return
		}
		sub.userID, sub.userInfo = member.UserID, member.UserInfo
	}

	// A removal held for the grace period: the same user coming back
	// cancels it; another user on this socket (an app switching users
	// without a reload) makes it happen now, before the new member joins.
	if prev, ok := c.leaving[ch]; ok {
		delete(c.leaving, ch)
		if prev == sub.userID {
			c.srv.delay.cancel(c.removalKey(ch, prev))
		} else {
			c.srv.delay.now(c.removalKey(ch, prev))
		}
	}

	ctx := c.srv.ctx
	var j joined
	// A presence subscription is in the hub before the members are added
	// to and read from the shared state (hub.reserve says why).
	reserved := kind.Kind == protocol.KindPresence
	firstLocal := reserved && c.srv.hub.reserve(sub)
	reject := func(e subscriptionError) {
		if reserved {
			c.unreserve(sub, firstLocal)
		}
		c.rejectSubscription(ch, e)
	}
	if kind.Kind == protocol.KindPresence {
		var u bus.MemberUpdate
		u, err = c.srv.opts.State.AddMember(ctx, app.ID, ch, c.socketID, member, app.MaxPresenceMembersPerChannel)
		if errors.Is(err, bus.ErrMemberLimit) {
			reject(subscriptionError{403, "LimitReached", "Presence channel is full (limit " +
				strconv.Itoa(app.MaxPresenceMembersPerChannel) + " members)"})
			return
		}
		// A channel's first socket is also its user's first one.
		j = joined{occupied: u.UserChanged && u.Subscriptions == 1, member: u.UserChanged}
	} else {
		var n int
		n, err = c.srv.opts.State.AddSubscription(ctx, app.ID, ch, c.socketID)
		j.occupied = n == 1
	}
	if err != nil {
		c.srv.log.Error("subscribe: shared state", "app_id", app.ID, "channel", ch, "err", err)
		reject(subscriptionError{500, "ServerError", "Subscription failed, please retry"})
		return
	}
	frames, e := c.welcomeFrames(sub)
	if e != nil {
		c.undoState(sub, j)
		reject(*e)
		return
	}
	if c.subs == nil {
		c.subs = make(map[string]*subscription, 2)
	}
	c.subs[ch] = sub
	c.am.subscriptions.Inc()
	c.socketActivity(activitySubscribed, ch, sub.userID)
	if reserved {
		c.srv.hub.activate(sub, frames)
	} else {
		firstLocal = c.srv.hub.add(sub, frames)
	}
	if firstLocal {
		c.listen(ch)
	}
	if resume {
		// After Listen: whatever this node will not hear live is in the
		// history read now.
		c.recover(sub, *d.Position)
	}
	if j.occupied {
		c.srv.channelWebhook(c.webhookApp(), protocol.WebhookChannelOccupied, ch)
	}
	if j.member {
		data := memberAddedData(member)
		c.publish(&bus.Message{AppID: app.ID, Channel: ch, Event: protocol.EventMemberAdded, Data: data, ExcludeSocketID: c.socketID})
		c.srv.memberWebhook(c.webhookApp(), protocol.WebhookMemberAdded, ch, member.UserID)
	}
	c.countChanged(sub)
}

// authorize checks the channel signature and, for presence, parses the
// member it signs.
func (c *conn) authorize(ch string, kind protocol.Channel, d protocol.SubscribeData) (protocol.Member, *subscriptionError) {
	key, sig, ok := protocol.SplitAuth(d.Auth)
	if !ok {
		return protocol.Member{}, &subscriptionError{401, "AuthError", "Missing or malformed auth: expected \"<app key>:<signature>\""}
	}
	secret, ok := c.app.SecretFor(key)
	if !ok {
		return protocol.Member{}, &subscriptionError{401, "AuthError", "Invalid key in auth: it is not a key of this app"}
	}
	channelData := ""
	if kind.Kind == protocol.KindPresence {
		channelData = d.ChannelData
		if channelData == "" && c.user == nil {
			return protocol.Member{}, &subscriptionError{400, "BadRequest", "Presence subscriptions need channel_data"}
		}
	}
	if !protocol.ValidSignature(secret, []byte(protocol.ChannelAuthString(c.socketID, ch, channelData)), sig) {
		return protocol.Member{}, &subscriptionError{401, "AuthError", "Invalid signature: expected HMAC SHA256 hex digest of " +
			protocol.ChannelAuthString(c.socketID, ch, ellipsis(channelData))}
	}
	if kind.Kind != protocol.KindPresence {
		return protocol.Member{}, nil
	}
	var m protocol.Member
	if channelData == "" {
		// pusher-js 8 may omit channel_data for a signed-in user: the
		// member is that user.
		m = protocol.Member{UserID: c.user.ID, UserInfo: c.user.UserInfo}
	} else {
		var err error
		if m, err = protocol.ParseChannelData(channelData); err != nil {
			return m, &subscriptionError{400, "BadRequest", err.Error()}
		}
	}
	if len(m.UserID) > protocol.DefaultMaxUserIDLength {
		return m, &subscriptionError{400, "BadRequest", "user_id is longer than " + strconv.Itoa(protocol.DefaultMaxUserIDLength) + " characters"}
	}
	if max := c.app.MaxPresenceMemberBytes(); len(m.UserInfo) > max {
		return m, &subscriptionError{400, "LimitReached", "user_info is larger than " + strconv.Itoa(max) + " bytes"}
	}
	return m, nil
}

func ellipsis(channelData string) string {
	if channelData == "" {
		return ""
	}
	return "<channel_data>"
}

// welcomeFrames are what a new subscriber gets before any event of the
// channel: subscription_succeeded (with the member list on presence
// channels), then on cache channels the cached event or cache_miss.
func (c *conn) welcomeFrames(sub *subscription) ([][]byte, *subscriptionError) {
	ctx, app, ch := c.srv.ctx, c.app, sub.channel
	data := "{}"
	if sub.kind.Kind == protocol.KindPresence {
		members, err := c.srv.opts.State.Members(ctx, app.ID, ch)
		if err != nil {
			c.srv.log.Error("subscribe: members", "app_id", app.ID, "channel", ch, "err", err)
			return nil, &subscriptionError{500, "ServerError", "Subscription failed, please retry"}
		}
		data = presenceData(members)
	}
	frames := [][]byte{stringEventFrame(protocol.EventSubscriptionSucceeded, ch, data)}
	if sub.kind.Cache {
		ev, ok, err := c.srv.opts.State.Cache(ctx, app.ID, ch)
		switch {
		case err != nil:
			c.srv.log.Error("subscribe: cache", "app_id", app.ID, "channel", ch, "err", err)
			fallthrough
		case !ok:
			frames = append(frames, eventFrame(protocol.EventCacheMiss, ch, nil, ""))
			c.srv.channelWebhook(c.webhookApp(), protocol.WebhookCacheMiss, ch)
		default:
			frames = append(frames, eventFrame(ev.Event, ch, ev.Data, ""))
		}
	}
	return frames, nil
}

// presenceData is subscription_succeeded's data on a presence channel:
// {"presence":{"ids":[…],"hash":{id:info},"count":n}}.
func presenceData(members []protocol.Member) string {
	b := make([]byte, 0, 64+len(members)*32)
	b = append(b, `{"presence":{"ids":[`...)
	for i, m := range members {
		if i > 0 {
			b = append(b, ',')
		}
		b = protocol.AppendJSONString(b, m.UserID)
	}
	b = append(b, `],"hash":{`...)
	for i, m := range members {
		if i > 0 {
			b = append(b, ',')
		}
		b = protocol.AppendJSONString(b, m.UserID)
		b = append(b, ':')
		b = appendInfo(b, m.UserInfo)
	}
	b = append(b, `},"count":`...)
	b = strconv.AppendInt(b, int64(len(members)), 10)
	return string(append(b, "}}"...))
}

func appendInfo(b, info []byte) []byte {
	if len(info) == 0 {
		return append(b, "null"...)
	}
	return append(b, info...)
}

// memberAddedData is member_added's data, a JSON string.
func memberAddedData(m protocol.Member) []byte {
	inner := append([]byte(`{"user_id":`), protocol.AppendJSONString(nil, m.UserID)...)
	inner = append(inner, `,"user_info":`...)
	inner = appendInfo(inner, m.UserInfo)
	inner = append(inner, '}')
	return protocol.AppendJSONString(nil, string(inner))
}

// memberRemovedData is member_removed's data, a JSON string.
func memberRemovedData(userID string) []byte {
	return protocol.AppendJSONString(nil, `{"user_id":`+string(protocol.AppendJSONString(nil, userID))+`}`)
}

func (c *conn) unsubscribe(data json.RawMessage) {
	d, err := protocol.DecodeSubscribe(data)
	if err != nil {
		c.sendError(protocol.ErrInvalidMessage, "")
		return
	}
	if sub := c.subs[d.Channel]; sub != nil {
		c.leave(sub, false)
	}
}

// leave ends a subscription: the socket stops receiving the channel at
// once; the shared state forgets it after the grace period for presence
// channels, and for other channels when the socket disconnected.
//
// The grace on a disconnect keeps a page reload (a new socket subscribing
// within the grace) from producing a channel_vacated/occupied pair. The
// removal itself is held back, rather than the vacated decision: the
// count then never reaches zero during the reload, so no node sees a
// transition, and every transition that does happen is still decided
// atomically by the shared state. A vacated held back on one node could
// not see an occupied decided on another. An explicit unsubscribe is the
// client's decision and takes effect at once.
func (c *conn) leave(sub *subscription, disconnect bool) {
	delete(c.subs, sub.channel)
	c.am.subscriptions.Dec()
	c.socketActivity(activityUnsubscribed, sub.channel, sub.userID)
	appID, ch := c.app.ID, sub.channel
	if c.srv.hub.remove(sub) {
		c.ignore(ch)
	}
	if sub.kind.Kind != protocol.KindPresence {
		remove := func() {
			c.undoState(sub, joined{})
			c.countChanged(sub)
		}
		if !disconnect || c.srv.opts.PresenceGrace <= 0 {
			remove()
			return
		}
		c.srv.delay.after("s\x00"+appID+"\x00"+ch+"\x00"+c.socketID, c.srv.opts.PresenceGrace, remove)
		return
	}
	if c.leaving == nil {
		c.leaving = make(map[string]string, 1)
	}
	c.leaving[ch] = sub.userID
	c.srv.delay.after(c.removalKey(ch, sub.userID), c.srv.opts.PresenceGrace, func() { c.undoState(sub, joined{}) })
}

func (c *conn) listen(ch string) {
	if err := c.srv.opts.Bus.Listen(c.srv.ctx, c.app.ID, ch); err != nil {
		c.srv.log.Error("subscribe: bus listen", "app_id", c.app.ID, "channel", ch, "err", err)
	}
}

func (c *conn) ignore(ch string) {
	if err := c.srv.opts.Bus.Ignore(c.srv.ctx, c.app.ID, ch); err != nil {
		c.srv.log.Error("unsubscribe: bus ignore", "app_id", c.app.ID, "channel", ch, "err", err)
	}
}

// unreserve takes back a reserved subscription that failed. The node
// listens to a channel's bus events from its first local subscription
// to its last: if this one was the first and others came meanwhile, it
// starts listening for them; if it was the last, it stops.
func (c *conn) unreserve(sub *subscription, firstLocal bool) {
	last := c.srv.hub.remove(sub)
	switch {
	case firstLocal && !last:
		c.listen(sub.channel)
	case !firstLocal && last:
		c.ignore(sub.channel)
	}
}

func (c *conn) removalKey(ch, userID string) string {
	return "m\x00" + c.app.ID + "\x00" + ch + "\x00" + c.socketID + "\x00" + userID
}

// undoState removes the subscription from the shared state, announcing a
// presence member's departure when it was the user's last socket and the
// channel's vacancy when it was the last socket. undo is what the add
// decided when a failed subscription is being taken back (see
// leftUndoing), zero otherwise.
func (c *conn) undoState(sub *subscription, undo joined) {
	s, app, ch := c.srv, c.app, sub.channel
	var vacated, gone bool
	if sub.kind.Kind != protocol.KindPresence {
		n, err := s.opts.State.RemoveSubscription(s.ctx, app.ID, ch, c.socketID)
		if err != nil {
			s.log.Error("unsubscribe: shared state", "app_id", app.ID, "channel", ch, "err", err)
			return
		}
		vacated = n == 0
	} else {
		u, err := s.opts.State.RemoveMember(s.ctx, app.ID, ch, c.socketID, sub.userID)
		if err != nil {
			s.log.Error("unsubscribe: presence", "app_id", app.ID, "channel", ch, "err", err)
			return
		}
		// Only a removal that took the user's last socket can empty the
		// channel; this also ignores a count of 0 for a socket that was
		// not there.
		gone, vacated = u.UserChanged, u.UserChanged && u.Subscriptions == 0
	}
	sub.stateRemoved.Store(true)
	if gone {
		c.publish(&bus.Message{AppID: app.ID, Channel: ch, Event: protocol.EventMemberRemoved, Data: memberRemovedData(sub.userID)})
	}
	occupied, vacated, added, removed := leftUndoing(undo, vacated, gone)
	app = c.webhookApp()
	if occupied {
		s.channelWebhook(app, protocol.WebhookChannelOccupied, ch)
	}
	if added {
		s.memberWebhook(app, protocol.WebhookMemberAdded, ch, sub.userID)
	}
	if removed {
		s.memberWebhook(app, protocol.WebhookMemberRemoved, ch, sub.userID)
	}
	if vacated {
		s.channelWebhook(app, protocol.WebhookChannelVacated, ch)
	}
}

// countChanged schedules a subscription_count broadcast for apps that
// enable it. Changes within SubscriptionCountDelay share one broadcast.
func (c *conn) countChanged(sub *subscription) {
	c.srv.countChanged(c.webhookApp(), sub.channel, sub.kind)
}

// countChanged schedules the subscription_count broadcast (and webhook)
// of a channel of app, when the app enables it.
func (s *Server) countChanged(app *tenants.App, ch string, kind protocol.Channel) {
	if !app.EnableSubscriptionCount || kind.Kind == protocol.KindPresence || kind.Kind == protocol.KindServerToUser {
		return
	}
	appID := app.ID
	s.delay.after("c\x00"+appID+"\x00"+ch, s.opts.SubscriptionCountDelay, func() {
		counts, err := s.opts.State.Channel(s.ctx, appID, ch)
		if err != nil || counts.Subscriptions == 0 {
			return
		}
		data := protocol.AppendJSONString(nil, `{"subscription_count":`+strconv.Itoa(counts.Subscriptions)+`}`)
		msg := &bus.Message{AppID: appID, Channel: ch, Event: protocol.EventSubscriptionCount, Data: data}
		if err := s.opts.Bus.Publish(s.ctx, msg); err != nil {
			s.log.Error("subscription count: publish", "app_id", appID, "channel", ch, "err", err)
		}
		s.subscriptionCountWebhook(app, ch, counts.Subscriptions)
	})
}

func (c *conn) publish(msg *bus.Message) error { return c.srv.publish(c.srv.ctx, msg) }
