package edge

import (
	"io"
	"net"
	"syscall"
)

// fdWriter writes frames to a socket's file descriptor itself. Only the
// socket's writer of the moment (flushing) uses it; it is set up on the
// first use and reused, so a write allocates nothing.
//
// Why not net.Conn.Write: the standard library brackets every write with
// the scheduler's entersyscall and exitsyscall, and a write caught in a
// system call by the runtime's monitor thread loses its P to another
// thread. A write to a non-blocking socket never blocks, so that hand-off
// only ever costs: at 1 channel × 5,000 subscribers, 20 events/s, the
// monitor woke 28,000 times a second to look, and the hand-offs and
// wake-ups were 5 % of the server's CPU (perf record of the server,
// 2026-12-04). fdWriter makes the same writes as raw system calls; when
// the socket's buffer is full it waits in the runtime's poller as
// net.Conn.Write does, honouring the socket's deadline and its closing.
type fdWriter struct {
	raw    syscall.RawConn
	broken bool // no file descriptor (a TLS or test connection): use net.Conn

	// The write in progress, for fn.
	bufs    [][]byte
	wait    bool // wait for the socket to take everything, or stop at a full buffer
	written int
	err     error
	iov     []syscall.Iovec
	one     [1][]byte // tryWrite's frame as a batch; a local would escape
	fn      func(fd uintptr) bool
}

// ready reports whether raw writes are possible, setting up on first use.
func (w *fdWriter) ready(nc net.Conn) bool {
	if w.raw != nil || w.broken {
		return !w.broken
	}
	if sc, ok := nc.(syscall.Conn); ok && rawWritesSupported {
		w.raw, _ = sc.SyscallConn()
	}
	if w.raw == nil {
		w.broken = true
		return false
	}
	w.fn = w.writeFD
	return true
}

// tryWrite writes what the socket buffer takes now, without waiting, and
// returns how much; a full buffer or an error ends it (the writer that
// takes the rest meets the error again and closes the socket).
func (w *fdWriter) tryWrite(frame []byte) int {
	w.one[0] = frame
	n, _ := w.write(w.one[:], false)
	w.one[0] = nil
	return n
}

// writeAll writes every buffer, waiting while the socket's buffer is full.
// It consumes bufs (its elements are resliced as they are written).
func (w *fdWriter) writeAll(bufs [][]byte) (int, error) {
	return w.write(bufs, true)
}

func (w *fdWriter) write(bufs [][]byte, wait bool) (int, error) {
	w.bufs, w.wait, w.written, w.err = bufs, wait, 0, nil
	err := w.raw.Write(w.fn)
	if w.err != nil {
		err = w.err
	}
	n := w.written
	w.bufs, w.err = nil, nil
	return n, err
}

// writeFD runs inside RawConn.Write: returning false waits for the socket
// to take more and calls it again.
func (w *fdWriter) writeFD(fd uintptr) bool {
	for len(w.bufs) > 0 {
		if len(w.bufs[0]) == 0 {
			w.bufs = w.bufs[1:]
			continue
		}
		n, errno := w.writeOnce(fd)
		switch {
		case errno == syscall.EINTR:
			continue
		case errno == syscall.EAGAIN:
			return !w.wait
		case errno != 0:
			w.err = errno
			return true
		case n <= 0:
			w.err = io.ErrUnexpectedEOF
			return true
		}
		w.written += n
		w.consume(n)
	}
	return true
}

// consume drops n written bytes from the front of bufs.
func (w *fdWriter) consume(n int) {
	for n > 0 {
		if n < len(w.bufs[0]) {
			w.bufs[0] = w.bufs[0][n:]
			return
		}
		n -= len(w.bufs[0])
		w.bufs = w.bufs[1:]
	}
}
