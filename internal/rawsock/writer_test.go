package rawsock

import (
	"bytes"
	"io"
	"net"
	"testing"
)

// tcpPair returns both ends of a loopback TCP connection whose buffers are
// small, so that a few hundred kilobytes fill them.
func tcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	client, server = c.(*net.TCPConn), s.(*net.TCPConn)
	_ = server.SetWriteBuffer(16 << 10)
	_ = client.SetReadBuffer(16 << 10)
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// frames returns n frames of size bytes, each filled with its index.
func frames(n, size int) ([][]byte, []byte) {
	var all []byte
	out := make([][]byte, n)
	for i := range out {
		out[i] = bytes.Repeat([]byte{byte(i)}, size)
		all = append(all, out[i]...)
	}
	return out, all
}

func TestWriterWritesEverythingInOrder(t *testing.T) {
	requireRaw(t)
	client, server := tcpPair(t)
	var w Writer
	if !w.Ready(server) {
		t.Fatal("a TCP connection has a file descriptor")
	}
	// More frames than one writev takes (IOV_MAX) and far more bytes than
	// the socket buffers: the writer waits for the reader several times.
	batch, want := frames(3000, 700)
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(client, int64(len(want))))
		got <- b
	}()
	n, err := w.WriteAll(batch)
	if err != nil || n != len(want) {
		t.Fatalf("WriteAll = %d, %v; want %d, nil", n, err, len(want))
	}
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("the reader got %d bytes, not the %d written in order", len(b), len(want))
	}
	for _, v := range w.iov[:cap(w.iov)] {
		if v.Base != nil {
			t.Fatal("the iovec scratch still points at written frames")
		}
	}
}

func TestWriterTryWriteNeverWaits(t *testing.T) {
	requireRaw(t)
	_, server := tcpPair(t)
	var w Writer
	w.Ready(server)
	frame := bytes.Repeat([]byte{'x'}, 64<<10)
	total := 0
	for i := 0; i < 100; i++ { // nobody reads: the buffers fill
		n := w.TryWrite(frame)
		total += n
		if n < len(frame) {
			return // a short write, returned at once: what a caller that must not wait needs
		}
	}
	t.Fatalf("wrote %d bytes to a socket nobody reads without a short write", total)
}

func TestWriterReturnsWhenTheSocketCloses(t *testing.T) {
	requireRaw(t)
	_, server := tcpPair(t)
	var w Writer
	w.Ready(server)
	batch, _ := frames(64, 64<<10) // 4 MiB nobody reads
	returnsWhenClosed(t, "WriteAll", server, func() error {
		_, err := w.WriteAll(batch)
		return err
	})
}

func TestWriterWithoutFileDescriptor(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var w Writer
	if w.Ready(a) || w.Ready(a) {
		t.Fatal("a pipe has no file descriptor: writes must go through net.Conn")
	}
}
