package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.json")
	if err := os.WriteFile(file, []byte(`{"port": 7001, "host": "127.0.0.3", "presence-grace": "5s", "log-level": "debug"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SWITCHBOARD_PORT", "7002")
	t.Setenv("SWITCHBOARD_APPS_FILE", "/from/env.json")
	cfg, err := parseServeConfig([]string{"--config", file, "--port", "7003"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 7003 {
		t.Errorf("flag must beat env and file: port %d", cfg.Port)
	}
	if cfg.AppsFile != "/from/env.json" {
		t.Errorf("env must apply: apps file %q", cfg.AppsFile)
	}
	if cfg.Host != "127.0.0.3" || cfg.PresenceGrace != 5*time.Second || cfg.LogLevel.String() != "DEBUG" {
		t.Errorf("file must apply: %+v", cfg)
	}
	cfg, err = parseServeConfig([]string{"--config", file}, io.Discard)
	if err != nil || cfg.Port != 7002 {
		t.Errorf("env must beat file: port %d, err %v", cfg.Port, err)
	}
	t.Setenv("SWITCHBOARD_PORT", "")
	os.Unsetenv("SWITCHBOARD_PORT")
	cfg, _ = parseServeConfig(nil, io.Discard)
	if cfg.Port != 6001 || cfg.Host != "" {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestYAMLConfigFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "switchboard.yaml")
	os.WriteFile(file, []byte("port: 7101\nhost: 127.0.0.9\napps-file: /etc/apps.json\npresence-grace: 1s\n"), 0o600)
	cfg, err := parseServeConfig([]string{"--config", file}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 7101 || cfg.Host != "127.0.0.9" || cfg.AppsFile != "/etc/apps.json" || cfg.PresenceGrace != time.Second {
		t.Fatalf("%+v", cfg)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("port: [oops\n"), 0o600)
	if _, err := parseServeConfig([]string{"--config", bad}, io.Discard); err == nil {
		t.Fatal("a broken config file was accepted")
	}
}

func TestBadSettingsNameTheSetting(t *testing.T) {
	dir := t.TempDir()
	apps := filepath.Join(dir, "apps.json")
	os.WriteFile(apps, []byte(`[{"id":"a1","key":"k1","secret":"s1","max_event_payload_in_kb":"ten"}]`), 0o600)
	missing := filepath.Join(dir, "missing.json")
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"--port", "70000"}, []string{"--port"}},
		{[]string{"--log-level", "loud"}, []string{"--log-level"}},
		{[]string{"--activity-timeout", "10ms"}, []string{"--activity-timeout"}},
		{[]string{"--pprof-addr", "0.0.0.0:6060"}, []string{"--pprof-addr", "loopback"}},
		{[]string{"--apps-file", apps, "--port", "0"}, []string{"--apps-file", apps, `app "a1"`, "max_event_payload_in_kb"}},
		{[]string{"--apps-file", missing, "--port", "0"}, []string{"--apps-file", missing}},
		{[]string{"--no-such-flag"}, []string{"no-such-flag"}},
		{[]string{"frobnicate"}, []string{"unknown command"}},
	}
	for _, tc := range cases {
		err := run(context.Background(), tc.args, io.Discard, io.Discard)
		if err == nil {
			t.Errorf("%v: no error", tc.args)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not name %q", tc.args, err, w)
			}
		}
	}
}

func TestVersion(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"version"}, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "switchboard ") {
		t.Fatalf("%q %v", out.String(), err)
	}
}

// startServe runs `switchboard serve` in process and returns its address.
// lockedLog is serve's output, written by a scanner goroutine while the
// test reads it.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) add(line string) { l.mu.Lock(); l.b.WriteString(line + "\n"); l.mu.Unlock() }
func (l *lockedLog) String() string  { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func startServe(t *testing.T, args ...string) (addr string, logs *lockedLog, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--host", "127.0.0.1", "--port", "0"}, args...), pw, io.Discard)
		pw.Close()
	}()
	logs = &lockedLog{}
	addrCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		re := regexp.MustCompile(`msg=listening addr=(\S+)`)
		for sc.Scan() {
			logs.add(sc.Text())
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addrCh <- m[1]
			}
		}
	}()
	select {
	case addr = <-addrCh:
	case err := <-done:
		t.Fatalf("serve exited: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not start")
	}
	var stopped bool
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("serve did not stop")
		}
		return nil
	}
	t.Cleanup(func() { _ = stop() })
	return addr, logs, stop
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type wsHandler struct {
	gws.BuiltinEventHandler
	frames chan string
	closed chan uint16
}

func (h *wsHandler) OnMessage(_ *gws.Conn, m *gws.Message) { h.frames <- m.Data.String(); m.Close() }
func (h *wsHandler) OnClose(_ *gws.Conn, err error) {
	code := uint16(0)
	if ce, ok := err.(*gws.CloseError); ok {
		code = ce.Code
	}
	h.closed <- code
}

func TestServeEmbeddedDefaults(t *testing.T) {
	addr, logs, stop := startServe(t)
	if !strings.Contains(logs.String(), "DEVELOPMENT app") || !strings.Contains(logs.String(), "app-secret") {
		t.Errorf("no loud development-app line in:\n%s", logs)
	}
	if code, body := get(t, "http://"+addr+"/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Errorf("healthz %d %s", code, body)
	}
	if code, _ := get(t, "http://"+addr+"/readyz"); code != 200 {
		t.Errorf("readyz %d", code)
	}
	// The embedded mode's management token works on /api/v1.
	tok := regexp.MustCompile(`sbt_[A-Za-z0-9_-]+`).FindString(logs.String())
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/apps", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if tok == "" || res.StatusCode != 200 {
		t.Errorf("management API with the logged token %q: %d", tok, res.StatusCode)
	}
	h := &wsHandler{frames: make(chan string, 16), closed: make(chan uint16, 1)}
	ws, _, err := gws.NewClient(h, &gws.ClientOption{Addr: "ws://" + addr + "/app/app-key?protocol=7&client=js&version=8.6.0"})
	if err != nil {
		t.Fatal(err)
	}
	go ws.ReadLoop()
	select {
	case f := <-h.frames:
		if !strings.Contains(f, "pusher:connection_established") {
			t.Fatalf("first frame %s", f)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no handshake")
	}
	code, body := get(t, "http://"+addr+"/metrics")
	if code != 200 || !strings.Contains(body, `switchboard_edge_connections{app="app-id"} 1`) {
		t.Errorf("metrics %d:\n%s", code, body)
	}
	// SIGTERM's path: every socket is told 4200, then the process ends.
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v", err)
	}
	select {
	case f := <-h.frames:
		if !strings.Contains(f, `"code":4200`) {
			t.Fatalf("drain frame %s", f)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no 4200 on drain")
	}
	if code := <-h.closed; code != 4200 {
		t.Fatalf("close code %d", code)
	}
}

func TestMetricsAddrMovesMetrics(t *testing.T) {
	addr, _, _ := startServe(t, "--metrics-addr", "127.0.0.1:0")
	if code, _ := get(t, "http://"+addr+"/metrics"); code == 200 {
		t.Fatal("/metrics still on the main port")
	}
}

func TestPprofAddrServesProfiles(t *testing.T) {
	// The pprof listener's address is logged; find it and fetch the index.
	_, logs, _ := startServe(t, "--pprof-addr", "127.0.0.1:0")
	re := regexp.MustCompile(`msg="pprof listening" addr=(\S+)`)
	var addr string
	deadline := time.Now().Add(3 * time.Second)
	for addr == "" && time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	if addr == "" {
		t.Fatalf("no pprof listener in:\n%s", logs)
	}
	if code, body := get(t, "http://"+addr+"/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("pprof index %d", code)
	}
}
