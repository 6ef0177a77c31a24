// Package rawsock reads and writes TCP sockets with raw system calls on
// their non-blocking descriptors, waiting in the runtime's poller only
// when a socket has nothing to read or no room to write: Listen serves
// connections that do so for every Read and Write (the node's HTTP API and
// WebSockets, the load generator's sockets), and Writer does it for the
// edge's flusher, with writev for batches.
//
// Why: the standard library brackets every socket read and write with the
// scheduler's entersyscall and exitsyscall. When the process has been
// idle, the first such call wakes the runtime's monitor thread (sysmon),
// which then looks every 20 µs for as long as the process stays busy, and
// a call still in the kernel when it looks (a loopback write runs the
// receiver's TCP stack and can take tens of µs) loses its P to another
// thread. A server that goes idle between requests pays that on every
// request: with the server on one CPU, sysmon was 14 % of its CPU at 2,000
// channels × 2 subscribers, 1,000 signed publishes/s (as much for the bare
// baseline), and 40 samples in 9,400 with raw calls (perf record,
// 2026-12-05); at 1 channel × 5,000 subscribers, 20 events/s, it woke
// 28,000 times a second and the hand-offs were 5 % (2026-12-04). A read or
// write of a non-blocking socket never blocks, so nothing is lost by
// making it raw: deadlines, closing and waiting behave as with net.Conn
// because the waiting is still the poller's.
package rawsock

import (
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
)

// enabled: raw calls are used (see race_on.go for race builds).
const enabled = supported && !raceBuild

// Listener accepts TCP connections as *Conn.
type Listener struct {
	net.Listener
}

// Listen wraps ln when it is a TCP listener on a system with raw socket
// calls; otherwise it returns ln unchanged.
func Listen(ln net.Listener) net.Listener {
	if _, ok := ln.(*net.TCPListener); !ok || !enabled {
		return ln
	}
	return Listener{ln}
}

// Accept returns the next connection, wrapped (see Wrap).
func (l Listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Wrap(nc), nil
}

// Wrap returns nc as a *Conn when it is a TCP connection on a system with
// raw socket calls, and nc itself otherwise.
func Wrap(nc net.Conn) net.Conn {
	if tc, ok := nc.(*net.TCPConn); ok && enabled {
		if c := New(tc); c != nil {
			return c
		}
	}
	return nc
}

// Conn is a *net.TCPConn whose Read and Write are raw system calls. Every
// other method (deadlines, SyscallConn, CloseWrite, ReadFrom…) is the
// TCPConn's own.
type Conn struct {
	*net.TCPConn
	raw syscall.RawConn

	rmu    sync.Mutex
	rbuf   []byte
	rn     int
	rerr   error
	readFn func(fd uintptr) bool
	wmu    sync.Mutex
	w      Writer
}

// New wraps tc, or returns nil if its descriptor is out of reach.
func New(tc *net.TCPConn) *Conn {
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	c := &Conn{TCPConn: tc, raw: raw}
	c.readFn = c.readFD
	c.w.raw = raw
	c.w.fn = c.w.writeFD
	return c
}

// Read reads what the socket holds, waiting for data if it holds none.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.rbuf, c.rn, c.rerr = p, 0, nil
	err := c.raw.Read(c.readFn)
	n := c.rn
	if c.rerr != nil {
		err = c.rerr
	}
	c.rbuf, c.rerr = nil, nil
	switch {
	case err != nil:
		return n, c.opError("read", err)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// readFD runs inside RawConn.Read: returning false waits for data.
func (c *Conn) readFD(fd uintptr) bool {
	for {
		n, errno := rawRead(fd, c.rbuf)
		switch errno {
		case 0:
			c.rn = n
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		default:
			c.rerr = errno
			return true
		}
	}
}

// Write writes all of p, waiting while the socket's buffer is full.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.w.one[0] = p
	n, err := c.w.write(c.w.one[:], true)
	c.w.one[0] = nil
	if err != nil {
		return n, c.opError("write", err)
	}
	return n, nil
}

// opError reports err as net.Conn does: a *net.OpError named after the
// call (net/http tells routine read failures by Op "read").
func (c *Conn) opError(op string, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		err = oe.Err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}
