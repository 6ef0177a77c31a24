package rawsock

import (
	"io"
	"net"
	"syscall"
)

// Writer writes buffers to a socket's file descriptor with raw write and
// writev calls (see the package comment). One goroutine at a time uses
// it; it is set up on the first use and reused, so a write allocates
// nothing.
type Writer struct {
	raw    syscall.RawConn
	broken bool // no file descriptor (a TLS or test connection)

	// The write in progress, for fn.
	bufs    [][]byte
	wait    bool // wait for the socket to take everything, or stop at a full buffer
	written int
	err     error
	iov     []iovec
	one     [1][]byte // a single buffer as a batch; a local would escape
	fn      func(fd uintptr) bool
}

// Ready reports whether raw writes to nc are possible, setting up on
// first use; when they are not, the caller writes through nc.
func (w *Writer) Ready(nc net.Conn) bool {
	if w.raw != nil || w.broken {
		return !w.broken
	}
	if sc, ok := nc.(syscall.Conn); ok && enabled {
		w.raw, _ = sc.SyscallConn()
	}
	if w.raw == nil {
		w.broken = true
		return false
	}
	w.fn = w.writeFD
	return true
}

// TryWrite writes what the socket buffer takes now, without waiting, and
// returns how much; a full buffer or an error ends it (the next write
// meets the error again).
func (w *Writer) TryWrite(b []byte) int {
	w.one[0] = b
	n, _ := w.write(w.one[:], false)
	w.one[0] = nil
	return n
}

// WriteAll writes every buffer, waiting while the socket's buffer is
// full. It consumes bufs (its elements are resliced as they are written).
func (w *Writer) WriteAll(bufs [][]byte) (int, error) {
	return w.write(bufs, true)
}

func (w *Writer) write(bufs [][]byte, wait bool) (int, error) {
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
func (w *Writer) writeFD(fd uintptr) bool {
	for len(w.bufs) > 0 {
		if len(w.bufs[0]) == 0 {
			w.bufs = w.bufs[1:]
			continue
		}
		var n int
		var errno syscall.Errno
		n, w.iov, errno = rawWrite(fd, w.bufs, w.iov)
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
func (w *Writer) consume(n int) {
	for n > 0 {
		if n < len(w.bufs[0]) {
			w.bufs[0] = w.bufs[0][n:]
			return
		}
		n -= len(w.bufs[0])
		w.bufs = w.bufs[1:]
	}
}
