package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/switchboard-rt/switchboard/internal/redistest"
	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/webhooks"
)

func TestParseRoles(t *testing.T) {
	for in, want := range map[string]string{
		"edge,api,control":    "edge,api,control",
		"control, EDGE":       "edge,control",
		"api":                 "api",
		"edge,edge,,api":      "edge,api",
		" control ":           "control",
		"control,api,edge,":   "edge,api,control",
		defaultRoles + ",api": "edge,api,control",
	} {
		rs, err := parseRoles(in)
		if err != nil || rs.String() != want {
			t.Errorf("parseRoles(%q) = %v, %v; want %s", in, rs, err, want)
		}
	}
	if rs, _ := parseRoles(defaultRoles); !rs.all() {
		t.Error("the default is not every role")
	}
	if rs, _ := parseRoles("edge,api"); rs.all() || !rs.has(roleEdge) || rs.has(roleControl) {
		t.Errorf("edge,api: %v", rs)
	}
	for _, in := range []string{"", " , ", "edge,frontend", "all"} {
		if _, err := parseRoles(in); err == nil || !strings.Contains(err.Error(), "--roles") {
			t.Errorf("parseRoles(%q): error %v does not name --roles", in, err)
		}
	}
}

func TestBadRolesStopStartup(t *testing.T) {
	for _, args := range [][]string{{"--roles", "edge,proxy"}, {"--roles", ""}} {
		err := run(context.Background(), append([]string{"serve", "--port", "0"}, args...), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "--roles") {
			t.Errorf("%v: error %v does not name --roles", args, err)
		}
	}
	t.Setenv("SWITCHBOARD_ROLES", "edge,bogus")
	if err := run(context.Background(), []string{"serve", "--port", "0"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), `"bogus"`) {
		t.Errorf("SWITCHBOARD_ROLES: error %v", err)
	}
}

// Each role subset answers its own paths and refuses the others' with a
// 404 JSON error naming the role; health and metrics are everywhere.
func TestRolesServeOnlyTheirPaths(t *testing.T) {
	upgrade := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}
	paths := []struct {
		role          role
		method, path  string
		header        http.Header
		servedAnswers []int
	}{
		{roleEdge, "GET", "/app/app-key?protocol=7&client=js&version=8.6.0", upgrade, []int{http.StatusSwitchingProtocols}},
		{roleEdge, "GET", "/app/app-key/events?channels=news", nil, []int{http.StatusOK}},
		{roleEdge, "POST", "/pusher/app/app-key/123/abcdef/xhr_streaming?protocol=7", nil, []int{http.StatusOK}},
		{roleAPI, "GET", "/apps/app-id/channels", nil, []int{http.StatusUnauthorized}},
		{roleControl, "GET", "/api/v1/apps", nil, []int{http.StatusUnauthorized}},
		{roleControl, "GET", "/dashboard/", nil, []int{http.StatusOK, http.StatusSeeOther}},
		{roleControl, "GET", "/dashboard", nil, []int{http.StatusMovedPermanently}},
	}
	for _, set := range []string{"edge", "api", "control", "edge,api", "api,control", "edge,api,control"} {
		t.Run(set, func(t *testing.T) {
			rs, _ := parseRoles(set)
			addr, logs, _ := startServe(t, "--roles", set)
			if !strings.Contains(logs.String(), "roles="+set) {
				t.Errorf("start-up log does not name the roles:\n%s", logs)
			}
			if split := strings.Contains(logs.String(), "splits the roles"); split == rs.all() {
				t.Errorf("role-split warning present=%v for %s:\n%s", split, set, logs)
			}
			for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
				if code, _ := get(t, "http://"+addr+p); code != 200 {
					t.Errorf("%s: %d", p, code)
				}
			}
			for _, p := range paths {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				req, _ := http.NewRequestWithContext(ctx, p.method, "http://"+addr+p.path, nil)
				for k, v := range p.header {
					req.Header[k] = v
				}
				res, err := http.DefaultTransport.RoundTrip(req)
				if err != nil {
					cancel()
					t.Fatalf("%s %s: %v", p.method, p.path, err)
				}
				// Streams (SSE, xhr_streaming) stay open: read the status only.
				var body []byte
				if res.StatusCode == http.StatusNotFound {
					body, _ = io.ReadAll(res.Body)
				}
				res.Body.Close()
				cancel()
				var e struct{ Error, Code string }
				_ = json.Unmarshal(body, &e)
				refused := res.StatusCode == http.StatusNotFound && e.Code == "role_not_served"
				if rs.has(p.role) {
					ok := false
					for _, c := range p.servedAnswers {
						ok = ok || res.StatusCode == c
					}
					if !ok {
						t.Errorf("%s %s on %s: %d %s, want one of %v", p.method, p.path, set, res.StatusCode, body, p.servedAnswers)
					}
					continue
				}
				if !refused || !strings.Contains(e.Error, string(p.role)) || !strings.Contains(e.Error, "--roles "+set) ||
					res.Header.Get("Content-Type") != "application/json" {
					t.Errorf("%s %s on %s: %d %q, want 404 role_not_served naming %s", p.method, p.path, set, res.StatusCode, body, p.role)
				}
			}
			// Without the edge role no socket opens at all.
			if !rs.has(roleEdge) {
				_, _, err := gws.NewClient(&gws.BuiltinEventHandler{}, &gws.ClientOption{Addr: "ws://" + addr + "/app/app-key?protocol=7"})
				if err == nil {
					t.Error("a WebSocket opened on a node without the edge role")
				}
			}
		})
	}
}

// The production split: an edge,api node and a control node sharing
// Redis and PostgreSQL. A webhook event the edge node detects is queued
// on Redis and delivered by the control node, the only one with workers;
// the management API is on the control node only.
func TestRolesSplitWebhooksDeliveredByControl(t *testing.T) {
	db := newDatabase(t)
	prefix := redistest.Prefix(t, redistest.Client(t))
	redisURL := redistest.URL()
	hooks := &hookLog{}
	recv := httptest.NewServer(hooks)
	defer recv.Close()
	shared := []string{"--database-url", db, "--secret-key", newSecretKey(), "--redis-url", redisURL, "--redis-prefix", prefix,
		"--apps-file", writeHookApps(t, recv.URL), "--presence-grace", "0"}
	controlAddr, controlLogs, _ := startServe(t, append(shared, "--roles", "control", "--migrate")...)
	edgeAddr, edgeLogs, _ := startServe(t, append(shared, "--roles", "edge,api")...)
	for _, l := range []*lockedLog{controlLogs, edgeLogs} {
		if strings.Contains(l.String(), "splits the roles") {
			t.Errorf("role-split warning with Redis and PostgreSQL set:\n%s", l)
		}
	}

	s := dialNode(t, edgeAddr)
	s.send(protocol.EventSubscribe, "split-room")
	s.await(protocol.EventSubscriptionSucceeded)
	eventually(t, 10*time.Second, func() error {
		n, bad := hooks.count(webhooks.ChannelOccupied, "split-room")
		if len(bad) > 0 {
			t.Fatalf("badly signed webhooks: %v", bad)
		}
		if n != 1 {
			return fmt.Errorf("%d channel_occupied delivered", n)
		}
		return nil
	})
	// The attempt is the control node's: only its worker counts one.
	attempts := regexp.MustCompile(`(?m)^switchboard_webhooks_attempts_total\{[^}]*\} (\d+)`)
	_, controlMetrics := get(t, "http://"+controlAddr+"/metrics")
	_, edgeMetrics := get(t, "http://"+edgeAddr+"/metrics")
	if m := attempts.FindStringSubmatch(controlMetrics); m == nil || m[1] != "1" {
		t.Errorf("control node counts no delivery attempt: %v", m)
	}
	if m := attempts.FindStringSubmatch(edgeMetrics); m != nil && m[1] != "0" {
		t.Errorf("edge node delivered a webhook: %v", m)
	}
	// Each node refuses the other's paths.
	if code, body := get(t, "http://"+edgeAddr+"/api/v1/apps"); code != 404 || !strings.Contains(body, "role_not_served") {
		t.Errorf("edge node /api/v1: %d %s", code, body)
	}
	if code, body := get(t, "http://"+controlAddr+"/app/hk?protocol=7"); code != 404 || !strings.Contains(body, "role_not_served") {
		t.Errorf("control node /app: %d %s", code, body)
	}
}
