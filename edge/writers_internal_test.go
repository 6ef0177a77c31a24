package edge

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/internal/testwait"
	"github.com/switchboard-rt/switchboard/tenants"
)

// recordConn keeps what is written to it, in order.
type recordConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (r *recordConn) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, bytes.Clone(b))
	return len(b), nil
}
func (r *recordConn) SetWriteDeadline(time.Time) error { return nil }
func (r *recordConn) Close() error                     { return nil }

func (r *recordConn) written() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.writes...)
}

// coalescingConn is a socket of a server whose writers hold as if the
// server were saturated.
func coalescingConn(t *testing.T) (*conn, *recordConn) {
	t.Helper()
	s := New(Options{Apps: tenants.NewDirectory(tenants.NewMemoryStore(), 0), MaxQueueBytes: 1 << 20})
	t.Cleanup(s.writers.close)
	s.writers.on, s.writers.off = 0, -1
	s.writers.coalescing.Store(true)
	rc := &recordConn{}
	c := &conn{srv: s, app: &tenants.App{}, nc: rc, socketID: "1.1"}
	c.am = s.metrics.app("")
	return c, rc
}

func (c *conn) isHeld() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.held
}

func TestHeldFrameGoesOutWithTheNext(t *testing.T) {
	c, rc := coalescingConn(t)
	f1, f2, f3 := textFrame([]byte(`1`)), textFrame([]byte(`2`)), textFrame([]byte(`3`))
	// A socket's first frame is never held: nothing shows a stream yet.
	c.send(f1)
	testwait.Until(t, 5*time.Second, func() bool { return len(rc.written()) == 1 })
	// The next one, soon after a write, waits for company.
	c.send(f2)
	testwait.Until(t, 5*time.Second, c.isHeld)
	if n := len(rc.written()); n != 1 {
		t.Fatalf("%d writes while held, want 1", n)
	}
	c.send(f3)
	testwait.Until(t, 5*time.Second, func() bool { return len(rc.written()) == 3 })
	for i, want := range [][]byte{f1, f2, f3} {
		if got := rc.written()[i]; !bytes.Equal(got, want) {
			t.Fatalf("write %d = %q, want %q", i, got, want)
		}
	}
}

func TestHeldFrameGoesOutAlone(t *testing.T) {
	c, rc := coalescingConn(t)
	c.send(textFrame([]byte(`1`)))
	testwait.Until(t, 5*time.Second, func() bool { return len(rc.written()) == 1 })
	c.send(textFrame([]byte(`2`)))
	testwait.Until(t, 5*time.Second, c.isHeld)
	// No second frame comes: the hold ends by itself (holdWait).
	testwait.Until(t, 5*time.Second, func() bool { return len(rc.written()) == 2 })
	if c.isHeld() {
		t.Fatal("still held after its frame went out")
	}
}

func TestNothingHeldBelowTheLoadThreshold(t *testing.T) {
	c, rc := coalescingConn(t)
	c.srv.writers.on, c.srv.writers.off = 2, 2 // the CPU share can never reach it
	c.srv.writers.coalescing.Store(false)
	for i := range 5 {
		c.send(textFrame([]byte{'0' + byte(i)}))
		testwait.Until(t, 5*time.Second, func() bool { return len(rc.written()) == i+1 })
		if c.isHeld() {
			t.Fatalf("frame %d held", i)
		}
	}
}

func TestCheckLoadHysteresis(t *testing.T) {
	w := newWriters(1)
	defer w.close()
	w.procs = 1
	win := int64(loadWindow)
	// The process used no CPU in a window: off. A window is at least
	// loadWindow long, whatever the process did.
	w.cpuAt.Store(processCPU())
	w.checkLoad(win)
	if w.coalescing.Load() {
		t.Fatal("coalescing on for an idle window")
	}
	w.on, w.off = 0, -1 // any share turns it on, none turns it off
	w.checkLoad(2 * win)
	if !w.coalescing.Load() {
		t.Fatal("coalescing off above the threshold")
	}
	w.on, w.off = 2, 0 // between the thresholds: it stays as it was
	w.checkLoad(3 * win)
	if !w.coalescing.Load() {
		t.Fatal("coalescing switched off between the thresholds")
	}
	w.checkLoad(3*win + win/2) // window not over: no decision
	w.on, w.off = 2, 2
	w.checkLoad(4 * win)
	if w.coalescing.Load() {
		t.Fatal("coalescing on below the off threshold")
	}

	// Holding below the on share: it lets go once it has held for
	// recheckAfter, not before.
	w.on, w.off = 0, -1
	w.checkLoad(5 * win)
	w.on = 2
	w.checkLoad(6 * win)
	if !w.coalescing.Load() {
		t.Fatal("coalescing let go before recheckAfter")
	}
	w.checkLoad(5*win + int64(recheckAfter))
	if w.coalescing.Load() {
		t.Fatal("coalescing held past recheckAfter below the on share")
	}
	// At or above the on share it holds on.
	w.on = 0
	w.checkLoad(6*win + int64(recheckAfter))
	w.checkLoad(7*win + 2*int64(recheckAfter))
	if !w.coalescing.Load() {
		t.Fatal("coalescing let go above the on share")
	}
}

// A server whose every write is direct (small channels, replies) must still
// find out that it is saturated, or its small fan-outs never coalesce.
func TestDirectWritesCountTowardTheLoad(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	c, _ := coalescingConn(t)
	c.nc = server
	w := c.srv.writers
	w.coalescing.Store(false)
	w.on, w.off = 0, -1 // any CPU share turns it on
	w.window.Store(w.now() - int64(loadWindow))

	frame := textFrame([]byte(`1`))
	c.sendNow(frame)
	got := make([]byte, len(frame))
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(client, got); err != nil || !bytes.Equal(got, frame) {
		t.Fatalf("read %q, %v; want %q", got, err, frame)
	}
	// Race builds have no raw writes (internal/rawsock), so there sendNow
	// hands the frame to a writer, which checks the load after its write.
	testwait.Until(t, 5*time.Second, w.coalescing.Load)
}
