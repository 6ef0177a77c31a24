package restapi_test

import (
	"net/url"
	"testing"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/protocol"
)

// occupied fills the shared state as edge nodes would.
func occupied(t *testing.T, f *fixture) {
	t.Helper()
	ctx := t.Context()
	for _, s := range []struct{ ch, sock string }{
		{"news", "1.1"}, {"news", "1.2"}, {"private-orders", "1.1"}, {"#server-to-user-7", "1.1"}, {"cache-p", "1.4"},
	} {
		if _, err := f.state.AddSubscription(ctx, appID, s.ch, s.sock); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []struct{ ch, sock, user string }{
		{"presence-room", "1.2", "b"}, {"presence-room", "1.3", "a"}, {"presence-room", "1.4", "a"}, {"presence-lobby", "1.5", "c"},
	} {
		if _, err := f.state.AddMember(ctx, appID, m.ch, m.sock, protocol.Member{UserID: m.user}, 0); err != nil {
			t.Fatal(err)
		}
	}
	// a channel that emptied again is not occupied
	_, _ = f.state.AddSubscription(ctx, appID, "gone", "1.9")
	_, _ = f.state.RemoveSubscription(ctx, appID, "gone", "1.9")
	// another app's channels are never seen
	_, _ = f.state.AddSubscription(ctx, "2", "elsewhere", "2.1")
}

func TestListChannels(t *testing.T) {
	f := newFixture(t, nil)
	occupied(t, f)
	get := func(q url.Values) response { return f.do("GET", "/apps/1/channels", q, "") }
	f.expectJSON(get(nil), `{"channels":{"news":{},"private-orders":{},"cache-p":{},"presence-room":{},"presence-lobby":{}}}`)
	f.expectJSON(get(url.Values{"filter_by_prefix": {"presence-"}, "info": {"user_count"}}),
		`{"channels":{"presence-room":{"user_count":2},"presence-lobby":{"user_count":1}}}`)
	f.expectJSON(get(url.Values{"filter_by_prefix": {"presence-r"}, "info": {"user_count,subscription_count"}}),
		`{"channels":{"presence-room":{"user_count":2,"subscription_count":3}}}`)
	f.expectJSON(get(url.Values{"filter_by_prefix": {"private-"}}), `{"channels":{"private-orders":{}}}`)
	f.expectJSON(get(url.Values{"filter_by_prefix": {"#"}}), `{"channels":{}}`)
	f.expectJSON(get(url.Values{"filter_by_prefix": {"nothing-"}}), `{"channels":{}}`)
	f.expect(get(url.Values{"info": {"user_count"}}), 400, "bad_request")
	f.expect(get(url.Values{"filter_by_prefix": {"private-"}, "info": {"user_count"}}), 400, "bad_request")
	f.expect(get(url.Values{"info": {"bogus"}}), 400, "bad_request")
}

func TestGetChannel(t *testing.T) {
	f := newFixture(t, nil)
	occupied(t, f)
	get := func(ch string, info string) response {
		q := url.Values{}
		if info != "" {
			q.Set("info", info)
		}
		return f.do("GET", "/apps/1/channels/"+ch, q, "")
	}
	f.expectJSON(get("news", ""), `{"occupied":true}`)
	f.expectJSON(get("news", "subscription_count"), `{"occupied":true,"subscription_count":2}`)
	f.expectJSON(get("empty", "subscription_count"), `{"occupied":false,"subscription_count":0}`)
	f.expectJSON(get("empty", ""), `{"occupied":false}`)
	f.expectJSON(get("presence-room", "user_count,subscription_count"), `{"occupied":true,"user_count":2,"subscription_count":3}`)
	f.expectJSON(get("presence-none", "user_count"), `{"occupied":false,"user_count":0}`)
	f.expect(get("news", "user_count"), 400, "bad_request")
	f.expect(get("news", "members"), 400, "bad_request")
	f.expect(get("bad%20name", ""), 400, "bad_request")
	f.expect(get("bad%2Fname", ""), 400, "bad_request")
	// decoded once: %2541 is the name "%41", not "A"
	f.expect(get("%2541", ""), 400, "bad_request")
	f.expectJSON(get("%23server-to-user-7", ""), `{"occupied":true}`)
	f.expectJSON(get("cache-p", "cache"), `{"occupied":true}`) // nothing cached yet
}

func TestGetChannelCache(t *testing.T) {
	f := newFixture(t, nil)
	f.expect(f.do("POST", "/apps/1/events", nil, `{"name":"price","channels":["cache-p","news"],"data":"{\"eur\":1}"}`), 200, "")
	r := f.do("GET", "/apps/1/channels/cache-p", url.Values{"info": {"cache,subscription_count"}}, "")
	f.expect(r, 200, "")
	m := r.json(t)
	c, ok := m["cache"].(map[string]any)
	if !ok || c["event"] != "price" || c["data"] != `{"eur":1}` || m["occupied"] != false || m["subscription_count"] != 0.0 {
		t.Fatalf("cache %s", r.body)
	}
	if ttl := c["ttl"].(float64); ttl < bus.DefaultCacheTTL.Seconds()-5 || ttl > bus.DefaultCacheTTL.Seconds() {
		t.Fatalf("ttl %v", ttl)
	}
	// not a cache channel: nothing to say
	f.expectJSON(f.do("GET", "/apps/1/channels/news", url.Values{"info": {"cache"}}, ""), `{"occupied":false}`)
}

func TestChannelUsers(t *testing.T) {
	f := newFixture(t, nil)
	occupied(t, f)
	f.expectJSON(f.do("GET", "/apps/1/channels/presence-room/users", nil, ""), `{"users":[{"id":"a"},{"id":"b"}]}`)
	f.expectJSON(f.do("GET", "/apps/1/channels/presence-none/users", nil, ""), `{"users":[]}`)
	f.expect(f.do("GET", "/apps/1/channels/news/users", nil, ""), 400, "bad_request")
	f.expect(f.do("GET", "/apps/1/channels/private-orders/users", nil, ""), 400, "bad_request")
	f.expect(f.do("GET", "/apps/1/channels/bad%20name/users", nil, ""), 400, "bad_request")
}

func TestTerminateUser(t *testing.T) {
	f := newFixture(t, nil)
	f.expectJSON(f.do("POST", "/apps/1/users/7/terminate_connections", nil, "{}"), `{}`)
	f.expectJSON(f.do("POST", "/apps/1/users/user%20with%20space/terminate_connections", nil, "{}"), `{}`)
	msgs := f.rec.take()
	if len(msgs) != 2 || msgs[0].Kind != bus.KindTerminateUser || msgs[0].UserID != "7" || msgs[0].AppID != appID ||
		msgs[1].UserID != "user with space" {
		t.Fatalf("%+v", msgs)
	}
	f.expect(f.raw("POST", "/apps/1/users/7/terminate_connections", "{}", nil), 401, "auth_key_missing")
}
