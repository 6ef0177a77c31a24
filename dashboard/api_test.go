package dashboard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v2"

	"github.com/switchboard-rt/switchboard/dashboard"
	"github.com/switchboard-rt/switchboard/tenants"
	"github.com/switchboard-rt/switchboard/tenants/pgstore"
	"github.com/switchboard-rt/switchboard/tenants/pgstore/pgtest"
)

var (
	_ dashboard.Store = (*tenants.MemoryStore)(nil)
	_ dashboard.Store = (*pgstore.Store)(nil)
)

// fixture is an API on a memory store with two tenants, A and B.
type fixture struct {
	t              *testing.T
	api            *dashboard.API
	srv            *httptest.Server
	store          tenants.Store
	tenantA        *tenants.Tenant
	tokenA, tokenB string
	hooks          *deliveries
	usage          *fakeUsage
	contacts       *fakeContacts
}

// deliveries holds the attempts the API reads, as a node's
// webhooks.Attempts would.
type deliveries struct {
	mu sync.Mutex
	by map[string][]dashboard.WebhookDelivery
}

func (d *deliveries) add(appID string, x dashboard.WebhookDelivery) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.by == nil {
		d.by = map[string][]dashboard.WebhookDelivery{}
	}
	d.by[appID] = append(d.by[appID], x)
}

func (d *deliveries) WebhookDeliveries(_ context.Context, appID string, limit int) ([]dashboard.WebhookDelivery, []dashboard.WebhookEndpoint, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.by[appID]
	if len(out) > limit {
		out = out[:limit]
	}
	var e []dashboard.WebhookEndpoint
	for _, x := range out {
		e = append(e, dashboard.WebhookEndpoint{URL: x.URL, Failing: x.Error != "", LastError: x.Error})
	}
	return out, e, nil
}

// eachStore runs test on the memory store and on PostgreSQL.
func eachStore(t *testing.T, test func(t *testing.T, f *fixture)) {
	t.Run("memory", func(t *testing.T) { test(t, newFixture(t, tenants.NewMemoryStore())) })
	t.Run("postgres", func(t *testing.T) {
		s, _ := pgtest.Open(t)
		test(t, newFixture(t, s))
	})
}

func newFixture(t *testing.T, store tenants.Store) *fixture {
	t.Helper()
	f := &fixture{t: t, store: store, hooks: &deliveries{}, contacts: &fakeContacts{}}
	f.usage = &fakeUsage{store: store, rows: map[string][]dashboard.UsageRow{}}
	f.api = dashboard.NewAPI(dashboard.Options{Store: store, Webhooks: f.hooks, Usage: f.usage, BillingContacts: f.contacts})
	f.srv = httptest.NewServer(f.api)
	t.Cleanup(f.srv.Close)
	f.tenantA, f.tokenA = f.tenant("A")
	_, f.tokenB = f.tenant("B")
	return f
}

func (f *fixture) tenant(name string) (*tenants.Tenant, string) {
	f.t.Helper()
	ctx := f.t.Context()
	tn, err := f.store.CreateTenant(ctx, name, tenants.FreePlanID, "test")
	if err != nil {
		f.t.Fatal(err)
	}
	_, tok, err := f.store.CreateToken(ctx, tn.ID, "test", "test")
	if err != nil {
		f.t.Fatal(err)
	}
	return tn, tok
}

type answer struct {
	status int
	body   map[string]any
	raw    string
}

func (f *fixture) do(token, method, path, body string) answer {
	f.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, r)
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	a := answer{status: res.StatusCode, raw: string(b)}
	if res.StatusCode != http.StatusNoContent && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &a.body); err != nil {
			f.t.Fatalf("%s %s: body is not a JSON object: %s", method, path, b)
		}
	}
	return a
}

func (f *fixture) want(a answer, status int, code string) {
	f.t.Helper()
	if a.status != status || (code != "" && a.body["code"] != code) {
		f.t.Fatalf("got %d %s, want %d %s", a.status, a.raw, status, code)
	}
}

// app creates an app for tenant A and returns its id, key and secret.
func (f *fixture) app(name string) (id, key, secret string) {
	f.t.Helper()
	a := f.do(f.tokenA, "POST", "/api/v1/apps", `{"name":"`+name+`"}`)
	f.want(a, http.StatusCreated, "")
	return a.body["id"].(string), a.body["key"].(string), a.body["secret"].(string)
}

func TestAppLifecycle(t *testing.T) { eachStore(t, testAppLifecycle) }

func testAppLifecycle(t *testing.T, f *fixture) {
	id, key1, secret1 := f.app("chat")
	if key1 == "" || secret1 == "" {
		t.Fatal("create must show the first key and its secret")
	}
	got := f.do(f.tokenA, "GET", "/api/v1/apps/"+id, "")
	f.want(got, 200, "")
	if strings.Contains(got.raw, secret1) {
		t.Fatal("GET app shows a secret")
	}
	f.want(f.do(f.tokenA, "PATCH", "/api/v1/apps/"+id, `{"enable_client_messages":true,"limits":{"max_client_events_per_second":5}}`), 200, "")
	got = f.do(f.tokenA, "GET", "/api/v1/apps/"+id, "")
	if got.body["enable_client_messages"] != true || got.body["limits"].(map[string]any)["max_client_events_per_second"] != 5.0 {
		t.Fatalf("PATCH not applied: %s", got.raw)
	}
	// History is opt-in, in the limits, capped by the plan (free: 100
	// events, an hour) when read back.
	if l := got.body["limits"].(map[string]any); l["history_max_events"] != 0.0 || l["history_max_age_seconds"] != 300.0 {
		t.Fatalf("history of a new app: %s", got.raw)
	}
	f.want(f.do(f.tokenA, "PATCH", "/api/v1/apps/"+id, `{"limits":{"history_max_events":5000,"history_max_age_seconds":-1}}`), 200, "")
	got = f.do(f.tokenA, "GET", "/api/v1/apps/"+id, "")
	if l := got.body["limits"].(map[string]any); l["history_max_events"] != 100.0 || l["history_max_age_seconds"] != 3600.0 ||
		l["max_client_events_per_second"] != 5.0 {
		t.Fatalf("history after PATCH, under the free plan: %s", got.raw)
	}
	plan := f.do(f.tokenA, "GET", "/api/v1/plan", "")
	if plan.body["max_history_events"] != 100.0 || plan.body["max_history_age_seconds"] != 3600.0 {
		t.Fatalf("plan: %s", plan.raw)
	}
	for _, bad := range []string{`{"limits":{"history_max_events":-1}}`, `{"limits":{"history_max_age_seconds":-2}}`, `{"limits":{"history_max_events":100001}}`} {
		r := f.do(f.tokenA, "PATCH", "/api/v1/apps/"+id, bad)
		f.want(r, 400, "invalid_field")
		if !strings.Contains(r.raw, `"field":"history_max_`) {
			t.Fatalf("%s: %s, want the field named", bad, r.raw)
		}
	}
	f.want(f.do(f.tokenA, "PATCH", "/api/v1/apps/"+id, `{"enable_everything":true}`), 400, "unknown_field")
	f.want(f.do(f.tokenA, "PATCH", "/api/v1/apps/"+id, `{"name":""}`), 400, "invalid_field")
	f.want(f.do(f.tokenA, "PATCH", "/api/v1/apps/"+id, `{"name":`), 400, "invalid_json")

	// Rotation: a second key, then the first revoked; the last one stays.
	k2 := f.do(f.tokenA, "POST", "/api/v1/apps/"+id+"/keys", "")
	f.want(k2, 201, "")
	key2 := k2.body["key"].(string)
	f.want(f.do(f.tokenA, "DELETE", "/api/v1/apps/"+id+"/keys/"+key1, ""), 204, "")
	f.want(f.do(f.tokenA, "DELETE", "/api/v1/apps/"+id+"/keys/"+key2, ""), 409, "last_key")
	keys := f.do(f.tokenA, "GET", "/api/v1/apps/"+id+"/keys", "")
	if strings.Contains(keys.raw, "secret") || !strings.Contains(keys.raw, `"revoked"`) {
		t.Fatalf("keys: %s", keys.raw)
	}

	f.want(f.do(f.tokenA, "PUT", "/api/v1/apps/"+id+"/webhooks", `{"webhooks":[{"url":"ftp://x","event_types":["channel_occupied"]}]}`), 400, "invalid_field")
	f.want(f.do(f.tokenA, "PUT", "/api/v1/apps/"+id+"/webhooks", `{"webhooks":[{"url":"https://example.com/hook","event_types":["channel_occupied"]}]}`), 200, "")
	hooks := f.do(f.tokenA, "GET", "/api/v1/apps/"+id+"/webhooks", "")
	if !strings.Contains(hooks.raw, "https://example.com/hook") {
		t.Fatalf("webhooks: %s", hooks.raw)
	}
	audit := f.do(f.tokenA, "GET", "/api/v1/audit?limit=50", "")
	if !strings.Contains(audit.raw, "key.revoke") || strings.Contains(audit.raw, secret1) {
		t.Fatalf("audit: %s", audit.raw)
	}
	f.want(f.do(f.tokenA, "DELETE", "/api/v1/apps/"+id, ""), 204, "")
	f.want(f.do(f.tokenA, "GET", "/api/v1/apps/"+id, ""), 404, "not_found")
}

func TestPlanLimitAndSuspension(t *testing.T) { eachStore(t, testPlanLimitAndSuspension) }

func testPlanLimitAndSuspension(t *testing.T, f *fixture) {
	plan := f.do(f.tokenA, "GET", "/api/v1/plan", "")
	max := int(plan.body["max_apps"].(float64))
	for i := 0; i < max; i++ {
		f.app("app")
	}
	f.want(f.do(f.tokenA, "POST", "/api/v1/apps", `{"name":"one too many"}`), 403, "plan_limit")

	if err := f.store.SetTenantStatus(t.Context(), f.tenantA.ID, tenants.TenantSuspended, "test"); err != nil {
		t.Fatal(err)
	}
	f.want(f.do(f.tokenA, "GET", "/api/v1/apps", ""), 200, "")
	f.want(f.do(f.tokenA, "POST", "/api/v1/tokens", `{"name":"x"}`), 403, "tenant_suspended")
}

func TestRequestErrors(t *testing.T) { eachStore(t, testRequestErrors) }

func testRequestErrors(t *testing.T, f *fixture) {
	f.want(f.do("", "GET", "/api/v1/apps", ""), 401, "unauthorized")
	f.want(f.do("sbt_nope", "GET", "/api/v1/apps", ""), 401, "unauthorized")
	f.want(f.do(f.tokenA, "GET", "/api/v1/nothing", ""), 404, "not_found")
	f.want(f.do(f.tokenA, "PUT", "/api/v1/apps", ""), 405, "method_not_allowed")
	f.want(f.do(f.tokenA, "POST", "/api/v1/apps", strings.Repeat(" ", 70<<10)+"{}"), 413, "body_too_large")
	req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/apps", strings.NewReader("name=x"))
	req.Header.Set("Authorization", "Bearer "+f.tokenA)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 415 {
		t.Fatalf("form body: %d, want 415", res.StatusCode)
	}

	// A revoked token stops working at once.
	tok := f.do(f.tokenA, "POST", "/api/v1/tokens", `{"name":"ci"}`)
	f.want(tok, 201, "")
	second := tok.body["token"].(string)
	f.want(f.do(second, "GET", "/api/v1/tenant", ""), 200, "")
	f.want(f.do(f.tokenA, "DELETE", "/api/v1/tokens/"+tok.body["id"].(string), ""), 204, "")
	f.want(f.do(second, "GET", "/api/v1/tenant", ""), 401, "unauthorized")
}

func TestWebhookDeliveries(t *testing.T) { eachStore(t, testWebhookDeliveries) }

func testWebhookDeliveries(t *testing.T, f *fixture) {
	id, _, _ := f.app("hooked")
	empty := f.do(f.tokenA, "GET", "/api/v1/apps/"+id+"/webhooks/deliveries", "")
	f.want(empty, 200, "")
	if strings.TrimSpace(empty.raw) != `{"deliveries":[],"endpoints":[]}` {
		t.Fatalf("no attempts yet: %s", empty.raw)
	}
	at := time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)
	f.hooks.add(id, dashboard.WebhookDelivery{Time: at, URL: "https://h.example/x", Attempt: 2, Status: 502,
		LatencyMS: 12.5, Error: "status 502", Events: []string{"channel_occupied", "member_added"}})
	f.hooks.add(id, dashboard.WebhookDelivery{Time: at, URL: "https://h.example/x", Attempt: 1, Status: 200, Events: []string{"channel_vacated"}})
	got := f.do(f.tokenA, "GET", "/api/v1/apps/"+id+"/webhooks/deliveries?limit=1", "")
	f.want(got, 200, "")
	d := got.body["deliveries"].([]any)
	first := d[0].(map[string]any)
	if len(d) != 1 || first["status"] != 502.0 || first["error"] != "status 502" || first["latency_ms"] != 12.5 ||
		first["url"] != "https://h.example/x" || first["time"] != "2026-11-25T07:00:00Z" ||
		fmt.Sprint(first["events"]) != "[channel_occupied member_added]" {
		t.Fatalf("deliveries: %s", got.raw)
	}
	if e := got.body["endpoints"].([]any)[0].(map[string]any); e["failing"] != true || e["last_error"] != "status 502" {
		t.Fatalf("endpoints: %s", got.raw)
	}
	f.want(f.do(f.tokenA, "GET", "/api/v1/apps/"+id+"/webhooks/deliveries?limit=0", ""), 400, "invalid_query")
	f.want(f.do(f.tokenA, "GET", "/api/v1/apps/nope/webhooks/deliveries", ""), 404, "not_found")
}

// Tenant B, with its own valid token, must not read or change anything of
// tenant A's through any route. A route added without a case here fails.
func TestTenantIsolation(t *testing.T) { eachStore(t, testTenantIsolation) }

func testTenantIsolation(t *testing.T, f *fixture) {
	appID, key, secret := f.app("private")
	f.do(f.tokenA, "PUT", "/api/v1/apps/"+appID+"/webhooks", `{"webhooks":[{"url":"https://a.example/hook","event_types":["member_added"]}]}`)
	tokA := f.do(f.tokenA, "POST", "/api/v1/tokens", `{"name":"a-ci"}`)
	tokenID := tokA.body["id"].(string)
	f.hooks.add(appID, dashboard.WebhookDelivery{URL: "https://a.example/hook", Status: 500, Error: "status 500", Events: []string{"member_added"}})
	f.usage.add(appID, dashboard.UsageRow{Start: time.Now().UTC().Truncate(time.Hour), Messages: 7777, Published: 7777})
	f.do(f.tokenA, "PUT", "/api/v1/billing/contact", `{"url":"https://a.example/billing"}`)

	// secretsOfA must never appear in an answer to B.
	secretsOfA := []string{appID, key, secret, tokenID, f.tenantA.ID, "a.example", "7777"}
	cases := map[string]func() answer{
		"GET /api/v1/openapi.yaml": func() answer { return f.do(f.tokenB, "GET", "/api/v1/openapi.yaml", "") },
		"GET /api/v1/tenant":       func() answer { return f.do(f.tokenB, "GET", "/api/v1/tenant", "") },
		"GET /api/v1/plan":         func() answer { return f.do(f.tokenB, "GET", "/api/v1/plan", "") },
		"GET /api/v1/apps":         func() answer { return f.do(f.tokenB, "GET", "/api/v1/apps", "") },
		"POST /api/v1/apps":        func() answer { return f.do(f.tokenB, "POST", "/api/v1/apps", `{"name":"b"}`) },
		"GET /api/v1/apps/{app_id}": func() answer {
			return f.do(f.tokenB, "GET", "/api/v1/apps/"+appID, "")
		},
		"PATCH /api/v1/apps/{app_id}": func() answer {
			return f.do(f.tokenB, "PATCH", "/api/v1/apps/"+appID, `{"enabled":false}`)
		},
		"DELETE /api/v1/apps/{app_id}": func() answer { return f.do(f.tokenB, "DELETE", "/api/v1/apps/"+appID, "") },
		"GET /api/v1/apps/{app_id}/keys": func() answer {
			return f.do(f.tokenB, "GET", "/api/v1/apps/"+appID+"/keys", "")
		},
		"POST /api/v1/apps/{app_id}/keys": func() answer {
			return f.do(f.tokenB, "POST", "/api/v1/apps/"+appID+"/keys", "")
		},
		"DELETE /api/v1/apps/{app_id}/keys/{key}": func() answer {
			return f.do(f.tokenB, "DELETE", "/api/v1/apps/"+appID+"/keys/"+key, "")
		},
		"GET /api/v1/apps/{app_id}/webhooks": func() answer {
			return f.do(f.tokenB, "GET", "/api/v1/apps/"+appID+"/webhooks", "")
		},
		"PUT /api/v1/apps/{app_id}/webhooks": func() answer {
			return f.do(f.tokenB, "PUT", "/api/v1/apps/"+appID+"/webhooks", `{"webhooks":[]}`)
		},
		"GET /api/v1/apps/{app_id}/webhooks/deliveries": func() answer {
			return f.do(f.tokenB, "GET", "/api/v1/apps/"+appID+"/webhooks/deliveries", "")
		},
		"GET /api/v1/apps/{app_id}/usage": func() answer {
			return f.do(f.tokenB, "GET", "/api/v1/apps/"+appID+"/usage?format=csv", "")
		},
		"GET /api/v1/usage":         func() answer { return f.do(f.tokenB, "GET", "/api/v1/usage?format=csv", "") },
		"GET /api/v1/usage/current": func() answer { return f.do(f.tokenB, "GET", "/api/v1/usage/current", "") },
		"GET /api/v1/billing":       func() answer { return f.do(f.tokenB, "GET", "/api/v1/billing", "") },
		"PUT /api/v1/billing/contact": func() answer {
			return f.do(f.tokenB, "PUT", "/api/v1/billing/contact", `{"url":"https://b.example/billing"}`)
		},
		"GET /api/v1/audit":  func() answer { return f.do(f.tokenB, "GET", "/api/v1/audit", "") },
		"GET /api/v1/tokens": func() answer { return f.do(f.tokenB, "GET", "/api/v1/tokens", "") },
		"POST /api/v1/tokens": func() answer {
			return f.do(f.tokenB, "POST", "/api/v1/tokens", `{"name":"b"}`)
		},
		"DELETE /api/v1/tokens/{token_id}": func() answer {
			return f.do(f.tokenB, "DELETE", "/api/v1/tokens/"+tokenID, "")
		},
	}
	for _, r := range f.api.Routes() {
		name := r[0] + " " + r[1]
		run, ok := cases[name]
		if !ok {
			t.Errorf("no isolation case for %s", name)
			continue
		}
		a := run()
		if strings.Contains(name, "{") && a.status != http.StatusNotFound {
			t.Errorf("%s on tenant A's object as tenant B: %d %s, want 404", name, a.status, a.raw)
		}
		for _, s := range secretsOfA {
			if strings.Contains(a.raw, s) {
				t.Errorf("%s as tenant B shows tenant A's %q: %s", name, s, a.raw)
			}
		}
	}
	// And A's things are all still there, unchanged.
	got := f.do(f.tokenA, "GET", "/api/v1/apps/"+appID, "")
	f.want(got, 200, "")
	if got.body["enabled"] != true || !strings.Contains(got.raw, key) || !strings.Contains(got.raw, "a.example") {
		t.Fatalf("tenant A's app changed: %s", got.raw)
	}
	f.want(f.do(f.tokenA, "GET", "/api/v1/tenant", ""), 200, "")
}

// The OpenAPI document and the routes describe the same API.
func TestOpenAPIMatchesRoutes(t *testing.T) { eachStore(t, testOpenAPIMatchesRoutes) }

func testOpenAPIMatchesRoutes(t *testing.T, f *fixture) {
	a := f.do("", "GET", "/api/v1/openapi.yaml", "")
	f.want(a, 200, "")
	var doc struct {
		OpenAPI string                            `yaml:"openapi"`
		Paths   map[string]map[string]interface{} `yaml:"paths"`
	}
	if err := yaml.Unmarshal([]byte(a.raw), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	var documented, served []string
	for path, ops := range doc.Paths {
		for m := range ops {
			if m == "parameters" {
				continue
			}
			documented = append(documented, strings.ToUpper(m)+" "+path)
		}
	}
	for _, r := range f.api.Routes() {
		served = append(served, r[0]+" "+r[1])
	}
	sort.Strings(documented)
	sort.Strings(served)
	if strings.Join(documented, "\n") != strings.Join(served, "\n") {
		t.Fatalf("openapi.yaml and the routes differ:\ndocumented:\n%s\nserved:\n%s", strings.Join(documented, "\n"), strings.Join(served, "\n"))
	}
}

func FuzzAppSettingsBody(f *testing.F) {
	for _, s := range []string{`{"name":"x","limits":{"max_connections":5}}`, `{"allowed_origins":null}`, `[]`, `{"limits":"x"}`, `{"name":"a"}{}`} {
		f.Add([]byte(s))
	}
	store := tenants.NewMemoryStore()
	api := dashboard.NewAPI(dashboard.Options{Store: store})
	tn, _ := store.CreateTenant(f.Context(), "fuzz", tenants.DefaultPlanID, "test")
	_, tok, _ := store.CreateToken(f.Context(), tn.ID, "fuzz", "test")
	// PATCH goes to a real app so that bodies reach validation and the write.
	app, _, err := store.CreateApp(f.Context(), tn.ID, &tenants.App{Name: "fuzz"}, "test")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, m := range []string{"POST", "PATCH"} {
			path := "/api/v1/apps"
			if m == "PATCH" {
				path = "/api/v1/apps/" + app.ID
			}
			req := httptest.NewRequest(m, path, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			api.ServeHTTP(w, req)
			if w.Code >= 500 {
				t.Fatalf("%s %q: %d %s", m, body, w.Code, w.Body)
			}
		}
	})
}
