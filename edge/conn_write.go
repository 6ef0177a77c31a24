package edge

import (
	"runtime"
	"time"

	"github.com/switchboard-rt/switchboard/protocol"
)

// Every socket has one outbound queue of ready frames, bounded in bytes,
// and is flushed by at most one writer of the pool (writers.go) at a time,
// only while frames are waiting: an idle socket holds no goroutine. The writer takes everything
// queued and hands it to the kernel in one writev, so a burst of events to
// a busy socket costs one syscall instead of one per frame. When the
// server is saturated, a stream's lone frame is held for the next one
// (see "Coalescing under load" in writers.go): held, the socket keeps
// flushing set, so nothing else schedules it until the hold ends.
//
// Writes go straight to the net.Conn: Go serialises concurrent Write calls
// on one connection, and with permessage-deflate off (it is) gws keeps no
// per-frame state that our frames would bypass.

// send queues a frame. It reports false when the socket is closing or was
// cut for being too slow.
func (c *conn) send(frame []byte) bool {
	c.wmu.Lock()
	if c.closing != nil || c.dead {
		c.wmu.Unlock()
		return false
	}
	if c.queued+len(frame) > c.srv.opts.MaxQueueBytes {
		// Drop what the socket will never read, then tell it why it goes.
		for _, f := range c.queue {
			c.queued -= len(f)
		}
		clear(c.queue)
		c.queue = append(c.queue[:0], slowConsumerFrame)
		c.queued += len(slowConsumerFrame)
		c.closing = protocol.ErrSlowConsumer
		c.slow.Store(true)
		start := !c.flushing || c.held
		c.flushing, c.held = true, false
		c.wmu.Unlock()
		// Unblock a write stuck on a full socket buffer so the close
		// happens now rather than at the ordinary write timeout.
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.opts.CloseTimeout))
		c.srv.metrics.slowConsumers.Inc()
		c.srv.metrics.errorSent(protocol.ErrSlowConsumer.Code)
		if start {
			c.srv.writers.schedule(c)
		}
		return false
	}
	c.queue = append(c.queue, frame)
	c.queued += len(frame)
	if c.flushing {
		if c.held && len(c.queue) >= holdFrames {
			// The frame a hold waited for: both go out now, in one writev.
			c.held, c.released = false, true
			c.wmu.Unlock()
			c.srv.writers.schedule(c)
			return true
		}
		c.wmu.Unlock()
		return true
	}
	c.flushing = true
	c.wmu.Unlock()
	c.srv.writers.schedule(c)
	return true
}

// sendNow is send for callers that may spend a syscall: when nothing is
// queued it writes frame at once, without blocking, on the caller's
// goroutine, and leaves to a writer only what the socket buffer could not
// take. Small fan-outs and replies on the socket's own read goroutine use
// it, sparing the hand-off to the writer pool (a wake-up and a switch per
// frame); a large fan-out, or any fan-out on a saturated server (hub.go,
// directFanout), uses send, so the publisher never writes to thousands of
// sockets itself.
func (c *conn) sendNow(frame []byte) bool {
	c.wmu.Lock()
	if c.flushing || c.closing != nil || c.dead || !c.fd.Ready(c.nc) {
		c.wmu.Unlock()
		return c.send(frame)
	}
	c.flushing = true // this goroutine is the writer until it hands over
	c.wmu.Unlock()

	n := c.fd.TryWrite(frame)
	c.srv.metrics.framesOut.Inc()
	// Direct writes count toward the load too: a server whose every
	// write is direct would otherwise never find itself saturated.
	c.srv.writers.checkLoad(c.srv.writers.now())

	c.wmu.Lock()
	if n < len(frame) {
		// The rest goes first, before anything queued meanwhile.
		rest := frame[n:]
		c.queue = append(c.queue, nil)
		copy(c.queue[1:], c.queue)
		c.queue[0] = rest
		c.queued += len(rest)
	}
	if len(c.queue) == 0 {
		c.flushing = false
		c.wmu.Unlock()
		return true
	}
	c.wmu.Unlock()
	c.srv.writers.schedule(c)
	return true
}

// closeWith sends err as a pusher:error frame after what is already queued
// and then closes the socket with err's code. Later calls are ignored.
func (c *conn) closeWith(err *protocol.Error) {
	frame := textFrame(protocol.ErrorFrame(err))
	c.wmu.Lock()
	if c.closing != nil || c.dead {
		c.wmu.Unlock()
		return
	}
	c.srv.metrics.errorSent(err.Code)
	c.closing = err
	c.queue = append(c.queue, frame)
	c.queued += len(frame)
	start := !c.flushing || c.held // a held socket closes now
	c.flushing, c.held = true, false
	c.wmu.Unlock()
	if start {
		c.srv.writers.schedule(c)
	}
}

// flush is the socket's only writer while it runs. On a saturated server
// it first lets the goroutines already runnable go ahead (publishers in
// the middle of a request): the frames they queue here join this batch,
// one writev for all of them. With CPU to spare Gosched returns at once.
func (c *conn) flush() {
	if c.srv.writers.coalescing.Load() {
		runtime.Gosched()
	}
	for {
		c.wmu.Lock()
		batch := c.queue
		if len(batch) == 0 {
			closing := c.closing
			c.flushing = false
			if closing == nil || c.dead {
				c.wmu.Unlock()
				return
			}
			c.dead = true
			c.wmu.Unlock()
			c.writeClose(closing)
			return
		}
		if len(batch) < holdFrames && !c.released && c.closing == nil && c.srv.writers.coalescing.Load() {
			// Under load, a stream's lone frame waits for the next (writers.go).
			if now := c.srv.writers.now(); c.lastWrite != 0 && now-c.lastWrite < int64(holdRecent) {
				c.held = true
				c.holdGen++
				gen := c.holdGen
				c.wmu.Unlock()
				c.srv.writers.hold(c, gen, now+int64(holdWait))
				return
			}
		}
		c.released = false
		c.queue, c.spare = c.spare[:0], nil
		c.wmu.Unlock()

		n, err := c.writeBatch(batch)
		clear(batch)

		c.wmu.Lock()
		c.spare = batch[:0]
		c.queued -= n
		if err != nil {
			c.dead = true
			c.flushing = false
			c.queue = nil
			c.wmu.Unlock()
			_ = c.nc.Close() // the read loop ends and cleans up
			return
		}
		c.wmu.Unlock()
	}
}

func (c *conn) writeBatch(batch [][]byte) (int, error) {
	n := 0
	for _, b := range batch {
		n += len(b)
	}
	c.srv.metrics.framesOut.Add(float64(len(batch)))
	w := c.srv.writers
	e := w.beginWrite()
	c.writingSince.Store(w.now())
	var err error
	switch {
	case c.fd.Ready(c.nc):
		_, err = c.fd.WriteAll(batch)
	case len(batch) == 1:
		_, err = c.nc.Write(batch[0])
	default:
		// WriteTo consumes the Buffers it is called on, and a local one
		// would escape (an allocation per batch): c.wv is a view of c.iov.
		c.iov = append(c.iov[:0], batch...)
		c.wv = c.iov
		_, err = c.wv.WriteTo(c.nc)
		c.wv = nil
		clear(c.iov)
	}
	c.lastWrite = w.now()
	c.writingSince.Store(0)
	w.endWrite(e)
	w.checkLoad(c.lastWrite)
	return n, err
}

// unhold hands a held socket back to the writers, unless the hold of
// generation gen has already ended (released by a frame, or the socket
// closing).
func (c *conn) unhold(gen uint32) {
	c.wmu.Lock()
	if !c.held || c.holdGen != gen {
		c.wmu.Unlock()
		return
	}
	c.held, c.released = false, true
	c.wmu.Unlock()
	c.srv.writers.schedule(c)
}

// cutIfStalled closes the socket when a write has been blocked on it for
// longer than stall (in writers.now() nanoseconds): the write returns
// with an error and the flusher and read loop clean up as for any broken
// socket. The sweep calls it; the swap makes a write that outlives the
// next sweep (the close has not returned it yet) count and close once.
func (c *conn) cutIfStalled(now, stall int64) {
	if since := c.writingSince.Load(); since != 0 && now-since > stall && c.writingSince.CompareAndSwap(since, 0) {
		c.srv.metrics.stalledWrites.Inc()
		_ = c.nc.Close()
	}
}

func (c *conn) writeClose(err *protocol.Error) {
	if !c.slow.Load() {
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.opts.CloseTimeout))
	}
	reason := err.Message
	if len(reason) > 120 {
		reason = reason[:120]
	}
	_ = c.ws.WriteClose(uint16(err.Code), []byte(reason))
	_ = c.nc.Close()
}
