package dashboard_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard-rt/switchboard/accounts"
	"github.com/switchboard-rt/switchboard/dashboard"
	"github.com/switchboard-rt/switchboard/tenants"
)

// A developer creates, configures, rotates, disables and deletes an app
// through the forms; every change is in the audit log under their name.
func TestUIAppLifecycle(t *testing.T) {
	eachUIStore(t, dashboard.UIOptions{}, func(t *testing.T, f *uiFixture) {
		dev := f.user(f.tenantA, "dev@example.com", accounts.RoleDeveloper)
		b := f.signIn(dev.Email)
		ctx := t.Context()
		f.want(b.get("/dashboard/apps"), 200, "No apps yet")
		f.want(b.get("/dashboard/apps/new"), 200, `<label for="name">Name</label>`)
		f.want(b.form("/dashboard/apps", "name", "  "), 400, "must not be empty")

		p := b.form("/dashboard/apps", "name", "Chat <prod>")
		if p.status != http.StatusSeeOther || !strings.HasSuffix(p.location, "?done=created") {
			t.Fatalf("create: %d %s", p.status, p.body)
		}
		apps, _ := f.store.TenantApps(ctx, f.tenantA.ID)
		if len(apps) != 1 {
			t.Fatalf("apps: %+v", apps)
		}
		app := apps[0]
		detail := b.get(p.location)
		f.want(detail, 200, "App created.")
		host := strings.TrimPrefix(f.srv.URL, "http://")
		h, port, _ := strings.Cut(host, ":")
		for _, s := range []string{app.ID, app.Key(), app.Secret(), "Chat &lt;prod&gt;", `data-copy="secret-0"`,
			`wsHost: "` + h + `"`, "wsPort: " + port, `secret: "` + app.Secret(), "forceTLS: false"} {
			if !strings.Contains(detail.body, s) {
				t.Errorf("app page lacks %q", s)
			}
		}
		if detail.header.Get("Cache-Control") != "no-store" || !strings.Contains(detail.header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("app page headers: %v", detail.header)
		}
		f.want(b.get("/dashboard/apps"), 200, "Chat &lt;prod&gt;")

		settings := formFor(app.ID)["/dashboard/apps/{app_id}/settings"]
		form := []string{"enable_client_messages", "on", "allowed_origins", "https://a.example\nhttps://*.b.example"}
		for k, v := range settings {
			form = append(form, k, v[0])
		}
		// History is off by default; the form turns it on, past what the
		// free plan allows.
		f.want(detail, 200, `<small id="history_max_events-eff">in effect: 0 `)
		form = append(form, "history_max_events", "5000", "history_max_age_seconds", "-1")
		p = b.form("/dashboard/apps/"+app.ID+"/settings", form...)
		if p.status != http.StatusSeeOther {
			t.Fatalf("settings: %d %s", p.status, p.body)
		}
		got, _ := f.store.AppSettings(ctx, f.tenantA.ID, app.ID)
		if got.Name != "renamed" || !got.EnableClientMessages || got.EnableUserAuthentication || got.MaxConnections != 5 ||
			got.MaxPresenceMemberSizeInKB != 2 || len(got.AllowedOrigins) != 2 || got.AllowedOrigins[1] != "https://*.b.example" ||
			got.HistoryMaxEvents != 5000 || got.HistoryMaxAgeSeconds != -1 {
			t.Fatalf("settings after the form: %+v", got)
		}
		// The page shows the app's own value and the one in effect under
		// the plan's cap.
		page := b.get("/dashboard/apps/" + app.ID)
		for _, s := range []string{`name="history_max_events" inputmode="decimal" required value="5000"`,
			`<small id="history_max_events-eff">in effect: 100 `, `<small id="history_max_age_seconds-eff">in effect: 3600 `} {
			if !strings.Contains(page.body, s) {
				t.Errorf("app page lacks %q", s)
			}
		}
		negative := append([]string{}, form...)
		negative[len(negative)-3] = "-3" // history_max_events
		f.want(b.form("/dashboard/apps/"+app.ID+"/settings", negative...), 400, "history_max_events")
		bad := append([]string{}, form...)
		for i := range bad {
			if bad[i] == "max_connections" {
				bad[i+1] = "lots"
			}
		}
		f.want(b.form("/dashboard/apps/"+app.ID+"/settings", bad...), 400, "must be a whole number")

		if p := b.form("/dashboard/apps/"+app.ID+"/enabled", "enabled", "false"); p.status != http.StatusSeeOther {
			t.Fatalf("disable: %d", p.status)
		}
		if got, _ := f.store.AppSettings(ctx, f.tenantA.ID, app.ID); got.Enabled {
			t.Fatal("app still enabled")
		}
		f.want(b.get("/dashboard/apps/"+app.ID+"?done=disabled"), 200, "Enable app")
		b.form("/dashboard/apps/"+app.ID+"/enabled", "enabled", "true")

		f.want(b.form("/dashboard/apps/"+app.ID+"/keys/"+app.Key()+"/revoke"), 409, "only active key")
		if p := b.form("/dashboard/apps/" + app.ID + "/keys"); p.status != http.StatusSeeOther {
			t.Fatalf("new key: %d", p.status)
		}
		if p := b.form("/dashboard/apps/" + app.ID + "/keys/" + app.Key() + "/revoke"); p.status != http.StatusSeeOther {
			t.Fatalf("revoke: %d %s", p.status, p.body)
		}
		keys, _ := f.store.Keys(ctx, f.tenantA.ID, app.ID)
		if len(keys) != 2 || keys[0].Status != tenants.KeyRevoked || keys[1].Status != tenants.KeyActive {
			t.Fatalf("keys after rotation: %+v", keys)
		}
		// The revoked key's secret is gone from the page.
		if strings.Contains(b.get("/dashboard/apps/"+app.ID).body, app.Secret()) {
			t.Error("the revoked key's secret is still shown")
		}

		hooks := "/dashboard/apps/" + app.ID + "/webhooks"
		f.want(b.form(hooks, "url", "ftp://x.example", "event_types", "channel_occupied"), 400, "absolute http or https URL")
		f.want(b.form(hooks, "url", "https://x.example/h"), 400, "choose at least one event type")
		if p := b.form(hooks, "url", "https://x.example/h", "event_types", "channel_occupied", "event_types", "member_added",
			"channel_name_starts_with", "presence-"); p.status != http.StatusSeeOther {
			t.Fatalf("add webhook: %d %s", p.status, p.body)
		}
		f.want(b.get("/dashboard/apps/"+app.ID), 200, "channel_occupied, member_added")
		got, _ = f.store.AppSettings(ctx, f.tenantA.ID, app.ID)
		if len(got.Webhooks) != 1 || got.Webhooks[0].Filter == nil || got.Webhooks[0].Filter.ChannelNameStartsWith != "presence-" || got.Name != "renamed" {
			t.Fatalf("after adding a webhook: %+v", got)
		}
		f.want(b.form(hooks+"/remove", "index", "0", "url", "https://other.example/"), 409, "changed meanwhile")
		if p := b.form(hooks+"/remove", "index", "0", "url", "https://x.example/h"); p.status != http.StatusSeeOther {
			t.Fatalf("remove webhook: %d %s", p.status, p.body)
		}
		if got, _ := f.store.AppSettings(ctx, f.tenantA.ID, app.ID); len(got.Webhooks) != 0 {
			t.Fatalf("webhook not removed: %+v", got.Webhooks)
		}

		f.want(b.get("/dashboard/apps/"+app.ID+"/delete"), 200, "Type the app id")
		f.want(b.form("/dashboard/apps/"+app.ID+"/delete", "confirm", "yes"), 400, "Type the app id exactly")
		if p := b.form("/dashboard/apps/"+app.ID+"/delete", "confirm", app.ID); p.status != http.StatusSeeOther || p.location != "/dashboard/apps?done=deleted" {
			t.Fatalf("delete: %d %q", p.status, p.location)
		}
		if _, err := f.store.TenantApp(ctx, f.tenantA.ID, app.ID); err == nil {
			t.Fatal("app still there after delete")
		}
		f.want(b.get("/dashboard/apps/"+app.ID), 404, "no such app")

		entries, _ := f.store.Audit(ctx, f.tenantA.ID, 100)
		actions := map[string]int{}
		for _, e := range entries {
			if e.Action == tenants.ActionTenantCreate {
				continue // the fixture's
			}
			if e.Actor != "user:"+dev.ID {
				t.Errorf("audit entry by %q, want user:%s", e.Actor, dev.ID)
			}
			for _, s := range []string{app.Secret(), keys[1].Key + `","secret`} {
				if strings.Contains(string(e.Detail), s) {
					t.Errorf("audit detail holds a secret: %s", e.Detail)
				}
			}
			actions[e.Action]++
		}
		for _, a := range []string{tenants.ActionAppCreate, tenants.ActionAppUpdate, tenants.ActionKeyCreate, tenants.ActionKeyRevoke, tenants.ActionAppDelete} {
			if actions[a] == 0 {
				t.Errorf("no %s in the audit log: %v", a, actions)
			}
		}
	})
}

func TestUIPlanLimitAndSuspension(t *testing.T) {
	eachUIStore(t, dashboard.UIOptions{}, func(t *testing.T, f *uiFixture) {
		f.user(f.tenantA, "a@example.com", accounts.RoleOwner)
		b := f.signIn("a@example.com")
		for i := range 3 { // the free plan's max_apps
			f.app(f.tenantA, "app"+string(rune('0'+i)))
		}
		f.want(b.form("/dashboard/apps", "name", "fourth"), 400, "Your plan allows no more apps")
		if err := f.store.SetTenantStatus(t.Context(), f.tenantA.ID, tenants.TenantSuspended, "test"); err != nil {
			t.Fatal(err)
		}
		f.want(b.get("/dashboard/apps"), 200, "suspended")
		f.want(b.form("/dashboard/team", "email", "v@example.com", "role", "viewer", "password", password), 403, "suspended")
		// Signing out still works.
		if p := b.form("/dashboard/sign-out"); p.status != http.StatusSeeOther {
			t.Fatalf("sign-out while suspended: %d", p.status)
		}
	})
}

func TestUITeam(t *testing.T) {
	eachUIStore(t, dashboard.UIOptions{}, func(t *testing.T, f *uiFixture) {
		owner := f.user(f.tenantA, "owner@example.com", accounts.RoleOwner)
		f.user(f.tenantB, "taken@example.com", accounts.RoleViewer)
		b := f.signIn(owner.Email)
		ctx := t.Context()
		f.want(b.get("/dashboard/team"), 200, "Add a member")
		f.want(b.form("/dashboard/team", "email", "taken@example.com", "role", "viewer", "password", password), 400, "exists already")
		f.want(b.form("/dashboard/team", "email", "v@example.com", "role", "admin", "password", password), 400, "choose owner, developer or viewer")
		f.want(b.form("/dashboard/team", "email", "v@example.com", "role", "viewer", "password", "short"), 400, "at least 10")
		if p := b.form("/dashboard/team", "email", "V@example.com", "role", "viewer", "password", password); p.status != http.StatusSeeOther {
			t.Fatalf("add member: %d %s", p.status, p.body)
		}
		v, err := f.accts.UserByEmail(ctx, "v@example.com")
		if err != nil || v.TenantID != f.tenantA.ID || v.Role != accounts.RoleViewer {
			t.Fatalf("new member: %+v %v", v, err)
		}
		viewer := f.signIn("v@example.com")
		f.want(viewer.get("/dashboard/team"), 200, "owner@example.com")
		if strings.Contains(viewer.get("/dashboard/team").body, "Add a member") {
			t.Error("the viewer is offered the add form")
		}

		// The team always keeps an owner.
		f.want(b.form("/dashboard/team/"+owner.ID+"/role", "role", "developer"), 409, "needs an owner")
		f.want(b.form("/dashboard/team/"+owner.ID+"/remove"), 409, "needs an owner")
		if p := b.form("/dashboard/team/"+v.ID+"/role", "role", "developer"); p.status != http.StatusSeeOther {
			t.Fatalf("role: %d %s", p.status, p.body)
		}
		if u, _ := f.accts.UserByEmail(ctx, "v@example.com"); u.Role != accounts.RoleDeveloper {
			t.Fatalf("role after change: %s", u.Role)
		}
		// The role applies to the member's live session at once.
		f.want(viewer.get("/dashboard/apps/new"), 200, "Create an app")

		if p := b.form("/dashboard/team/" + v.ID + "/remove"); p.status != http.StatusSeeOther {
			t.Fatalf("remove: %d %s", p.status, p.body)
		}
		if p := viewer.get("/dashboard/apps"); p.status != http.StatusSeeOther {
			t.Fatalf("a removed member's session still works: %d", p.status)
		}

		// Team changes are in the tenant's audit log, without passwords.
		entries, _ := f.store.Audit(ctx, f.tenantA.ID, 100)
		var got []string
		for _, e := range entries {
			if e.Action == tenants.ActionTenantCreate {
				continue
			}
			var d struct{ Email, Role string }
			_ = json.Unmarshal(e.Detail, &d) // jsonb reorders keys
			got = append(got, e.Actor+" "+e.Action+" "+e.Target+" "+d.Email+" "+d.Role)
			if strings.Contains(string(e.Detail), "argon2") || strings.Contains(string(e.Detail), password) {
				t.Errorf("audit detail holds a password: %s", e.Detail)
			}
		}
		want := []string{
			"user:" + owner.ID + " user.remove " + v.ID + " v@example.com developer",
			"user:" + owner.ID + " user.role " + v.ID + " v@example.com developer",
			"user:" + owner.ID + " user.create " + v.ID + " v@example.com viewer",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("audit log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// The default tenant's owner runs the server: it lists tenants and
// suspends or reactivates them; nobody else may.
func TestUIAdmin(t *testing.T) {
	eachUIStore(t, dashboard.UIOptions{}, func(t *testing.T, f *uiFixture) {
		ctx := t.Context()
		def, err := f.store.Tenant(ctx, tenants.DefaultTenantID)
		if err != nil {
			t.Fatal(err)
		}
		f.user(def, "op@example.com", accounts.RoleOwner)
		f.user(def, "opdev@example.com", accounts.RoleDeveloper)
		f.user(f.tenantA, "a@example.com", accounts.RoleOwner)
		op, a, opdev := f.signIn("op@example.com"), f.signIn("a@example.com"), f.signIn("opdev@example.com")

		f.want(op.get("/dashboard/apps"), 200, `href="/dashboard/admin"`)
		if strings.Contains(a.get("/dashboard/apps").body, `href="/dashboard/admin"`) {
			t.Error("a tenant's owner is offered the admin page")
		}
		list := op.get("/dashboard/admin")
		f.want(list, 200, "Tenant A")
		f.want(list, 200, "Tenant B")
		for _, b := range []*browser{a, opdev} {
			f.want(b.get("/dashboard/admin"), 403, "does not allow this")
			f.want(b.form("/dashboard/admin/tenants/"+f.tenantB.ID+"/status", "status", "suspended"), 403, "does not allow this")
		}
		if tn, _ := f.store.Tenant(ctx, f.tenantB.ID); tn.Status != tenants.TenantActive {
			t.Fatalf("a refused suspension happened: %s", tn.Status)
		}

		if p := op.form("/dashboard/admin/tenants/"+f.tenantA.ID+"/status", "status", "suspended"); p.status != http.StatusSeeOther {
			t.Fatalf("suspend: %d %s", p.status, p.body)
		}
		if tn, _ := f.store.Tenant(ctx, f.tenantA.ID); tn.Status != tenants.TenantSuspended {
			t.Fatalf("status after suspend: %s", tn.Status)
		}
		f.want(a.get("/dashboard/apps"), 200, "This account is suspended")
		f.want(op.form("/dashboard/admin/tenants/"+f.tenantA.ID+"/status", "status", "past_due"), 400, "active or suspended")
		f.want(op.form("/dashboard/admin/tenants/"+tenants.DefaultTenantID+"/status", "status", "suspended"), 409, "cannot be suspended")
		f.want(op.form("/dashboard/admin/tenants/tn_nope/status", "status", "active"), 404, "")
		if p := op.form("/dashboard/admin/tenants/"+f.tenantA.ID+"/status", "status", "active"); p.status != http.StatusSeeOther {
			t.Fatalf("reactivate: %d", p.status)
		}
		if tn, _ := f.store.Tenant(ctx, f.tenantA.ID); tn.Status != tenants.TenantActive {
			t.Fatalf("status after reactivation: %s", tn.Status)
		}
		entries, _ := f.store.Audit(ctx, f.tenantA.ID, 10)
		if len(entries) < 2 || entries[0].Action != tenants.ActionTenantStatus || !strings.HasPrefix(entries[0].Actor, "user:") {
			t.Fatalf("audit: %+v", entries)
		}
	})
}
