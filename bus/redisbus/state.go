package redisbus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/protocol"
)

// State is the shared channel state on Redis. Every decision that must be
// made once for the whole cluster — a user's first socket in a channel
// anywhere, their last one, a full presence channel — is one Lua script,
// so it is atomic. All keys of an app share one hash slot ({app}), so the
// scripts also run on Redis Cluster, where apps spread over the shards.
//
// Per channel: a hash socket → presence user id ("" for other channels),
// a hash user → user_info, a hash user → socket count, and the cache
// channel's last event; per app, the set of occupied channels and a set of
// sockets per signed-in user.
//
// Every entry is also recorded, in the same script, in a set per app and
// node ("what node N added"), so that when a node dies another one can
// undo exactly its entries (see Liveness); a set per node lists the apps
// it has entries in.
type State struct {
	rdb    redis.UniversalClient
	prefix string
	node   string

	// registered caches which apps are in this node's app set, so the
	// SADD happens once per app, not per subscription.
	registered sync.Map // app id → struct{}
}

var _ bus.State = (*State)(nil)

// NewState returns the state on rdb of the node named node (unique in the
// cluster, e.g. the edge's node id); prefix as in Options.Prefix.
func NewState(rdb redis.UniversalClient, prefix, node string) *State {
	if prefix == "" {
		prefix = "sb:"
	}
	return &State{rdb: rdb, prefix: prefix, node: node}
}

// Node is the name of the node this State records entries for.
func (s *State) Node() string { return s.node }

func (s *State) app(app string) string { return s.prefix + "{" + app + "}:" }

// nodeEntries is the set of entries node added to app's state. It shares
// the app's hash slot, so the scripts can update it with the entry.
func (s *State) nodeEntries(app, node string) string {
	return s.app(app) + "node:" + strconv.Itoa(len(node)) + ":" + node
}

// nodeApps is the set of apps node has entries in.
func (s *State) nodeApps(node string) string { return s.prefix + "node:" + node + ":apps" }

// register adds app to this node's app set before its first entry there.
func (s *State) register(ctx context.Context, app string) error {
	if _, ok := s.registered.Load(app); ok {
		return nil
	}
	if err := s.rdb.SAdd(ctx, s.nodeApps(s.node), app).Err(); err != nil {
		return wrap(err)
	}
	s.registered.Store(app, struct{}{})
	return nil
}

// forgetRegistrations makes register write again: after Redis lost its
// data, the node's app set is gone too.
func (s *State) forgetRegistrations() { s.registered.Clear() }

// Entries in a node's set: kind, socket id, then the channel or user id
// (socket ids hold no NUL; the last part may).
const (
	entrySubscription = "s"
	entryUser         = "u"
)

func entry(kind, socketID, name string) string { return kind + "\x00" + socketID + "\x00" + name }

func parseEntry(e string) (kind, socketID, name string, ok bool) {
	kind, rest, ok1 := strings.Cut(e, "\x00")
	socketID, name, ok2 := strings.Cut(rest, "\x00")
	return kind, socketID, name, ok1 && ok2
}

type channelKeys struct{ sockets, members, counts, cache, index string }

func (s *State) keys(app, ch string) channelKeys {
	base := s.app(app) + "c:" + strconv.Itoa(len(ch)) + ":" + ch
	return channelKeys{base + ":s", base + ":m", base + ":n", base + ":cache", s.app(app) + "channels"}
}

// list is the keys the channel scripts take, the node's entry set last.
func (k channelKeys) list(nodeEntries string) []string {
	return []string{k.sockets, k.members, k.counts, k.index, nodeEntries}
}

var addSubscription = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then redis.call('HSET', KEYS[1], ARGV[1], '') end
redis.call('SADD', KEYS[4], ARGV[2])
redis.call('SADD', KEYS[5], ARGV[3])
return redis.call('HLEN', KEYS[1])`)

var removeSubscription = redis.NewScript(`
redis.call('SREM', KEYS[5], ARGV[3])
local uid = redis.call('HGET', KEYS[1], ARGV[1])
if uid and uid ~= '' then
  if redis.call('HINCRBY', KEYS[3], uid, -1) <= 0 then
    redis.call('HDEL', KEYS[3], uid)
    redis.call('HDEL', KEYS[2], uid)
  end
end
redis.call('HDEL', KEYS[1], ARGV[1])
local n = redis.call('HLEN', KEYS[1])
if n == 0 then redis.call('SREM', KEYS[4], ARGV[2]) end
return n`)

// addMember answers 1 (first socket of the user), 0, or -1 (full).
var addMember = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and cur ~= '' then return {0, redis.call('HLEN', KEYS[1])} end
local first = 0
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 0 then
  local max = tonumber(ARGV[4])
  if max > 0 and redis.call('HLEN', KEYS[2]) >= max then return {-1, 0} end
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
  first = 1
end
redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[5])
redis.call('SADD', KEYS[5], ARGV[6])
return {first, redis.call('HLEN', KEYS[1])}`)

var removeMember = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or cur == ARGV[2] then redis.call('SREM', KEYS[5], ARGV[4]) end
if not cur or cur ~= ARGV[2] then return {0, redis.call('HLEN', KEYS[1])} end
local last = 0
if redis.call('HINCRBY', KEYS[3], ARGV[2], -1) <= 0 then
  redis.call('HDEL', KEYS[3], ARGV[2])
  redis.call('HDEL', KEYS[2], ARGV[2])
  last = 1
end
redis.call('HDEL', KEYS[1], ARGV[1])
local n = redis.call('HLEN', KEYS[1])
if n == 0 then redis.call('SREM', KEYS[4], ARGV[3]) end
return {last, n}`)

var addUser = redis.NewScript(`
redis.call('SADD', KEYS[2], ARGV[2])
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('SCARD', KEYS[1]) == 1 then return 1 end
return 0`)

var removeUser = redis.NewScript(`
redis.call('SREM', KEYS[2], ARGV[2])
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('SCARD', KEYS[1]) == 0 then return 1 end
return 0`)

func (s *State) AddSubscription(ctx context.Context, app, ch, socketID string) (int, error) {
	if err := s.register(ctx, app); err != nil {
		return 0, err
	}
	n, err := addSubscription.Run(ctx, s.rdb, s.keys(app, ch).list(s.nodeEntries(app, s.node)),
		socketID, ch, entry(entrySubscription, socketID, ch)).Int()
	return n, wrap(err)
}

func (s *State) RemoveSubscription(ctx context.Context, app, ch, socketID string) (int, error) {
	return s.removeSubscription(ctx, s.node, app, ch, socketID)
}

// removeSubscription removes an entry that node added.
func (s *State) removeSubscription(ctx context.Context, node, app, ch, socketID string) (int, error) {
	n, err := removeSubscription.Run(ctx, s.rdb, s.keys(app, ch).list(s.nodeEntries(app, node)),
		socketID, ch, entry(entrySubscription, socketID, ch)).Int()
	return n, wrap(err)
}

func (s *State) AddMember(ctx context.Context, app, ch, socketID string, m protocol.Member, max int) (bus.MemberUpdate, error) {
	if err := s.register(ctx, app); err != nil {
		return bus.MemberUpdate{}, err
	}
	r, err := addMember.Run(ctx, s.rdb, s.keys(app, ch).list(s.nodeEntries(app, s.node)),
		socketID, m.UserID, []byte(m.UserInfo), max, ch, entry(entrySubscription, socketID, ch)).Int64Slice()
	switch {
	case err != nil:
		return bus.MemberUpdate{}, wrap(err)
	case r[0] < 0:
		return bus.MemberUpdate{}, bus.ErrMemberLimit
	}
	return bus.MemberUpdate{UserChanged: r[0] == 1, Subscriptions: int(r[1])}, nil
}

func (s *State) RemoveMember(ctx context.Context, app, ch, socketID, userID string) (bus.MemberUpdate, error) {
	return s.removeMember(ctx, s.node, app, ch, socketID, userID)
}

func (s *State) removeMember(ctx context.Context, node, app, ch, socketID, userID string) (bus.MemberUpdate, error) {
	r, err := removeMember.Run(ctx, s.rdb, s.keys(app, ch).list(s.nodeEntries(app, node)),
		socketID, userID, ch, entry(entrySubscription, socketID, ch)).Int64Slice()
	if err != nil {
		return bus.MemberUpdate{}, wrap(err)
	}
	return bus.MemberUpdate{UserChanged: r[0] == 1, Subscriptions: int(r[1])}, nil
}

func (s *State) Members(ctx context.Context, app, ch string) ([]protocol.Member, error) {
	all, err := s.rdb.HGetAll(ctx, s.keys(app, ch).members).Result()
	if err != nil {
		return nil, wrap(err)
	}
	out := make([]protocol.Member, 0, len(all))
	for id, info := range all {
		var raw []byte
		if info != "" {
			raw = []byte(info)
		}
		out = append(out, protocol.Member{UserID: id, UserInfo: raw})
	}
	return out, nil
}

func (s *State) Channel(ctx context.Context, app, ch string) (bus.Counts, error) {
	k := s.keys(app, ch)
	pipe := s.rdb.Pipeline()
	subs, users := pipe.HLen(ctx, k.sockets), pipe.HLen(ctx, k.members)
	if _, err := pipe.Exec(ctx); err != nil {
		return bus.Counts{}, wrap(err)
	}
	return bus.Counts{Subscriptions: int(subs.Val()), Users: int(users.Val())}, nil
}

func (s *State) Channels(ctx context.Context, app, prefix string) (map[string]bus.Counts, error) {
	names, err := s.rdb.SMembers(ctx, s.app(app)+"channels").Result()
	if err != nil {
		return nil, wrap(err)
	}
	type counts struct{ subs, users *redis.IntCmd }
	pipe := s.rdb.Pipeline()
	pending := map[string]counts{}
	for _, ch := range names {
		if strings.HasPrefix(ch, prefix) {
			k := s.keys(app, ch)
			pending[ch] = counts{pipe.HLen(ctx, k.sockets), pipe.HLen(ctx, k.members)}
		}
	}
	out := map[string]bus.Counts{}
	if len(pending) == 0 {
		return out, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, wrap(err)
	}
	for ch, c := range pending {
		if n := int(c.subs.Val()); n > 0 {
			out[ch] = bus.Counts{Subscriptions: n, Users: int(c.users.Val())}
		}
	}
	return out, nil
}

func (s *State) SetCache(ctx context.Context, app, ch string, ev bus.CachedEvent, ttl time.Duration) error {
	v := binary.AppendUvarint(nil, uint64(len(ev.Event)))
	v = append(append(v, ev.Event...), ev.Data...)
	return wrap(s.rdb.Set(ctx, s.keys(app, ch).cache, v, ttl).Err())
}

func (s *State) Cache(ctx context.Context, app, ch string) (bus.CachedEvent, bool, error) {
	k := s.keys(app, ch).cache
	pipe := s.rdb.Pipeline()
	get, ttl := pipe.Get(ctx, k), pipe.PTTL(ctx, k)
	_, err := pipe.Exec(ctx)
	if errors.Is(err, redis.Nil) {
		return bus.CachedEvent{}, false, nil
	}
	if err != nil {
		return bus.CachedEvent{}, false, wrap(err)
	}
	b, _ := get.Bytes()
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return bus.CachedEvent{}, false, fmt.Errorf("redisbus: corrupt cached event in %s", k)
	}
	ev := bus.CachedEvent{Event: string(b[w : w+int(n)]), Data: b[w+int(n):]}
	if d := ttl.Val(); d > 0 {
		ev.Expires = time.Now().Add(d)
	}
	return ev, true, nil
}

func (s *State) userKey(app, user string) string {
	return s.app(app) + "u:" + strconv.Itoa(len(user)) + ":" + user
}

func (s *State) AddUser(ctx context.Context, app, user, socketID string) (bool, error) {
	if err := s.register(ctx, app); err != nil {
		return false, err
	}
	r, err := addUser.Run(ctx, s.rdb, []string{s.userKey(app, user), s.nodeEntries(app, s.node)},
		socketID, entry(entryUser, socketID, user)).Int()
	return r == 1, wrap(err)
}

func (s *State) RemoveUser(ctx context.Context, app, user, socketID string) (bool, error) {
	return s.removeUser(ctx, s.node, app, user, socketID)
}

func (s *State) removeUser(ctx context.Context, node, app, user, socketID string) (bool, error) {
	r, err := removeUser.Run(ctx, s.rdb, []string{s.userKey(app, user), s.nodeEntries(app, node)},
		socketID, entry(entryUser, socketID, user)).Int()
	return r == 1, wrap(err)
}

func (s *State) OnlineUsers(ctx context.Context, app string, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.Exists(ctx, s.userKey(app, id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, wrap(err)
	}
	var out []string
	for i, c := range cmds {
		if c.Val() > 0 {
			out = append(out, ids[i])
		}
	}
	return out, nil
}

func wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("redisbus: %w", err)
}
