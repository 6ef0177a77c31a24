package edge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lxzan/gws"

	"github.com/switchboard-rt/switchboard/protocol"
)

// Server-Sent Events for receive-only clients (dashboards, tickers,
// devices): GET {prefix}/app/{key}/events?channels=a,b (or channel=a&
// channel=b for names holding a comma). Like the HTTP fallbacks it is a
// gateway onto a WebSocket the node opens to itself. Each channel event
// is one SSE message whose data is the Pusher frame (event, channel,
// data, seq, epoch) and whose id holds every channel's position so far, so
// a browser's EventSource that reconnects with Last-Event-ID is given
// what it missed from history (docs/history.md).
//
// Private channels need auth=<hex HMAC-SHA256(secret, "sse:<key>:<channels
// joined by ,>:<expires>")> and expires=<unix seconds>, made by the app's
// backend; presence channels need a WebSocket (they have members).

const (
	maxSSEChannels = 100
	// sseBuffer bounds the frames waiting for a slow SSE client.
	sseBuffer = 1024
)

// sseKey matches {prefix}/app/{key}/events.
func sseKey(path string) (string, bool) {
	rest, ok := strings.CutSuffix(path, "/events")
	if !ok {
		return "", false
	}
	return appKeyFromPath(rest)
}

type sseClient struct {
	frames chan []byte
	closed chan *gws.CloseError
}

func (e *sseClient) OnOpen(*gws.Conn)             {}
func (e *sseClient) OnPing(c *gws.Conn, p []byte) { _ = c.WritePong(p) }
func (e *sseClient) OnPong(*gws.Conn, []byte)     {}
func (e *sseClient) OnClose(_ *gws.Conn, err error) {
	ce, _ := err.(*gws.CloseError)
	e.closed <- ce
}
func (e *sseClient) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	select {
	case e.frames <- bytes.Clone(m.Bytes()):
	default:
		_ = c.NetConn().Close() // the SSE client is not reading
	}
}

func (s *Server) serveSSE(w http.ResponseWriter, r *http.Request, key string) {
	h := allowOrigin(w, r)
	if r.Method != http.MethodGet {
		h.Set("Allow", "GET")
		writeJSONError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here; use GET")
		return
	}
	q := r.URL.Query()
	channels := q["channel"]
	if v := q.Get("channels"); v != "" {
		channels = append(channels, strings.Split(v, ",")...)
	}
	secret, status, code, msg := s.authorizeSSE(r, key, channels, q)
	if status != 0 {
		writeJSONError(w, status, code, msg)
		return
	}
	resume := parseSSEID(r.Header.Get("Last-Event-ID"))
	if v := q.Get("lastEventId"); v != "" && len(resume) == 0 {
		resume = parseSSEID(v)
	}
	client := &sseClient{frames: make(chan []byte, sseBuffer), closed: make(chan *gws.CloseError, 1)}
	ws, err := dialSelf(r, key, client)
	if err != nil {
		writeJSONError(w, http.StatusServiceUnavailable, "unavailable", "cannot open the stream: "+err.Error())
		return
	}
	defer ws.NetConn().Close()
	go ws.ReadLoop()

	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	write := streamWriter(w, s.opts.WriteTimeout)
	if !write([]byte(": switchboard\n\n")) {
		return
	}
	positions := resume
	heartbeat := time.NewTicker(httpHeartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.ctx.Done():
			return
		case ce := <-client.closed:
			code, reason := 1006, "connection lost"
			if ce != nil {
				code, reason = int(ce.Code), string(ce.Reason)
			}
			write(sseMessage("", "close", fmt.Sprintf(`{"code":%d,"reason":%q}`, code, reason)))
			return
		case <-heartbeat.C:
			if !write([]byte(": heartbeat\n\n")) {
				return
			}
		case raw := <-client.frames:
			var f struct {
				Event   string          `json:"event"`
				Channel string          `json:"channel"`
				Data    json.RawMessage `json:"data"`
				Seq     uint64          `json:"seq"`
				Epoch   string          `json:"epoch"`
			}
			if json.Unmarshal(raw, &f) != nil {
				continue
			}
			switch {
			case f.Event == protocol.EventConnectionEstablished:
				var est struct {
					SocketID string `json:"socket_id"`
				}
				var inner string
				_ = json.Unmarshal(f.Data, &inner)
				_ = json.Unmarshal([]byte(inner), &est)
				for _, ch := range channels {
					sub := map[string]any{"channel": ch, "position": positions[ch]}
					if protocol.Classify(ch).NeedsAuth() {
						sub["auth"] = key + ":" + protocol.Sign(secret, []byte(protocol.ChannelAuthString(est.SocketID, ch, "")))
					}
					b, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": sub})
					if ws.WriteMessage(gws.OpcodeText, b) != nil {
						return
					}
				}
			case f.Event == protocol.EventPing:
				_ = ws.WriteMessage(gws.OpcodeText, protocol.PongFrame)
			case f.Event == protocol.EventError:
				if !write(sseMessage("", "error", string(f.Data))) {
					return
				}
			case f.Channel != "":
				id := ""
				if f.Seq != 0 {
					positions[f.Channel] = protocol.Position{Epoch: f.Epoch, Seq: f.Seq}
					id = formatSSEID(positions)
				}
				if !write(sseMessage(id, "", string(raw))) {
					return
				}
			}
		}
	}
}

// authorizeSSE checks the channels and, for private ones, the signed
// auth; it returns the secret that signs the subscriptions, or an error.
func (s *Server) authorizeSSE(r *http.Request, key string, channels []string, q url.Values) (secret string, status int, code, msg string) {
	if len(channels) == 0 || len(channels) > maxSSEChannels {
		return "", http.StatusBadRequest, "bad_request", "give 1 to " + strconv.Itoa(maxSSEChannels) + " channels: ?channels=a,b or ?channel=a&channel=b"
	}
	private := false
	for _, ch := range channels {
		kind := protocol.Classify(ch)
		switch {
		case !protocol.ValidChannelName(ch, protocol.DefaultMaxChannelNameLength):
			return "", http.StatusBadRequest, "bad_request", "invalid channel name " + strconv.Quote(truncate(ch, 64))
		case kind.Kind == protocol.KindPresence || kind.Kind == protocol.KindServerToUser:
			return "", http.StatusBadRequest, "bad_request", ch + ": presence and server-to-user channels need a WebSocket"
		case kind.NeedsAuth():
			private = true
		}
	}
	app, err := s.opts.Apps.AppByKey(r.Context(), key)
	if err != nil {
		return "", http.StatusNotFound, "app_not_found", "app key " + truncate(key, 64) + " not in this cluster"
	}
	secret, _ = app.SecretFor(key)
	if !private {
		return secret, 0, "", ""
	}
	expires, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	if err != nil || time.Unix(expires, 0).Before(time.Now()) {
		return "", http.StatusUnauthorized, "unauthorized", "private channels need expires=<unix seconds, in the future> and auth"
	}
	want := SSEAuthString(key, channels, expires)
	if !protocol.ValidSignature(secret, []byte(want), q.Get("auth")) {
		return "", http.StatusUnauthorized, "unauthorized", "invalid auth: expected hex HMAC-SHA256 of " + strconv.Quote(want)
	}
	return secret, 0, "", ""
}

// SSEAuthString is what an app's backend signs to let a client stream
// private channels over SSE until expires.
func SSEAuthString(key string, channels []string, expires int64) string {
	return "sse:" + key + ":" + strings.Join(channels, ",") + ":" + strconv.FormatInt(expires, 10)
}

func sseMessage(id, event, data string) []byte {
	var b bytes.Buffer
	if id != "" {
		b.WriteString("id: " + id + "\n")
	}
	if event != "" {
		b.WriteString("event: " + event + "\n")
	}
	for _, line := range strings.Split(data, "\n") {
		b.WriteString("data: " + line + "\n")
	}
	b.WriteString("\n")
	return b.Bytes()
}

// formatSSEID writes every channel's position as a query string:
// channel=epoch.seq&….
func formatSSEID(positions map[string]protocol.Position) string {
	names := make([]string, 0, len(positions))
	for ch := range positions {
		names = append(names, ch)
	}
	sort.Strings(names)
	v := url.Values{}
	for _, ch := range names {
		p := positions[ch]
		v.Set(ch, p.Epoch+"."+strconv.FormatUint(p.Seq, 10))
	}
	return v.Encode()
}

func parseSSEID(id string) map[string]protocol.Position {
	out := map[string]protocol.Position{}
	v, err := url.ParseQuery(id)
	if err != nil {
		return out
	}
	for ch := range v {
		pos := v.Get(ch)
		i := strings.LastIndexByte(pos, '.')
		if i <= 0 {
			continue
		}
		seq, err := strconv.ParseUint(pos[i+1:], 10, 64)
		if err != nil {
			continue
		}
		out[ch] = protocol.Position{Epoch: pos[:i], Seq: seq}
	}
	return out
}

// streamWriter writes and flushes each piece of a streaming response (SSE,
// xhr_streaming). A client that does not take a piece within timeout ends
// the stream, so one that stopped reading, its TCP window shut, cannot
// hold the handler and its connection for ever.
func streamWriter(w http.ResponseWriter, timeout time.Duration) func([]byte) bool {
	rc := http.NewResponseController(w)
	return func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(timeout)) // unsupported by test recorders: no deadline there
		if _, err := w.Write(b); err != nil {
			return false
		}
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return false
		}
		return true
	}
}
