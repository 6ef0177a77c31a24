package edge

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lxzan/gws"

	"github.com/switchboard-rt/switchboard/protocol"
)

// pusher-js's HTTP fallbacks (protocol doc §8.4): xhr_streaming and
// xhr_polling, for clients that cannot open a WebSocket. Each HTTP
// session is a gateway onto a WebSocket this node opens to itself on the
// address the request came in on, so every protocol rule (auth, limits,
// presence, client events, timeouts, drain) is the WebSocket path's own
// code; the gateway only reframes:
//
//	POST {prefix}/app/{key}/{server}/{session}/xhr_streaming  o, then a[…] frames as they come
//	POST {prefix}/app/{key}/{server}/{session}/xhr            o, then one batch of frames per request
//	POST {prefix}/app/{key}/{server}/{session}/xhr_send       body: JSON array of Pusher messages
//
// A session whose client stops asking for frames is closed after
// httpSessionIdle.

const (
	// httpSessionIdle ends a session no receive request has come for.
	httpSessionIdle = 60 * time.Second
	// httpHeartbeat keeps proxies from closing a quiet stream or poll.
	httpHeartbeat = 25 * time.Second
	// httpMaxPending bounds the frames a session holds for its client;
	// a client that falls further behind is cut like a slow socket.
	httpMaxPending = 1 << 20
	// httpStreamBytes ends a streaming response before pusher-js's
	// 256 KiB buffer limit; the client opens the next one at once.
	httpStreamBytes = 128 << 10
)

type httpSession struct {
	srv *Server
	id  string
	ws  *gws.Conn

	mu      sync.Mutex
	pending [][]byte // Pusher messages not yet handed to a receive request
	size    int
	opened  bool          // the "o" frame went out
	closed  []byte        // the c[code,"reason"] frame once the socket closed
	wake    chan struct{} // closed and replaced when pending or closed changes
	seen    time.Time     // last receive request
	readers int           // receive requests in progress
}

// httpSessions are a node's open fallback sessions, by key and session.
type httpSessions struct {
	mu sync.Mutex
	m  map[string]*httpSession
}

// fallbackPath splits {prefix}/app/{key}/{server}/{session}/{op}.
func fallbackPath(path string) (key, session, op string, ok bool) {
	i := strings.LastIndex(path, "/app/")
	if i < 0 {
		return "", "", "", false
	}
	parts := strings.Split(path[i+len("/app/"):], "/")
	if len(parts) != 4 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", false
	}
	switch parts[3] {
	case "xhr_streaming", "xhr", "xhr_send":
	default:
		return "", "", "", false
	}
	return parts[0], parts[1] + "/" + parts[2], parts[3], true
}

func (s *Server) serveFallback(w http.ResponseWriter, r *http.Request, key, session, op string) {
	h := allowOrigin(w, r)
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
		}
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodPost {
		h.Set("Allow", "POST, OPTIONS")
		writeJSONError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here; use POST")
		return
	}
	id := key + "/" + session
	if op == "xhr_send" {
		sess := s.fallback.get(id)
		if sess == nil {
			writeJSONError(w, http.StatusNotFound, "session_not_found", "no such session: open it with xhr_streaming or xhr first")
			return
		}
		sess.send(w, r)
		return
	}
	sess, err := s.fallback.open(r, s, id, key)
	if err != nil {
		writeJSONError(w, http.StatusServiceUnavailable, "unavailable", "cannot open a session: "+err.Error())
		return
	}
	h.Set("Content-Type", "application/javascript; charset=UTF-8")
	h.Set("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0")
	sess.receive(w, r, op == "xhr_streaming")
}

// allowOrigin lets the page that made a cross-origin request (with its
// cookies) read the answer, as pusher-js's XHRs and EventSource need; the
// app's allowed origins are checked where the gateway's WebSocket opens.
func allowOrigin(w http.ResponseWriter, r *http.Request) http.Header {
	h := w.Header()
	if origin := r.Header.Get("Origin"); origin != "" {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Add("Vary", "Origin")
	}
	return h
}

func (ss *httpSessions) get(id string) *httpSession {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.m[id]
}

// open returns the session, connecting its WebSocket on first use.
func (ss *httpSessions) open(r *http.Request, s *Server, id, key string) (*httpSession, error) {
	ss.mu.Lock()
	if sess := ss.m[id]; sess != nil {
		ss.mu.Unlock()
		return sess, nil
	}
	ss.mu.Unlock()
	sess := &httpSession{srv: s, id: id, wake: make(chan struct{}), seen: time.Now()}
	ws, err := dialSelf(r, key, (*sessionEvents)(sess))
	if err != nil {
		return nil, err
	}
	sess.ws = ws
	ss.mu.Lock()
	if other := ss.m[id]; other != nil { // opened meanwhile by a parallel request
		ss.mu.Unlock()
		_ = ws.NetConn().Close()
		return other, nil
	}
	ss.m[id] = sess
	ss.mu.Unlock()
	go ws.ReadLoop()
	go sess.expire()
	return sess, nil
}

// dialSelf opens a WebSocket to this node's own /app/{key}, on the
// address r came in on, with r's query (less pusher-js's cache busting)
// and its Origin and User-Agent: the gateways' way onto the protocol code.
func dialSelf(r *http.Request, key string, handler gws.Event) (*gws.Conn, error) {
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return nil, errors.New("no local address")
	}
	header := http.Header{}
	for _, name := range []string{"Origin", "User-Agent"} {
		if v := r.Header.Get(name); v != "" {
			header.Set(name, v)
		}
	}
	path := r.URL.Path[:strings.LastIndex(r.URL.Path, "/app/")] + "/app/" + key
	q := r.URL.Query()
	for _, gatewayOnly := range []string{"t", "n", "channels", "auth", "expires", "lastEventId"} {
		q.Del(gatewayOnly)
	}
	if !q.Has("protocol") {
		q.Set("protocol", strconv.Itoa(protocol.MaxVersion))
	}
	opt := &gws.ClientOption{
		Addr:              "ws://" + local.String() + path + "?" + q.Encode(),
		RequestHeader:     header,
		HandshakeTimeout:  5 * time.Second,
		PermessageDeflate: gws.PermessageDeflate{Enabled: false},
	}
	if r.TLS != nil {
		// The node terminates TLS itself: dial its own socket address with
		// TLS too. The certificate is not checked: the peer is the address
		// this request was accepted on, i.e. this process.
		opt.Addr = "wss" + opt.Addr[2:]
		opt.TlsConfig = &tls.Config{InsecureSkipVerify: true, ServerName: r.TLS.ServerName} //nolint:gosec // dialling ourselves
	}
	ws, _, err := gws.NewClient(handler, opt)
	return ws, err
}

func (ss *httpSessions) remove(sess *httpSession) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.m[sess.id] == sess {
		delete(ss.m, sess.id)
	}
}

// expire closes the session once no receive request has come for
// httpSessionIdle, and forgets it a while after it closed (so a last
// receive request still collects the close frame). It stops with the
// server too.
func (sess *httpSession) expire() {
	t := time.NewTicker(httpSessionIdle / 4)
	defer t.Stop()
	defer sess.srv.fallback.remove(sess)
	var closedAt time.Time
	for {
		select {
		case <-sess.srv.ctx.Done():
			_ = sess.ws.NetConn().Close()
			return
		case <-t.C:
		}
		sess.mu.Lock()
		idle := sess.readers == 0 && time.Since(sess.seen) > httpSessionIdle
		done := sess.closed != nil
		sess.mu.Unlock()
		switch {
		case idle:
			_ = sess.ws.NetConn().Close()
			return
		case done && closedAt.IsZero():
			closedAt = time.Now()
		case done && time.Since(closedAt) > httpHeartbeat:
			return
		}
	}
}

// receive answers xhr_streaming (frames as they come, until the response
// is long) or xhr (one batch).
func (sess *httpSession) receive(w http.ResponseWriter, r *http.Request, streaming bool) {
	send := streamWriter(w, sess.srv.opts.WriteTimeout)
	sess.mu.Lock()
	sess.readers++
	sess.seen = time.Now()
	sess.mu.Unlock()
	defer func() {
		sess.mu.Lock()
		sess.readers--
		sess.seen = time.Now()
		sess.mu.Unlock()
	}()
	written := 0
	write := func(b []byte) bool {
		written += len(b)
		return send(b)
	}
	heartbeat := time.NewTimer(httpHeartbeat)
	defer heartbeat.Stop()
	for {
		frame, wake := sess.next()
		if frame != nil {
			if !write(frame) {
				return
			}
			if !streaming || written >= httpStreamBytes || frame[0] == 'c' || (frame[0] == 'o' && !streaming) {
				return
			}
			continue
		}
		select {
		case <-wake:
		case <-heartbeat.C:
			if !write([]byte("h\n")) || !streaming {
				return
			}
			heartbeat.Reset(httpHeartbeat)
		case <-r.Context().Done():
			return
		}
	}
}

// next takes the next frame for a receive request: "o" first, then the
// pending messages as one "a" frame, then the close frame; nil and a
// channel to wait on when there is nothing.
func (sess *httpSession) next() ([]byte, <-chan struct{}) {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	switch {
	case !sess.opened:
		sess.opened = true
		return []byte("o\n"), nil
	case len(sess.pending) > 0:
		b := []byte{'a', '['}
		for i, m := range sess.pending {
			if i > 0 {
				b = append(b, ',')
			}
			enc, _ := json.Marshal(string(m))
			b = append(b, enc...)
		}
		b = append(b, ']', '\n')
		sess.pending, sess.size = nil, 0
		return b, nil
	case sess.closed != nil:
		return sess.closed, nil
	}
	return nil, sess.wake
}

func (sess *httpSession) signal() {
	close(sess.wake)
	sess.wake = make(chan struct{})
}

// send forwards the messages of an xhr_send body to the WebSocket.
func (sess *httpSession) send(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(sess.srv.opts.MaxFrameBytes)*16))
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "bad_request", "cannot read the body")
		return
	}
	var msgs []string
	if err := json.Unmarshal(bytes.TrimSpace(body), &msgs); err != nil {
		writeJSONError(w, http.StatusBadRequest, "bad_request", "body must be a JSON array of strings")
		return
	}
	for _, m := range msgs {
		if err := sess.ws.WriteString(m); err != nil {
			writeJSONError(w, http.StatusNotFound, "session_not_found", "the session is closed")
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// sessionEvents receives the gateway's WebSocket.
type sessionEvents httpSession

func (e *sessionEvents) OnOpen(*gws.Conn)             {}
func (e *sessionEvents) OnPing(c *gws.Conn, p []byte) { _ = c.WritePong(p) }
func (e *sessionEvents) OnPong(*gws.Conn, []byte)     {}
func (e *sessionEvents) OnClose(_ *gws.Conn, err error) {
	sess := (*httpSession)(e)
	code, reason := 1006, "Connection interrupted"
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		code, reason = int(ce.Code), string(ce.Reason)
	}
	enc, _ := json.Marshal(reason)
	sess.mu.Lock()
	sess.closed = []byte("c[" + strconv.Itoa(code) + "," + string(enc) + "]\n")
	sess.signal()
	sess.mu.Unlock()
}

func (e *sessionEvents) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	sess := (*httpSession)(e)
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.size+m.Data.Len() > httpMaxPending {
		sess.pending, sess.size = nil, 0
		_ = c.WriteClose(1000, nil)
		_ = c.NetConn().Close()
		sess.closed = []byte(`c[4100,"Client is not reading the session's frames"]` + "\n")
		sess.signal()
		return
	}
	sess.pending = append(sess.pending, bytes.Clone(m.Bytes()))
	sess.size += m.Data.Len()
	sess.signal()
}
