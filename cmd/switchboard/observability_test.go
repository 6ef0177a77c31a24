package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/switchboard-rt/switchboard/internal/testwait"
	"github.com/switchboard-rt/switchboard/protocol"
)

// TestObservabilityMetricsExist: every metric the alert rules and the
// Grafana dashboard in deploy/observability use is exported by a running
// node, once it has seen traffic of each kind (a subscriber, a publish, a
// refused connection, an error frame, a webhook).
func TestObservabilityMetricsExist(t *testing.T) {
	hooks := &hookLog{}
	receiver := httptest.NewServer(hooks)
	defer receiver.Close()
	addr, _, _ := startServe(t, "--apps-file", writeHookApps(t, receiver.URL))

	sub := dialNode(t, addr)
	sub.send("pusher:subscribe", "metrics")
	sub.await(protocol.EventSubscriptionSucceeded)
	if err := sub.ws.WriteString("not json"); err != nil {
		t.Fatal(err)
	}
	sub.await("pusher:error")
	refused, _, err := gws.NewClient(&wsHandler{frames: make(chan string, 8), closed: make(chan uint16, 1)},
		&gws.ClientOption{Addr: "ws://" + addr + "/app/no-such-key?protocol=7"})
	if err == nil {
		go refused.ReadLoop()
		defer refused.NetConn().Close()
	}
	body := []byte(`{"name":"e","channel":"metrics","data":"{}"}`)
	q := url.Values{}
	protocol.SignRequest("hk", "hs", http.MethodPost, "/apps/h1/events", q, body, time.Now().Unix())
	resp, err := http.Post("http://"+addr+"/apps/h1/events?"+q.Encode(), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sub.await("e")
	waitFor(t, func() bool { n, _ := hooks.count("channel_occupied", "metrics"); return n > 0 })

	// Every name the rules and the dashboard use, by the file using it.
	used := map[string]string{}
	nameRE := regexp.MustCompile(`switchboard_[a-z_]+`)
	for _, file := range []string{"../../deploy/observability/prometheus/alerts.yml", "../../deploy/observability/grafana/switchboard.json"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range nameRE.FindAllString(string(b), -1) {
			used[name] = file
		}
	}
	// Some series appear a moment after the traffic that makes them (the
	// refused socket is counted once the server has closed it): scrape
	// until all are there or 10 s have passed.
	var missing []string
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, text := get(t, "http://"+addr+"/metrics")
		exported := map[string]bool{}
		for _, line := range strings.Split(text, "\n") {
			if name, _, ok := strings.Cut(strings.SplitN(line, " ", 2)[0], "{"); ok || !strings.HasPrefix(line, "#") {
				exported[name] = true
			}
		}
		missing = missing[:0]
		for name := range used {
			if !exported[name] {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // polling a scrape; nothing to wait on
	}
	for _, name := range missing {
		t.Errorf("%s uses %s, which a running node does not export", used[name], name)
	}
}

func waitFor(t *testing.T, ok func() bool) { t.Helper(); testwait.Until(t, 10*time.Second, ok) }
