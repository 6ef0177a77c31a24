package bus

import (
	"context"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-rt/switchboard/protocol"
)

// MemoryState is State in process memory, sharded by app and channel so
// subscribe churn on different channels does not contend.
type MemoryState struct {
	seed     maphash.Seed
	channels [stateShards]channelShard
	users    [stateShards]userShard
	now      func() time.Time
}

var _ State = (*MemoryState)(nil)

const stateShards = 32

type key struct{ app, name string }

type channelShard struct {
	mu sync.Mutex
	m  map[key]*channelState
}

type channelState struct {
	sockets map[string]string // socket id → presence user id ("" elsewhere)
	members map[string]*member
	cache   *CachedEvent
}

type member struct {
	info    []byte
	sockets int
}

type userShard struct {
	mu sync.Mutex
	m  map[key]map[string]struct{} // (app, user) → socket ids
}

// NewMemoryState returns empty state.
func NewMemoryState() *MemoryState {
	s := &MemoryState{seed: maphash.MakeSeed(), now: time.Now}
	for i := range s.channels {
		s.channels[i].m = map[key]*channelState{}
		s.users[i].m = map[key]map[string]struct{}{}
	}
	return s
}

func (s *MemoryState) shard(app, name string) uint64 {
	var h maphash.Hash
	h.SetSeed(s.seed)
	h.WriteString(app)
	h.WriteByte(0)
	h.WriteString(name)
	return h.Sum64() % stateShards
}

// withChannel runs f on a channel's state under its shard lock, creating
// it if create is set, and drops the channel when f leaves it empty.
func (s *MemoryState) withChannel(app, ch string, create bool, f func(c *channelState)) {
	sh := &s.channels[s.shard(app, ch)]
	k := key{app, ch}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c := sh.m[k]
	if c == nil {
		if !create {
			return
		}
		c = &channelState{sockets: map[string]string{}}
		sh.m[k] = c
	}
	f(c)
	if len(c.sockets) == 0 && c.cache == nil {
		delete(sh.m, k)
	}
}

func (s *MemoryState) AddSubscription(_ context.Context, app, ch, socketID string) (n int, err error) {
	s.withChannel(app, ch, true, func(c *channelState) {
		if _, ok := c.sockets[socketID]; !ok {
			c.sockets[socketID] = ""
		}
		n = len(c.sockets)
	})
	return n, nil
}

func (s *MemoryState) RemoveSubscription(_ context.Context, app, ch, socketID string) (n int, err error) {
	s.withChannel(app, ch, false, func(c *channelState) {
		if uid := c.sockets[socketID]; uid != "" {
			s.dropMemberSocket(c, uid)
		}
		delete(c.sockets, socketID)
		n = len(c.sockets)
	})
	return n, nil
}

func (s *MemoryState) dropMemberSocket(c *channelState, uid string) (last bool) {
	m := c.members[uid]
	if m == nil {
		return false
	}
	m.sockets--
	if m.sockets <= 0 {
		delete(c.members, uid)
		return true
	}
	return false
}

func (s *MemoryState) AddMember(_ context.Context, app, ch, socketID string, pm protocol.Member, max int) (u MemberUpdate, err error) {
	s.withChannel(app, ch, true, func(c *channelState) {
		defer func() { u.Subscriptions = len(c.sockets) }()
		if uid, ok := c.sockets[socketID]; ok && uid != "" {
			return // this socket is already a member
		}
		if c.members == nil {
			c.members = map[string]*member{}
		}
		m := c.members[pm.UserID]
		if m == nil {
			if max > 0 && len(c.members) >= max {
				err = ErrMemberLimit
				return
			}
			m = &member{info: pm.UserInfo}
			c.members[pm.UserID] = m
			u.UserChanged = true
		}
		m.sockets++
		c.sockets[socketID] = pm.UserID
	})
	return u, err
}

func (s *MemoryState) RemoveMember(_ context.Context, app, ch, socketID, userID string) (u MemberUpdate, err error) {
	s.withChannel(app, ch, false, func(c *channelState) {
		defer func() { u.Subscriptions = len(c.sockets) }()
		uid, ok := c.sockets[socketID]
		if !ok || uid != userID {
			return
		}
		u.UserChanged = s.dropMemberSocket(c, uid)
		delete(c.sockets, socketID)
	})
	return u, nil
}

func (s *MemoryState) Members(_ context.Context, app, ch string) (out []protocol.Member, err error) {
	s.withChannel(app, ch, false, func(c *channelState) {
		out = make([]protocol.Member, 0, len(c.members))
		for id, m := range c.members {
			out = append(out, protocol.Member{UserID: id, UserInfo: m.info})
		}
	})
	return out, nil
}

func (s *MemoryState) Channel(_ context.Context, app, ch string) (cn Counts, err error) {
	s.withChannel(app, ch, false, func(c *channelState) {
		cn = Counts{Subscriptions: len(c.sockets), Users: len(c.members)}
	})
	return cn, nil
}

func (s *MemoryState) Channels(_ context.Context, app, prefix string) (map[string]Counts, error) {
	out := map[string]Counts{}
	for i := range s.channels {
		sh := &s.channels[i]
		sh.mu.Lock()
		for k, c := range sh.m {
			if k.app == app && len(c.sockets) > 0 && strings.HasPrefix(k.name, prefix) {
				out[k.name] = Counts{Subscriptions: len(c.sockets), Users: len(c.members)}
			}
		}
		sh.mu.Unlock()
	}
	return out, nil
}

func (s *MemoryState) SetCache(_ context.Context, app, ch string, ev CachedEvent, ttl time.Duration) error {
	ev.Expires = s.now().Add(ttl)
	s.withChannel(app, ch, true, func(c *channelState) { c.cache = &ev })
	return nil
}

func (s *MemoryState) Cache(_ context.Context, app, ch string) (ev CachedEvent, ok bool, err error) {
	now := s.now()
	s.withChannel(app, ch, false, func(c *channelState) {
		if c.cache == nil {
			return
		}
		if now.After(c.cache.Expires) {
			c.cache = nil
			return
		}
		ev, ok = *c.cache, true
	})
	return ev, ok, nil
}

func (s *MemoryState) AddUser(_ context.Context, app, user, socketID string) (bool, error) {
	sh := &s.users[s.shard(app, user)]
	k := key{app, user}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	set := sh.m[k]
	if set == nil {
		set = map[string]struct{}{}
		sh.m[k] = set
	}
	if _, ok := set[socketID]; ok {
		return false, nil // already recorded: not a new connection
	}
	set[socketID] = struct{}{}
	return len(set) == 1, nil
}

func (s *MemoryState) RemoveUser(_ context.Context, app, user, socketID string) (bool, error) {
	sh := &s.users[s.shard(app, user)]
	k := key{app, user}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	set := sh.m[k]
	if _, ok := set[socketID]; !ok {
		return false, nil
	}
	delete(set, socketID)
	if len(set) == 0 {
		delete(sh.m, k)
		return true, nil
	}
	return false, nil
}

func (s *MemoryState) OnlineUsers(_ context.Context, app string, ids []string) ([]string, error) {
	var out []string
	for _, id := range ids {
		sh := &s.users[s.shard(app, id)]
		sh.mu.Lock()
		if len(sh.m[key{app, id}]) > 0 {
			out = append(out, id)
		}
		sh.mu.Unlock()
	}
	return out, nil
}
