package bus

import (
	"context"
	"errors"
	"time"

	"github.com/switchboard-rt/switchboard/protocol"
)

// ErrMemberLimit is returned by AddMember when the channel already has the
// maximum number of distinct members and the user is not one of them.
var ErrMemberLimit = errors.New("presence channel is full")

// Counts are a channel's cluster-wide numbers.
type Counts struct {
	// Subscriptions is the number of connections subscribed.
	Subscriptions int
	// Users is the number of distinct presence members (presence channels).
	Users int
}

// MemberUpdate is the cluster-wide effect of AddMember or RemoveMember,
// decided atomically with it.
type MemberUpdate struct {
	// UserChanged: the user's first connection in the channel joined
	// (AddMember) or its last one left (RemoveMember).
	UserChanged bool
	// Subscriptions is the channel's connection count after the update:
	// 1 after an add means the channel became occupied, 0 after a remove
	// that it became vacant.
	Subscriptions int
}

// CachedEvent is the last event published to a cache channel.
type CachedEvent struct {
	Event   string
	Data    []byte // raw JSON value, as in Message.Data
	Expires time.Time
}

// State is the channel state all nodes share. Every method is keyed by app
// id; socket ids are unique across the cluster.
type State interface {
	// AddSubscription records that socketID subscribed to channel and
	// returns the channel's subscription count after it.
	AddSubscription(ctx context.Context, appID, channel, socketID string) (int, error)
	// RemoveSubscription undoes AddSubscription and returns the count after.
	RemoveSubscription(ctx context.Context, appID, channel, socketID string) (int, error)

	// AddMember adds socketID as a connection of member m in a presence
	// channel; it counts as the socket's subscription too, so presence
	// sockets need no AddSubscription. UserChanged reports that m.UserID
	// had no connection in the channel before (→ member_added). With
	// maxMembers > 0 a new user beyond that many gets ErrMemberLimit and
	// nothing is recorded.
	AddMember(ctx context.Context, appID, channel, socketID string, m protocol.Member, maxMembers int) (MemberUpdate, error)
	// RemoveMember removes one connection of userID; UserChanged reports
	// that it was the user's last connection in the channel
	// (→ member_removed).
	RemoveMember(ctx context.Context, appID, channel, socketID, userID string) (MemberUpdate, error)
	// Members lists a presence channel's distinct members.
	Members(ctx context.Context, appID, channel string) ([]protocol.Member, error)

	// Channel returns one channel's counts (zero when unoccupied).
	Channel(ctx context.Context, appID, channel string) (Counts, error)
	// Channels returns every occupied channel of the app whose name starts
	// with prefix.
	Channels(ctx context.Context, appID, prefix string) (map[string]Counts, error)

	// SetCache stores the last event of a cache channel for ttl.
	SetCache(ctx context.Context, appID, channel string, ev CachedEvent, ttl time.Duration) error
	// Cache returns the cached event of a channel, if any and not expired.
	Cache(ctx context.Context, appID, channel string) (CachedEvent, bool, error)

	// AddUser records a signed-in connection of userID; first reports the
	// user's first connection in the app (→ watchlist online). Adding a
	// connection already recorded changes nothing and is not first.
	AddUser(ctx context.Context, appID, userID, socketID string) (first bool, err error)
	// RemoveUser undoes AddUser; last reports the user's last connection.
	RemoveUser(ctx context.Context, appID, userID, socketID string) (last bool, err error)
	// OnlineUsers returns which of ids have a signed-in connection.
	OnlineUsers(ctx context.Context, appID string, ids []string) ([]string, error)
}

// Departure is one entry of a node that died, removed from the shared
// state by another node on its behalf: the announcements the dead node
// would have made (member_removed, watchlist offline, channel vacated) are
// the receiver's to make.
type Departure struct {
	AppID    string
	SocketID string
	// Channel is the channel the socket was subscribed to; "" when the
	// entry was a signed-in user.
	Channel string
	// UserID is the presence member or signed-in user; "" for a plain
	// subscription.
	UserID string
	// Gone: it was the user's last connection in the channel (presence)
	// or in the app (signed-in user).
	Gone bool
	// Subscriptions is the channel's count after the removal (0: vacated).
	Subscriptions int
}
