package restapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

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

type fixture struct {
	t     *testing.T
	h     http.Handler
	state *bus.MemoryState
	rec   *recorder
	now   time.Time
	store *tenants.MemoryStore
}

const (
	appID, key, secret = "1", "key-1", "secret-1"
)

func newFixture(t *testing.T, apps ...*tenants.App) *fixture {
	t.Helper()
	store := tenants.NewMemoryStore()
	if len(apps) == 0 {
		apps = []*tenants.App{tenants.NewApp(appID, key, secret)}
	}
	for _, a := range apps {
		if err := store.PutApp(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	f := &fixture{t: t, state: bus.NewMemoryState(), rec: &recorder{}, now: time.Unix(1700000000, 0), store: store}
	b := bus.NewMemory()
	b.Attach(f.rec)
	api := restapi.New(restapi.Options{
		Apps: tenants.NewDirectory(store, 0), Publisher: &bus.Publisher{Bus: b, State: f.state}, State: f.state,
		Now: func() time.Time { return f.now },
	})
	f.h = api.Handler()
	return f
}

type response struct {
	status int
	header http.Header
	body   string
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body is not JSON: %q", r.body)
	}
	return m
}

// do sends a request signed with key/secret as the official SDKs sign.
func (f *fixture) do(method, path string, query url.Values, body string) response {
	return f.doAs(key, secret, method, path, query, body, f.now.Unix())
}

func (f *fixture) doAs(k, s, method, path string, query url.Values, body string, ts int64) response {
	f.t.Helper()
	if query == nil {
		query = url.Values{}
	}
	protocol.SignRequest(k, s, method, path, query, []byte(body), ts)
	return f.raw(method, path+"?"+query.Encode(), body, nil)
}

func (f *fixture) raw(method, target, body string, header http.Header) response {
	f.t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, req)
	return response{w.Code, w.Header(), w.Body.String()}
}

func (f *fixture) expect(r response, status int, code string) {
	f.t.Helper()
	if r.status != status {
		f.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if code != "" {
		if got := r.json(f.t)["code"]; got != code {
			f.t.Fatalf("code %v, want %s: %s", got, code, r.body)
		}
		if !strings.Contains(r.header.Get("Content-Type"), "application/json") {
			f.t.Fatalf("error content type %q", r.header.Get("Content-Type"))
		}
	}
}

func TestPusherDocWorkedExample(t *testing.T) {
	app := tenants.NewApp("3", "278d425bdf160c739803", "7ad3773142a6692b25b8")
	f := newFixture(t, app)
	f.now = time.Unix(1353088179, 0)
	body := `{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`
	q := "auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0" +
		"&body_md5=ec365a775a4cd0599faeb73354201b6f" +
		"&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
	r := f.raw("POST", "/apps/3/events?"+q, body, nil)
	f.expect(r, 200, "")
	if r.body != "{}" {
		t.Fatalf("body %q", r.body)
	}
	msgs := f.rec.all()
	if len(msgs) != 1 || msgs[0].Channel != "project-3" || msgs[0].Event != "foo" || string(msgs[0].Data) != `"{\"some\":\"data\"}"` {
		t.Fatalf("published %+v", msgs)
	}
}

func TestSignatureFailures(t *testing.T) {
	disabled := tenants.NewApp("2", "key-2", "secret-2")
	disabled.Enabled = false
	f := newFixture(t, tenants.NewApp(appID, key, secret), disabled)
	body := `{"name":"e","channels":["c"],"data":"x"}`

	f.expect(f.doAs(key, "wrong", "POST", "/apps/1/events", nil, body, f.now.Unix()), 401, "invalid_signature")
	f.expect(f.doAs(key, secret, "POST", "/apps/1/events", nil, body, f.now.Unix()-601), 401, "timestamp_expired")
	f.expect(f.doAs(key, secret, "POST", "/apps/1/events", nil, body, f.now.Unix()+601), 401, "timestamp_expired")
	f.expect(f.doAs(key, secret, "POST", "/apps/1/events", nil, body, f.now.Unix()-599), 200, "")
	f.expect(f.doAs("nope", secret, "POST", "/apps/1/events", nil, body, f.now.Unix()), 401, "unknown_auth_key")
	f.expect(f.doAs("key-2", "secret-2", "POST", "/apps/1/events", nil, body, f.now.Unix()), 401, "unknown_auth_key")
	f.expect(f.doAs(key, secret, "POST", "/apps/99/events", nil, body, f.now.Unix()), 404, "app_not_found")
	f.expect(f.doAs("key-2", "secret-2", "POST", "/apps/2/events", nil, body, f.now.Unix()), 403, "app_disabled")

	// body_md5 of another body
	q := url.Values{}
	protocol.SignRequest(key, secret, "POST", "/apps/1/events", q, []byte(`{"other":1}`), f.now.Unix())
	f.expect(f.raw("POST", "/apps/1/events?"+q.Encode(), body, nil), 401, "body_md5_mismatch")
	// missing signature and missing key
	f.expect(f.raw("GET", "/apps/1/channels?auth_key=key-1&auth_timestamp="+strconv.FormatInt(f.now.Unix(), 10), "", nil), 401, "auth_signature_missing")
	f.expect(f.raw("GET", "/apps/1/channels", "", nil), 401, "auth_key_missing")

	// The invalid-signature message shows the string to sign, never the secret.
	r := f.doAs(key, "wrong", "POST", "/apps/1/events", nil, body, f.now.Unix())
	msg, _ := r.json(t)["error"].(string)
	if !strings.Contains(msg, `"POST\n/apps/1/events\nauth_key=key-1&auth_timestamp=`) || strings.Contains(r.body, secret) {
		t.Fatalf("message %s", r.body)
	}
}

func TestQueryOrderAndKeyCaseDoNotMatter(t *testing.T) {
	f := newFixture(t)
	q := url.Values{"filter_by_prefix": {"presence-"}, "info": {"user_count"}}
	protocol.SignRequest(key, secret, "GET", "/apps/1/channels", q, nil, f.now.Unix())
	// Rebuild the query by hand in another order, one key upper-cased.
	parts := []string{"INFO=user_count", "filter_by_prefix=presence-"}
	for _, k := range []string{"auth_signature", "auth_version", "auth_timestamp", "auth_key"} {
		parts = append(parts, k+"="+url.QueryEscape(q.Get(k)))
	}
	r := f.raw("GET", "/apps/1/channels?"+strings.Join(parts, "&"), "", nil)
	// INFO is not the info parameter the handler reads, so no user_count
	// check applies, but the signature (over lower-cased keys) holds.
	f.expect(r, 200, "")
}

func TestTriggerValidation(t *testing.T) {
	f := newFixture(t)
	post := func(body string) response { return f.do("POST", "/apps/1/events", nil, body) }
	mk := func(name string, channels []string, data string, extra map[string]any) string {
		m := map[string]any{"name": name, "channels": channels, "data": data}
		for k, v := range extra {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	f.expect(post(mk("e", []string{"c"}, strings.Repeat("a", 10240), nil)), 200, "")
	f.expect(post(mk("e", []string{"c"}, strings.Repeat("a", 10241), nil)), 413, "payload_too_large")
	many := make([]string, 101)
	for i := range many {
		many[i] = "c" + strconv.Itoa(i)
	}
	f.expect(post(mk("e", many, "x", nil)), 400, "bad_request")
	f.expect(post(mk("e", many[:100], "x", nil)), 200, "")
	f.expect(post(mk(strings.Repeat("n", 201), []string{"c"}, "x", nil)), 400, "bad_request")
	f.expect(post(mk(strings.Repeat("n", 200), []string{"c"}, "x", nil)), 200, "")
	f.expect(post(mk("pusher:x", []string{"c"}, "x", nil)), 400, "bad_request")
	r := post(mk("e", []string{"bad channel"}, "x", nil))
	f.expect(r, 400, "bad_request")
	if !strings.Contains(r.body, "bad channel") {
		t.Fatalf("error does not name the channel: %s", r.body)
	}
	f.expect(post(mk("e", []string{"c"}, "x", map[string]any{"socket_id": "abc"})), 400, "bad_request")
	f.expect(post(mk("e", []string{"private-encrypted-a", "b"}, `{"nonce":"n","ciphertext":"c"}`, nil)), 400, "bad_request")
	f.expect(post(mk("e", []string{"private-encrypted-a"}, `plain`, nil)), 400, "bad_request")
	f.expect(post(mk("e", []string{"private-encrypted-a"}, `{"nonce":"n","ciphertext":"c"}`, nil)), 200, "")
	f.expect(post(`{"name":"e","channels":["c"]}`), 400, "bad_request")
	f.expect(post(`{"channels":["c"],"data":"x"}`), 400, "bad_request")
	f.expect(post(`{"name":"e","data":"x"}`), 400, "bad_request")
	f.expect(post(`not json`), 400, "bad_request")
	f.expect(post(mk("e", []string{"#server-to-user-7"}, "x", nil)), 200, "")
	// single "channel" form and non-string data (lenient)
	f.expect(post(`{"name":"e","channel":"solo","data":{"a": 1}}`), 200, "")
	last := f.rec.all()
	if m := last[len(last)-1]; m.Channel != "solo" || string(m.Data) != `"{\"a\":1}"` {
		t.Fatalf("lenient data %s on %s", m.Data, m.Channel)
	}
}

func TestTriggerDeliversDataVerbatimAndExcludes(t *testing.T) {
	f := newFixture(t)
	body := `{"name":"e","channels":["a","b"],"data":"{\"x\":\"\\u00e9\"}","socket_id":"123.456"}`
	f.expect(f.do("POST", "/apps/1/events", nil, body), 200, "")
	msgs := f.rec.all()
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	for _, m := range msgs {
		if string(m.Data) != `"{\"x\":\"\\u00e9\"}"` || m.ExcludeSocketID != "123.456" {
			t.Fatalf("message %+v data %s", m, m.Data)
		}
	}
}

func TestTriggerInfo(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, _ = f.state.AddSubscription(ctx, appID, "news", "1.1")
	_, _ = f.state.AddSubscription(ctx, appID, "news", "1.2")
	_, _ = f.state.AddMember(ctx, appID, "presence-r", "1.3", protocol.Member{UserID: "u"}, 0)
	_, _ = f.state.AddMember(ctx, appID, "presence-r", "1.4", protocol.Member{UserID: "u"}, 0)
	r := f.do("POST", "/apps/1/events", nil, `{"name":"e","channels":["news","presence-r"],"data":"x","info":"user_count,subscription_count"}`)
	f.expect(r, 200, "")
	want := `{"channels":{"news":{"subscription_count":2},"presence-r":{"subscription_count":2,"user_count":1}}}`
	if strings.TrimSpace(r.body) != want {
		t.Fatalf("got %s\nwant %s", r.body, want)
	}
}

func TestBatch(t *testing.T) {
	f := newFixture(t)
	items := make([]map[string]string, 11)
	for i := range items {
		items[i] = map[string]string{"channel": "c" + strconv.Itoa(i), "name": "e", "data": strconv.Itoa(i)}
	}
	body := func(n int) string { b, _ := json.Marshal(map[string]any{"batch": items[:n]}); return string(b) }
	f.expect(f.do("POST", "/apps/1/batch_events", nil, body(11)), 400, "bad_request")
	if n := len(f.rec.all()); n != 0 {
		t.Fatalf("published %d from a refused batch", n)
	}
	r := f.do("POST", "/apps/1/batch_events", nil, body(10))
	f.expect(r, 200, "")
	if r.body != "{}" {
		t.Fatalf("body %s", r.body)
	}
	msgs := f.rec.all()
	for i, m := range msgs {
		if m.Channel != "c"+strconv.Itoa(i) {
			t.Fatalf("order: %d is %s", i, m.Channel)
		}
	}
	// one bad item refuses all
	items[3]["channel"] = "bad name"
	f.expect(f.do("POST", "/apps/1/batch_events", nil, body(5)), 400, "bad_request")
	items[3]["channel"] = "c3"
	items[2]["data"] = strings.Repeat("x", 10241)
	f.expect(f.do("POST", "/apps/1/batch_events", nil, body(5)), 413, "payload_too_large")
	if n := len(f.rec.all()); n != 10 {
		t.Fatalf("refused batches published: %d", n)
	}
	// info aligned with request order
	_, _ = f.state.AddSubscription(context.Background(), appID, "c1", "1.1")
	r = f.do("POST", "/apps/1/batch_events", nil,
		`{"batch":[{"channel":"c0","name":"e","data":"x"},{"channel":"c1","name":"e","data":"x","info":"subscription_count"}]}`)
	f.expect(r, 200, "")
	if strings.TrimSpace(r.body) != `{"batch":[{},{"subscription_count":1}]}` {
		t.Fatalf("batch info %s", r.body)
	}
}

func TestChannelQueries(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, _ = f.state.AddSubscription(ctx, appID, "news", "1.1")
	_, _ = f.state.AddSubscription(ctx, appID, "#server-to-user-7", "1.1")
	_, _ = f.state.AddMember(ctx, appID, "presence-room", "1.2", protocol.Member{UserID: "b"}, 0)
	_, _ = f.state.AddMember(ctx, appID, "presence-room", "1.3", protocol.Member{UserID: "a"}, 0)

	r := f.do("GET", "/apps/1/channels", nil, "")
	f.expect(r, 200, "")
	if strings.TrimSpace(r.body) != `{"channels":{"news":{},"presence-room":{}}}` {
		t.Fatalf("channels %s", r.body)
	}
	r = f.do("GET", "/apps/1/channels", url.Values{"filter_by_prefix": {"presence-"}, "info": {"user_count"}}, "")
	if strings.TrimSpace(r.body) != `{"channels":{"presence-room":{"user_count":2}}}` {
		t.Fatalf("presence channels %s", r.body)
	}
	f.expect(f.do("GET", "/apps/1/channels", url.Values{"info": {"user_count"}}, ""), 400, "bad_request")

	r = f.do("GET", "/apps/1/channels/news", url.Values{"info": {"subscription_count"}}, "")
	if strings.TrimSpace(r.body) != `{"occupied":true,"subscription_count":1}` {
		t.Fatalf("news %s", r.body)
	}
	r = f.do("GET", "/apps/1/channels/empty", nil, "")
	if strings.TrimSpace(r.body) != `{"occupied":false}` {
		t.Fatalf("empty %s", r.body)
	}
	f.expect(f.do("GET", "/apps/1/channels/news", url.Values{"info": {"user_count"}}, ""), 400, "bad_request")
	r = f.do("GET", "/apps/1/channels/presence-room", url.Values{"info": {"user_count,subscription_count"}}, "")
	if strings.TrimSpace(r.body) != `{"occupied":true,"subscription_count":2,"user_count":2}` {
		t.Fatalf("presence %s", r.body)
	}
	f.expect(f.do("GET", "/apps/1/channels/bad%20name", nil, ""), 400, "bad_request")

	r = f.do("GET", "/apps/1/channels/presence-room/users", nil, "")
	if strings.TrimSpace(r.body) != `{"users":[{"id":"a"},{"id":"b"}]}` {
		t.Fatalf("users %s", r.body)
	}
	r = f.do("GET", "/apps/1/channels/presence-none/users", nil, "")
	if strings.TrimSpace(r.body) != `{"users":[]}` {
		t.Fatalf("no users %s", r.body)
	}
	f.expect(f.do("GET", "/apps/1/channels/news/users", nil, ""), 400, "bad_request")
}

func TestCacheChannelInfo(t *testing.T) {
	f := newFixture(t)
	f.expect(f.do("POST", "/apps/1/events", nil, `{"name":"price","channels":["cache-p"],"data":"{\"eur\":1}"}`), 200, "")
	r := f.do("GET", "/apps/1/channels/cache-p", url.Values{"info": {"cache"}}, "")
	f.expect(r, 200, "")
	m := r.json(t)
	c, ok := m["cache"].(map[string]any)
	if !ok || c["event"] != "price" || c["data"] != `{"eur":1}` || c["ttl"].(float64) <= 0 {
		t.Fatalf("cache %s", r.body)
	}
}

func TestTerminateUser(t *testing.T) {
	f := newFixture(t)
	r := f.do("POST", "/apps/1/users/7/terminate_connections", nil, "{}")
	f.expect(r, 200, "")
	msgs := f.rec.all()
	if r.body != "{}" || len(msgs) != 1 || msgs[0].Kind != bus.KindTerminateUser || msgs[0].UserID != "7" {
		t.Fatalf("%s %+v", r.body, msgs)
	}
}

func TestRateLimits(t *testing.T) {
	app := tenants.NewApp(appID, key, secret)
	app.MaxBackendEventsPerSecond = 5
	app.MaxReadRequestsPerSecond = 2
	f := newFixture(t, app)
	for i := 0; i < 5; i++ {
		f.expect(f.do("POST", "/apps/1/events", nil, `{"name":"e","channels":["c"],"data":"x"}`), 200, "")
	}
	r := f.do("POST", "/apps/1/events", nil, `{"name":"e","channels":["c"],"data":"x"}`)
	f.expect(r, 429, "rate_limited")
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	f.now = f.now.Add(time.Second)
	f.expect(f.do("POST", "/apps/1/events", nil, `{"name":"e","channels":["c"],"data":"x"}`), 200, "")
	// a batch takes one token per event
	batch := `{"batch":[` + strings.TrimSuffix(strings.Repeat(`{"channel":"c","name":"e","data":"x"},`, 5), ",") + `]}`
	f.expect(f.do("POST", "/apps/1/batch_events", nil, batch), 429, "rate_limited")
	for i := 0; i < 2; i++ {
		f.expect(f.do("GET", "/apps/1/channels", nil, ""), 200, "")
	}
	f.expect(f.do("GET", "/apps/1/channels", nil, ""), 429, "rate_limited")
}

func TestBodyHandling(t *testing.T) {
	f := newFixture(t)
	// gzip: body_md5 over the bytes as sent
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	_, _ = io.WriteString(zw, `{"name":"e","channels":["c"],"data":"zipped"}`)
	_ = zw.Close()
	q := url.Values{}
	protocol.SignRequest(key, secret, "POST", "/apps/1/events", q, zb.Bytes(), f.now.Unix())
	r := f.raw("POST", "/apps/1/events?"+q.Encode(), zb.String(), http.Header{"Content-Encoding": {"gzip"}})
	f.expect(r, 200, "")
	// Content-Type the SDKs may send, or none
	q = url.Values{}
	body := `{"name":"e","channels":["c"],"data":"x"}`
	protocol.SignRequest(key, secret, "POST", "/apps/1/events", q, []byte(body), f.now.Unix())
	f.expect(f.raw("POST", "/apps/1/events?"+q.Encode(), body, http.Header{"Content-Type": {"application/json; charset=utf-8"}}), 200, "")
	// an oversize body is refused before it is read
	big := `{"name":"e","channels":["c"],"data":"` + strings.Repeat("x", 300<<10) + `"}`
	f.expect(f.do("POST", "/apps/1/events", nil, big), 413, "payload_too_large")
	// request ids are echoed or made
	r = f.raw("GET", "/apps/1/channels", "", http.Header{"X-Request-Id": {"abc"}})
	if r.header.Get("X-Request-Id") != "abc" {
		t.Fatalf("request id %q", r.header.Get("X-Request-Id"))
	}
	// unknown endpoints are JSON 404s
	f.expect(f.do("GET", "/apps/1/nothing", nil, ""), 404, "not_found")
	f.expect(f.raw("GET", "/elsewhere", "", nil), 404, "not_found")
}

func TestDecodedAndEscapedPathsBothSign(t *testing.T) {
	f := newFixture(t)
	_, _ = f.state.AddSubscription(context.Background(), appID, "#server-to-user-7", "1.1")
	for _, signed := range []string{"/apps/1/channels/#server-to-user-7", "/apps/1/channels/%23server-to-user-7"} {
		q := url.Values{}
		protocol.SignRequest(key, secret, "GET", signed, q, nil, f.now.Unix())
		r := f.raw("GET", "/apps/1/channels/%23server-to-user-7?"+q.Encode(), "", nil)
		f.expect(r, 200, "")
		if strings.TrimSpace(r.body) != `{"occupied":true}` {
			t.Fatalf("%s", r.body)
		}
	}
}
