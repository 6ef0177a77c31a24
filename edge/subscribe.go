package edge

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/protocol"
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
	sub := &subscription{conn: c, channel: ch, kind: kind}
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
	firstMember := false
	if kind.Kind == protocol.KindPresence {
		var u bus.MemberUpdate
		u, err = c.srv.opts.State.AddMember(ctx, app.ID, ch, c.socketID, member, app.MaxPresenceMembersPerChannel)
		if errors.Is(err, bus.ErrMemberLimit) {
			c.rejectSubscription(ch, subscriptionError{403, "LimitReached", "Presence channel is full (limit " +
				strconv.Itoa(app.MaxPresenceMembersPerChannel) + " members)"})
			return
		}
		firstMember = u.UserChanged
	} else {
		_, err = c.srv.opts.State.AddSubscription(ctx, app.ID, ch, c.socketID)
	}
	if err != nil {
		c.srv.log.Error("subscribe: shared state", "app_id", app.ID, "channel", ch, "err", err)
		c.rejectSubscription(ch, subscriptionError{500, "ServerError", "Subscription failed, please retry"})
		return
	}
	frames, e := c.welcomeFrames(sub)
	if e != nil {
		c.undoState(sub)
		c.rejectSubscription(ch, *e)
		return
	}
	if c.subs == nil {
		c.subs = make(map[string]*subscription, 2)
	}
	c.subs[ch] = sub
	c.am.subscriptions.Inc()
	if c.srv.hub.add(sub, frames) {
		if err := c.srv.opts.Bus.Listen(ctx, app.ID, ch); err != nil {
			c.srv.log.Error("subscribe: bus listen", "app_id", app.ID, "channel", ch, "err", err)
		}
	}
	if firstMember {
		data := memberAddedData(member)
		c.publish(&bus.Message{AppID: app.ID, Channel: ch, Event: protocol.EventMemberAdded, Data: data, ExcludeSocketID: c.socketID})
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
		c.leave(sub)
	}
}

// leave ends a subscription: the socket stops receiving the channel at
// once; the shared state forgets it (presence: after the grace period).
func (c *conn) leave(sub *subscription) {
	delete(c.subs, sub.channel)
	c.am.subscriptions.Dec()
	ctx, appID, ch := c.srv.ctx, c.app.ID, sub.channel
	if c.srv.hub.remove(sub) {
		if err := c.srv.opts.Bus.Ignore(ctx, appID, ch); err != nil {
			c.srv.log.Error("unsubscribe: bus ignore", "app_id", appID, "channel", ch, "err", err)
		}
	}
	if sub.kind.Kind != protocol.KindPresence {
		c.undoState(sub)
		c.countChanged(sub)
		return
	}
	if c.leaving == nil {
		c.leaving = make(map[string]string, 1)
	}
	c.leaving[ch] = sub.userID
	c.srv.delay.after(c.removalKey(ch, sub.userID), c.srv.opts.PresenceGrace, func() { c.undoState(sub) })
}

func (c *conn) removalKey(ch, userID string) string {
	return "m\x00" + c.app.ID + "\x00" + ch + "\x00" + c.socketID + "\x00" + userID
}

// undoState removes the subscription from the shared state, announcing a
// presence member's departure when it was the user's last socket.
func (c *conn) undoState(sub *subscription) {
	ctx, appID, ch := c.srv.ctx, c.app.ID, sub.channel
	if sub.kind.Kind != protocol.KindPresence {
		if _, err := c.srv.opts.State.RemoveSubscription(ctx, appID, ch, c.socketID); err != nil {
			c.srv.log.Error("unsubscribe: shared state", "app_id", appID, "channel", ch, "err", err)
		}
		return
	}
	u, err := c.srv.opts.State.RemoveMember(ctx, appID, ch, c.socketID, sub.userID)
	if err != nil {
		c.srv.log.Error("unsubscribe: presence", "app_id", appID, "channel", ch, "err", err)
		return
	}
	if u.UserChanged {
		c.publish(&bus.Message{AppID: appID, Channel: ch, Event: protocol.EventMemberRemoved, Data: memberRemovedData(sub.userID)})
	}
}

// countChanged schedules a subscription_count broadcast for apps that
// enable it. Changes within SubscriptionCountDelay share one broadcast.
func (c *conn) countChanged(sub *subscription) {
	if !c.app.EnableSubscriptionCount || sub.kind.Kind == protocol.KindPresence || sub.kind.Kind == protocol.KindServerToUser {
		return
	}
	s, appID, ch := c.srv, c.app.ID, sub.channel
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
	})
}

func (c *conn) publish(msg *bus.Message) {
	if err := c.srv.opts.Bus.Publish(c.srv.ctx, msg); err != nil {
		c.srv.log.Error("publish", "app_id", msg.AppID, "channel", msg.Channel, "event", msg.Event, "err", err)
	}
}
