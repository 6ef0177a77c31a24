package dashboard_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/accounts"
	"github.com/switchboard-rt/switchboard/accounts/pgaccounts"
	"github.com/switchboard-rt/switchboard/dashboard"
	"github.com/switchboard-rt/switchboard/tenants"
	"github.com/switchboard-rt/switchboard/tenants/pgstore/pgtest"
)

var (
	_ dashboard.UIStore = (*tenants.MemoryStore)(nil)
	_ dashboard.UIStore = tenants.Store(nil)
)

// uiFixture is the web UI on a store and an accounts store, with a clock
// the test moves, and two tenants A and B without users.
type uiFixture struct {
	t     *testing.T
	ui    *dashboard.UI
	srv   *httptest.Server
	store tenants.Store
	accts dashboard.Accounts
	opts  dashboard.UIOptions

	mu  sync.Mutex
	now time.Time

	tenantA, tenantB *tenants.Tenant
	extras           *extras // with withExtras: the fakes wired in
}

// eachUIStore runs test on the memory stores and on PostgreSQL.
func eachUIStore(t *testing.T, opts dashboard.UIOptions, test func(t *testing.T, f *uiFixture)) {
	t.Run("memory", func(t *testing.T) {
		test(t, newUIFixture(t, tenants.NewMemoryStore(), accounts.NewMemoryStore(), opts))
	})
	t.Run("postgres", func(t *testing.T) {
		s, _ := pgtest.Open(t)
		test(t, newUIFixture(t, s, pgaccounts.New(s.Pool()), opts))
	})
}

func newUIFixture(t *testing.T, store tenants.Store, accts dashboard.Accounts, opts dashboard.UIOptions) *uiFixture {
	t.Helper()
	f := &uiFixture{t: t, store: store, accts: accts, now: time.Now()}
	opts.Store, opts.Accounts, opts.Now = store, accts, f.clock
	if opts.Usage == wantExtras {
		f.extras = newExtras(t, store)
		opts.Usage, opts.Deliveries, opts.WebhookTester = f.extras.usage, f.extras.deliveries, f.extras.tester
		opts.Activity, opts.Publisher = f.extras.feed, withoutHistory{f.extras.publisher}
	}
	f.opts = opts
	f.ui = dashboard.NewUI(opts)
	f.srv = httptest.NewServer(f.ui)
	t.Cleanup(f.srv.Close)
	var err error
	if f.tenantA, err = store.CreateTenant(t.Context(), "Tenant A", tenants.FreePlanID, "test"); err != nil {
		t.Fatal(err)
	}
	if f.tenantB, err = store.CreateTenant(t.Context(), "Tenant B", tenants.FreePlanID, "test"); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *uiFixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *uiFixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

const password = "correct horse battery"

// passwordHash is computed once: argon2id is slow on purpose.
var passwordHash = sync.OnceValue(func() string { return accounts.HashPassword(password) })

// user adds a user straight to the accounts store.
func (f *uiFixture) user(tn *tenants.Tenant, email string, role accounts.Role) *accounts.User {
	f.t.Helper()
	u := &accounts.User{ID: accounts.NewUserID(), TenantID: tn.ID, Email: email, Role: role, PasswordHash: passwordHash()}
	if err := f.accts.CreateUser(f.t.Context(), u); err != nil {
		f.t.Fatal(err)
	}
	return u
}

// browser is one cookie jar that does not follow redirects, so tests see
// every 303.
type browser struct {
	f *uiFixture
	c *http.Client
}

func (f *uiFixture) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{f: f, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// signIn is a browser signed in as email.
func (f *uiFixture) signIn(email string) *browser {
	f.t.Helper()
	b := f.browser()
	tok := b.token("/dashboard/sign-in")
	r := b.post("/dashboard/sign-in", url.Values{"csrf": {tok}, "email": {email}, "password": {password}})
	if r.status != http.StatusSeeOther || r.location != "/dashboard/apps" {
		f.t.Fatalf("sign in as %s: %d %s", email, r.status, r.body)
	}
	return b
}

type page struct {
	status   int
	body     string
	location string
	header   http.Header
}

func (b *browser) do(req *http.Request) page {
	b.f.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.f.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return page{status: res.StatusCode, body: string(body), location: res.Header.Get("Location"), header: res.Header}
}

func (b *browser) get(path string) page {
	b.f.t.Helper()
	req, _ := http.NewRequest("GET", b.f.srv.URL+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) page {
	b.f.t.Helper()
	req, _ := http.NewRequest("POST", b.f.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// token is the CSRF token of the forms on path.
func (b *browser) token(path string) string {
	b.f.t.Helper()
	p := b.get(path)
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		b.f.t.Fatalf("GET %s: no CSRF token in %d %s", path, p.status, p.body)
	}
	return m[1]
}

// form posts values with this session's CSRF token.
func (b *browser) form(path string, kv ...string) page {
	b.f.t.Helper()
	v := url.Values{"csrf": {b.token("/dashboard/apps")}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return b.post(path, v)
}

func (f *uiFixture) want(p page, status int, contains string) {
	f.t.Helper()
	if p.status != status || !strings.Contains(p.body, contains) {
		f.t.Fatalf("got %d (want %d), body without %q:\n%s", p.status, status, contains, p.body)
	}
}

// app makes an app of tenant tn with the store, returning its id, key
// and secret.
func (f *uiFixture) app(tn *tenants.Tenant, name string) (id, key, secret string) {
	f.t.Helper()
	a, k, err := f.store.CreateApp(f.t.Context(), tn.ID, &tenants.App{Name: name, Enabled: true}, "test")
	if err != nil {
		f.t.Fatal(err)
	}
	return a.ID, k.Key, k.Secret
}
