package edge_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/edge"
	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
)

type presenceInfo struct {
	Presence struct {
		IDs   []string                  `json:"ids"`
		Hash  map[string]map[string]any `json:"hash"`
		Count int                       `json:"count"`
	} `json:"presence"`
}

func TestPresenceMembers(t *testing.T) {
	n := newNode(t, edge.Options{})
	alice, bob, bob2 := n.dial(), n.dial(), n.dial()

	f := alice.join("presence-room", `{"user_id":10,"user_info":{"name":"Alice"}}`)
	var p presenceInfo
	f.dataObject(t, &p)
	if p.Presence.Count != 1 || p.Presence.IDs[0] != "10" || p.Presence.Hash["10"]["name"] != "Alice" {
		t.Fatalf("first member: %+v", p)
	}

	f = bob.join("presence-room", `{"user_id":"11","user_info":{"name":"Bob"}}`)
	f.dataObject(t, &p)
	ids := append([]string(nil), p.Presence.IDs...)
	sort.Strings(ids)
	if p.Presence.Count != 2 || strings.Join(ids, ",") != "10,11" {
		t.Fatalf("second member: %+v", p)
	}
	added := alice.expect(protocol.EventMemberAdded, "presence-room")
	var m struct {
		UserID   string         `json:"user_id"`
		UserInfo map[string]any `json:"user_info"`
	}
	added.dataObject(t, &m)
	if m.UserID != "11" || m.UserInfo["name"] != "Bob" {
		t.Fatalf("member_added %+v", m)
	}
	bob.quiet(protocol.EventMemberAdded, 100*time.Millisecond) // never to the joiner

	// The same user from a second socket is not a new member.
	f = bob2.join("presence-room", `{"user_id":"11","user_info":{"name":"Bob"}}`)
	f.dataObject(t, &p)
	if p.Presence.Count != 2 {
		t.Fatalf("count with a second socket of one user: %d", p.Presence.Count)
	}
	alice.quiet(protocol.EventMemberAdded, 100*time.Millisecond)

	// One of Bob's sockets leaving keeps him a member; the last removes him.
	_ = bob.ws.WriteClose(1000, nil)
	alice.quiet(protocol.EventMemberRemoved, 150*time.Millisecond)
	bob2.send(`{"event":"pusher:unsubscribe","data":{"channel":"presence-room"}}`)
	removed := alice.expect(protocol.EventMemberRemoved, "presence-room")
	removed.dataObject(t, &m)
	if m.UserID != "11" {
		t.Fatalf("member_removed %+v", m)
	}
	c, _ := n.state.Channel(context.Background(), "app-1", "presence-room")
	if c.Users != 1 || c.Subscriptions != 1 {
		t.Fatalf("counts %+v", c)
	}
}

func TestPresenceSignatureCoversExactChannelData(t *testing.T) {
	n := newNode(t, edge.Options{})
	c := n.dial()
	signed := `{"user_id":10,"user_info":{"name":"Mr. Channels"}}`
	auth := protocol.ChannelAuth("key-1", "secret-1", c.socketID, "presence-x", signed)
	c.subscribe("presence-x", auth, `{"user_id": 10, "user_info": {"name": "Mr. Channels"}}`)
	expectSubscriptionError(t, c, "presence-x", 401)
	c.subscribe("presence-x", auth, "")
	expectSubscriptionError(t, c, "presence-x", 400)
	c.subscribe("presence-x", auth, signed)
	c.expect(protocol.EventSubscriptionSucceeded, "presence-x")
}

func TestPresenceBadChannelData(t *testing.T) {
	n := newNode(t, edge.Options{})
	c := n.dial()
	for _, data := range []string{`{"user_info":{}}`, `not json`, `{"user_id":""}`, `{"user_id":true}`} {
		auth := protocol.ChannelAuth("key-1", "secret-1", c.socketID, "presence-x", data)
		c.subscribe("presence-x", auth, data)
		expectSubscriptionError(t, c, "presence-x", 400)
	}
}

func TestPresenceLimits(t *testing.T) {
	app := testApp()
	app.MaxPresenceMembersPerChannel = 2
	app.MaxPresenceMemberSizeInKB = 0.1
	n := newNode(t, edge.Options{}, app)
	a, b, c, a2 := n.dial(), n.dial(), n.dial(), n.dial()
	a.join("presence-full", `{"user_id":"a"}`)
	b.join("presence-full", `{"user_id":"b"}`)
	data := `{"user_id":"c"}`
	c.subscribe("presence-full", protocol.ChannelAuth("key-1", "secret-1", c.socketID, "presence-full", data), data)
	expectSubscriptionError(t, c, "presence-full", 403)
	a2.join("presence-full", `{"user_id":"a"}`) // an existing member may add sockets

	big := fmt.Sprintf(`{"user_id":"d","user_info":{"bio":%q}}`, strings.Repeat("x", 200))
	c.subscribe("presence-big", protocol.ChannelAuth("key-1", "secret-1", c.socketID, "presence-big", big), big)
	expectSubscriptionError(t, c, "presence-big", 400)
}

func TestPresenceGraceHidesReload(t *testing.T) {
	n := newNode(t, edge.Options{PresenceGrace: 400 * time.Millisecond})
	watcher, user := n.dial(), n.dial()
	watcher.join("presence-room", `{"user_id":"w"}`)
	user.join("presence-room", `{"user_id":"u"}`)
	watcher.expect(protocol.EventMemberAdded, "presence-room")

	// A reload: the old socket closes, a new one joins within the grace.
	_ = user.ws.WriteClose(1000, nil)
	reloaded := n.dial()
	f := reloaded.join("presence-room", `{"user_id":"u"}`)
	var p presenceInfo
	f.dataObject(t, &p)
	if p.Presence.Count != 2 {
		t.Fatalf("count %d", p.Presence.Count)
	}
	watcher.quiet("", 700*time.Millisecond) // neither removed nor added

	// A real departure is announced after the grace period.
	_ = reloaded.ws.WriteClose(1000, nil)
	start := time.Now()
	watcher.expect(protocol.EventMemberRemoved, "presence-room")
	if time.Since(start) < 300*time.Millisecond {
		t.Fatalf("member_removed after %s, before the grace period", time.Since(start))
	}
}

func TestPresenceWithSignedInUserAndNoChannelData(t *testing.T) {
	n := newNode(t, edge.Options{})
	c := n.dial()
	c.signin(`{"id":"42","user_info":{"name":"Zed"}}`)
	c.expect(protocol.EventSigninSuccess, "")
	auth := protocol.ChannelAuth("key-1", "secret-1", c.socketID, "presence-x", "")
	c.subscribe("presence-x", auth, "")
	f := c.expect(protocol.EventSubscriptionSucceeded, "presence-x")
	var p presenceInfo
	f.dataObject(t, &p)
	if p.Presence.IDs[0] != "42" || p.Presence.Hash["42"]["name"] != "Zed" {
		t.Fatalf("%+v", p)
	}
}

var _ = tenants.Unlimited

// An app that signs one user out and another in without a reload
// unsubscribes and resubscribes the same socket as a different user.
func TestPresenceUserSwitchOnOneSocket(t *testing.T) {
	n := newNode(t, edge.Options{PresenceGrace: 2 * time.Second})
	watcher, c := n.dial(), n.dial()
	watcher.join("presence-switch", `{"user_id":"w"}`)
	c.join("presence-switch", `{"user_id":"A"}`)
	watcher.expect(protocol.EventMemberAdded, "presence-switch")

	c.send(`{"event":"pusher:unsubscribe","data":{"channel":"presence-switch"}}`)
	f := c.join("presence-switch", `{"user_id":"B"}`)
	var p presenceInfo
	f.dataObject(t, &p)
	ids := append([]string(nil), p.Presence.IDs...)
	sort.Strings(ids)
	if strings.Join(ids, ",") != "B,w" {
		t.Fatalf("B's member list: %v", ids)
	}
	var m struct {
		UserID string `json:"user_id"`
	}
	watcher.expect(protocol.EventMemberRemoved, "presence-switch").dataObject(t, &m)
	if m.UserID != "A" {
		t.Fatalf("removed %q", m.UserID)
	}
	watcher.expect(protocol.EventMemberAdded, "presence-switch").dataObject(t, &m)
	if m.UserID != "B" {
		t.Fatalf("added %q", m.UserID)
	}
	_ = c.ws.WriteClose(1000, nil)
	watcher.expect(protocol.EventMemberRemoved, "presence-switch").dataObject(t, &m)
	if m.UserID != "B" {
		t.Fatalf("removed on close %q", m.UserID)
	}
}

// Members joining a presence channel at the same moment each end up
// knowing all the others: a member_added published while a joiner's
// snapshot is being taken must reach it after its subscription_succeeded,
// not be lost between the two.
func TestPresenceConcurrentJoinsSeeEveryMember(t *testing.T) {
	n := newNode(t, edge.Options{})
	const members, rounds = 6, 20
	for round := range rounds {
		channel := fmt.Sprint("presence-race-", round)
		clients := make([]*client, members)
		for i := range clients {
			clients[i] = n.dial()
		}
		for i, c := range clients {
			data := fmt.Sprintf(`{"user_id":"u%d"}`, i)
			c.subscribe(channel, protocol.ChannelAuth("key-1", "secret-1", c.socketID, channel, data), data)
		}
		for _, c := range clients {
			known := map[string]bool{}
			var p presenceInfo
			c.expect(protocol.EventSubscriptionSucceeded, channel).dataObject(t, &p)
			for _, id := range p.Presence.IDs {
				known[id] = true
			}
			for len(known) < members {
				var m struct {
					UserID string `json:"user_id"`
				}
				c.expect(protocol.EventMemberAdded, channel).dataObject(t, &m)
				known[m.UserID] = true
			}
		}
		for _, c := range clients {
			_ = c.ws.WriteClose(1000, nil)
		}
	}
}
