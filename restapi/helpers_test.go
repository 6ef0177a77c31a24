package restapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/restapi"
	"github.com/switchboard-rt/switchboard/tenants"
)

// recorder is a node attached to the memory bus that keeps what it gets.
type recorder struct {
	mu   sync.Mutex
	msgs []*bus.Message
}

func (r *recorder) Deliver(m *bus.Message) { r.mu.Lock(); r.msgs = append(r.msgs, m); r.mu.Unlock() }

func (r *recorder) all() []*bus.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*bus.Message(nil), r.msgs...)
}

// take returns what arrived since the last take and forgets it.
func (r *recorder) take() []*bus.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.msgs
	r.msgs = nil
	return m
}

// fixture is the API wired as cmd wires it, on the real memory store,
// directory, bus and state, with a clock the test sets.
type fixture struct {
	tb    testing.TB
	h     http.Handler
	api   *restapi.API
	store *tenants.MemoryStore
	state *bus.MemoryState
	rec   *recorder
	reg   *prometheus.Registry
	logs  *syncBuffer

	mu  sync.Mutex
	now time.Time
}

const (
	appID, key, secret = "1", "key-1", "secret-1"
)

type fixtureOption func(*restapi.Options)

func newFixture(tb testing.TB, apps []*tenants.App, opts ...fixtureOption) *fixture {
	tb.Helper()
	store := tenants.NewMemoryStore()
	if len(apps) == 0 {
		apps = []*tenants.App{tenants.NewApp(appID, key, secret)}
	}
	for _, a := range apps {
		if err := store.PutApp(context.Background(), a); err != nil {
			tb.Fatal(err)
		}
	}
	f := &fixture{
		tb: tb, store: store, state: bus.NewMemoryState(), rec: &recorder{},
		reg: prometheus.NewRegistry(), logs: &syncBuffer{}, now: time.Unix(1700000000, 0),
	}
	b := bus.NewMemoryWithHistory(bus.HistoryOptions{Length: 1000}) // the server's ceiling
	b.Attach(f.rec)
	o := restapi.Options{
		Apps: tenants.NewDirectory(store, 0), Publisher: &bus.Publisher{Bus: b, State: f.state}, State: f.state, History: b,
		Logger:   slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registry: f.reg,
		Now:      f.clock,
	}
	for _, opt := range opts {
		opt(&o)
	}
	f.api = restapi.New(o)
	f.h = f.api.Handler()
	return f
}

func (f *fixture) clock() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }

func (f *fixture) advance(d time.Duration) { f.mu.Lock(); f.now = f.now.Add(d); f.mu.Unlock() }

func (f *fixture) unix() int64 { return f.clock().Unix() }

// putApp replaces an app in the store (the directory has no cache).
func (f *fixture) putApp(a *tenants.App) {
	f.tb.Helper()
	if err := f.store.PutApp(context.Background(), a); err != nil {
		f.tb.Fatal(err)
	}
}

type response struct {
	status int
	header http.Header
	body   string
}

func (r response) json(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		tb.Fatalf("body is not a JSON object: %q", r.body)
	}
	return m
}

// do sends a request signed with key/secret as the official SDKs sign.
func (f *fixture) do(method, path string, query url.Values, body string) response {
	f.tb.Helper()
	return f.doAs(key, secret, method, path, query, body, f.unix())
}

func (f *fixture) doAs(k, s, method, path string, query url.Values, body string, ts int64) response {
	f.tb.Helper()
	q := url.Values{}
	for n, v := range query {
		q[n] = v
	}
	protocol.SignRequest(k, s, method, path, q, []byte(body), ts)
	return f.raw(method, path+"?"+q.Encode(), body, nil)
}

func (f *fixture) raw(method, target, body string, header http.Header) response {
	f.tb.Helper()
	return f.send(httptest.NewRequest(method, target, strings.NewReader(body)), header)
}

func (f *fixture) send(req *http.Request, header http.Header) response {
	f.tb.Helper()
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, req)
	return response{w.Code, w.Header(), w.Body.String()}
}

// expect checks the status and, for errors, the JSON body's code.
func (f *fixture) expect(r response, status int, code string) {
	f.tb.Helper()
	if r.status != status {
		f.tb.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		f.tb.Fatalf("content type %q: %s", r.header.Get("Content-Type"), r.body)
	}
	if code != "" {
		m := r.json(f.tb)
		if m["code"] != code {
			f.tb.Fatalf("code %v, want %s: %s", m["code"], code, r.body)
		}
		if msg, _ := m["error"].(string); msg == "" {
			f.tb.Fatalf("error body without a message: %s", r.body)
		}
	}
}

// expectJSON checks a 200 whose body equals want as JSON (key order and
// spacing aside).
func (f *fixture) expectJSON(r response, want string) {
	f.tb.Helper()
	f.expect(r, http.StatusOK, "")
	jsonEqual(f.tb, r.body, want)
}

func jsonEqual(tb testing.TB, got, want string) {
	tb.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		tb.Fatalf("body is not JSON: %q", got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		tb.Fatalf("want is not JSON: %q", want)
	}
	if !reflect.DeepEqual(g, w) {
		tb.Fatalf("body %s\nwant %s", got, want)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// failingReader fails the test if the handler reads the body.
type failingReader struct{ tb testing.TB }

func (r failingReader) Read([]byte) (int, error) {
	r.tb.Error("the body was read")
	return 0, io.EOF
}
