package bus

import (
	"crypto/rand"
	"encoding/hex"
	"hash/maphash"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPositionTTL is how long a channel's count lives without a new
// event; the next event after that starts a new epoch.
const DefaultPositionTTL = 24 * time.Hour

// sequencer numbers the sequenced events of the memory bus. Channels are
// spread over independently locked shards, so publishes to different
// channels never wait for each other.
type sequencer struct {
	seed    maphash.Seed
	ttl     time.Duration
	history HistoryOptions
	now     func() time.Time
	base    string        // random per process: a restart starts new epochs
	epochs  atomic.Uint64 // epochs started by this process
	shards  [64]seqShard
}

type seqShard struct {
	mu        sync.Mutex
	positions map[key]*position
	publishes int // since the last sweep of idle channels
}

type position struct {
	seq   uint64
	epoch string
	used  time.Time
	// kept is the channel's history, a ring of the last history.Length
	// events: kept[(seq-1) % Length] holds event seq.
	kept []keptEvent
}

type keptEvent struct {
	msg *Message
	at  time.Time
}

func newSequencer(ttl time.Duration, history HistoryOptions) *sequencer {
	var b [6]byte
	_, _ = rand.Read(b[:])
	s := &sequencer{seed: maphash.MakeSeed(), ttl: max(ttl, history.MaxAge), history: history, now: time.Now, base: hex.EncodeToString(b[:])}
	for i := range s.shards {
		s.shards[i].positions = map[key]*position{}
	}
	return s
}

// next gives msg the channel's next position and runs deliver while the
// channel is still locked.
func (s *sequencer) next(msg *Message, deliver func()) {
	sh, k := s.shard(msg.AppID, msg.Channel)
	now := s.now()

	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.publishes++; sh.publishes >= 4096 {
		sh.sweep(now, s.ttl)
	}
	p := sh.positions[k]
	if p == nil || now.Sub(p.used) > s.ttl {
		p = &position{epoch: s.base + "-" + strconv.FormatUint(s.epochs.Add(1), 36)}
		sh.positions[k] = p
	}
	p.seq++
	p.used = now
	msg.Seq, msg.Epoch = p.seq, p.epoch
	if n := s.history.Length; n > 0 {
		if p.kept == nil {
			p.kept = make([]keptEvent, n)
		}
		p.kept[(p.seq-1)%uint64(n)] = keptEvent{msg, now}
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
	p := sh.positions[k]
	if p == nil || now.Sub(p.used) > s.ttl {
		return Retained{}
	}
	r := Retained{Epoch: p.epoch, Newest: p.seq}
	n := uint64(len(p.kept))
	if n == 0 {
		return r
	}
	first := uint64(1)
	if p.seq > n {
		first = p.seq - n + 1
	}
	for seq := first; seq <= p.seq; seq++ {
		e := p.kept[(seq-1)%n]
		if e.msg == nil || (s.history.MaxAge > 0 && now.Sub(e.at) > s.history.MaxAge) {
			continue
		}
		if r.Oldest == 0 {
			r.Oldest = seq
		}
		if seq > after && len(r.Events) < limit {
			r.Events = append(r.Events, e.msg)
		}
	}
	return r
}

// sweep forgets channels idle past ttl, so the map holds only live ones.
func (sh *seqShard) sweep(now time.Time, ttl time.Duration) {
	sh.publishes = 0
	for k, p := range sh.positions {
		if now.Sub(p.used) > ttl {
			delete(sh.positions, k)
		}
	}
}
