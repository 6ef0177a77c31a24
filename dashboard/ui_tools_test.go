package dashboard_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/switchboard-rt/switchboard/accounts"
	"github.com/switchboard-rt/switchboard/dashboard"
	"github.com/switchboard-rt/switchboard/tenants"
)

// The event creator refuses what the HTTP API would refuse, with the
// field named, and publishes nothing then.
func TestUIEventCreatorErrors(t *testing.T) {
	eachUIStore(t, withExtras(dashboard.UIOptions{}), func(t *testing.T, f *uiFixture) {
		f.user(f.tenantA, "a@example.com", accounts.RoleOwner)
		appID, _, _ := f.app(f.tenantA, "ev")
		b := f.signIn("a@example.com")
		path := "/dashboard/apps/" + appID + "/console/events"
		for _, c := range []struct{ channel, event, data, want, field string }{
			{"bad channel!", "e", `{}`, "Channel: 1 to 164 characters", "channel"},
			{"ok", "", `{}`, "Event: 1 to 200 characters", "event"},
			{"ok", "pusher:subscribe", `{}`, "protocol&#39;s own", "event"},
			{"ok", "e", `{not json`, "Data must be JSON", "data"},
			{"ok", "e", `"` + strings.Repeat("x", 11000) + `"`, "Data: at most 10240 bytes", "data"},
		} {
			p := b.form(path, "channel", c.channel, "event", c.event, "data", c.data)
			f.want(p, http.StatusBadRequest, c.want)
			if !strings.Contains(p.body, `name="`+c.field+`" required`) && !strings.Contains(p.body, `id="ev-`+c.field+`"`) {
				t.Errorf("%s: the form is not shown again", c.want)
			}
			if !regexp.MustCompile(`id="ev-` + c.field + `"[^>]*aria-invalid="true"`).MatchString(p.body) {
				t.Errorf("%s: field %s not marked invalid", c.want, c.field)
			}
		}
		if n := f.extras.published(); n != 0 {
			t.Fatalf("%d events published by refused forms", n)
		}
		// Without script: a redirect back with a notice.
		p := b.form(path, "channel", "my-channel", "event", "my-event", "data", `{"a":1}`)
		if p.status != http.StatusSeeOther || p.location != "/dashboard/apps/"+appID+"/console?done=event-sent" {
			t.Fatalf("send: %d %s", p.status, p.location)
		}
		if n := f.extras.published(); n != 1 {
			t.Fatalf("%d events published, want 1", n)
		}
	})
}

// The usage pages draw the charts and meters from the Usage reader, and
// say so plainly when there is none.
func TestUIUsage(t *testing.T) {
	eachUIStore(t, withExtras(dashboard.UIOptions{}), func(t *testing.T, f *uiFixture) {
		f.user(f.tenantA, "a@example.com", accounts.RoleViewer)
		appID, _, _ := f.app(f.tenantA, "metered")
		f.app(f.tenantA, "second")
		b := f.signIn("a@example.com")
		p := b.get("/dashboard/apps/" + appID + "/usage")
		for _, want := range []string{"Messages by hour (last 48 hours)", "Peak concurrent connections by day (last 30 days)",
			`<svg viewBox="0 0 640 180" role="img"`, `class="val"`, "170,000 of 200,000 (85 %)", `class="meter warn"`,
			"past_due", `href="https://billing.stripe.test/p/session/` + f.tenantA.ID + `"`, "Free</strong> (free)", "reached 80 % of max_messages_per_day"} {
			f.want(p, 200, want)
		}
		if got := strings.Count(p.body, `<section aria-labelledby="`); got < 6 {
			t.Errorf("%d sections on the app's usage page", got)
		}
		// The app page shows one app's figures; the tenant page sums them.
		if !strings.Contains(p.body, "Total 480") { // 48 hours × 10 messages
			t.Errorf("the app's hourly total is not 480")
		}
		tp := b.get("/dashboard/usage")
		f.want(tp, 200, "Total 960")
		f.want(tp, 200, "second")

		f.extras.usage.fail = true
		f.want(b.get("/dashboard/apps/"+appID+"/usage"), 200, "Some usage figures could not be read")
	})
	eachUIStore(t, dashboard.UIOptions{}, func(t *testing.T, f *uiFixture) {
		f.user(f.tenantA, "a@example.com", accounts.RoleOwner)
		appID, _, _ := f.app(f.tenantA, "no-usage")
		b := f.signIn("a@example.com")
		f.want(b.get("/dashboard/usage"), 200, "Usage is not available on this server.")
		f.want(b.get("/dashboard/apps/"+appID+"/usage"), 200, "Usage is not available on this server.")
		f.want(b.get("/dashboard/apps/"+appID+"/console"), 200, "The debug console is not available on this server.")
		f.want(b.get("/dashboard/apps/"+appID+"/console/stream"), 503, "not available")
		f.want(b.get("/dashboard/apps/"+appID+"/webhooks"), 200, "Delivery records are not available")
	})
}

// The webhooks page lists recent deliveries and endpoint health; owners
// and developers send a test webhook to one of the app's own URLs.
func TestUIWebhooksPage(t *testing.T) {
	eachUIStore(t, withExtras(dashboard.UIOptions{}), func(t *testing.T, f *uiFixture) {
		f.user(f.tenantA, "a@example.com", accounts.RoleDeveloper)
		f.user(f.tenantA, "v@example.com", accounts.RoleViewer)
		appID, _, _ := f.app(f.tenantA, "hooked")
		if _, err := f.store.UpdateApp(t.Context(), f.tenantA.ID, withHook(t, f, appID), "test"); err != nil {
			t.Fatal(err)
		}
		dev, viewer := f.signIn("a@example.com"), f.signIn("v@example.com")
		path := "/dashboard/apps/" + appID + "/webhooks"
		p := dev.get(path)
		for _, want := range []string{"https://hooks.example/" + appID, "timeout awaiting headers", ">200<", "12 ms", "10000 ms",
			"channel_vacated", "5 failures in a row", "Send test webhook"} {
			f.want(p, 200, want)
		}
		vp := viewer.get(path)
		f.want(vp, 200, "may not send test webhooks")
		if strings.Contains(vp.body, "Send test webhook</button>") {
			t.Error("the viewer is offered the test button")
		}

		f.want(dev.form(path+"/test", "url", "https://elsewhere.example/"), 400, "Choose one of the app&#39;s webhook URLs.")
		res := dev.form(path+"/test", "url", "https://a.example/hook")
		f.want(res, 200, "Test webhook sent: the receiver answered 204.")
		f.want(res, 200, `id="test-result"`)
		if got := f.extras.tester.calls(); len(got) != 1 || got[0] != appID+" https://a.example/hook" {
			t.Fatalf("tests sent: %v", got)
		}
	})
}

// The operator moves a tenant to another plan; the change is audited.
func TestUIAdminPlan(t *testing.T) {
	eachUIStore(t, dashboard.UIOptions{}, func(t *testing.T, f *uiFixture) {
		def, err := f.store.Tenant(t.Context(), tenants.DefaultTenantID)
		if err != nil {
			t.Fatal(err)
		}
		f.user(def, "op@example.com", accounts.RoleOwner)
		op := f.signIn("op@example.com")
		f.want(op.get("/dashboard/admin"), 200, `<option value="pro">Pro (pro)</option>`)
		f.want(op.form("/dashboard/admin/tenants/"+f.tenantA.ID+"/plan", "plan_id", "gold"), 400, "Choose one of the plans listed.")
		f.want(op.form("/dashboard/admin/tenants/tn_nope/plan", "plan_id", "pro"), 404, "")
		if p := op.form("/dashboard/admin/tenants/"+f.tenantA.ID+"/plan", "plan_id", "pro"); p.status != http.StatusSeeOther {
			t.Fatalf("plan change: %d %s", p.status, p.body)
		}
		tn, _ := f.store.Tenant(t.Context(), f.tenantA.ID)
		if tn.PlanID != "pro" {
			t.Fatalf("plan after the change: %s", tn.PlanID)
		}
		f.want(op.get("/dashboard/admin?done=tenant-plan"), 200, "Plan changed")
		log, err := f.store.Audit(t.Context(), f.tenantA.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range log {
			found = found || (e.Action == tenants.ActionTenantPlan && strings.HasPrefix(e.Actor, "user:"))
		}
		if !found {
			t.Fatalf("no tenant.plan audit entry by a user: %+v", log)
		}
	})
}
