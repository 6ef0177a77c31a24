package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lxzan/gws"
	"golang.org/x/time/rate"

	"github.com/switchboard-rt/switchboard/internal/rawsock"
	"github.com/switchboard-rt/switchboard/protocol"
)

// runner is what every socket of one run shares: the target, the
// latency histogram and the counters the progress line and result read.
type runner struct {
	cfg    *Config
	wsURL  string   // the first of wsURLs, for messages
	wsURLs []string // socket idx dials wsURLs[idx % len]
	hist   *histogram
	// connectHist, when set, times dial → connection_established.
	connectHist *histogram
	src         *sourcePicker
	errs        errCounter
	hooks       hooks

	open      atomic.Int64 // sockets past connection_established and not closed
	drops     atomic.Int64 // sockets closed by the server or the network
	reopened  atomic.Int64 // dropped sockets opened again (--reconnect)
	reordered atomic.Int64 // measured events whose sequence went backwards on a socket
	other     atomic.Int64 // frames that are neither measured events nor handled control frames
	pusherErr atomic.Int64 // pusher:error and pusher:subscription_error frames
}

// hooks let a scenario see the control frames it cares about. They run
// on the socket's read goroutine: they must not block.
type hooks struct {
	subscribed func(s *sock, channel string)
	member     func(s *sock, channel, userID string, added bool)
	pusherErr  func(s *sock, code int, msg string)
}

func newRunner(cfg *Config) *runner {
	q := url.Values{"protocol": {strconv.Itoa(protocol.Version)}, "client": {"js"}, "version": {"8.6.0"}, "flash": {"false"}}
	ports := cfg.WSPorts
	if len(ports) == 0 {
		ports = []int{cfg.Port}
	}
	var urls []string
	for _, p := range ports {
		u := url.URL{Scheme: "ws", Host: net.JoinHostPort(cfg.Host, strconv.Itoa(p)), Path: "/app/" + cfg.Key, RawQuery: q.Encode()}
		urls = append(urls, u.String())
	}
	return &runner{cfg: cfg, wsURL: urls[0], wsURLs: urls, hist: newHistogram(), src: &sourcePicker{ips: cfg.SourceIPs}}
}

// received is the number of measured events delivered so far.
func (r *runner) received() int64 {
	var n int64
	for i := range r.hist.shards {
		s := &r.hist.shards[i]
		s.mu.Lock()
		n += s.h.TotalCount()
		s.mu.Unlock()
	}
	return n
}

// sock is one Pusher connection. It is its own gws event handler, so the
// receive path reaches its state without a session-map lookup.
type sock struct {
	r    *runner
	idx  int
	conn *gws.Conn

	socketID    string // set before established is closed
	established chan struct{}
	estOnce     sync.Once
	estErr      error // set before established is closed when the handshake failed
	closed      chan struct{}
	closing     atomic.Bool
	acks        chan ack // subscription outcomes, for setup code that waits

	lastSeq int64 // read goroutine only
}

type ack struct {
	channel string
	err     error
}

var _ gws.Event = (*sock)(nil)

// dial opens socket idx and waits for pusher:connection_established.
func (r *runner) dial(ctx context.Context, idx int) (*sock, error) {
	s := &sock{r: r, idx: idx, established: make(chan struct{}), closed: make(chan struct{}), acks: make(chan ack, 8)}
	t0 := time.Now()
	for {
		ipIdx, ip := r.src.get()
		opt := &gws.ClientOption{
			Addr:             r.wsURLs[idx%len(r.wsURLs)],
			HandshakeTimeout: 10 * time.Second,
			NewDialer:        func() (gws.Dialer, error) { return rawDialer{newNetDialer(ip)}, nil },
		}
		conn, _, err := gws.NewClient(s, opt)
		if err != nil {
			if errors.Is(err, syscall.EADDRNOTAVAIL) && r.src.exhausted(ipIdx) {
				continue // that source address is out of ports; the next one has its own
			}
			return nil, err
		}
		s.conn = conn
		break
	}
	go s.conn.ReadLoop()
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-s.established:
		if s.estErr != nil {
			s.close()
			return nil, s.estErr
		}
		r.open.Add(1)
		if r.connectHist != nil {
			r.connectHist.record(idx, time.Since(t0).Microseconds())
		}
		return s, nil
	case <-t.C:
		s.close()
		return nil, errors.New("no connection_established within 10s")
	case <-ctx.Done():
		s.close()
		return nil, ctx.Err()
	}
}

// newNetDialer binds to ip when one is given, choosing the source port
// only at connect() where the system allows it (bindAddressNoPort).
func newNetDialer(ip net.IP) *net.Dialer {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if ip != nil {
		d.LocalAddr = &net.TCPAddr{IP: ip}
		d.Control = func(_, _ string, c syscall.RawConn) error {
			return c.Control(bindAddressNoPort)
		}
	}
	return d
}

// rawDialer dials sockets read and written with raw system calls: the
// load generator's cost per message is the ceiling of what it can
// measure (see rawsock).
type rawDialer struct{ *net.Dialer }

func (d rawDialer) Dial(network, addr string) (net.Conn, error) {
	nc, err := d.Dialer.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	return rawsock.Wrap(nc), nil
}

// close ends the socket from our side; it is not counted as a drop.
func (s *sock) close() {
	s.closing.Store(true)
	if s.conn != nil {
		_ = s.conn.WriteClose(1000, nil)
	}
}

// write sends one text frame; errors surface as a close.
func (s *sock) write(b []byte) error { return s.conn.WriteMessage(gws.OpcodeText, b) }

// subscribe sends pusher:subscribe, signing private and presence channels
// as an app's auth endpoint would.
func (s *sock) subscribe(channel, channelData string) error {
	auth := ""
	if strings.HasPrefix(channel, "private-") || strings.HasPrefix(channel, "presence-") {
		auth = protocol.ChannelAuth(s.r.cfg.Key, s.r.cfg.Secret, s.socketID, channel, channelData)
	}
	b := make([]byte, 0, 160+len(channelData))
	b = append(b, `{"event":"pusher:subscribe","data":{"channel":`...)
	b = appendJSONString(b, []byte(channel))
	b = append(b, `,"auth":`...)
	b = appendJSONString(b, []byte(auth))
	if channelData != "" {
		b = append(b, `,"channel_data":`...)
		b = appendJSONString(b, []byte(channelData))
	}
	b = append(b, "}}"...)
	return s.write(b)
}

func (s *sock) unsubscribe(channel string) error {
	b := append([]byte(`{"event":"pusher:unsubscribe","data":{"channel":`), appendJSONString(nil, []byte(channel))...)
	return s.write(append(b, "}}"...))
}

// waitAck waits for the outcome of one subscription.
func (s *sock) waitAck(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case a := <-s.acks:
		return a.err
	case <-s.closed:
		return errors.New("closed while subscribing")
	case <-t.C:
		return fmt.Errorf("no subscription_succeeded within %s", timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *sock) markEstablished(err error) {
	s.estOnce.Do(func() {
		s.estErr = err
		close(s.established)
	})
}

func (s *sock) OnOpen(*gws.Conn) {}

func (s *sock) OnClose(_ *gws.Conn, err error) {
	wasOpen := false
	select {
	case <-s.established:
		wasOpen = s.estErr == nil
	default:
	}
	s.markEstablished(fmt.Errorf("closed during handshake: %s", closeReason(err)))
	if wasOpen {
		s.r.open.Add(-1)
		if !s.closing.Load() {
			s.r.drops.Add(1)
			s.r.errs.add("dropped: " + closeReason(err))
		}
	}
	close(s.closed)
}

func closeReason(err error) string {
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		return "close " + strconv.Itoa(int(ce.Code))
	}
	return errReason(err)
}

func (s *sock) OnPing(c *gws.Conn, p []byte) { _ = c.WritePong(p) }
func (s *sock) OnPong(*gws.Conn, []byte)     {}

// OnMessage is the hot path: a measured event is recognised and timed by
// a byte scan, with no decoding and no allocation; everything else takes
// the slow path.
func (s *sock) OnMessage(c *gws.Conn, m *gws.Message) {
	b := m.Bytes()
	if ts, seq, ok := scanStamp(b); ok {
		s.r.hist.record(s.idx, (time.Now().UnixNano()-ts)/1000)
		if seq <= s.lastSeq && seq != 0 {
			s.r.reordered.Add(1)
		} else {
			s.lastSeq = seq
		}
		_ = m.Close()
		return
	}
	s.control(c, b)
	_ = m.Close()
}

// envelope is a decoded server frame (slow path only).
type envelope struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
}

// payload returns data as JSON: a string is unquoted (server events carry
// their data JSON-encoded in a string), anything else is returned as is.
func (e *envelope) payload() []byte {
	if len(e.Data) > 0 && e.Data[0] == '"' {
		var str string
		if json.Unmarshal(e.Data, &str) == nil {
			return []byte(str)
		}
	}
	return e.Data
}

var pongFrame = []byte(`{"event":"pusher:pong","data":{}}`)

func (s *sock) control(c *gws.Conn, b []byte) {
	var e envelope
	if json.Unmarshal(b, &e) != nil {
		s.r.other.Add(1)
		return
	}
	switch e.Event {
	case protocol.EventConnectionEstablished:
		var d struct {
			SocketID string `json:"socket_id"`
		}
		if json.Unmarshal(e.payload(), &d) != nil || !protocol.ValidSocketID(d.SocketID) {
			s.markEstablished(errors.New("connection_established without a valid socket_id"))
			return
		}
		s.socketID = d.SocketID
		s.markEstablished(nil)
	case protocol.EventPing:
		_ = c.WriteMessage(gws.OpcodeText, pongFrame)
	case protocol.EventPong:
	case protocol.EventSubscriptionSucceeded:
		if h := s.r.hooks.subscribed; h != nil {
			h(s, e.Channel)
		}
		s.ack(ack{channel: e.Channel})
	case protocol.EventSubscriptionError:
		s.r.pusherErr.Add(1)
		s.r.errs.add("subscription_error")
		s.ack(ack{channel: e.Channel, err: fmt.Errorf("subscription_error: %s", truncate(string(e.payload()), 120))})
	case protocol.EventError:
		var d struct {
			Code    *int   `json:"code"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(e.payload(), &d)
		code := 0
		if d.Code != nil {
			code = *d.Code
		}
		s.r.pusherErr.Add(1)
		s.r.errs.add("pusher:error " + strconv.Itoa(code))
		err := fmt.Errorf("pusher:error %d: %s", code, truncate(d.Message, 120))
		s.markEstablished(err)
		if h := s.r.hooks.pusherErr; h != nil {
			h(s, code, d.Message)
		}
	case protocol.EventMemberAdded, protocol.EventMemberRemoved:
		if h := s.r.hooks.member; h != nil {
			var d struct {
				UserID json.RawMessage `json:"user_id"`
			}
			_ = json.Unmarshal(e.payload(), &d)
			h(s, e.Channel, strings.Trim(string(d.UserID), `"`), e.Event == protocol.EventMemberAdded)
		}
	default:
		s.r.other.Add(1)
	}
}

// ack passes a subscription outcome to a waiting setup without ever
// blocking the read goroutine.
func (s *sock) ack(a ack) {
	select {
	case s.acks <- a:
	default:
	}
}

// openSockets opens n sockets, at most ConnectConcurrency at a time and
// at most ConnectRate per second, running setup (for example a
// subscription) on each. It returns the sockets that succeeded, indexed
// as asked (nil where one failed), and the number of failures.
func (r *runner) openSockets(ctx context.Context, first, n int, setup func(context.Context, *sock) error) ([]*sock, int64) {
	socks := make([]*sock, n)
	var failures atomic.Int64
	var lim *rate.Limiter
	if r.cfg.ConnectRate > 0 {
		lim = rate.NewLimiter(rate.Limit(r.cfg.ConnectRate), 1)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < min(r.cfg.ConnectConcurrency, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if lim != nil && lim.Wait(ctx) != nil {
					return
				}
				s, err := r.dial(ctx, first+i)
				if err == nil && setup != nil {
					if err = setup(ctx, s); err != nil {
						s.close()
					}
				}
				if err != nil {
					if ctx.Err() == nil {
						failures.Add(1)
						r.errs.add(errReason(err))
					}
					continue
				}
				socks[i] = s
			}
		}()
	}
	wg.Wait()
	return socks, failures.Load()
}

// keeper opens again the sockets the server closes (4200 when a node
// drains, a restart), as Pusher's clients do, for --reconnect; each socket
// has one goroutine watching it, stopped by close.
type keeper struct {
	mu    sync.Mutex
	socks []*sock
	wg    sync.WaitGroup
	stop  context.CancelFunc
}

func (r *runner) keep(ctx context.Context, socks []*sock, setup func(context.Context, *sock) error) *keeper {
	kctx, stop := context.WithCancel(ctx)
	k := &keeper{socks: socks, stop: stop}
	for i, s := range socks {
		if s != nil {
			k.wg.Go(func() { k.watch(kctx, r, i, s, setup) })
		}
	}
	return k
}

func (k *keeper) watch(ctx context.Context, r *runner, i int, s *sock, setup func(context.Context, *sock) error) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.closed:
		}
		if s.closing.Load() {
			return // closed by us
		}
		for backoff := 50 * time.Millisecond; ; backoff = min(2*backoff, time.Second) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			n, err := r.dial(ctx, s.idx)
			if err == nil {
				if err = setup(ctx, n); err != nil {
					n.close()
				}
			}
			if err == nil {
				r.reopened.Add(1)
				k.mu.Lock()
				k.socks[i] = n
				k.mu.Unlock()
				s = n
				break
			}
		}
	}
}

// close stops opening sockets again and closes those open now.
func (k *keeper) close() {
	k.stop()
	k.wg.Wait()
	closeAll(k.socks)
}

// closeAll closes every socket and waits (bounded) for their read loops
// to end, so that a run leaves no goroutine behind.
func closeAll(socks []*sock) {
	for _, s := range socks {
		if s != nil {
			s.close()
		}
	}
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for _, s := range socks {
		if s == nil {
			continue
		}
		select {
		case <-s.closed:
		case <-deadline.C:
			return
		}
	}
}

// sourcePicker hands out the source address for new sockets: the current
// one until the kernel says it has no free port left, then the next.
type sourcePicker struct {
	mu  sync.Mutex
	ips []net.IP
	cur int
}

func (p *sourcePicker) get() (int, net.IP) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ips) == 0 {
		return -1, nil
	}
	return p.cur, p.ips[p.cur]
}

// exhausted moves past address i; false when there is no other to try.
func (p *sourcePicker) exhausted(i int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i < 0 {
		return false
	}
	if i != p.cur {
		return true // another dialer already moved on
	}
	if p.cur+1 < len(p.ips) {
		p.cur++
		return true
	}
	return false
}

// errCounter counts failures by a short reason.
type errCounter struct {
	mu sync.Mutex
	m  map[string]int64
}

func (e *errCounter) add(reason string) {
	e.mu.Lock()
	if e.m == nil {
		e.m = map[string]int64{}
	}
	e.m[reason]++
	e.mu.Unlock()
}

func (e *errCounter) snapshot() map[string]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.m) == 0 {
		return nil
	}
	out := make(map[string]int64, len(e.m))
	for k, v := range e.m {
		out[k] = v
	}
	return out
}

// errReason shortens an error to a countable reason: the errno for
// network failures, else the message without addresses.
func errReason(err error) string {
	var errno syscall.Errno
	switch {
	case err == nil:
		return "eof"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &errno):
		return errno.Error()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.Contains(msg[:i], "127.") {
		msg = msg[i+2:] // drop "dial tcp 127.0.0.2:0->127.0.0.1:6001: "
	}
	return truncate(msg, 80)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
