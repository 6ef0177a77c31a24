package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/activity"
	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/internal/testwait"
	"github.com/switchboard-rt/switchboard/tenants"
	"github.com/switchboard-rt/switchboard/webhooks"
)

// The test webhook is a real one: Pusher's body, signed with the app's
// primary key; untrusted URLs still may not reach private addresses. The
// attempt is recorded, and the console of a watched app shows it.
func TestWebhookTester(t *testing.T) {
	store := tenants.NewMemoryStore()
	app := tenants.NewApp("app-1", "hk", "hs")
	if err := store.PutApp(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	dir := tenants.NewDirectory(store, 0)
	recv := &hookLog{}
	srv := httptest.NewServer(recv)
	defer srv.Close()

	m := bus.NewMemory()
	feed := runFeed(t, m)
	entries, stop := feed.Watch("app-1")
	defer stop()
	testwait.Until(t, 10*time.Second, func() bool { return feed.Watched("app-1") })

	log := activityAttempts{webhooks.NewAttempts(10), feed}
	worker := webhooks.NewWorker(webhooks.WorkerOptions{Queue: webhooks.NewMemoryQueue(0), Apps: dir, Attempts: log})
	tester := webhookTester{worker: worker, apps: dir, trusted: func(_ *tenants.App, url string) bool { return url == srv.URL+"/trusted" }}

	d, err := tester.TestWebhook(t.Context(), "app-1", srv.URL+"/trusted")
	if err != nil || d.Status != 200 || d.Error != "" || d.Attempt != 1 || len(d.Events) != 1 || d.Events[0] != "channel_occupied" {
		t.Fatalf("trusted test: %+v %v", d, err)
	}
	if n, bad := recv.count(webhooks.ChannelOccupied, testWebhookChannel); n != 1 || len(bad) != 0 {
		t.Fatalf("receiver got %d signed test events, %d bad requests", n, len(bad))
	}
	d, err = tester.TestWebhook(t.Context(), "app-1", srv.URL+"/tenant-set")
	if err != nil || d.Status != 0 || !strings.Contains(d.Error, "private") {
		t.Fatalf("untrusted loopback test: %+v %v", d, err)
	}
	recorded, _ := log.Deliveries(t.Context(), "app-1", 10)
	if len(recorded) != 2 {
		t.Fatalf("%d attempts recorded, want 2", len(recorded))
	}
	select {
	case b := <-entries:
		if s := string(b); !strings.Contains(s, `"type":"webhook"`) || !strings.Contains(s, "status 200") || strings.Contains(s, `"hs"`) {
			t.Fatalf("console entry: %s", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook entry in the console")
	}
}

// Events published through the API's publish path show as API messages
// in a watched app's console, and only there.
func TestActivityPublisher(t *testing.T) {
	m := bus.NewMemory()
	feed := runFeed(t, m)
	p := activityPublisher{&bus.Publisher{Bus: m, State: bus.NewMemoryState()}, feed}
	entries, stop := feed.Watch("app-1")
	defer stop()
	testwait.Until(t, 10*time.Second, func() bool { return feed.Watched("app-1") })
	if err := p.Publish(t.Context(), "app-2", bus.HistoryOptions{}, []string{"a"}, "e", []byte(`"x"`), ""); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(t.Context(), "app-1", bus.HistoryOptions{}, []string{"a", "b"}, "news", []byte(`"{\"n\":1}"`), "1.1"); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []string{"a", "b"} {
		select {
		case b := <-entries:
			s := string(b)
			if !strings.Contains(s, `"type":"api_message"`) || !strings.Contains(s, `"channel":"`+ch+`"`) || !strings.Contains(s, "excluding socket 1.1") {
				t.Fatalf("entry: %s", s)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no api_message entry")
		}
	}
}

// The served dashboard's console, end to end in one process: the event
// creator's event shows as an API message (the wrapped publish path is
// wired), a pusher client's connection shows too (the edge is), and
// stopping the server ends the stream instead of waiting on it.
func TestServeDebugConsole(t *testing.T) {
	addr, _, stop := startServe(t, "--drain-timeout", "20s")
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	base := "http://" + addr
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	token := func(path string) string {
		t.Helper()
		_, body := getWith(t, c, base+path)
		m := csrf.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no form on %s:\n%s", path, body)
		}
		return m[1]
	}
	if res, err := c.PostForm(base+"/dashboard/setup", url.Values{"csrf": {token("/dashboard/")}, "email": {"op@example.com"}, "password": {"correct horse battery"}}); err != nil || res.StatusCode != 200 {
		t.Fatalf("setup: %v %v", res, err)
	}
	req, _ := http.NewRequest("GET", base+"/dashboard/apps/app-id/console/stream", nil)
	res, err := c.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("stream: %v %v", res, err)
	}
	defer res.Body.Close()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	await := func(want ...string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("stream ended before %q", want)
				}
				all := true
				for _, w := range want {
					all = all && strings.Contains(l, w)
				}
				if all {
					return
				}
			case <-deadline:
				t.Fatalf("no %q in the stream within 10 s", want)
			}
		}
	}
	await("event: ready")
	dialApp(t, addr, "app-key")
	await(`"type":"connection"`)

	form := url.Values{"csrf": {token("/dashboard/apps/app-id/console")}, "channel": {"news"}, "event": {"flash"}, "data": {`{"n":1}`}}
	sent, err := c.PostForm(base+"/dashboard/apps/app-id/console/events", form)
	if err != nil || sent.StatusCode != 200 {
		t.Fatalf("event creator: %v %v", sent, err)
	}
	await(`"type":"api_message"`, `"channel":"news","event":"flash"`, `"data":"\"{\\\"n\\\":1}\""`)

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	await("the server is shutting down")
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

func getWith(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// runFeed runs a node's activity feed on m until the test ends.
func runFeed(t *testing.T, m *bus.Memory) *activity.Feed {
	feed := activity.New(activity.Options{Bus: m, Node: "n1"})
	detach := m.Attach(feed)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = feed.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		detach()
	})
	return feed
}
