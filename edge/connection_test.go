package edge_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchboard-rt/switchboard/edge"
	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
)

var socketIDPattern = regexp.MustCompile(`^\d+\.\d+$`)

func TestConnectionEstablished(t *testing.T) {
	n := newNode(t, edge.Options{})
	c := n.dialRaw("key-1", "protocol=7&client=js&version=8.4.0&flash=false")
	f := c.next()
	if f.Event != protocol.EventConnectionEstablished {
		t.Fatalf("first frame %s", f.raw)
	}
	if f.Data[0] != '"' {
		t.Fatalf("data must be a JSON string: %s", f.raw)
	}
	var d struct {
		SocketID        string `json:"socket_id"`
		ActivityTimeout int    `json:"activity_timeout"`
	}
	f.dataObject(t, &d)
	if !socketIDPattern.MatchString(d.SocketID) || d.ActivityTimeout != 120 {
		t.Fatalf("bad handshake data %+v", d)
	}
	other := n.dial()
	if other.socketID == d.SocketID {
		t.Fatal("two connections share a socket id")
	}
}

func TestHandshakeRefusals(t *testing.T) {
	disabled := tenants.NewApp("app-2", "key-2", "secret-2")
	disabled.Enabled = false
	full := tenants.NewApp("app-3", "key-3", "secret-3")
	full.MaxConnections = 1
	origins := tenants.NewApp("app-4", "key-4", "secret-4")
	origins.AllowedOrigins = []string{"https://good.example"}
	n := newNode(t, edge.Options{}, testApp(), disabled, full, origins)

	cases := []struct {
		name, key, query string
		code             int
	}{
		{"unknown key", "nope", "protocol=7", 4001},
		{"disabled app", "key-2", "protocol=7", 4003},
		{"unsupported protocol", "key-1", "protocol=99", 4007},
		{"non-numeric protocol", "key-1", "protocol=seven", 4007},
		{"missing protocol", "key-1", "client=js", 4008},
		{"bad version", "key-1", "protocol=7&version=%3Cscript%3E", 4006},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := n.dialRaw(tc.key, tc.query)
			f := c.next()
			var d struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if f.Event != protocol.EventError {
				t.Fatalf("got %s", f.raw)
			}
			f.dataObject(t, &d)
			if d.Code != tc.code || d.Message == "" {
				t.Fatalf("error %+v, want code %d", d, tc.code)
			}
			c.expectClose(uint16(tc.code))
		})
	}

	t.Run("over connection quota", func(t *testing.T) {
		first := n.dialKey("key-3")
		second := n.dialRaw("key-3", "protocol=7")
		second.expect(protocol.EventError, "")
		second.expectClose(4004)
		// A freed slot is usable again.
		_ = first.ws.WriteClose(1000, nil)
		eventually(t, 2*time.Second, func() error {
			c := n.dialRaw("key-3", "protocol=7")
			f := c.next()
			if f.Event != protocol.EventConnectionEstablished {
				return errorf("still refused: %s", f.raw)
			}
			return nil
		})
	})

	t.Run("origin not allowed", func(t *testing.T) {
		c := n.dialWithOrigin("key-4", "https://evil.example")
		c.expect(protocol.EventError, "")
		c.expectClose(4009)
		ok := n.dialWithOrigin("key-4", "https://good.example")
		if f := ok.next(); f.Event != protocol.EventConnectionEstablished {
			t.Fatalf("allowed origin refused: %s", f.raw)
		}
	})
}

func TestWrongPathIs404(t *testing.T) {
	n := newNode(t, edge.Options{})
	resp, err := http.Get(n.http.URL + "/nothing/here")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestPathPrefixIsAccepted(t *testing.T) {
	n := newNode(t, edge.Options{})
	c := n.dialRawURL("ws" + strings.TrimPrefix(n.http.URL, "http") + "/some/prefix/app/key-1?protocol=7")
	if f := c.next(); f.Event != protocol.EventConnectionEstablished {
		t.Fatalf("got %s", f.raw)
	}
}

func TestPingPong(t *testing.T) {
	n := newNode(t, edge.Options{})
	c := n.dial()
	c.send(`{"event":"pusher:ping","data":{}}`)
	f := c.expect(protocol.EventPong, "")
	if f.Channel != "" {
		t.Fatalf("pong has a channel: %s", f.raw)
	}
	// data absent and string forms are accepted too
	c.send(`{"event":"pusher:ping"}`)
	c.expect(protocol.EventPong, "")
	c.send(`{"event":"pusher:ping","data":"{}"}`)
	c.expect(protocol.EventPong, "")
}

func TestServerPingsSilentClientAndClosesWithoutPong(t *testing.T) {
	n := newNode(t, edge.Options{ActivityTimeout: time.Second, PongTimeout: 300 * time.Millisecond})
	responsive, silent := n.dial(), n.dial()
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Answer every server ping for 3 activity timeouts.
		deadline := time.After(3500 * time.Millisecond)
		for {
			select {
			case f := <-responsive.frames:
				if f.Event == protocol.EventPing {
					_ = responsive.ws.WriteString(`{"event":"pusher:pong","data":{}}`)
				}
			case <-deadline:
				return
			}
		}
	}()
	silent.expect(protocol.EventPing, "")
	silent.expectClose(4201)
	<-done
	select {
	case <-responsive.closed:
		t.Fatal("a client answering pings was closed")
	default:
	}
}

func TestInvalidFramesKeepConnectionOpen(t *testing.T) {
	n := newNode(t, edge.Options{})
	c := n.dial()
	for _, bad := range []string{`not json`, `{"event":5}`, `[]`, `{"data":{}}`, `{"event":"pusher:subscribe","data":5}`} {
		c.send(bad)
		f := c.expect(protocol.EventError, "")
		var d struct {
			Code *int `json:"code"`
		}
		f.dataObject(t, &d)
		if d.Code != nil {
			t.Fatalf("%s: code %d, want null", bad, *d.Code)
		}
	}
	c.send(`{"event":"pusher:unknown_thing","data":{}}`)
	c.send(`{"event":"pusher:ping","data":{}}`)
	c.expect(protocol.EventPong, "") // the unknown pusher: event was ignored
	c.send(`{"event":"not-a-client-event","channel":"x","data":{}}`)
	c.expect(protocol.EventError, "")
}

func TestOversizeFrameCloses1009(t *testing.T) {
	n := newNode(t, edge.Options{MaxFrameBytes: 4096})
	c := n.dial()
	c.send(`{"event":"client-x","channel":"private-a","data":"` + strings.Repeat("a", 5000) + `"}`)
	c.expectClose(1009)
	// Others are unaffected.
	d := n.dial()
	d.send(`{"event":"pusher:ping","data":{}}`)
	d.expect(protocol.EventPong, "")
}

func TestDrainSends4200(t *testing.T) {
	n := newNode(t, edge.Options{})
	a, b := n.dial(), n.dial()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := n.srv.Drain(ctx); err != nil {
		t.Fatalf("drain: %v", err)
	}
	for _, c := range []*client{a, b} {
		f := c.expect(protocol.EventError, "")
		var d struct{ Code int }
		f.dataObject(t, &d)
		if d.Code != 4200 {
			t.Fatalf("code %d", d.Code)
		}
		c.expectClose(4200)
	}
	// New connections are refused with 4200 while draining.
	c := n.dialRaw("key-1", "protocol=7")
	c.expect(protocol.EventError, "")
	c.expectClose(4200)
}

func TestUserAuthenticationTimeout(t *testing.T) {
	app := testApp()
	app.EnableUserAuthentication = true
	app.UserAuthenticationTimeout = 1
	n := newNode(t, edge.Options{}, app)
	signed, unsigned := n.dial(), n.dial()
	signed.signin(`{"id":"u1"}`)
	signed.expect(protocol.EventSigninSuccess, "")
	unsigned.expect(protocol.EventError, "")
	unsigned.expectClose(4009)
	signed.quiet("", 300*time.Millisecond)
}

// Every pusher:error frame is counted, closing ones included.
func TestErrorMetricCountsClosingErrors(t *testing.T) {
	reg := prometheus.NewRegistry()
	n := newNode(t, edge.Options{Registry: reg})
	c := n.dial()
	c.signin(`{"id":"7"}`)
	c.expect(protocol.EventSigninSuccess, "")
	c.send(`not json`) // a non-closing error: code none
	c.expect(protocol.EventError, "")
	if err := n.pub.TerminateUser(context.Background(), "app-1", "7"); err != nil {
		t.Fatal(err)
	}
	c.expectClose(4009)
	errs, err := testutil.GatherAndCount(reg, "switchboard_edge_errors_total")
	if err != nil || errs != 2 {
		t.Fatalf("%d error series (%v)", errs, err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP switchboard_edge_errors_total pusher:error frames sent, by code (none = null code).
# TYPE switchboard_edge_errors_total counter
switchboard_edge_errors_total{code="4009"} 1
switchboard_edge_errors_total{code="none"} 1
`), "switchboard_edge_errors_total"); err != nil {
		t.Fatal(err)
	}
}
