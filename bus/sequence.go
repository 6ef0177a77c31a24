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
	seed   maphash.Seed
	ttl    time.Duration
	now    func() time.Time
	base   string        // random per process: a restart starts new epochs
	epochs atomic.Uint64 // epochs started by this process
	shards [64]seqShard
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
}

func newSequencer(ttl time.Duration) *sequencer {
	var b [6]byte
	_, _ = rand.Read(b[:])
	s := &sequencer{seed: maphash.MakeSeed(), ttl: ttl, now: time.Now, base: hex.EncodeToString(b[:])}
	for i := range s.shards {
		s.shards[i].positions = map[key]*position{}
	}
	return s
}

// next gives msg the channel's next position and runs deliver while the
// channel is still locked.
func (s *sequencer) next(msg *Message, deliver func()) {
	var h maphash.Hash
	h.SetSeed(s.seed)
	h.WriteString(msg.AppID)
	h.WriteByte(0)
	h.WriteString(msg.Channel)
	sh := &s.shards[h.Sum64()%uint64(len(s.shards))]
	k := key{msg.AppID, msg.Channel}
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
	deliver()
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
