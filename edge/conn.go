package edge

import (
	"net"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
	"golang.org/x/time/rate"

	"github.com/switchboard-rt/switchboard/internal/rawsock"
	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
)

// conn is one client socket. Fields below "read side" belong to the
// socket's read goroutine (gws calls OnMessage and OnClose there) and need
// no lock; the write side is guarded by wmu.
type conn struct {
	srv      *Server
	ws       *gws.Conn
	nc       net.Conn
	app      *tenants.App
	key      string // the public key it connected with, for Revalidate
	am       *appMetrics
	socketID string
	reject   *protocol.Error // refused at the handshake: send it and close
	counted  bool            // counted toward the app's connections
	// clusterCounted: counted toward the app's cluster-wide limit too
	clusterCounted bool

	connectedAt int64        // Server.now() at accept
	lastActive  atomic.Int64 // Server.now() of the last inbound frame
	pingSent    atomic.Int64 // Server.now() of an unanswered server ping, or 0
	signedIn    atomic.Bool
	// current is the app as Revalidate last found it, nil before any
	// change: app is the snapshot from connect time, read without locks,
	// and an app's webhooks may change while its sockets stay.
	current atomic.Pointer[tenants.App]

	// write side
	wmu          sync.Mutex
	queue, spare [][]byte
	iov          [][]byte    // writev scratch for sockets without fd, only used by the flusher
	wv           net.Buffers // the view of iov being written
	queued       int         // bytes queued or being written
	flushing     bool
	closing      *protocol.Error
	dead         bool
	slow         atomic.Bool
	lastWrite    int64 // writers.now() at the end of the last batch, only used by the flusher
	// writingSince is writers.now() when the write in progress began, 0
	// between writes: the sweep cuts a socket stuck in one for longer
	// than WriteTimeout. A deadline per socket would do the same with a
	// runtime timer that every write moves, and each timer the runtime
	// keeps wakes the scheduler and its monitor thread when it comes due:
	// 15 µs of CPU per publish at 2,000 channels × 2 subscribers.
	writingSince atomic.Int64
	held         bool           // parked by writers.hold; flushing stays set meanwhile
	holdGen      uint32         // tells a hold's entry from an earlier one's
	released     bool           // let go of a hold: the next flush writes what is queued
	fd           rawsock.Writer // the flusher's writes, when the socket has a file descriptor

	// read side
	subs    map[string]*subscription
	leaving map[string]string // presence channel → user id whose removal is held for the grace period
	user    *protocol.User
	limiter *rate.Limiter
}

// subscription is one socket's membership of one channel.
type subscription struct {
	conn     *conn
	channel  string
	kind     protocol.Channel
	userID   string // presence member id
	userInfo []byte // presence member's user_info, to add it again (Reassert)
	// positions: the subscriber asked for events with their channel
	// positions (protocol.SubscribeData.Position).
	positions bool
	// recovery is set while a resubscribing client's missed events are
	// read from history (see recover.go).
	recovery atomic.Pointer[recovery]
	// sentThrough: live events of resumeEpoch at or before this position
	// went out from history already.
	sentThrough atomic.Uint64
	resumeEpoch string
	// stateRemoved: undoState has removed it from the shared state.
	stateRemoved atomic.Bool
	// joining keeps the channel's frames while a presence subscription
	// is in the hub but its subscription_succeeded is not yet queued
	// (hub.reserve, hub.activate).
	joining atomic.Pointer[joinBuffer]
	pos     int // index in the hub's subscriber slice; guarded by the shard lock
}

func newConn(s *Server, ws *gws.Conn, app *tenants.App, reject *protocol.Error) *conn {
	id := s.nextSocket.Add(1)
	b := make([]byte, 0, 24)
	b = strconv.AppendUint(b, uint64(s.opts.NodeID), 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, id, 10)
	now := s.now()
	c := &conn{srv: s, ws: ws, nc: ws.NetConn(), app: app, socketID: string(b), reject: reject, connectedAt: now}
	c.lastActive.Store(now)
	if app == nil {
		c.app = &tenants.App{}
	}
	c.am = s.metrics.app(c.app.ID)
	return c
}

// events adapts Server to gws.Event without exporting the callbacks.
type events Server

func (e *events) OnOpen(ws *gws.Conn) {
	s, c := (*Server)(e), connOf(ws)
	if c.reject == nil {
		c.reject = s.register(c)
	}
	if c.reject != nil {
		s.metrics.rejected.WithLabelValues(strconv.Itoa(c.reject.Code)).Inc()
		c.closeWith(c.reject)
		return
	}
	c.am.connections.Inc()
	c.sendNow(textFrame(protocol.ConnectionEstablished(c.socketID, int(s.opts.ActivityTimeout/time.Second))))
	c.socketActivity(activityConnected, "", "")
}

func (e *events) OnClose(ws *gws.Conn, _ error) {
	s, c := (*Server)(e), connOf(ws)
	c.wmu.Lock()
	c.dead = true
	c.queue = nil
	c.wmu.Unlock()
	if c.reject != nil {
		return
	}
	for _, sub := range c.subs {
		c.leave(sub, true)
	}
	c.signOut()
	c.am.connections.Dec()
	s.unregister(c)
	c.socketActivity(activityDisconnected, "", "")
}

func (e *events) OnPing(ws *gws.Conn, payload []byte) {
	c := connOf(ws)
	c.touch()
	b := append(frameBuf(len(payload)), payload...)
	c.sendNow(seal(b, opPong))
}

func (e *events) OnPong(ws *gws.Conn, _ []byte) { connOf(ws).touch() }

func (e *events) OnMessage(ws *gws.Conn, m *gws.Message) {
	defer m.Close()
	c := connOf(ws)
	if c.reject != nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			c.srv.log.Error("panic handling frame", "socket_id", c.socketID, "app_id", c.app.ID, "panic", r, "stack", string(debug.Stack()))
			c.closeWith(protocol.ErrOverCapacity.WithMessage("Internal server error"))
		}
	}()
	c.touch()
	c.am.messagesIn.Inc()
	if m.Opcode != gws.OpcodeText {
		c.sendError(protocol.ErrInvalidMessage, "")
		return
	}
	c.handle(m.Bytes())
}

func (c *conn) touch() {
	c.lastActive.Store(c.srv.now())
	if c.pingSent.Load() != 0 {
		c.pingSent.Store(0)
	}
}

// sendError reports an error that does not close the connection.
func (c *conn) sendError(err *protocol.Error, channel string) {
	c.srv.metrics.errorSent(err.Code)
	c.sendNow(textFrame(protocol.ChannelErrorFrame(err, channel)))
}

func (c *conn) handle(b []byte) {
	f, err := protocol.DecodeClientFrame(b)
	if err != nil {
		c.sendError(protocol.ErrInvalidMessage, "")
		return
	}
	switch f.Event {
	case protocol.EventPing:
		c.sendNow(pongFrame)
	case protocol.EventPong:
		// touch() already counted it as activity
	case protocol.EventSubscribe:
		c.subscribe(f.Data)
	case protocol.EventUnsubscribe:
		c.unsubscribe(f.Data)
	case protocol.EventSignin:
		c.signin(f.Data)
	default:
		switch {
		case len(f.Event) > len(protocol.PrefixClient) && f.Event[:len(protocol.PrefixClient)] == protocol.PrefixClient:
			c.clientEvent(f)
		case hasPrefix(f.Event, protocol.PrefixPusher), hasPrefix(f.Event, protocol.PrefixInternal):
			// unknown protocol events are ignored for forward compatibility
		default:
			c.sendError(&protocol.Error{Message: "Clients may only send client- events"}, f.Channel)
		}
	}
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }
