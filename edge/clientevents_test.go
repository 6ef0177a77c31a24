package edge_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/edge"
	"github.com/switchboard-rt/switchboard/protocol"
)

func TestClientEvents(t *testing.T) {
	n := newNode(t, edge.Options{})
	a, b, c := n.dial(), n.dial(), n.dial()
	for _, x := range []*client{a, b} {
		x.join("private-chat", "")
	}
	a.send(`{"event":"client-typing","channel":"private-chat","data":{"typing":true,"n":[1,2]}}`)
	f := b.expect("client-typing", "private-chat")
	if string(f.Data) != `{"typing":true,"n":[1,2]}` {
		t.Fatalf("data not forwarded verbatim: %s", f.Data)
	}
	if f.UserID != "" {
		t.Fatalf("user_id on a private channel: %s", f.raw)
	}
	a.quiet("client-typing", 100*time.Millisecond) // never echoed
	c.quiet("client-typing", 10*time.Millisecond)  // not subscribed

	// presence: user_id of the sender, never the client's own claim
	a.join("presence-chat", `{"user_id":"alice"}`)
	b.join("presence-chat", `{"user_id":"bob"}`)
	a.send(`{"event":"client-hi","channel":"presence-chat","data":"x","user_id":"mallory"}`)
	f = b.expect("client-hi", "presence-chat")
	if f.UserID != "alice" || string(f.Data) != `"x"` {
		t.Fatalf("presence client event: %s", f.raw)
	}
}

func TestClientEventRejections(t *testing.T) {
	n := newNode(t, edge.Options{})
	a, b := n.dial(), n.dial()
	for _, ch := range []string{"public", "private-encrypted-x", "private-ok"} {
		a.join(ch, "")
		b.join(ch, "")
	}
	reject := func(frame string) {
		t.Helper()
		a.send(frame)
		f := a.expect(protocol.EventError, "")
		var d struct{ Code *int }
		f.dataObject(t, &d)
		if d.Code != nil {
			t.Fatalf("code %d, want null", *d.Code)
		}
	}
	reject(`{"event":"client-x","channel":"public","data":{}}`)
	reject(`{"event":"client-x","channel":"private-encrypted-x","data":{}}`)
	reject(`{"event":"client-x","channel":"private-not-subscribed","data":{}}`)
	reject(`{"event":"client-x","data":{}}`)
	reject(`{"event":"client-x","channel":"private-ok","data":"` + strings.Repeat("a", 10241) + `"}`)
	reject(`{"event":"client-` + strings.Repeat("x", 200) + `","channel":"private-ok","data":{}}`)
	b.quiet("", 100*time.Millisecond)
}

func TestClientEventsDisabled(t *testing.T) {
	app := testApp()
	app.EnableClientMessages = false
	n := newNode(t, edge.Options{}, app)
	a, b := n.dial(), n.dial()
	a.join("private-x", "")
	b.join("private-x", "")
	a.send(`{"event":"client-x","channel":"private-x","data":{}}`)
	a.expect(protocol.EventError, "")
	b.quiet("client-x", 100*time.Millisecond)
}

func TestClientEventRateLimit(t *testing.T) {
	n := newNode(t, edge.Options{})
	a, b := n.dial(), n.dial()
	a.join("private-x", "")
	b.join("private-x", "")
	for i := 0; i < 11; i++ {
		a.send(`{"event":"client-x","channel":"private-x","data":{}}`)
	}
	f := a.expect(protocol.EventError, "")
	var d struct{ Code int }
	f.dataObject(t, &d)
	if d.Code != 4301 {
		t.Fatalf("code %d", d.Code)
	}
	got := 0
	for {
		select {
		case f := <-b.frames:
			if f.Event == "client-x" {
				got++
			}
			continue
		case <-time.After(150 * time.Millisecond):
		}
		break
	}
	if got != 10 {
		t.Fatalf("delivered %d of 11, want 10", got)
	}
	a.send(`{"event":"pusher:ping","data":{}}`)
	a.expect(protocol.EventPong, "") // still open
}

func TestSigninAndWatchlist(t *testing.T) {
	n := newNode(t, edge.Options{})
	a := n.dial()
	userData := `{"id":"A","user_info":{"name":"Ann"},"watchlist":["B","C"]}`
	a.signin(userData)
	f := a.expect(protocol.EventSigninSuccess, "")
	var d struct {
		UserData string `json:"user_data"`
	}
	f.dataObject(t, &d)
	if d.UserData != userData {
		t.Fatalf("user_data %q", d.UserData)
	}
	type wl struct {
		Events []struct {
			Name    string   `json:"name"`
			UserIDs []string `json:"user_ids"`
		} `json:"events"`
	}
	var w wl
	a.expect(protocol.EventWatchlist, "").dataObject(t, &w)
	if len(w.Events) != 1 || w.Events[0].Name != "offline" || len(w.Events[0].UserIDs) != 2 {
		t.Fatalf("initial watchlist %+v", w)
	}

	b := n.dial()
	b.signin(`{"id":"B"}`)
	b.expect(protocol.EventSigninSuccess, "")
	a.expect(protocol.EventWatchlist, "").dataObject(t, &w)
	if w.Events[0].Name != "online" || w.Events[0].UserIDs[0] != "B" {
		t.Fatalf("online %+v", w)
	}
	_ = b.ws.WriteClose(1000, nil)
	a.expect(protocol.EventWatchlist, "").dataObject(t, &w)
	if w.Events[0].Name != "offline" || w.Events[0].UserIDs[0] != "B" {
		t.Fatalf("offline %+v", w)
	}
}

func TestSigninFailures(t *testing.T) {
	n := newNode(t, edge.Options{})
	c := n.dial()
	fail := func(data map[string]string) {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"event": "pusher:signin", "data": data})
		c.send(string(b))
		f := c.expect(protocol.EventError, "")
		var d struct{ Code int }
		f.dataObject(t, &d)
		if d.Code != 4009 {
			t.Fatalf("code %d", d.Code)
		}
	}
	fail(map[string]string{"auth": "key-1:bad", "user_data": `{"id":"1"}`})
	fail(map[string]string{"auth": protocol.UserAuth("key-1", "secret-1", c.socketID, `{"name":"x"}`), "user_data": `{"name":"x"}`})
	fail(map[string]string{"auth": protocol.UserAuth("key-1", "secret-1", c.socketID, `{"id":5}`), "user_data": `{"id":5}`})
	fail(map[string]string{"auth": protocol.UserAuth("key-1", "secret-1", "1.2", `{"id":"1"}`), "user_data": `{"id":"1"}`})
	// still usable
	c.signin(`{"id":"1"}`)
	c.expect(protocol.EventSigninSuccess, "")
}
