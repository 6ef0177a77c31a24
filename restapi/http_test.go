package restapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	dto "github.com/prometheus/client_model/go"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/restapi"
	"github.com/switchboard-rt/switchboard/tenants"
)

// TestContentTypesAreLenient: the SDKs send application/json with or
// without a charset; anything else is parsed as JSON too.
func TestContentTypesAreLenient(t *testing.T) {
	f := newFixture(t, nil)
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded", ""} {
		q := url.Values{}
		protocol.SignRequest(key, secret, "POST", "/apps/1/events", q, []byte(oneEvent), f.unix())
		r := f.raw("POST", "/apps/1/events?"+q.Encode(), oneEvent, http.Header{"Content-Type": {ct}})
		f.expectJSON(r, `{}`)
	}
}

// TestBodyCap: a body over MaxBodyBytes is refused before it is read
// whole — at once when Content-Length says so.
func TestBodyCap(t *testing.T) {
	f := newFixture(t, nil, func(o *restapi.Options) { o.MaxBodyBytes = 1000 })
	big := `{"name":"e","channels":["c"],"data":"` + strings.Repeat("x", 1000) + `"}`
	f.expect(f.do("POST", "/apps/1/events", nil, big), 413, "payload_too_large")

	// declared too large: not read at all
	q := url.Values{}
	protocol.SignRequest(key, secret, "POST", "/apps/1/events", q, []byte(big), f.unix())
	req := httptest.NewRequest("POST", "/apps/1/events?"+q.Encode(), failingReader{t})
	req.ContentLength = 5 << 20
	f.expect(f.send(req, nil), 413, "payload_too_large")

	// no Content-Length (chunked): read up to the cap and refused
	req = httptest.NewRequest("POST", "/apps/1/events?"+q.Encode(), strings.NewReader(big))
	req.ContentLength = -1
	f.expect(f.send(req, nil), 413, "payload_too_large")

	// just under the cap is fine
	ok := `{"name":"e","channels":["c"],"data":"` + strings.Repeat("x", 900) + `"}`
	f.expect(f.do("POST", "/apps/1/events", nil, ok), 200, "")
}

func TestDefaultBodyCap(t *testing.T) {
	f := newFixture(t, nil)
	big := `{"name":"e","channels":["c"],"data":"` + strings.Repeat("x", restapi.DefaultMaxBodyBytes) + `"}`
	f.expect(f.do("POST", "/apps/1/events", nil, big), 413, "payload_too_large")
}

func TestRequestIDs(t *testing.T) {
	f := newFixture(t, nil)
	r := f.raw("GET", "/apps/1/channels", "", http.Header{"X-Request-Id": {"abc-123"}})
	if r.header.Get("X-Request-Id") != "abc-123" {
		t.Fatalf("request id %q", r.header.Get("X-Request-Id"))
	}
	if !strings.Contains(f.logs.String(), `"request_id":"abc-123"`) {
		t.Fatalf("refusal not logged with the request id:\n%s", f.logs)
	}
	a := f.raw("GET", "/apps/1/channels", "", nil).header.Get("X-Request-Id")
	b := f.raw("GET", "/apps/1/channels", "", http.Header{"X-Request-Id": {"bad\x7fid"}}).header.Get("X-Request-Id")
	if len(a) != 16 || len(b) != 16 || a == b {
		t.Fatalf("generated ids %q %q", a, b)
	}
	// the log never holds secrets, signatures or payloads
	f.do("POST", "/apps/1/events", nil, `{"name":"e","channels":["c"],"data":"top-secret-payload"}`)
	f.doAs(key, "wrong", "POST", "/apps/1/events", nil, `{"name":"e","channels":["c"],"data":"top-secret-payload"}`, f.unix())
	for _, s := range []string{secret, "top-secret-payload", "auth_signature"} {
		if strings.Contains(f.logs.String(), s) {
			t.Fatalf("log holds %q:\n%s", s, f.logs)
		}
	}
}

func TestUnknownPathsAndMethods(t *testing.T) {
	f := newFixture(t, nil)
	// unknown paths under /apps/ are JSON 404s, without authentication
	for _, p := range []string{"/apps/1/nothing", "/apps/1/channels/a/b/c", "/apps/1", "/apps/", "/apps", "/apps/99/nothing", "/elsewhere"} {
		f.expect(f.raw("GET", p, "", nil), 404, "not_found")
	}
	// known paths with the wrong method are JSON 405s with Allow
	for _, tc := range []struct{ method, path, allow string }{
		{"GET", "/apps/1/events", "POST"},
		{"PUT", "/apps/1/batch_events", "POST"},
		{"POST", "/apps/1/channels", "GET"},
		{"DELETE", "/apps/1/channels/news", "GET"},
		{"POST", "/apps/1/channels/presence-r/users", "GET"},
		{"GET", "/apps/1/users/7/terminate_connections", "POST"},
		{"OPTIONS", "/apps/1/events", "POST"},
	} {
		r := f.raw(tc.method, tc.path, "", nil)
		f.expect(r, 405, "method_not_allowed")
		if r.header.Get("Allow") != tc.allow {
			t.Fatalf("%s %s: Allow %q", tc.method, tc.path, r.header.Get("Allow"))
		}
	}
}

// TestNoCORS: the HTTP API is server to server; it answers no preflight
// and sends no CORS headers.
func TestNoCORS(t *testing.T) {
	f := newFixture(t, nil)
	h := http.Header{"Origin": {"https://evil.example"}, "Access-Control-Request-Method": {"POST"}}
	for _, r := range []response{f.raw("OPTIONS", "/apps/1/events", "", h), f.raw("GET", "/apps/1/channels", "", h)} {
		for k := range r.header {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Fatalf("CORS header %s", k)
			}
		}
	}
}

func TestMetrics(t *testing.T) {
	f := newFixture(t, nil)
	f.do("POST", "/apps/1/events", nil, oneEvent)
	f.do("POST", "/apps/1/events", nil, oneEvent)
	f.do("POST", "/apps/1/batch_events", nil, batchBody(item("c", "x")))
	f.do("GET", "/apps/1/channels/news", nil, "")
	f.raw("GET", "/apps/1/channels/news", "", nil)
	f.raw("GET", "/apps/1/whatever/you/like", "", nil)
	f.raw("GET", "/apps/1/another/thing", "", nil)

	families, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range families {
		byName[mf.GetName()] = mf
	}
	got := map[string]float64{}
	for _, m := range byName["switchboard_api_requests_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		got[labels["endpoint"]+" "+labels["status"]] = m.GetCounter().GetValue()
	}
	want := map[string]float64{
		"/apps/:app_id/events 200":                 1 + 1,
		"/apps/:app_id/batch_events 200":           1,
		"/apps/:app_id/channels/:channel_name 200": 1,
		"/apps/:app_id/channels/:channel_name 401": 1,
		"other 404": 2,
	}
	if len(got) != len(want) {
		t.Fatalf("requests_total %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("requests_total %v, want %v", got, want)
		}
	}
	h := byName["switchboard_api_publish_duration_seconds"].GetMetric()
	if len(h) != 1 || h[0].GetHistogram().GetSampleCount() != 3 {
		t.Fatalf("publish histogram %v", h)
	}
}

// TestRegisterOnSharedEcho: Register mounts only /apps/ and leaves the
// rest of an echo (routes, error handler) alone; with a nil Registry no
// metrics are registered.
func TestRegisterOnSharedEcho(t *testing.T) {
	store := tenants.NewMemoryStore()
	_ = store.PutApp(t.Context(), tenants.NewApp(appID, key, secret))
	state := bus.NewMemoryState()
	api := restapi.New(restapi.Options{Apps: tenants.NewDirectory(store, 0), Publisher: &bus.Publisher{Bus: bus.NewMemory(), State: state}, State: state})
	e := echo.New()
	e.GET("/healthz", func(c echo.Context) error { return c.String(200, "ok") })
	api.Register(e)

	serve := func(method, target string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(method, target, nil))
		return w
	}
	if w := serve("GET", "/healthz"); w.Code != 200 || w.Body.String() != "ok" || w.Header().Get("X-Request-Id") != "" {
		t.Fatalf("healthz %d %q %v", w.Code, w.Body, w.Header())
	}
	if w := serve("GET", "/other"); w.Code != 404 || strings.Contains(w.Body.String(), `"code"`) {
		t.Fatalf("the echo's own 404 changed: %d %s", w.Code, w.Body)
	}
	q := url.Values{}
	protocol.SignRequest(key, secret, "GET", "/apps/1/channels", q, nil, 0)
	if w := serve("GET", "/apps/1/channels?"+q.Encode()); w.Code != 401 || !strings.Contains(w.Body.String(), `"code":"timestamp_expired"`) {
		t.Fatalf("api error %d %s", w.Code, w.Body)
	}
	if w := serve("GET", "/apps/1/nope"); w.Code != 404 || !strings.Contains(w.Body.String(), `"code":"not_found"`) {
		t.Fatalf("api 404 %d %s", w.Code, w.Body)
	}
}

// TestBusFailureIs500: when the bus refuses a publish (here: the request's
// context is gone, which bus.Memory reports), the answer is a bare 500 and
// the detail goes to the log only.
func TestBusFailureIs500(t *testing.T) {
	f := newFixture(t, nil)
	q := url.Values{}
	protocol.SignRequest(key, secret, "POST", "/apps/1/events", q, []byte(oneEvent), f.unix())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	req := httptest.NewRequestWithContext(ctx, "POST", "/apps/1/events?"+q.Encode(), strings.NewReader(oneEvent))
	r := f.send(req, nil)
	f.expect(r, 500, "internal")
	if strings.Contains(r.body, "context") || !strings.Contains(f.logs.String(), "context canceled") {
		t.Fatalf("body %s\nlog %s", r.body, f.logs)
	}
	if n := len(f.rec.take()); n != 0 {
		t.Fatalf("%d published", n)
	}
}
