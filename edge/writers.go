package edge

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-rt/switchboard/internal/selfusage"
)

// writers is the pool of goroutines that flush sockets' outbound queues.
// A socket with frames waiting is handed over through a channel, which
// costs no allocation; a goroutine per flush would allocate a closure per
// subscriber per event. The pool grows whenever no writer is idle (so a
// socket stuck in a write until its deadline never holds up others) and
// shrinks as writers sit idle, so idle sockets cost no goroutine.
type writers struct {
	ready    chan *conn
	idle     atomic.Int32
	count    atomic.Int32
	max      int32
	idleTime time.Duration
	stop     chan struct{}

	// Writes in progress, counted by the parity of the sweep epoch they
	// started in; a write still counted one epoch later is stuck.
	epoch   atomic.Uint64
	inWrite [2]atomic.Int32

	// Coalescing under load (see hold), decided once per loadWindow from
	// the process's CPU time since window began (cpuAt).
	start      time.Time
	procs      int64
	window     atomic.Int64
	cpuAt      atomic.Int64
	coalescing atomic.Bool
	// on and off are the thresholds (coalesceOn, coalesceOff; tests
	// change them to force coalescing on or off).
	on, off float64
	since   atomic.Int64 // when coalescing last switched on
	hmu     sync.Mutex
	// held[head:] are the holds in the order they began, which is the
	// order of their due times (one holdWait for all); entries of holds
	// a frame or a close ended early stay until their turn.
	held      []heldConn
	head      int
	releasing bool       // a releaseHeld goroutine runs; only it uses due
	due       []heldConn // releaseHeld's scratch
}

// heldConn is a socket whose single queued frame waits for company.
type heldConn struct {
	c   *conn
	gen uint32
	due int64
}

// Coalescing under load. At high message rates a socket's queue rarely
// holds more than one frame when a writer comes to it, so each message
// costs the server a write syscall and the client a read (about 0.98
// syscalls per message at 1 channel × 5,000 subscribers, 20 events/s).
// When the server is close to using all of its CPUs, a socket in a
// stream (written less than holdRecent ago) whose queue holds one frame
// is held instead of written: it goes out with the next frame (one writev
// for both) or holdWait later, whichever comes first. Below the threshold
// nothing is held, so light and moderate loads keep their latency; near
// saturation, half the syscalls per message on both ends buy back the
// headroom that keeps the tail from growing, for at most the gap to the
// socket's next frame (holdWait at worst) of added latency on half its
// frames.
//
// Holding lowers the very load it is decided on, so it switches on at
// coalesceOn and off only well below (coalesceOff): with a single
// threshold a server whose holds save more than the margin switches every
// window, which was worse than either steady state (1 × 5,000
// subscribers, 20 events/s, on a machine where that stream takes 0.94 of
// the core without holds: p99 225 ms never holding, 98–112 ms holding,
// 141–174 ms switching). But a burst (thousands of sockets connecting)
// can switch holds on for a stream that does not need them: on a faster
// machine the same stream took 0.58 of the core without holds, p99 37 ms,
// and holding took it to 82 ms. So a server holding at less than
// coalesceOn of its CPUs lets go every recheckAfter, and decides again on
// a window without holds. Not at a lower share: a server whose holds save
// little stays above it while holding and kept them for good (an Intel
// Xeon guest holding at 0.57 of the core, 0.58 without holds: p99 85–92
// ms holding, 36–44 ms not, against the baseline's 66–80). And holds pay
// only near saturation: on a machine where the stream took 0.60 of the
// core without holds, holding from 0.6 gave p99 102 ms against the bare
// baseline's 60 ms (which kept up at 0.71); switching on at 0.8, 69 ms
// (50 ms in a run that never held).
const (
	// A second: a short burst (a thousand sockets connecting and
	// subscribing) does not switch holds on; a longer one may (see above).
	loadWindow = time.Second
	// Shares of the process's CPU time ÷ (window × GOMAXPROCS). Holding
	// cuts the server's CPU per message by a fifth to two fifths, so a load
	// that switched it on stays above coalesceOff.
	coalesceOn   = 0.8
	coalesceOff  = 0.3
	recheckAfter = 10 * time.Second
	holdRecent   = 100 * time.Millisecond // a stream of 10 frames/s or more
	holdWait     = 75 * time.Millisecond  // pairs frames up to 50 ms apart, with room for jitter
	holdTick     = 2 * time.Millisecond
	holdFrames   = 2 // frames that end a hold
)

// hardMax bounds the pool even when unstick grows it past max.
const hardMax = 4096

func newWriters(max int) *writers {
	return &writers{
		ready:    make(chan *conn, 1<<16),
		max:      int32(max),
		idleTime: 2 * time.Second,
		stop:     make(chan struct{}),
		start:    time.Now(),
		procs:    int64(runtime.GOMAXPROCS(0)),
		on:       coalesceOn,
		off:      coalesceOff,
	}
}

// now is the pool's monotonic clock, in nanoseconds.
func (w *writers) now() int64 { return int64(time.Since(w.start)) }

// checkLoad runs after every write, direct or not; once per loadWindow it decides from
// the share of its CPUs the process used whether sockets may be held, with
// hysteresis so that the saving does not switch it off again. The process's
// CPU time, not the writers' time in writes: with more writers than CPUs,
// a write's wall time also counts the others' (the writers measured 0.5 to
// 10 CPUs' worth on one CPU).
func (w *writers) checkLoad(now int64) {
	begin := w.window.Load()
	if now-begin < int64(loadWindow) || !w.window.CompareAndSwap(begin, now) {
		return
	}
	cpu := processCPU()
	used := cpu - w.cpuAt.Swap(cpu)
	frac := float64(used) / float64((now-begin)*w.procs)
	switch {
	case !w.coalescing.Load():
		if frac >= w.on {
			w.since.Store(now)
			w.coalescing.Store(true)
		}
	case frac < w.off, frac < w.on && now-w.since.Load() >= int64(recheckAfter):
		w.coalescing.Store(false)
	}
}

// processCPU is the process's user and system CPU time in nanoseconds, or
// 0 if the system does not say (then nothing is ever held).
func processCPU() int64 {
	user, sys := selfusage.CPU()
	return int64(user + sys)
}

// hold parks a socket until due or until send releases it early.
func (w *writers) hold(c *conn, gen uint32, due int64) {
	w.hmu.Lock()
	w.held = append(w.held, heldConn{c, gen, due})
	start := !w.releasing
	w.releasing = true
	w.hmu.Unlock()
	if start {
		go w.releaseHeld()
	}
}

// releaseHeld hands held sockets back to the writers when their time
// comes, on a coarse tick; it ends when none is held, and releases every
// one at once when the pool stops.
func (w *writers) releaseHeld() {
	t := time.NewTicker(holdTick)
	defer t.Stop()
	for {
		limit := int64(0)
		select {
		case <-t.C:
			limit = w.now()
		case <-w.stop:
			limit = math.MaxInt64
		}
		w.hmu.Lock()
		for w.head < len(w.held) && w.held[w.head].due <= limit {
			w.due = append(w.due, w.held[w.head])
			w.held[w.head] = heldConn{}
			w.head++
		}
		switch {
		case w.head == len(w.held):
			w.held, w.head = w.held[:0], 0
		case w.head > cap(w.held)/2:
			n := copy(w.held, w.held[w.head:])
			clear(w.held[n:])
			w.held, w.head = w.held[:n], 0
		}
		w.hmu.Unlock()
		for _, h := range w.due {
			h.c.unhold(h.gen)
		}
		clear(w.due)
		w.due = w.due[:0]
		w.hmu.Lock()
		if w.head == len(w.held) {
			w.releasing = false
			w.hmu.Unlock()
			return
		}
		w.hmu.Unlock()
	}
}

// schedule hands a socket with queued frames to a writer.
func (w *writers) schedule(c *conn) {
	select {
	case w.ready <- c:
	default:
		go c.flush() // backlog full: this socket gets a goroutine of its own
		return
	}
	if w.idle.Load() == 0 && w.count.Load() < w.max {
		w.count.Add(1)
		go w.work()
	}
}

func (w *writers) work() {
	defer w.count.Add(-1)
	t := time.NewTimer(w.idleTime)
	defer t.Stop()
	for {
		// Fast path: while sockets are waiting, take them with a plain
		// receive; the three-way select below locks every channel it
		// watches and was the largest cost in BenchmarkFanout.
		for w.takeOne() {
		}
		t.Reset(w.idleTime)
		w.idle.Add(1)
		select {
		case c := <-w.ready:
			w.idle.Add(-1)
			c.flush()
		case <-t.C:
			w.idle.Add(-1)
			if !w.takeOne() {
				return
			}
		case <-w.stop:
			w.idle.Add(-1)
			if !w.takeOne() {
				return
			}
		}
	}
}

// beginWrite and endWrite bracket every socket write, so unstick can tell
// writers blocked on a socket from writers that are merely busy.
func (w *writers) beginWrite() uint64 {
	e := w.epoch.Load()
	w.inWrite[e&1].Add(1)
	return e
}

func (w *writers) endWrite(e uint64) { w.inWrite[e&1].Add(-1) }

// unstick runs on every sweep. A writer blocked in a write to a socket
// whose reader stopped (until the sweep cuts it after WriteTimeout, or
// until the socket's queue passes its bound) holds up every other socket,
// so for each write that began before the previous sweep and is still
// running, it adds a writer.
// A server that is merely saturated finishes its writes in microseconds
// and gets none: more runnable writers on a full CPU only add scheduling.
func (w *writers) unstick() {
	e := w.epoch.Load()
	stuck := w.inWrite[(e+1)&1].Load() // started in epoch e-1 or earlier
	w.epoch.Add(1)
	if stuck <= 0 || len(w.ready) == 0 {
		return
	}
	for i := int32(0); i < stuck && w.count.Load() < hardMax; i++ {
		w.count.Add(1)
		go w.work()
	}
}

// takeOne flushes a socket queued while this writer was leaving, so none
// is stranded; it reports whether there was one.
func (w *writers) takeOne() bool {
	select {
	case c := <-w.ready:
		c.flush()
		return true
	default:
		return false
	}
}

// close stops idle writers; busy ones finish their socket first.
func (w *writers) close() { close(w.stop) }
