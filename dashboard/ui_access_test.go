package dashboard_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/switchboard-rt/switchboard/accounts"
	"github.com/switchboard-rt/switchboard/dashboard"
	"github.com/switchboard-rt/switchboard/tenants"
)

// resolve fills a route pattern's {parameters} from ids.
func resolve(pattern string, ids map[string]string) string {
	p := strings.ReplaceAll(pattern, "{$}", "")
	for k, v := range ids {
		p = strings.ReplaceAll(p, "{"+k+"}", url.PathEscape(v))
	}
	return p
}

// formFor is a valid form for each POST route, so that a refusal can only
// come from who asks, never from what they sent. A route without an
// entry fails the tests that walk every route.
func formFor(appID string) map[string]url.Values {
	return map[string]url.Values{
		"/dashboard/setup":    {"email": {"x@example.com"}, "password": {password}},
		"/dashboard/sign-in":  {"email": {"x@example.com"}, "password": {password}},
		"/dashboard/sign-up":  {"name": {"X"}, "email": {"x@example.com"}, "password": {password}},
		"/dashboard/sign-out": {},
		"/dashboard/apps":     {"name": {"new app"}},
		"/dashboard/apps/{app_id}/settings": {"name": {"renamed"}, "max_connections": {"5"}, "max_client_events_per_second": {"10"},
			"max_backend_events_per_second": {"-1"}, "max_read_requests_per_second": {"-1"}, "max_presence_members_per_channel": {"100"},
			"max_presence_member_size_in_kb": {"2"}, "max_channel_name_length": {"200"}, "max_event_channels_at_once": {"100"},
			"max_event_name_length": {"200"}, "max_event_payload_in_kb": {"10"}, "max_event_batch_size": {"10"}, "user_authentication_timeout": {"30"}},
		"/dashboard/apps/{app_id}/enabled":            {"enabled": {"false"}},
		"/dashboard/apps/{app_id}/delete":             {"confirm": {appID}},
		"/dashboard/apps/{app_id}/keys":               {},
		"/dashboard/apps/{app_id}/webhooks":           {"url": {"https://hooks.example/x"}, "event_types": {"channel_occupied"}},
		"/dashboard/apps/{app_id}/webhooks/remove":    {"index": {"0"}, "url": {"https://a.example/hook"}},
		"/dashboard/apps/{app_id}/keys/{key}/revoke":  {},
		"/dashboard/account/password":                 {"current": {password}, "password": {"another long password"}},
		"/dashboard/team":                             {"email": {"new@example.com"}, "role": {"viewer"}, "password": {password}},
		"/dashboard/admin/tenants/{tenant_id}/status": {"status": {"suspended"}},
		"/dashboard/team/{user_id}/role":              {"role": {"viewer"}},
		"/dashboard/team/{user_id}/remove":            {},
		"/dashboard/apps/{app_id}/console/events":     {"channel": {"my-channel"}, "event": {"my-event"}, "data": {`{"a":1}`}},
		"/dashboard/apps/{app_id}/webhooks/test":      {"url": {"https://a.example/hook"}},
		"/dashboard/admin/tenants/{tenant_id}/plan":   {"plan_id": {"pro"}},
	}
}

// withCSRF copies v and adds token.
func withCSRF(v url.Values, token string) url.Values {
	c := url.Values{"csrf": {token}}
	for k, x := range v {
		c[k] = x
	}
	return c
}

// Every POST without the session's CSRF token, or with another session's,
// is refused and changes nothing.
func TestUICSRF(t *testing.T) {
	eachUIStore(t, withExtras(dashboard.UIOptions{AllowSignUp: true}), func(t *testing.T, f *uiFixture) {
		owner := f.user(f.tenantA, "a@example.com", accounts.RoleOwner)
		dev := f.user(f.tenantA, "dev@example.com", accounts.RoleDeveloper)
		appID, key, _ := f.app(f.tenantA, "csrf")
		if _, err := f.store.CreateKey(t.Context(), f.tenantA.ID, appID, "test"); err != nil {
			t.Fatal(err)
		}
		ids := map[string]string{"app_id": appID, "key": key, "user_id": dev.ID, "tenant_id": f.tenantB.ID}
		b := f.signIn(owner.Email)
		otherSession := f.signIn(dev.Email).token("/dashboard/apps")
		forms := formFor(appID)
		for _, r := range f.ui.Routes() {
			if r[0] != "POST" {
				continue
			}
			form, ok := forms[r[1]]
			if !ok {
				t.Errorf("no form for %s", r[1])
				continue
			}
			path := resolve(r[1], ids)
			for name, tok := range map[string]string{"none": "", "other session's": otherSession, "garbage": "x"} {
				v := withCSRF(form, tok)
				if tok == "" {
					v.Del("csrf")
				}
				if p := b.post(path, v); p.status != http.StatusForbidden || !strings.Contains(p.body, "This form has expired") {
					t.Errorf("POST %s with %s token: %d, want 403", r[1], name, p.status)
				}
			}
		}
		// Nothing changed, and the session still works.
		app, err := f.store.AppSettings(t.Context(), f.tenantA.ID, appID)
		if err != nil || app.Name != "csrf" || !app.Enabled {
			t.Fatalf("app after refused forms: %+v %v", app, err)
		}
		if keys, _ := f.store.Keys(t.Context(), f.tenantA.ID, appID); len(keys) != 2 || keys[0].Status != "active" {
			t.Fatalf("keys after refused forms: %+v", keys)
		}
		if us, _ := f.accts.TenantUsers(t.Context(), f.tenantA.ID); len(us) != 2 || us[1].Role != accounts.RoleDeveloper {
			t.Fatalf("team after refused forms: %+v", us)
		}
		f.want(b.get("/dashboard/apps"), 200, "csrf")
	})
}

// minRole is the least role each signed-in route needs.
var minRole = map[string]accounts.Role{
	"POST /dashboard/sign-out":                        accounts.RoleViewer,
	"GET /dashboard/apps":                             accounts.RoleViewer,
	"GET /dashboard/apps/new":                         accounts.RoleDeveloper,
	"POST /dashboard/apps":                            accounts.RoleDeveloper,
	"GET /dashboard/apps/{app_id}":                    accounts.RoleViewer,
	"POST /dashboard/apps/{app_id}/settings":          accounts.RoleDeveloper,
	"POST /dashboard/apps/{app_id}/enabled":           accounts.RoleDeveloper,
	"GET /dashboard/apps/{app_id}/delete":             accounts.RoleDeveloper,
	"POST /dashboard/apps/{app_id}/delete":            accounts.RoleDeveloper,
	"POST /dashboard/apps/{app_id}/keys":              accounts.RoleDeveloper,
	"POST /dashboard/apps/{app_id}/webhooks":          accounts.RoleDeveloper,
	"POST /dashboard/apps/{app_id}/webhooks/remove":   accounts.RoleDeveloper,
	"POST /dashboard/apps/{app_id}/keys/{key}/revoke": accounts.RoleDeveloper,
	"GET /dashboard/account":                          accounts.RoleViewer,
	"POST /dashboard/account/password":                accounts.RoleViewer,
	"GET /dashboard/team":                             accounts.RoleViewer,
	"POST /dashboard/team":                            accounts.RoleOwner,
	"POST /dashboard/team/{user_id}/role":             accounts.RoleOwner,
	"POST /dashboard/team/{user_id}/remove":           accounts.RoleOwner,
	"GET /dashboard/apps/{app_id}/console":            accounts.RoleViewer,
	"GET /dashboard/apps/{app_id}/console/stream":     accounts.RoleViewer,
	"POST /dashboard/apps/{app_id}/console/events":    accounts.RoleDeveloper,
	"GET /dashboard/apps/{app_id}/webhooks":           accounts.RoleViewer,
	"POST /dashboard/apps/{app_id}/webhooks/test":     accounts.RoleDeveloper,
	"GET /dashboard/apps/{app_id}/usage":              accounts.RoleViewer,
	"GET /dashboard/usage":                            accounts.RoleViewer,
}

// operatorRoutes need an owner of the default tenant: every user of
// another tenant, whatever the role, is refused.
var operatorRoutes = map[string]bool{
	"GET /dashboard/admin": true, "POST /dashboard/admin/tenants/{tenant_id}/status": true,
	"POST /dashboard/admin/tenants/{tenant_id}/plan": true,
}

var publicRoutes = map[string]bool{
	"GET /dashboard/{$}": true, "POST /dashboard/setup": true, "GET /dashboard/sign-in": true,
	"POST /dashboard/sign-in": true, "GET /dashboard/sign-up": true, "POST /dashboard/sign-up": true,
}

func rank(r accounts.Role) int {
	switch r {
	case "operator":
		return 4
	case accounts.RoleOwner:
		return 3
	case accounts.RoleDeveloper:
		return 2
	case accounts.RoleViewer:
		return 1
	}
	return 0
}

// A role below a route's need gets 403 and changes nothing; viewers never
// see a secret.
func TestUIRoles(t *testing.T) {
	eachUIStore(t, withExtras(dashboard.UIOptions{}), func(t *testing.T, f *uiFixture) {
		f.user(f.tenantA, "owner@example.com", accounts.RoleOwner)
		target := f.user(f.tenantA, "target@example.com", accounts.RoleDeveloper)
		appID, key, secret := f.app(f.tenantA, "roles")
		if _, err := f.store.CreateKey(t.Context(), f.tenantA.ID, appID, "test"); err != nil {
			t.Fatal(err)
		}
		ids := map[string]string{"app_id": appID, "key": key, "user_id": target.ID, "tenant_id": f.tenantB.ID}
		forms := formFor(appID)
		for _, role := range []accounts.Role{accounts.RoleViewer, accounts.RoleDeveloper} {
			f.user(f.tenantA, string(role)+"@example.com", role)
			b := f.signIn(string(role) + "@example.com")
			for _, r := range f.ui.Routes() {
				name := r[0] + " " + r[1]
				need, ok := minRole[name]
				if operatorRoutes[name] {
					need, ok = "operator", true
				}
				if !ok {
					if !publicRoutes[name] {
						t.Errorf("no role for %s", name)
					}
					continue
				}
				if rank(role) >= rank(need) {
					continue
				}
				var p page
				if r[0] == "GET" {
					p = b.get(resolve(r[1], ids))
				} else {
					p = b.post(resolve(r[1], ids), withCSRF(forms[r[1]], b.token("/dashboard/apps")))
				}
				if p.status != http.StatusForbidden || !strings.Contains(p.body, "does not allow this") {
					t.Errorf("%s as %s: %d, want 403", name, role, p.status)
				}
				if strings.Contains(p.body, secret) {
					t.Errorf("%s as %s shows the secret", name, role)
				}
			}
			detail := b.get("/dashboard/apps/" + appID)
			f.want(detail, 200, key)
			if !role.CanSeeSecrets() && !strings.Contains(detail.body, "YOUR_APP_SECRET") {
				t.Error("the viewer's snippets lack the secret placeholder")
			}
			if role.CanSeeSecrets() != strings.Contains(detail.body, secret) {
				t.Errorf("%s sees the secret: %v", role, strings.Contains(detail.body, secret))
			}
			if role == accounts.RoleViewer && (strings.Contains(detail.body, "Save settings") || strings.Contains(detail.body, "Revoke")) {
				t.Error("the viewer's app page offers changes")
			}
		}
		app, _ := f.store.AppSettings(t.Context(), f.tenantA.ID, appID)
		if app.Name != "roles" || !app.Enabled {
			t.Fatalf("app changed by a refused role: %+v", app)
		}
		if keys, _ := f.store.Keys(t.Context(), f.tenantA.ID, appID); keys[0].Status != "active" {
			t.Fatalf("key revoked by a refused role: %+v", keys)
		}
		if us, _ := f.accts.TenantUsers(t.Context(), f.tenantA.ID); len(us) != 4 || us[1].Role != accounts.RoleDeveloper {
			t.Fatalf("team changed by a refused role: %+v", us)
		}
	})
}

// Tenant B's owner must not read or change anything of tenant A's through
// any route, with every parameter set to A's objects. A route added
// without a case in formFor or minRole fails here or in TestUIRoles.
func TestUITenantIsolation(t *testing.T) {
	eachUIStore(t, withExtras(dashboard.UIOptions{AllowSignUp: true}), func(t *testing.T, f *uiFixture) {
		ownerA := f.user(f.tenantA, "a@example.com", accounts.RoleOwner)
		devA := f.user(f.tenantA, "dev-a@example.com", accounts.RoleDeveloper)
		f.user(f.tenantB, "b@example.com", accounts.RoleOwner)
		appID, key, secret := f.app(f.tenantA, "private-of-a")
		key2, err := f.store.CreateKey(t.Context(), f.tenantA.ID, appID, "test")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.UpdateApp(t.Context(), f.tenantA.ID, withHook(t, f, appID), "test"); err != nil {
			t.Fatal(err)
		}
		ids := map[string]string{"app_id": appID, "key": key, "user_id": devA.ID, "tenant_id": f.tenantA.ID}
		secretsOfA := []string{appID, key, secret, key2.Key, key2.Secret, "private-of-a", "Tenant A", ownerA.Email, devA.Email, devA.ID, "a.example"}
		forms := formFor(appID)
		b := f.signIn("b@example.com")
		for _, r := range f.ui.Routes() {
			name := r[0] + " " + r[1]
			if r[1] == "/dashboard/sign-out" {
				continue // ends B's session; covered by TestUISignInAndOut
			}
			var p page
			if r[0] == "GET" {
				p = b.get(resolve(r[1], ids))
			} else {
				form, ok := forms[r[1]]
				if !ok {
					t.Errorf("no form for %s", name)
					continue
				}
				// Public forms go from a browser of their own: signing up
				// would replace B's session.
				if publicRoutes[name] {
					anon := f.browser()
					p = anon.post(resolve(r[1], ids), withCSRF(form, anon.token("/dashboard/sign-in")))
				} else {
					p = b.post(resolve(r[1], ids), withCSRF(form, b.token("/dashboard/apps")))
				}
			}
			if strings.Contains(r[1], "{app_id}") || strings.Contains(r[1], "{user_id}") {
				if p.status != http.StatusNotFound {
					t.Errorf("%s on tenant A's object as tenant B: %d, want 404", name, p.status)
				}
			}
			if operatorRoutes[name] && p.status != http.StatusForbidden {
				t.Errorf("%s as tenant B's owner: %d, want 403 (not the operator)", name, p.status)
			}
			for _, s := range secretsOfA {
				if strings.Contains(p.body, s) || strings.Contains(p.location, s) {
					t.Errorf("%s as tenant B shows tenant A's %q", name, s)
				}
			}
		}
		// A's things are all still there, unchanged.
		app, err := f.store.AppSettings(t.Context(), f.tenantA.ID, appID)
		if err != nil || app.Name != "private-of-a" || !app.Enabled || app.MaxConnections == 5 {
			t.Fatalf("tenant A's app changed: %+v %v", app, err)
		}
		if keys, _ := f.store.Keys(t.Context(), f.tenantA.ID, appID); len(keys) != 2 || keys[0].Status != "active" {
			t.Fatalf("tenant A's keys changed: %+v", keys)
		}
		if len(app.Webhooks) != 1 {
			t.Fatalf("tenant A's webhooks changed: %+v", app.Webhooks)
		}
		if tested := f.extras.tester.calls(); len(tested) != 0 {
			t.Fatalf("test webhooks sent for tenant A's app by tenant B: %v", tested)
		}
		if n := f.extras.published(); n != 0 {
			t.Fatalf("%d events published by tenant B", n)
		}
		if tn, _ := f.store.Tenant(t.Context(), f.tenantA.ID); tn.Status != tenants.TenantActive || tn.PlanID != tenants.FreePlanID {
			t.Fatalf("tenant A's status changed: %s", tn.Status)
		}
		if us, _ := f.accts.TenantUsers(t.Context(), f.tenantA.ID); len(us) != 2 || us[1].Role != accounts.RoleDeveloper {
			t.Fatalf("tenant A's team changed: %+v", us)
		}
		if apps, _ := f.store.TenantApps(t.Context(), f.tenantB.ID); len(apps) != 1 || apps[0].Name != "new app" {
			t.Fatalf("tenant B's apps: %+v (its own create should have worked)", apps)
		}
	})
}

// withHook is app id's settings with a webhook to a.example.
func withHook(t *testing.T, f *uiFixture, id string) *tenants.App {
	t.Helper()
	a, err := f.store.AppSettings(t.Context(), f.tenantA.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	c := *a
	c.Webhooks = []tenants.Webhook{{URL: "https://a.example/hook", EventTypes: []string{"channel_vacated"}}}
	return &c
}
