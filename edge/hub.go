package edge

import (
	"hash/maphash"
	"sync"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/internal/chanmap"
)

// hubShards spreads channels over independently locked shards so that
// subscribes and publishes on different channels never contend. A power
// of two; 64 is what centrifuge found enough for many cores.
const hubShards = 64

// hub maps (app, channel) to the local sockets subscribed to it, and
// indexes signed-in users and watchlists for app-wide messages.
type hub struct {
	seed   maphash.Seed
	shards [hubShards]hubShard

	umu      sync.RWMutex
	users    map[chanKey]map[*conn]struct{} // (app, user id) → signed-in sockets
	watchers map[chanKey]map[*conn]struct{} // (app, watched user id) → watching sockets
}

type chanKey struct{ app, name string }

type hubShard struct {
	mu       sync.RWMutex
	channels chanmap.Map[*localChannel]
}

// localChannel is a channel's subscribers on this node. subs is a slice,
// not a map, because fan-out iterates it for every event; each
// subscription remembers its index so removal is a swap with the last.
type localChannel struct {
	subs []*subscription
}

func newHub() *hub {
	h := &hub{seed: maphash.MakeSeed(), users: map[chanKey]map[*conn]struct{}{}, watchers: map[chanKey]map[*conn]struct{}{}}
	return h
}

func (h *hub) shard(k chanKey) *hubShard {
	var m maphash.Hash
	m.SetSeed(h.seed)
	m.WriteString(k.app)
	m.WriteByte(0)
	m.WriteString(k.name)
	return &h.shards[m.Sum64()&(hubShards-1)]
}

// add makes s a local subscriber and queues its first frames (the
// subscription_succeeded reply, a cached event) under the shard lock, so no
// event of the channel can reach the socket before them. It reports
// whether s is the channel's first local subscriber.
func (h *hub) add(s *subscription, first [][]byte) (firstLocal bool) {
	k := chanKey{s.conn.app.ID, s.channel}
	sh := h.shard(k)
	sh.mu.Lock()
	lc, _ := sh.channels.Get(k.app, k.name)
	if lc == nil {
		lc = &localChannel{}
		sh.channels.Set(k.app, k.name, lc)
		firstLocal = true
	}
	s.pos = len(lc.subs)
	lc.subs = append(lc.subs, s)
	for _, f := range first {
		s.conn.send(f)
	}
	sh.mu.Unlock()
	return firstLocal
}

// reserve makes s a local subscriber whose frames wait in a buffer until
// activate queues its first frames and then them. A presence subscription
// takes its place this way before its snapshot of the members is read: a
// member_added published meanwhile (from this node or another) then
// reaches it after its subscription_succeeded instead of falling between
// the two. Member events the snapshot already shows are harmless: clients
// keep members as a set. It reports whether s is the channel's first
// local subscriber.
func (h *hub) reserve(s *subscription) (firstLocal bool) {
	s.joining.Store(&joinBuffer{})
	return h.add(s, nil)
}

// activate queues a reserved subscription's first frames and what its
// channel sent it since reserve, under the shard lock so that no event
// comes between them.
func (h *hub) activate(s *subscription, first [][]byte) {
	k := chanKey{s.conn.app.ID, s.channel}
	sh := h.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, f := range first {
		s.conn.send(f)
	}
	// No fan-out runs under the write lock: the buffer is ours.
	for _, f := range s.joining.Load().frames {
		s.conn.send(f)
	}
	s.joining.Store(nil)
}

// joinBuffer is a reserved subscription's frames, in the order sent.
// Fan-outs of one channel run together under the shard's read lock.
type joinBuffer struct {
	mu     sync.Mutex
	frames [][]byte
}

func (j *joinBuffer) hold(frame []byte) {
	j.mu.Lock()
	j.frames = append(j.frames, frame)
	j.mu.Unlock()
}

// remove drops s and reports whether it was the channel's last local
// subscriber.
func (h *hub) remove(s *subscription) (lastLocal bool) {
	k := chanKey{s.conn.app.ID, s.channel}
	sh := h.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	lc, _ := sh.channels.Get(k.app, k.name)
	if lc == nil || s.pos >= len(lc.subs) || lc.subs[s.pos] != s {
		return false
	}
	last := len(lc.subs) - 1
	moved := lc.subs[last]
	lc.subs[s.pos] = moved
	moved.pos = s.pos
	lc.subs[last] = nil
	lc.subs = lc.subs[:last]
	if len(lc.subs) == 0 {
		sh.channels.Delete(k.app, k.name)
		return true
	}
	return false
}

// fanout queues msg's frame on every local subscriber of the channel
// except the socket excluded. The frame is built lazily, once per form —
// plain, or with the event's position for subscribers that asked for it —
// and only if the channel has local subscribers; it returns how many
// sockets it was queued on. With direct false, even a small channel's
// frames go through the writers (see directFanout).
func (h *hub) fanout(msg *bus.Message, direct bool) int {
	k, exclude := chanKey{msg.AppID, msg.Channel}, msg.ExcludeSocketID
	sh := h.shard(k)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	lc, _ := sh.channels.Get(k.app, k.name)
	if lc == nil {
		return 0
	}
	var plain, positioned []byte
	send := (*conn).send
	if direct && len(lc.subs) <= directFanout {
		send = (*conn).sendNow
	}
	n := 0
	for _, s := range lc.subs {
		if exclude != "" && s.conn.socketID == exclude {
			continue
		}
		frame := plain
		if s.positions {
			if positioned == nil {
				positioned = messageFrame(msg, true)
			}
			frame = positioned
			if msg.Seq != 0 && s.held(msg, frame) {
				n++
				continue
			}
		} else if frame == nil {
			plain = messageFrame(msg, false)
			frame = plain
		}
		if j := s.joining.Load(); j != nil {
			j.hold(frame)
			n++
			continue
		}
		if send(s.conn, frame) {
			n++
		}
	}
	return n
}

// directFanout is the largest channel whose events the publisher writes
// to the sockets itself (sendNow); a few non-blocking writes cost less
// than waking writers, while a large channel's would hold the publish up.
// When the server is saturated (coalescing, writers.go) the writers carry
// small channels too: the frames of publishes in flight together then
// share one writev per socket instead of a write each. At 32 concurrent
// publishes to 5 subscribers that took the server from 5.9 writes per
// publish to 2.0 and its CPU per publish from 1.04 to 0.89 of the bare
// baseline's (docs/performance.md).
const directFanout = 8

// localCount returns how many local sockets are subscribed to a channel.
func (h *hub) localCount(app, channel string) int {
	k := chanKey{app, channel}
	sh := h.shard(k)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if lc, _ := sh.channels.Get(k.app, k.name); lc != nil {
		return len(lc.subs)
	}
	return 0
}

func indexAdd(m map[chanKey]map[*conn]struct{}, k chanKey, c *conn) {
	set := m[k]
	if set == nil {
		set = map[*conn]struct{}{}
		m[k] = set
	}
	set[c] = struct{}{}
}

func indexRemove(m map[chanKey]map[*conn]struct{}, k chanKey, c *conn) {
	if set := m[k]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(m, k)
		}
	}
}

// signIn indexes a signed-in socket by user and by the users it watches.
func (h *hub) signIn(c *conn) {
	h.umu.Lock()
	defer h.umu.Unlock()
	indexAdd(h.users, chanKey{c.app.ID, c.user.ID}, c)
	for _, w := range c.user.Watchlist {
		indexAdd(h.watchers, chanKey{c.app.ID, w}, c)
	}
}

func (h *hub) signOut(c *conn) {
	h.umu.Lock()
	defer h.umu.Unlock()
	indexRemove(h.users, chanKey{c.app.ID, c.user.ID}, c)
	for _, w := range c.user.Watchlist {
		indexRemove(h.watchers, chanKey{c.app.ID, w}, c)
	}
}

// eachUserConn calls f for every local socket signed in as the user, or
// watching it when watchers is set. f runs outside the index lock.
func (h *hub) eachUserConn(app, user string, watchers bool, f func(*conn)) {
	h.umu.RLock()
	m := h.users
	if watchers {
		m = h.watchers
	}
	set := m[chanKey{app, user}]
	conns := make([]*conn, 0, len(set))
	for c := range set {
		conns = append(conns, c)
	}
	h.umu.RUnlock()
	for _, c := range conns {
		f(c)
	}
}

// Deliver implements bus.Handler.
var _ bus.Handler = (*Server)(nil)
