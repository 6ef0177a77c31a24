package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/switchboard-rt/switchboard/tenants"
	"github.com/switchboard-rt/switchboard/tenants/pgstore"
	"github.com/switchboard-rt/switchboard/tenants/pgstore/pgtest"
)

// The control-plane commands against the local PostgreSQL: each test
// creates its own database and drops it when it ends.

var newDatabase = pgtest.NewDatabase

func newSecretKey() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// cli runs a command in process and returns its output.
func cli(t *testing.T, args ...string) string {
	t.Helper()
	var out strings.Builder
	if err := run(context.Background(), args, &out, io.Discard); err != nil {
		t.Fatalf("switchboard %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func field(t *testing.T, out, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `: (\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %s in:\n%s", name, out)
	}
	return m[1]
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestControlPlaneStartupErrors(t *testing.T) {
	db := newDatabase(t)
	key := newSecretKey()
	port := strconv.Itoa(freePort(t))
	serve := []string{"serve", "--host", "127.0.0.1", "--port", port}
	cases := []struct {
		args []string
		want []string
	}{
		{append(serve, "--database-url", db), []string{"SWITCHBOARD_SECRET_KEY", "is not set", "openssl rand -base64 32"}},
		{append(serve, "--database-url", db, "--secret-key", "c2hvcnQ="), []string{"SWITCHBOARD_SECRET_KEY", "5 bytes, want 32"}},
		{append(serve, "--database-url", db, "--secret-key", "%%%"), []string{"SWITCHBOARD_SECRET_KEY", "not base64"}},
		{append(serve, "--database-url", db, "--secret-key", key, "--secret-keys-previous", "bad"), []string{"SWITCHBOARD_SECRET_KEYS_PREVIOUS"}},
		{append(serve, "--database-url", "postgres://postgres@127.0.0.1:1/none?connect_timeout=2", "--secret-key", key), []string{"--database-url", "cannot reach the database", "127.0.0.1:1/none"}},
		{append(serve, "--database-url", db, "--secret-key", key), []string{"--database-url", "switchboard migrate up", "--migrate"}},
		{append(serve, "--migrate"), []string{"--migrate", "--database-url"}},
		{[]string{"migrate", "up"}, []string{"--database-url", "SWITCHBOARD_DATABASE_URL"}},
		{[]string{"migrate", "sideways", "--database-url", db}, []string{"sideways"}},
		{[]string{"migrate", "down", "--database-url", db}, []string{"nothing to roll back"}},
		{[]string{"migrate", "up", "--database-url", "postgres://postgres@127.0.0.1:1/none?connect_timeout=2"}, []string{"cannot reach the database"}},
		{[]string{"tenants", "list"}, []string{"--database-url"}},
		{[]string{"apps", "create", "--tenant", "x", "--name", "y", "--database-url", db}, []string{"SWITCHBOARD_SECRET_KEY"}},
	}
	for _, tc := range cases {
		err := run(context.Background(), tc.args, io.Discard, io.Discard)
		if err == nil {
			t.Errorf("%v: no error", tc.args)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not say %q", tc.args, err, w)
			}
		}
		if strings.Contains(err.Error(), key) {
			t.Errorf("%v: the error shows the secret key", tc.args)
		}
	}
	// Nothing was left listening by the failed starts.
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatalf("a failed start left the port bound: %v", err)
	}
	ln.Close()
}

func dialApp(t *testing.T, addr, key string) *wsHandler {
	t.Helper()
	h := &wsHandler{frames: make(chan string, 16), closed: make(chan uint16, 1)}
	ws, _, err := gws.NewClient(h, &gws.ClientOption{Addr: "ws://" + addr + "/app/" + key + "?protocol=7&client=js&version=8.4.0"})
	if err != nil {
		t.Fatal(err)
	}
	go ws.ReadLoop()
	t.Cleanup(func() { ws.NetConn().Close() })
	select {
	case f := <-h.frames:
		if !strings.Contains(f, "pusher:connection_established") {
			t.Fatalf("key %s: first frame %s", key, f)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("key %s: no handshake", key)
	}
	return h
}

// tryDial connects with key and reports whether the handshake succeeded.
func tryDial(addr, key string) error {
	h := &wsHandler{frames: make(chan string, 16), closed: make(chan uint16, 1)}
	ws, _, err := gws.NewClient(h, &gws.ClientOption{Addr: "ws://" + addr + "/app/" + key + "?protocol=7&client=js&version=8.4.0"})
	if err != nil {
		return err
	}
	defer ws.NetConn().Close()
	go ws.ReadLoop()
	select {
	case f := <-h.frames:
		if !strings.Contains(f, "pusher:connection_established") {
			return fmt.Errorf("key %s: first frame %s", key, f)
		}
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("key %s: no handshake", key)
	}
}

func (h *wsHandler) expectClose(t *testing.T, code uint16) {
	t.Helper()
	select {
	case got := <-h.closed:
		if got != code {
			t.Fatalf("closed with %d, want %d", got, code)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("not closed (want %d)", code)
	}
}

// TestCLIAgainstRunningServer drives the operator CLI against the
// database a running node uses: its changes reach the node through
// LISTEN/NOTIFY and cut the sockets they concern.
func TestCLIAgainstRunningServer(t *testing.T) {
	db := newDatabase(t)
	key := newSecretKey()
	dbf := []string{"--database-url", db, "--secret-key", key}

	if out := cli(t, append([]string{"migrate", "status"}, dbf[:2]...)...); !strings.Contains(out, "pending") {
		t.Fatalf("status before up:\n%s", out)
	}
	out := cli(t, append([]string{"migrate", "up"}, dbf[:2]...)...)
	if !strings.Contains(out, "applied 00001_plans_tenants.sql") || !strings.Contains(out, "applied 00003") {
		t.Fatalf("up:\n%s", out)
	}
	if out := cli(t, append([]string{"migrate", "up"}, dbf[:2]...)...); !strings.Contains(out, "up to date (version 13)") {
		t.Fatalf("second up:\n%s", out)
	}

	out = cli(t, append([]string{"tenants", "create", "--name", "Acme", "--plan", "pro"}, dbf...)...)
	tenant, token := field(t, out, "tenant_id"), field(t, out, "api_token")
	if !strings.HasPrefix(token, "sbt_") {
		t.Fatalf("token %q", token)
	}
	out = cli(t, append([]string{"apps", "create", "--tenant", tenant, "--name", "Chat"}, dbf...)...)
	app, key1 := field(t, out, "app_id"), field(t, out, "key")
	if _, err := strconv.Atoi(app); err != nil {
		t.Fatalf("app id %q is not numeric", app)
	}

	addr, logs, stop := startServe(t, dbf...)
	if !strings.Contains(logs.String(), "store=postgres") {
		t.Errorf("start-up log does not name the store:\n%s", logs)
	}
	ws1 := dialApp(t, addr, key1)
	out = cli(t, append([]string{"apps", "rotate-key", "--app", app}, dbf...)...)
	key2 := field(t, out, "key")
	ws2 := dialApp(t, addr, key2)

	cli(t, append([]string{"apps", "revoke-key", "--app", app, "--key", key1}, dbf...)...)
	ws1.expectClose(t, 4001)
	cli(t, append([]string{"apps", "disable", "--app", app}, dbf...)...)
	ws2.expectClose(t, 4003)
	cli(t, append([]string{"apps", "enable", "--app", app}, dbf...)...)
	// The node hears of the change by LISTEN/NOTIFY: give it the 2 s the
	// contract allows rather than race it (a loaded machine lost the race).
	eventually(t, 2*time.Second, func() error { return tryDial(addr, key2) })

	out = cli(t, append([]string{"apps", "list", "--tenant", tenant}, dbf...)...)
	if !strings.Contains(out, app) || !strings.Contains(out, key2) || strings.Contains(out, key1) {
		t.Fatalf("apps list:\n%s", out)
	}
	if out := cli(t, append([]string{"tenants", "list"}, dbf...)...); !strings.Contains(out, tenant) || !strings.Contains(out, "default") {
		t.Fatalf("tenants list:\n%s", out)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// Key use is flushed at shutdown (and every 30 s before).
	out = cli(t, append([]string{"apps", "keys", "--app", app}, dbf...)...)
	if !regexp.MustCompile(`(?m)^`+key2+`\s+active\s+\S+ \S+\s+\d{4}-`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^`+key1+`\s+revoked\s+`).MatchString(out) {
		t.Fatalf("apps keys:\n%s", out)
	}

	// Rotating the master key: the new one current, the old one previous.
	newKey := newSecretKey()
	rot := []string{"--database-url", db, "--secret-key", newKey, "--secret-keys-previous", key}
	if out := cli(t, append([]string{"secrets", "rotate"}, rot...)...); !strings.Contains(out, "re-encrypted 2 secrets") {
		t.Fatalf("secrets rotate:\n%s", out)
	}
	out = cli(t, append([]string{"apps", "list"}, "--database-url", db, "--secret-key", newKey)...)
	if !strings.Contains(out, key2) {
		t.Fatalf("apps list with the new key only:\n%s", out)
	}

	out = cli(t, append([]string{"migrate", "down"}, dbf[:2]...)...)
	if !strings.Contains(out, "rolled back 00013_billing_plan.sql") {
		t.Fatalf("down:\n%s", out)
	}
}

// TestPlanLimitsOnDatabase: a tenant's plan caps its apps (CreateApp
// refuses past max_apps) and each app's connections (the edge answers
// 4004 past max_connections), from the cached app, with no query per
// connection.
func TestPlanLimitsOnDatabase(t *testing.T) {
	ctx := context.Background()
	db := newDatabase(t)
	key := newSecretKey()
	dbf := []string{"--database-url", db, "--secret-key", key}
	cli(t, append([]string{"migrate", "up"}, dbf[:2]...)...)
	keys, err := pgstore.ParseKeyring(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := pgstore.Open(ctx, db, keys)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tiny := &tenants.Plan{ID: "tiny", Name: "Tiny", MaxApps: 1, MaxConnections: 1, MaxMessagesPerDay: 100,
		MaxPresenceMembers: tenants.Unlimited, MaxPayloadKB: tenants.Unlimited}
	if err := s.PutPlan(ctx, tiny, "test"); err != nil {
		t.Fatal(err)
	}
	out := cli(t, append([]string{"tenants", "create", "--name", "Small", "--plan", "tiny"}, dbf...)...)
	tenant := field(t, out, "tenant_id")
	out = cli(t, append([]string{"apps", "create", "--tenant", tenant, "--name", "one"}, dbf...)...)
	appKey := field(t, out, "key")
	err = run(ctx, append([]string{"apps", "create", "--tenant", tenant, "--name", "two"}, dbf...), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "plan limit reached") || !strings.Contains(err.Error(), "tiny allows 1 apps") {
		t.Fatalf("a second app on a plan of one: %v", err)
	}

	addr, _, _ := startServe(t, dbf...)
	dialApp(t, addr, appKey)
	h := &wsHandler{frames: make(chan string, 16), closed: make(chan uint16, 1)}
	ws, _, err := gws.NewClient(h, &gws.ClientOption{Addr: "ws://" + addr + "/app/" + appKey + "?protocol=7&client=js&version=8.4.0"})
	if err != nil {
		t.Fatal(err)
	}
	go ws.ReadLoop()
	select {
	case f := <-h.frames:
		if !strings.Contains(f, `"code":4004`) {
			t.Fatalf("second socket on a plan of one connection: %s", f)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer to the second socket")
	}
	h.expectClose(t, 4004)
}
