package webhooks_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
	"github.com/switchboard-rt/switchboard/webhooks"
)

type received struct {
	header http.Header
	body   []byte
}

func TestNewRequestSignsWhatItSends(t *testing.T) {
	got := make(chan received, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- received{r.Header.Clone(), b}
	}))
	defer srv.Close()

	app := &tenants.App{ID: "1", Keys: []tenants.Key{{Key: "k1", Secret: "s1"}}}
	p := webhooks.NewPayload(time.UnixMilli(1327078148132),
		webhooks.Event{Name: webhooks.ChannelOccupied, Channel: "orders"})
	req, err := webhooks.NewRequest(context.Background(), app, srv.URL, p)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r := <-got

	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if k := r.header.Get("X-Pusher-Key"); k != "k1" {
		t.Errorf("X-Pusher-Key = %q", k)
	}
	if s := r.header.Get("X-Pusher-Signature"); s != protocol.WebhookSignature("s1", r.body) {
		t.Errorf("signature %q does not match the body", s)
	}
	want := `{"time_ms":1327078148132,"events":[{"name":"channel_occupied","channel":"orders"}]}`
	if string(r.body) != want {
		t.Errorf("body = %s, want %s", r.body, want)
	}
}

func TestEventShapes(t *testing.T) {
	n := 3
	tests := []struct {
		e    webhooks.Event
		want string
	}{
		{webhooks.Event{Name: webhooks.MemberAdded, Channel: "presence-a", UserID: "u1"},
			`{"name":"member_added","channel":"presence-a","user_id":"u1"}`},
		{webhooks.Event{Name: webhooks.ClientEvent, Channel: "private-a", Event: "client-x", Data: `{"a":1}`, SocketID: "1.2"},
			`{"name":"client_event","channel":"private-a","event":"client-x","data":"{\"a\":1}","socket_id":"1.2"}`},
		{webhooks.Event{Name: webhooks.SubscriptionCount, Channel: "a", SubscriptionCount: &n},
			`{"name":"subscription_count","channel":"a","subscription_count":3}`},
		{webhooks.Event{Name: webhooks.CacheMiss, Channel: "cache-a"},
			`{"name":"cache_miss","channel":"cache-a"}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.e)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tt.want {
			t.Errorf("got %s, want %s", b, tt.want)
		}
	}
}

func TestWants(t *testing.T) {
	w := tenants.Webhook{
		URL:        "https://example.com/h",
		EventTypes: []string{webhooks.ChannelOccupied},
		Filter:     &tenants.WebhookFilter{ChannelNameStartsWith: "private-", ChannelNameEndsWith: "-orders"},
	}
	tests := []struct {
		e    webhooks.Event
		want bool
	}{
		{webhooks.Event{Name: webhooks.ChannelOccupied, Channel: "private-eu-orders"}, true},
		{webhooks.Event{Name: webhooks.ChannelVacated, Channel: "private-eu-orders"}, false},
		{webhooks.Event{Name: webhooks.ChannelOccupied, Channel: "eu-orders"}, false},
		{webhooks.Event{Name: webhooks.ChannelOccupied, Channel: "private-eu"}, false},
	}
	for _, tt := range tests {
		if got := webhooks.Wants(w, tt.e); got != tt.want {
			t.Errorf("Wants(%+v) = %v, want %v", tt.e, got, tt.want)
		}
	}
}

func TestValidateURL(t *testing.T) {
	for _, u := range []string{"http://a.example/x", "https://a.example"} {
		if err := webhooks.ValidateURL(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"ftp://a.example", "file:///etc/passwd", "/relative", "http://"} {
		if err := webhooks.ValidateURL(u); err == nil {
			t.Errorf("%s: accepted", u)
		}
	}
}
