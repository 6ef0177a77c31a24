package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/switchboard-rt/switchboard/internal/redistest"
	"github.com/switchboard-rt/switchboard/internal/testwait"
	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/webhooks"
)

// hookLog is a webhook receiver that keeps the events of correctly signed
// requests.
type hookLog struct {
	mu          sync.Mutex
	key, secret string // the app's; "hk" and "hs" when empty
	events      []webhooks.Event
	bad         []string
}

func (h *hookLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var p webhooks.Payload
	h.mu.Lock()
	defer h.mu.Unlock()
	key, secret := h.key, h.secret
	if key == "" {
		key, secret = "hk", "hs"
	}
	if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Pusher-Key") != key ||
		!protocol.ValidSignature(secret, body, r.Header.Get("X-Pusher-Signature")) || json.Unmarshal(body, &p) != nil {
		h.bad = append(h.bad, string(body))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	h.events = append(h.events, p.Events...)
}

func (h *hookLog) count(name, channel string) (n int, bad []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.events {
		if e.Name == name && e.Channel == channel {
			n++
		}
	}
	return n, h.bad
}

func writeHookApps(t *testing.T, url string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "apps.json")
	apps := `[{"id":"h1","key":"hk","secret":"hs","webhooks":[{"url":"` + url + `","event_types":["channel_occupied","channel_vacated"]}]}]`
	if err := os.WriteFile(file, []byte(apps), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// subscriber is one socket, subscribing and unsubscribing one channel.
type subscriber struct {
	t  *testing.T
	ws *gws.Conn
	h  *wsHandler
}

func dialNode(t *testing.T, addr string) *subscriber {
	t.Helper()
	h := &wsHandler{frames: make(chan string, 64), closed: make(chan uint16, 1)}
	ws, _, err := gws.NewClient(h, &gws.ClientOption{Addr: "ws://" + addr + "/app/hk?protocol=7&client=js&version=8.6.0"})
	if err != nil {
		t.Fatal(err)
	}
	go ws.ReadLoop()
	t.Cleanup(func() { _ = ws.WriteClose(1000, nil) })
	s := &subscriber{t: t, ws: ws, h: h}
	s.await(protocol.EventConnectionEstablished)
	return s
}

func (s *subscriber) await(event string) {
	s.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case f := <-s.h.frames:
			if strings.Contains(f, `"event":"`+event+`"`) {
				return
			}
		case <-deadline:
			s.t.Fatalf("no %s", event)
		}
	}
}

func (s *subscriber) send(event, channel string) {
	if err := s.ws.WriteString(`{"event":"` + event + `","data":{"channel":"` + channel + `"}}`); err != nil {
		s.t.Errorf("send: %v", err)
	}
}

// Two nodes on one Redis, a subscriber on each, joining and leaving at
// the same moment, round after round: the cluster reports exactly one
// channel_occupied and one channel_vacated per round, whichever node
// decided it, and both nodes deliver through the shared Redis queue.
func TestWebhooksTwoNodesOneTransition(t *testing.T) {
	prefix := redistest.Prefix(t, redistest.Client(t))
	redisURL := redistest.URL()
	hooks := &hookLog{}
	recv := httptest.NewServer(hooks)
	defer recv.Close()
	apps := writeHookApps(t, recv.URL)
	args := []string{"--apps-file", apps, "--redis-url", redisURL, "--redis-prefix", prefix, "--presence-grace", "0"}
	addr1, logs1, _ := startServe(t, args...)
	addr2, logs2, _ := startServe(t, args...)

	a, b := dialNode(t, addr1), dialNode(t, addr2)
	const rounds = 5
	for i := range rounds {
		ch := fmt.Sprint("room-", i)
		a.send(protocol.EventSubscribe, ch)
		b.send(protocol.EventSubscribe, ch)
		a.await(protocol.EventSubscriptionSucceeded)
		b.await(protocol.EventSubscriptionSucceeded)
		a.send(protocol.EventUnsubscribe, ch)
		b.send(protocol.EventUnsubscribe, ch)
	}
	eventually(t, 10*time.Second, func() error {
		for i := range rounds {
			ch := fmt.Sprint("room-", i)
			occ, bad := hooks.count(webhooks.ChannelOccupied, ch)
			vac, _ := hooks.count(webhooks.ChannelVacated, ch)
			if len(bad) > 0 {
				t.Fatalf("badly signed webhooks: %v", bad)
			}
			if occ != 1 || vac != 1 {
				return fmt.Errorf("%s: %d occupied, %d vacated", ch, occ, vac)
			}
		}
		return nil
	})
	// No duplicate arrives later either.
	time.Sleep(300 * time.Millisecond)
	for i := range rounds {
		ch := fmt.Sprint("room-", i)
		if occ, _ := hooks.count(webhooks.ChannelOccupied, ch); occ != 1 {
			t.Fatalf("%s: %d occupied", ch, occ)
		}
		if vac, _ := hooks.count(webhooks.ChannelVacated, ch); vac != 1 {
			t.Fatalf("%s: %d vacated", ch, vac)
		}
	}

	// The attempt log is on Redis: either node's management API lists
	// the attempts of both, one per event.
	for _, n := range []struct {
		addr string
		logs *lockedLog
	}{{addr1, logs1}, {addr2, logs2}} {
		d := deliveries(t, n.addr, n.logs)
		for _, x := range d {
			if x.Status != 200 || x.URL != recv.URL || len(x.Events) != 1 || x.Attempt != 1 {
				t.Fatalf("delivery %+v", x)
			}
		}
		if len(d) != 2*rounds {
			t.Fatalf("node %s lists %d attempts, want %d", n.addr, len(d), 2*rounds)
		}
	}
}

type delivery struct {
	Status  int      `json:"status"`
	URL     string   `json:"url"`
	Attempt int      `json:"attempt"`
	Events  []string `json:"events"`
}

func deliveries(t *testing.T, addr string, logs *lockedLog) []delivery {
	t.Helper()
	tok := regexp.MustCompile(`sbt_[A-Za-z0-9_-]+`).FindString(logs.String())
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/apps/h1/webhooks/deliveries", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var d struct {
		Deliveries []delivery `json:"deliveries"`
	}
	if err := json.NewDecoder(res.Body).Decode(&d); err != nil || res.StatusCode != 200 {
		t.Fatalf("deliveries: %d %v", res.StatusCode, err)
	}
	return d.Deliveries
}

func eventually(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	testwait.Eventually(t, d, f)
}

// A webhook URL a tenant sets through the management API may not reach a
// loopback address unless the operator allows private addresses.
func TestWebhooksTenantURLsAndPrivateAddresses(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprint("allow=", allow), func(t *testing.T) {
			hooks := &hookLog{}
			recv := httptest.NewServer(hooks)
			defer recv.Close()
			args := []string{}
			if allow {
				args = append(args, "--webhooks-allow-private")
			}
			addr, logs, _ := startServe(t, args...)
			tok := regexp.MustCompile(`sbt_[A-Za-z0-9_-]+`).FindString(logs.String())
			api := func(method, path, body string) map[string]any {
				t.Helper()
				req, _ := http.NewRequest(method, "http://"+addr+"/api/v1"+path, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Content-Type", "application/json")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				var out map[string]any
				if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode >= 300 {
					t.Fatalf("%s %s: %d %v", method, path, res.StatusCode, out)
				}
				return out
			}
			app := api("POST", "/apps", `{"name":"tenant-hooks"}`)
			id, key := app["id"].(string), app["key"].(string)
			hooks.mu.Lock()
			hooks.key, hooks.secret = key, app["secret"].(string)
			hooks.mu.Unlock()
			api("PUT", "/apps/"+id+"/webhooks", `{"webhooks":[{"url":"`+recv.URL+`","event_types":["channel_occupied"]}]}`)

			h := &wsHandler{frames: make(chan string, 64), closed: make(chan uint16, 1)}
			ws, _, err := gws.NewClient(h, &gws.ClientOption{Addr: "ws://" + addr + "/app/" + key + "?protocol=7&client=js&version=8.6.0"})
			if err != nil {
				t.Fatal(err)
			}
			go ws.ReadLoop()
			defer ws.WriteClose(1000, nil)
			s := &subscriber{t: t, ws: ws, h: h}
			s.await(protocol.EventConnectionEstablished)
			s.send(protocol.EventSubscribe, "news")
			s.await(protocol.EventSubscriptionSucceeded)

			var last map[string]any
			eventually(t, 10*time.Second, func() error {
				d := api("GET", "/apps/"+id+"/webhooks/deliveries", "")["deliveries"].([]any)
				if len(d) == 0 {
					return fmt.Errorf("no attempt yet")
				}
				last = d[0].(map[string]any)
				return nil
			})
			hooks.mu.Lock()
			got, bad := len(hooks.events), hooks.bad
			hooks.mu.Unlock()
			if len(bad) > 0 {
				t.Fatalf("badly signed webhooks: %v", bad)
			}
			if allow {
				if last["status"] != 200.0 || got != 1 {
					t.Fatalf("allowed: attempt %v, receiver got %d events", last, got)
				}
				return
			}
			if e, _ := last["error"].(string); !strings.Contains(e, "private") || got != 0 {
				t.Fatalf("not allowed: attempt %v, receiver got %d requests", last, got)
			}
		})
	}
}
