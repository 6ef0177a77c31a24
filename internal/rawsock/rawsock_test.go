package rawsock

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// acceptedPair returns a client connection and the server's end of it as
// accepted through Listen.
func acceptedPair(t *testing.T) (client net.Conn, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rl := Listen(ln)
	defer rl.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := rl.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestListenAcceptsRawConns(t *testing.T) {
	requireRaw(t)
	_, server := acceptedPair(t)
	if _, ok := server.(*Conn); !ok {
		t.Fatalf("Accept returned %T, want *rawsock.Conn", server)
	}
}

func TestListenLeavesOtherListenersAlone(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("unix", dir+"/s")
	if err != nil {
		t.Skip("no unix sockets here:", err)
	}
	defer ln.Close()
	if Listen(ln) != ln {
		t.Fatal("a unix listener was wrapped")
	}
}

func TestConnCarriesBytesBothWaysInOrder(t *testing.T) {
	client, server := acceptedPair(t)
	// Several megabytes each way, more than the socket buffers hold, so
	// both Read and Write wait in the poller along the way.
	want := bytes.Repeat([]byte("0123456789abcdef"), 256<<10)
	for _, dir := range []struct {
		name     string
		from, to net.Conn
	}{{"server to client", server, client}, {"client to server", client, server}} {
		got := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(io.LimitReader(dir.to, int64(len(want))))
			got <- b
		}()
		n, err := dir.from.Write(want)
		if err != nil || n != len(want) {
			t.Fatalf("%s: Write = %d, %v; want %d, nil", dir.name, n, err, len(want))
		}
		if b := <-got; !bytes.Equal(b, want) {
			t.Fatalf("%s: read %d bytes, not the %d written, in order", dir.name, len(b), len(want))
		}
	}
}

func TestConnReadsEOFWhenThePeerCloses(t *testing.T) {
	client, server := acceptedPair(t)
	client.Write([]byte("last words"))
	client.Close()
	b, err := io.ReadAll(server)
	if err != nil || string(b) != "last words" {
		t.Fatalf("ReadAll = %q, %v; want the data, then io.EOF (nil from ReadAll)", b, err)
	}
	n, err := server.Read(make([]byte, 8))
	if n != 0 || err != io.EOF {
		t.Fatalf("Read after the end = %d, %v; want 0, io.EOF", n, err)
	}
}

func TestConnReadHonoursItsDeadline(t *testing.T) {
	_, server := acceptedPair(t)
	server.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	_, err := server.Read(make([]byte, 8))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past its deadline returned %v, want a timeout", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" {
		t.Fatalf("the error is %#v, want a *net.OpError with Op \"read\" (net/http tells routine failures by it)", err)
	}
}

func TestConnReadReturnsWhenClosed(t *testing.T) {
	_, server := acceptedPair(t)
	returnsWhenClosed(t, "Read", server, func() error {
		_, err := server.Read(make([]byte, 8))
		return err
	})
}

// returnsWhenClosed runs wait, which should be waiting on sock, closes
// sock and checks that wait returns net.ErrClosed.
func returnsWhenClosed(t *testing.T, what string, sock net.Conn, wait func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- wait() }()
	time.Sleep(20 * time.Millisecond) // most likely waiting by now; if not, it starts on a closed socket
	sock.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("%s on a closed socket returned %v, want net.ErrClosed", what, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still waiting after its socket closed", what)
	}
}

// requireRaw skips a test of raw calls where they are not used.
func requireRaw(t *testing.T) {
	t.Helper()
	if !enabled {
		t.Skip("raw calls are Linux only, and not in race builds")
	}
}

func TestConnWriteToAResetPeerFails(t *testing.T) {
	client, server := acceptedPair(t)
	client.(*net.TCPConn).SetLinger(0) // close with a reset
	client.Close()
	chunk := bytes.Repeat([]byte{'x'}, 64<<10)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := server.Write(chunk); err != nil {
			var oe *net.OpError
			if !errors.As(err, &oe) || oe.Op != "write" {
				t.Fatalf("the error is %#v, want a *net.OpError with Op \"write\"", err)
			}
			return
		}
	}
	t.Fatal("writes to a reset connection kept succeeding")
}

// The listener serves net/http as the node does: keep-alive requests, and
// a hijacked connection (the WebSocket upgrade) that goes on being a raw
// one.
func TestHTTPServerOverRawConns(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body) // whole: net/http closes an unread body once the response starts
		w.Write(b)
	})
	hijacked := make(chan net.Conn, 1)
	mux.HandleFunc("GET /hijack", func(w http.ResponseWriter, r *http.Request) {
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		hijacked <- nc
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(Listen(ln))
	defer srv.Close()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	for i := 0; i < 50; i++ {
		body := strings.Repeat("hello ", i*1000)
		resp, err := client.Post("http://"+ln.Addr().String()+"/echo", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != body {
			t.Fatalf("request %d: echoed %d bytes, want %d", i, len(b), len(body))
		}
	}

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET /hijack HTTP/1.1\r\nHost: x\r\n\r\n"))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v, %v", resp, err)
	}
	nc := <-hijacked
	defer nc.Close()
	if enabled {
		if _, ok := nc.(*Conn); !ok {
			t.Fatalf("the hijacked connection is %T, want *rawsock.Conn", nc)
		}
	}
	nc.Write([]byte("ping"))
	got := make([]byte, 4)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "ping" {
		t.Fatalf("after the upgrade the client read %q, %v", got, err)
	}
	c.Write([]byte("pong"))
	if _, err := io.ReadFull(nc, got); err != nil || string(got) != "pong" {
		t.Fatalf("after the upgrade the server read %q, %v", got, err)
	}
}
