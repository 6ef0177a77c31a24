package bus

import (
	"crypto/rand"
	"encoding/hex"
	"hash/maphash"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-rt/switchboard/internal/chanmap"
)

// DefaultPositionTTL is how long a channel's count lives without a new
// event; the next event after that starts a new epoch.
const DefaultPositionTTL = 24 * time.Hour

// sequencer numbers the sequenced events of the memory bus and keeps each
// channel's history as its events' retention says. Channels are spread
// over independently locked shards, so publishes to different channels
// never wait for each other.
type sequencer struct {
	seed    maphash.Seed
	ttl     time.Duration
	ceiling HistoryOptions // no channel keeps more
	now     func() time.Time
	base    string        // random per process: a restart starts new epochs
	epochs  atomic.Uint64 // epochs started by this process
	shards  [64]seqShard
}

type seqShard struct {
	mu        sync.Mutex
	positions chanmap.Map[*position]
	publishes int // since the last sweep of idle channels
}

type position struct {
	seq   uint64
	epoch string
	used  time.Time
	// kept is the channel's history: consecutive events ending with the
	// newest, as the retention of the newest event allowed; maxAge is
	// that retention's age limit (0: none), which reads apply too.
	kept   ring
	maxAge time.Duration
}

type keptEvent struct {
	msg *Message
	at  time.Time
}

func newSequencer(ttl time.Duration, ceiling HistoryOptions) *sequencer {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &sequencer{seed: maphash.MakeSeed(), ttl: max(ttl, ceiling.MaxAge), ceiling: ceiling, now: time.Now, base: hex.EncodeToString(b[:])}
}

// next gives msg the channel's next position, keeps it as msg.History
// says (within the ceiling), and runs deliver while the channel is still
// locked.
func (s *sequencer) next(msg *Message, deliver func()) {
	sh, k := s.shard(msg.AppID, msg.Channel)
	now := s.now()
	h := msg.History.Within(s.ceiling)

	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.publishes++; sh.publishes >= 4096 {
		sh.sweep(now, s.ttl)
	}
	p, _ := sh.positions.Get(k.app, k.name)
	if p == nil || now.Sub(p.used) > s.ttl {
		p = &position{epoch: s.base + "-" + strconv.FormatUint(s.epochs.Add(1), 36)}
		sh.positions.Set(k.app, k.name, p)
	}
	p.seq++
	p.used = now
	msg.Seq, msg.Epoch = p.seq, p.epoch
	// The event's retention is the channel's from now on: a lowered one
	// drops what it no longer allows, history turned off drops it all.
	p.maxAge = h.MaxAge
	if h.Length == 0 {
		p.kept = ring{}
	} else {
		if h.MaxAge > 0 {
			for p.kept.n > 0 && now.Sub(p.kept.at(0).at) > h.MaxAge {
				p.kept.dropOldest()
			}
		}
		p.kept.push(keptEvent{msg, now}, h.Length)
	}
	deliver()
}

func (s *sequencer) shard(app, channel string) (*seqShard, key) {
	var h maphash.Hash
	h.SetSeed(s.seed)
	h.WriteString(app)
	h.WriteByte(0)
	h.WriteString(channel)
	return &s.shards[h.Sum64()%uint64(len(s.shards))], key{app, channel}
}

// since reads a channel's history (see History.Since).
func (s *sequencer) since(app, channel string, after uint64, limit int) Retained {
	sh, k := s.shard(app, channel)
	now := s.now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	p, _ := sh.positions.Get(k.app, k.name)
	if p == nil || now.Sub(p.used) > s.ttl {
		return Retained{}
	}
	r := Retained{Epoch: p.epoch, Newest: p.seq}
	for i := range p.kept.n {
		e := p.kept.at(i)
		if p.maxAge > 0 && now.Sub(e.at) > p.maxAge {
			continue
		}
		seq := e.msg.Seq
		if r.Oldest == 0 {
			r.Oldest = seq
		}
		if seq > after && len(r.Events) < limit {
			r.Events = append(r.Events, e.msg)
		}
	}
	return r
}

// ring is a channel's kept events, oldest first. It grows as events come
// (most channels keep a few, whatever their app allows) up to the
// retention's length, and shrinks when the retention does.
type ring struct {
	buf  []keptEvent
	head int // index in buf of the oldest
	n    int
}

// at returns the i-th oldest event.
func (r *ring) at(i int) *keptEvent { return &r.buf[(r.head+i)%len(r.buf)] }

func (r *ring) dropOldest() {
	r.buf[r.head] = keptEvent{} // let the message go
	r.head = (r.head + 1) % len(r.buf)
	r.n--
}

// push adds e as the newest, dropping the oldest past limit (at least 1).
func (r *ring) push(e keptEvent, limit int) {
	for r.n >= limit {
		r.dropOldest()
	}
	switch {
	case r.n == len(r.buf):
		r.resize(min(max(2*len(r.buf), 8), limit))
	case len(r.buf) > 2*limit:
		r.resize(limit) // the retention was lowered: give the memory back
	}
	r.buf[(r.head+r.n)%len(r.buf)] = e
	r.n++
}

func (r *ring) resize(size int) {
	buf := make([]keptEvent, size)
	for i := range r.n {
		buf[i] = *r.at(i)
	}
	r.buf, r.head = buf, 0
}

// sweep forgets channels idle past ttl, so the map holds only live ones.
func (sh *seqShard) sweep(now time.Time, ttl time.Duration) {
	sh.publishes = 0
	sh.positions.Range(func(app, name string, p *position) bool {
		if now.Sub(p.used) > ttl {
			sh.positions.Delete(app, name)
		}
		return true
	})
}
