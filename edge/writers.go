package edge

import (
	"sync/atomic"
	"time"
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
}

// hardMax bounds the pool even when unstick grows it past max.
const hardMax = 4096

func newWriters(max int) *writers {
	return &writers{
		ready:    make(chan *conn, 1<<16),
		max:      int32(max),
		idleTime: 2 * time.Second,
		stop:     make(chan struct{}),
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
// whose reader stopped (until its deadline, or until the socket's queue
// passes its bound) holds up every other socket, so for each write that
// began before the previous sweep and is still running, it adds a writer.
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
