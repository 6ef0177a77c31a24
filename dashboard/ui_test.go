package dashboard_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/accounts"
	"github.com/switchboard-rt/switchboard/dashboard"
	"github.com/switchboard-rt/switchboard/tenants"
)

// Until a user exists, /dashboard/ creates the default tenant's owner;
// afterwards the form is gone for good.
func TestUIFirstRun(t *testing.T) {
	eachUIStore(t, dashboard.UIOptions{}, func(t *testing.T, f *uiFixture) {
		b := f.browser()
		if p := b.get("/dashboard"); p.status != http.StatusMovedPermanently || p.location != "/dashboard/" {
			t.Fatalf("/dashboard: %d %q", p.status, p.location)
		}
		f.want(b.get("/dashboard/"), 200, "Create owner account")
		tok := b.token("/dashboard/")
		f.want(b.post("/dashboard/setup", url.Values{"email": {"o@example.com"}, "password": {password}}), 403, "This form has expired")
		f.want(b.post("/dashboard/setup", url.Values{"csrf": {tok}, "email": {"o@example.com"}, "password": {"short"}}), 400, "at least 10 characters")
		f.want(b.post("/dashboard/setup", url.Values{"csrf": {tok}, "email": {"nope"}, "password": {password}}), 400, "is not an email address")

		p := b.post("/dashboard/setup", url.Values{"csrf": {tok}, "email": {" Owner@Example.com "}, "password": {password}})
		if p.status != http.StatusSeeOther || p.location != "/dashboard/apps" {
			t.Fatalf("setup: %d %s", p.status, p.body)
		}
		c := p.header.Get("Set-Cookie")
		for _, attr := range []string{"sb_session=", "Path=/dashboard/", "HttpOnly", "SameSite=Lax", "Max-Age=43200"} {
			if !strings.Contains(c, attr) {
				t.Errorf("session cookie %q lacks %s", c, attr)
			}
		}
		if strings.Contains(c, "Secure") {
			t.Errorf("Secure cookie over plain HTTP without SecureCookies: %q", c)
		}
		f.want(b.get("/dashboard/apps"), 200, "<span>Default · owner</span>")
		u, err := f.accts.UserByEmail(t.Context(), "owner@example.com")
		if err != nil || u.TenantID != tenants.DefaultTenantID || u.Role != accounts.RoleOwner {
			t.Fatalf("first owner: %+v %v", u, err)
		}

		other := f.browser()
		if p := other.get("/dashboard/"); p.status != http.StatusSeeOther || p.location != "/dashboard/sign-in" {
			t.Fatalf("/dashboard/ after setup: %d %q", p.status, p.location)
		}
		tok = other.token("/dashboard/sign-in")
		f.want(other.post("/dashboard/setup", url.Values{"csrf": {tok}, "email": {"evil@example.com"}, "password": {password}}), 409, "created already")
		if _, err := f.accts.UserByEmail(t.Context(), "evil@example.com"); err == nil {
			t.Fatal("a second first owner was created")
		}
		if p := b.get("/dashboard/"); p.location != "/dashboard/apps" {
			t.Fatalf("/dashboard/ signed in: %d %q", p.status, p.location)
		}
	})
}

func TestUISignInAndOut(t *testing.T) {
	eachUIStore(t, dashboard.UIOptions{}, func(t *testing.T, f *uiFixture) {
		f.user(f.tenantA, "a@example.com", accounts.RoleOwner)
		b := f.browser()
		if p := b.get("/dashboard/apps"); p.status != http.StatusSeeOther || p.location != "/dashboard/sign-in" {
			t.Fatalf("signed out /apps: %d %q", p.status, p.location)
		}
		tok := b.token("/dashboard/sign-in")
		f.want(b.post("/dashboard/sign-in", url.Values{"csrf": {tok}, "email": {"a@example.com"}, "password": {"wrong password!"}}), 401, "Wrong email or password.")
		f.want(b.post("/dashboard/sign-in", url.Values{"csrf": {tok}, "email": {"nobody@example.com"}, "password": {password}}), 401, "Wrong email or password.")
		// A token with its first character changed (to one it is not: a
		// fixed "x" left a token starting with x valid, 1 run in 64).
		tampered := "x" + tok[1:]
		if tok[0] == 'x' {
			tampered = "y" + tok[1:]
		}
		f.want(b.post("/dashboard/sign-in", url.Values{"csrf": {tampered}, "email": {"a@example.com"}, "password": {password}}), 403, "expired")

		b = f.signIn("A@example.com")
		f.want(b.get("/dashboard/apps"), 200, "Tenant A")
		c, _ := url.Parse(f.srv.URL + "/dashboard/")
		first := b.c.Jar.Cookies(c)
		// Signing in again in the same browser ends the session it replaces.
		tok = b.token("/dashboard/sign-in")
		if p := b.post("/dashboard/sign-in", url.Values{"csrf": {tok}, "email": {"a@example.com"}, "password": {password}}); p.status != http.StatusSeeOther {
			t.Fatalf("second sign-in: %d", p.status)
		}
		old := f.browser()
		old.c.Jar.SetCookies(c, first)
		if p := old.get("/dashboard/apps"); p.status != http.StatusSeeOther {
			t.Fatalf("the replaced session still works: %d", p.status)
		}
		stolen := b.c.Jar.Cookies(c)

		f.want(b.post("/dashboard/sign-out", url.Values{}), 403, "expired")
		p := b.form("/dashboard/sign-out")
		if p.status != http.StatusSeeOther || p.location != "/dashboard/sign-in" || !strings.Contains(p.header.Get("Set-Cookie"), "Max-Age=0") {
			t.Fatalf("sign-out: %d %q %q", p.status, p.location, p.header.Get("Set-Cookie"))
		}
		if p := b.get("/dashboard/apps"); p.status != http.StatusSeeOther {
			t.Fatalf("/apps after sign-out: %d", p.status)
		}
		// The cookie of an ended session opens nothing.
		replay := f.browser()
		replay.c.Jar.SetCookies(c, stolen)
		if p := replay.get("/dashboard/apps"); p.status != http.StatusSeeOther {
			t.Fatalf("replayed cookie after sign-out: %d", p.status)
		}
	})
}

func TestUISecureCookies(t *testing.T) {
	eachUIStore(t, dashboard.UIOptions{SecureCookies: true}, func(t *testing.T, f *uiFixture) {
		f.user(f.tenantA, "a@example.com", accounts.RoleOwner)
		b := f.browser()
		p := b.get("/dashboard/sign-in")
		if !strings.Contains(p.header.Get("Set-Cookie"), "Secure") {
			t.Fatalf("CSRF cookie without Secure: %q", p.header.Get("Set-Cookie"))
		}
		// Go's cookie jar withholds Secure cookies from http URLs, so post
		// the token cookie by hand, as a browser behind a TLS proxy would.
		tok := csrfField.FindStringSubmatch(p.body)[1]
		req, _ := http.NewRequest("POST", f.srv.URL+"/dashboard/sign-in",
			strings.NewReader(url.Values{"csrf": {tok}, "email": {"a@example.com"}, "password": {password}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "sb_csrf", Value: tok})
		r := b.do(req)
		if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Set-Cookie"), "Secure") {
			t.Fatalf("sign-in: %d, cookie %q", r.status, r.header.Get("Set-Cookie"))
		}
	})
}

func TestUISignInRateLimit(t *testing.T) {
	eachUIStore(t, dashboard.UIOptions{SignInBurst: 3, SignInEvery: time.Minute}, func(t *testing.T, f *uiFixture) {
		f.user(f.tenantA, "a@example.com", accounts.RoleOwner)
		b := f.browser()
		tok := b.token("/dashboard/sign-in")
		try := func(email, pw string) page {
			return b.post("/dashboard/sign-in", url.Values{"csrf": {tok}, "email": {email}, "password": {pw}})
		}
		for range 3 {
			f.want(try("a@example.com", "wrong password!"), 401, "Wrong email")
		}
		// Past the burst, even the right password waits.
		p := try("A@Example.com", password)
		f.want(p, 429, "Too many sign-in attempts")
		if p.header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		// Another email from the same address has its own budget.
		f.want(try("b@example.com", "wrong password!"), 401, "Wrong email")

		f.advance(time.Minute)
		if p := try("a@example.com", password); p.status != http.StatusSeeOther {
			t.Fatalf("after a minute: %d %s", p.status, p.body)
		}
	})
}

func TestUISessionExpiry(t *testing.T) {
	eachUIStore(t, dashboard.UIOptions{SessionTTL: time.Hour}, func(t *testing.T, f *uiFixture) {
		f.user(f.tenantA, "a@example.com", accounts.RoleOwner)
		b := f.signIn("a@example.com")
		tok := b.token("/dashboard/apps")
		f.advance(59 * time.Minute)
		f.want(b.get("/dashboard/apps"), 200, "Apps")
		f.advance(time.Minute)
		if p := b.get("/dashboard/apps"); p.status != http.StatusSeeOther || p.location != "/dashboard/sign-in" {
			t.Fatalf("expired session GET: %d %q", p.status, p.location)
		}
		f.want(b.post("/dashboard/apps", url.Values{"csrf": {tok}, "name": {"late"}}), 401, "signed out")
		if apps, _ := f.store.TenantApps(t.Context(), f.tenantA.ID); len(apps) != 0 {
			t.Fatalf("an expired session created an app: %v", apps)
		}
	})
}

func TestUISignUp(t *testing.T) {
	eachUIStore(t, dashboard.UIOptions{}, func(t *testing.T, f *uiFixture) {
		b := f.browser()
		f.want(b.get("/dashboard/sign-up"), 404, "Sign-up is closed")
		tok := b.token("/dashboard/sign-in")
		f.want(b.post("/dashboard/sign-up", url.Values{"csrf": {tok}, "name": {"X"}, "email": {"x@example.com"}, "password": {password}}), 404, "Sign-up is closed")
		if _, err := f.accts.UserByEmail(t.Context(), "x@example.com"); err == nil {
			t.Fatal("closed sign-up made a user")
		}
	})
	eachUIStore(t, dashboard.UIOptions{AllowSignUp: true}, func(t *testing.T, f *uiFixture) {
		f.user(f.tenantA, "a@example.com", accounts.RoleOwner)
		b := f.browser()
		f.want(b.get("/dashboard/sign-in"), 200, "Create an account")
		tok := b.token("/dashboard/sign-up")
		f.want(b.post("/dashboard/sign-up", url.Values{"csrf": {tok}, "name": {"Y"}, "email": {"a@example.com"}, "password": {password}}), 400, "exists already")
		f.want(b.post("/dashboard/sign-up", url.Values{"csrf": {tok}, "name": {""}, "email": {"n@example.com"}, "password": {password}}), 400, "Team name")
		p := b.post("/dashboard/sign-up", url.Values{"csrf": {tok}, "name": {"Newco"}, "email": {"n@example.com"}, "password": {password}})
		if p.status != http.StatusSeeOther {
			t.Fatalf("sign-up: %d %s", p.status, p.body)
		}
		u, err := f.accts.UserByEmail(t.Context(), "n@example.com")
		if err != nil || u.Role != accounts.RoleOwner || u.TenantID == f.tenantA.ID || u.TenantID == tenants.DefaultTenantID {
			t.Fatalf("signed-up user: %+v %v", u, err)
		}
		tn, err := f.store.Tenant(t.Context(), u.TenantID)
		if err != nil || tn.Name != "Newco" || tn.PlanID != tenants.FreePlanID {
			t.Fatalf("signed-up tenant: %+v %v", tn, err)
		}
		f.want(b.get("/dashboard/apps"), 200, "Newco")
		// Sign-ups are limited per address (burst 5; three were used).
		anon := f.browser()
		tok = anon.token("/dashboard/sign-up")
		for i := range 2 {
			f.want(anon.post("/dashboard/sign-up", url.Values{"csrf": {tok}, "name": {""}, "email": {"m" + string(rune('0'+i)) + "@example.com"}, "password": {password}}), 400, "Team name")
		}
		f.want(anon.post("/dashboard/sign-up", url.Values{"csrf": {tok}, "name": {"Spam"}, "email": {"s@example.com"}, "password": {password}}), 429, "Too many sign-ups")
	})
}

func TestUIChangePassword(t *testing.T) {
	eachUIStore(t, dashboard.UIOptions{}, func(t *testing.T, f *uiFixture) {
		u := f.user(f.tenantA, "a@example.com", accounts.RoleViewer)
		b, other := f.signIn(u.Email), f.signIn(u.Email)
		f.want(b.get("/dashboard/account"), 200, "Change password")
		f.want(b.form("/dashboard/account/password", "current", "wrong password!", "password", "another long password"), 400, "current password is wrong")
		f.want(b.form("/dashboard/account/password", "current", password, "password", "short"), 400, "at least 10")
		if p := b.form("/dashboard/account/password", "current", password, "password", "another long password"); p.status != http.StatusSeeOther {
			t.Fatalf("change password: %d %s", p.status, p.body)
		}
		f.want(b.get("/dashboard/account?done=password"), 200, "Password changed")
		if p := other.get("/dashboard/apps"); p.status != http.StatusSeeOther {
			t.Fatalf("the other session survived the password change: %d", p.status)
		}
		anon := f.browser()
		tok := anon.token("/dashboard/sign-in")
		f.want(anon.post("/dashboard/sign-in", url.Values{"csrf": {tok}, "email": {u.Email}, "password": {password}}), 401, "Wrong email or password")
		if p := anon.post("/dashboard/sign-in", url.Values{"csrf": {tok}, "email": {u.Email}, "password": {"another long password"}}); p.status != http.StatusSeeOther {
			t.Fatalf("sign-in with the new password: %d", p.status)
		}
		entries, _ := f.store.Audit(t.Context(), f.tenantA.ID, 10)
		if len(entries) == 0 || entries[0].Action != accounts.ActionUserPassword || entries[0].Actor != "user:"+u.ID {
			t.Fatalf("audit: %+v", entries)
		}
	})
}
