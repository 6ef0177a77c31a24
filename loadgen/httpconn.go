package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/switchboard-rt/switchboard/internal/rawsock"
)

// httpConn is one keep-alive HTTP/1.1 connection that sends POSTs one at
// a time, owned by one publish worker. It exists because the load
// generator must cost far less per request than the servers it measures:
// net/http's client hands every request to two goroutines of the
// connection (a wake-up and a switch each way) and builds a header map
// per response, which made the generator, not the server, the limit of
// the publish scenario. It speaks only what that needs: a request with a
// Content-Length body, and responses with Content-Length, chunked or
// read-to-close bodies, which it discards.
type httpConn struct {
	addr    string // host:port to dial, and the Host header
	timeout time.Duration

	nc   net.Conn
	br   *bufio.Reader
	req  []byte // the request being sent, reused
	stop func() bool
}

func newHTTPConn(addr string, timeout time.Duration) *httpConn {
	return &httpConn{addr: addr, timeout: timeout}
}

// post sends one request and returns the response's status. A transport
// error or a malformed response closes the connection; the next post
// dials again. ctx ending aborts a request in flight.
func (h *httpConn) post(ctx context.Context, target []byte, contentType string, body []byte) (int, error) {
	if h.nc == nil {
		if err := h.dial(ctx); err != nil {
			return 0, err
		}
	}
	status, keep, err := h.roundTrip(target, contentType, body)
	if err != nil || !keep {
		h.close()
	}
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return status, err
}

func (h *httpConn) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", h.addr)
	if err != nil {
		return err
	}
	nc = rawsock.Wrap(nc)
	h.nc = nc
	if h.br == nil {
		h.br = bufio.NewReaderSize(nc, 4096)
	} else {
		h.br.Reset(nc)
	}
	// One watcher per connection, not per request: ending ctx unblocks
	// whatever the connection is doing.
	h.stop = context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	return nil
}

func (h *httpConn) close() {
	if h.nc == nil {
		return
	}
	h.stop()
	_ = h.nc.Close()
	h.nc = nil
}

func (h *httpConn) roundTrip(target []byte, contentType string, body []byte) (status int, keep bool, err error) {
	if err := h.nc.SetDeadline(time.Now().Add(h.timeout)); err != nil {
		return 0, false, err
	}
	b := append(h.req[:0], "POST "...)
	b = append(b, target...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, h.addr...)
	b = append(b, "\r\nUser-Agent: switchboard-bench\r\nContent-Type: "...)
	b = append(b, contentType...)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	h.req = b
	if _, err := h.nc.Write(b); err != nil {
		return 0, false, err
	}
	return readResponse(h.br)
}

var errMalformed = errors.New("malformed HTTP response")

// readResponse reads one response and discards its body. keep is false
// when the connection cannot carry another request.
func readResponse(br *bufio.Reader) (status int, keep bool, err error) {
	line, err := readLine(br)
	if err != nil {
		return 0, false, err
	}
	// HTTP/1.x NNN reason
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, false, errMalformed
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil || status < 100 {
		return 0, false, errMalformed
	}
	keep = line[7] == '1' // HTTP/1.0 closes unless asked otherwise
	length, chunked := int64(-1), false
	for {
		line, err := readLine(br)
		if err != nil {
			return status, false, err
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return status, false, errMalformed
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 {
				return status, false, errMalformed
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			keep = !bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case status < 200 || status == 204 || status == 304:
		// No body. (A 1xx would be followed by the real response; the
		// servers measured here send none to a request without Expect.)
		if status < 200 {
			return status, false, fmt.Errorf("unexpected HTTP %d", status)
		}
	case chunked:
		err = discardChunked(br)
	case length >= 0:
		_, err = br.Discard(int(length))
	default:
		_, err = io.Copy(io.Discard, br)
		keep = false
	}
	if err != nil {
		return status, false, err
	}
	return status, keep, nil
}

// readLine returns a line without its CRLF; the slice is valid until the
// next read.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errMalformed
		}
		return nil, err
	}
	return bytes.TrimSuffix(line[:len(line)-1], []byte("\r")), nil
}

func discardChunked(br *bufio.Reader) error {
	for {
		line, err := readLine(br)
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(line, []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil || n < 0 {
			return errMalformed
		}
		if n == 0 {
			for { // trailers, up to the empty line
				line, err := readLine(br)
				if err != nil {
					return err
				}
				if len(line) == 0 {
					return nil
				}
			}
		}
		if _, err := br.Discard(int(n)); err != nil {
			return err
		}
		if line, err := readLine(br); err != nil || len(line) != 0 {
			return errMalformed
		}
	}
}
