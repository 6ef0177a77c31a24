package dashboard

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/switchboard-rt/switchboard/accounts"
	"github.com/switchboard-rt/switchboard/tenants"
)

// UIStore is what the web UI needs of the control plane: the app and key
// operations the management API uses, plus tenants for sign-up and the
// header. *tenants.MemoryStore and *pgstore.Store provide it.
type UIStore interface {
	Tenant(ctx context.Context, id string) (*tenants.Tenant, error)
	CreateTenant(ctx context.Context, name, planID, actor string) (*tenants.Tenant, error)
	// Tenants and SetTenantStatus serve the operator's admin page.
	Tenants(ctx context.Context) ([]*tenants.Tenant, error)
	SetTenantStatus(ctx context.Context, id string, status tenants.TenantStatus, actor string) error
	// SetTenantPlan and Plans serve the admin page's plan change.
	SetTenantPlan(ctx context.Context, id, planID, actor string) error
	Plans(ctx context.Context) ([]*tenants.Plan, error)
	Plan(ctx context.Context, id string) (*tenants.Plan, error)

	TenantApps(ctx context.Context, tenantID string) ([]*tenants.App, error)
	TenantApp(ctx context.Context, tenantID, appID string) (*tenants.App, error)
	AppSettings(ctx context.Context, tenantID, appID string) (*tenants.App, error)
	CreateApp(ctx context.Context, tenantID string, spec *tenants.App, actor string) (*tenants.App, tenants.Key, error)
	UpdateApp(ctx context.Context, tenantID string, app *tenants.App, actor string) (*tenants.App, error)
	RemoveApp(ctx context.Context, tenantID, appID, actor string) error

	Keys(ctx context.Context, tenantID, appID string) ([]tenants.KeyInfo, error)
	CreateKey(ctx context.Context, tenantID, appID, actor string) (tenants.Key, error)
	RevokeKey(ctx context.Context, tenantID, appID, key, actor string) error
}

// auditRecorder writes team changes to the tenant's audit log, beside
// the app changes the store records itself. *tenants.MemoryStore and
// *pgstore.Store have it; it is not part of UIStore so that a
// tenants.Store value can be passed as is. Without it, team changes are
// only logged.
type auditRecorder interface {
	RecordAudit(ctx context.Context, tenantID, actor, action, target string, detail json.RawMessage) error
}

// UIOptions configure the web UI. Store and Accounts are required; every
// other zero value works.
type UIOptions struct {
	Store    UIStore
	Accounts Accounts
	Logger   *slog.Logger

	// AllowSignUp lets anyone create a new tenant (on the free plan) with
	// its first owner at /dashboard/sign-up. Off, tenants come from the
	// operator and users from their owners.
	AllowSignUp bool
	// SecureCookies marks cookies Secure even when the request came over
	// plain HTTP: set it behind a proxy that terminates TLS. Requests
	// served over TLS get Secure cookies regardless.
	SecureCookies bool
	// SessionTTL is how long a sign-in lasts; 0 means 12 hours.
	SessionTTL time.Duration
	// SignInBurst and SignInEvery limit sign-in attempts per email and
	// client address: SignInBurst at once, then one per SignInEvery.
	// 0 means 5 and 1 minute.
	SignInBurst int
	SignInEvery time.Duration
	// Now is the clock; nil means time.Now. Tests move it to expire
	// sessions.
	Now func() time.Time

	// Activity feeds the live debug console; nil: the console says it is
	// not available.
	Activity LiveActivity
	// Publisher is the event creator's publish path; nil: no event
	// creator.
	Publisher EventPublisher
	// Usage draws the usage charts and billing state; nil: the usage
	// pages say usage is not available.
	Usage Usage
	// Deliveries lists recent webhook deliveries; nil: none are shown.
	Deliveries WebhookDeliveries
	// WebhookTester sends test webhooks; nil: no test button.
	WebhookTester WebhookTester
	// StreamHeartbeat is how often an idle console stream gets a comment
	// line (so proxies keep it open) and its session is checked again;
	// 0 means 15 s.
	StreamHeartbeat time.Duration
}

func (o UIOptions) withDefaults() UIOptions {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 12 * time.Hour
	}
	if o.SignInBurst <= 0 {
		o.SignInBurst = 5
	}
	if o.SignInEvery <= 0 {
		o.SignInEvery = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.StreamHeartbeat <= 0 {
		o.StreamHeartbeat = 15 * time.Second
	}
	return o
}

// UI is the web dashboard; mount it at /dashboard/.
type UI struct {
	opts   UIOptions
	store  UIStore
	accts  Accounts
	log    *slog.Logger
	mux    *http.ServeMux
	routes []uiRoute
	pages  map[string]*template.Template
	static http.Handler

	audit auditRecorder // nil when the store has none

	limMu    sync.Mutex
	limiters map[string]*rate.Limiter
}

//go:embed ui/templates/*.html
var templateFS embed.FS

//go:embed ui/static
var staticFS embed.FS

// Cookie names. The session cookie is scoped to /dashboard/, which is
// why it cannot carry the __Host- prefix (that needs Path=/).
const (
	sessionCookie = "sb_session"
	// preCSRFCookie carries the token of the forms shown before there is
	// a session (sign-in, sign-up, first owner): a double-submit token,
	// so another site cannot sign a browser in to the attacker's account.
	preCSRFCookie = "sb_csrf"
	basePath      = "/dashboard"
)

// access is who may use a route.
type access int

const (
	public    access = iota // no session needed
	signedIn                // any role
	canWrite                // owner or developer
	ownerOnly               // owner
	// operator is an owner of the default tenant: the account the first
	// run creates, which runs the server and owns the apps file's apps.
	operator
)

type uiRoute struct {
	method, pattern string
	access          access
	h               func(w http.ResponseWriter, q *uiRequest)
}

// uiRequest is one request with, past public routes, its session.
type uiRequest struct {
	r       *http.Request
	now     time.Time
	session *accounts.Session
	user    *accounts.User
	tenant  *tenants.Tenant
	csrf    string // the token forms on this page carry
}

func (q *uiRequest) ctx() context.Context { return q.r.Context() }
func (q *uiRequest) actor() string        { return "user:" + q.user.ID }

// isOperator reports whether u runs the server (see operator).
func isOperator(u *accounts.User) bool {
	return u != nil && u.TenantID == tenants.DefaultTenantID && u.Role == accounts.RoleOwner
}

// NewUI builds the web dashboard.
func NewUI(opts UIOptions) *UI {
	if opts.Store == nil || opts.Accounts == nil {
		panic("dashboard: NewUI needs UIOptions.Store and UIOptions.Accounts")
	}
	opts = opts.withDefaults()
	u := &UI{opts: opts, store: opts.Store, accts: opts.Accounts, log: opts.Logger, limiters: map[string]*rate.Limiter{}}
	u.audit, _ = opts.Store.(auditRecorder)
	u.pages = parsePages()
	sub, _ := fs.Sub(staticFS, "ui/static")
	files := http.StripPrefix(basePath+"/static/", http.FileServerFS(sub))
	u.static = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
	u.routes = []uiRoute{
		{"GET", "/dashboard/{$}", public, u.home},
		{"POST", "/dashboard/setup", public, u.setup},
		{"GET", "/dashboard/sign-in", public, u.signInForm},
		{"POST", "/dashboard/sign-in", public, u.signIn},
		{"GET", "/dashboard/sign-up", public, u.signUpForm},
		{"POST", "/dashboard/sign-up", public, u.signUp},
		{"POST", "/dashboard/sign-out", signedIn, u.signOut},
		{"GET", "/dashboard/apps", signedIn, u.listApps},
		{"GET", "/dashboard/apps/new", canWrite, u.newAppForm},
		{"POST", "/dashboard/apps", canWrite, u.createApp},
		{"GET", "/dashboard/apps/{app_id}", signedIn, u.showApp},
		{"POST", "/dashboard/apps/{app_id}/settings", canWrite, u.updateSettings},
		{"POST", "/dashboard/apps/{app_id}/enabled", canWrite, u.setEnabled},
		{"GET", "/dashboard/apps/{app_id}/delete", canWrite, u.deleteForm},
		{"POST", "/dashboard/apps/{app_id}/delete", canWrite, u.deleteApp},
		{"POST", "/dashboard/apps/{app_id}/webhooks", canWrite, u.addWebhook},
		{"POST", "/dashboard/apps/{app_id}/webhooks/remove", canWrite, u.removeWebhook},
		{"POST", "/dashboard/apps/{app_id}/keys", canWrite, u.createKey},
		{"POST", "/dashboard/apps/{app_id}/keys/{key}/revoke", canWrite, u.revokeKey},
		{"GET", "/dashboard/apps/{app_id}/console", signedIn, u.console},
		{"GET", "/dashboard/apps/{app_id}/console/stream", signedIn, u.consoleStream},
		{"POST", "/dashboard/apps/{app_id}/console/events", canWrite, u.sendEvent},
		{"GET", "/dashboard/apps/{app_id}/webhooks", signedIn, u.webhooksPage},
		{"POST", "/dashboard/apps/{app_id}/webhooks/test", canWrite, u.testWebhook},
		{"GET", "/dashboard/apps/{app_id}/usage", signedIn, u.appUsage},
		{"GET", "/dashboard/usage", signedIn, u.tenantUsage},
		{"GET", "/dashboard/account", signedIn, u.account},
		{"POST", "/dashboard/account/password", signedIn, u.changePassword},
		{"GET", "/dashboard/team", signedIn, u.team},
		{"POST", "/dashboard/team", ownerOnly, u.addMember},
		{"POST", "/dashboard/team/{user_id}/role", ownerOnly, u.setRole},
		{"POST", "/dashboard/team/{user_id}/remove", ownerOnly, u.removeMember},
		{"GET", "/dashboard/admin", operator, u.admin},
		{"POST", "/dashboard/admin/tenants/{tenant_id}/status", operator, u.setTenantStatus},
		{"POST", "/dashboard/admin/tenants/{tenant_id}/plan", operator, u.setTenantPlan},
	}
	u.mux = http.NewServeMux()
	for _, rt := range u.routes {
		u.mux.HandleFunc(rt.method+" "+rt.pattern, func(w http.ResponseWriter, r *http.Request) { u.serve(w, r, rt) })
	}
	u.mux.Handle("GET /dashboard/static/", u.static)
	u.mux.HandleFunc("/dashboard/", func(w http.ResponseWriter, r *http.Request) {
		u.renderError(w, &uiRequest{r: r}, http.StatusNotFound, "There is no such page.")
	})
	return u
}

// Routes lists the UI's method and path patterns, for tests that must
// cover every route.
func (u *UI) Routes() [][2]string {
	out := make([][2]string, len(u.routes))
	for i, r := range u.routes {
		out[i] = [2]string{r.method, r.pattern}
	}
	return out
}

func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Everything the pages load is ours: no inline script, no other
	// origin, no framing (clickjacking on the delete and revoke buttons).
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	if r.URL.Path == basePath {
		http.Redirect(w, r, basePath+"/", http.StatusMovedPermanently)
		return
	}
	u.mux.ServeHTTP(w, r)
}

func (u *UI) serve(w http.ResponseWriter, r *http.Request, rt uiRoute) {
	q := &uiRequest{r: r, now: u.opts.Now()}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			u.log.Error("panic serving dashboard page", "route", rt.pattern, "err", fmt.Sprint(p))
			u.renderError(w, q, http.StatusInternalServerError, "Something went wrong on our side; it has been logged.")
		}
	}()
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			u.renderError(w, q, http.StatusBadRequest, "The form could not be read.")
			return
		}
	}
	if rt.access == public {
		q.csrf = u.preCSRF(w, r)
		if r.Method == http.MethodPost && !sameToken(r.PostForm.Get("csrf"), q.csrf) {
			u.renderError(w, q, http.StatusForbidden, "This form has expired. Go back, reload the page and try again.")
			return
		}
		rt.h(w, q)
		return
	}
	if !u.loadSession(q) {
		if r.Method == http.MethodGet {
			http.Redirect(w, r, basePath+"/sign-in", http.StatusSeeOther)
			return
		}
		u.renderError(w, q, http.StatusUnauthorized, "You are signed out (the session expired or ended). Sign in again.")
		return
	}
	q.csrf = q.session.CSRF
	if r.Method == http.MethodPost && !sameToken(r.PostForm.Get("csrf"), q.csrf) {
		u.renderError(w, q, http.StatusForbidden, "This form has expired. Go back, reload the page and try again.")
		return
	}
	switch {
	case rt.access == canWrite && !q.user.Role.CanWrite(), rt.access == ownerOnly && !q.user.Role.CanManageTeam(),
		rt.access == operator && !isOperator(q.user):
		u.renderError(w, q, http.StatusForbidden, "Your role ("+string(q.user.Role)+") does not allow this; ask an owner of your team.")
		return
	case r.Method == http.MethodPost && rt.access != signedIn && q.tenant.Status == tenants.TenantSuspended:
		u.renderError(w, q, http.StatusForbidden, "Your account is suspended: the dashboard is read-only until it is resumed.")
		return
	}
	rt.h(w, q)
}

func sameToken(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// page is what every template gets.
type page struct {
	Title  string
	User   *accounts.User
	Tenant *tenants.Tenant
	CSRF   string
	Nav    string
	Notice string
	Error  string
	Field  string // the form field Error is about, if any
	Data   any
	// Script is a page's own script in /dashboard/static/, besides app.js.
	Script string
	// AppID, AppName and Tab make the app pages' tabs (Tab: overview,
	// console, webhooks, usage).
	AppID, AppName, Tab string
}

func (p page) CanWrite() bool      { return p.User != nil && p.User.Role.CanWrite() }
func (p page) CanSeeSecrets() bool { return p.User != nil && p.User.Role.CanSeeSecrets() }
func (p page) CanManageTeam() bool { return p.User != nil && p.User.Role.CanManageTeam() }
func (p page) IsOperator() bool    { return isOperator(p.User) }

func parsePages() map[string]*template.Template {
	funcs := template.FuncMap{"count": fmtCount, "ms": fmtMS, "fmtTime": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			return v.UTC().Format("2006-01-02 15:04 UTC")
		case *time.Time:
			if v == nil {
				return "never"
			}
			return v.UTC().Format("2006-01-02 15:04 UTC")
		}
		return ""
	}}
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "ui/templates/layout.html"))
	names, _ := fs.Glob(templateFS, "ui/templates/*.html")
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimPrefix(n, "ui/templates/")
		if base == "layout.html" {
			continue
		}
		pages[strings.TrimSuffix(base, ".html")] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, n))
	}
	return pages
}

// render writes a page whole or, if the template fails, a plain 500: a
// half-written page could hide an error message.
func (u *UI) render(w http.ResponseWriter, q *uiRequest, status int, name string, p page) {
	p.User, p.Tenant, p.CSRF = q.user, q.tenant, q.csrf
	var buf bytes.Buffer
	t, ok := u.pages[name]
	if !ok {
		u.log.Error("no such dashboard template", "template", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		u.log.Error("dashboard template", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store") // pages may hold secrets
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (u *UI) renderError(w http.ResponseWriter, q *uiRequest, status int, msg string) {
	u.render(w, q, status, "error", page{Title: http.StatusText(status), Error: msg})
}

// storeError answers a store failure that no form can fix: not found
// (also another tenant's object, so nothing leaks) or internal.
func (u *UI) storeError(w http.ResponseWriter, q *uiRequest, err error) {
	if errors.Is(err, tenants.ErrNotFound) || errors.Is(err, accounts.ErrNotFound) {
		u.renderError(w, q, http.StatusNotFound, "There is no such app, key or member in your team.")
		return
	}
	u.log.Error("dashboard request failed", "method", q.r.Method, "path", q.r.URL.Path, "err", err)
	u.renderError(w, q, http.StatusInternalServerError, "Something went wrong on our side; it has been logged.")
}

// formError turns a validation error into a message for the form, or
// reports false for errors that are not the user's to fix.
func formError(err error) (field, msg string, ok bool) {
	var fe *tenants.FieldError
	switch {
	case errors.As(err, &fe):
		return fe.Field, fe.Error(), true
	case errors.Is(err, tenants.ErrInvalid), errors.Is(err, accounts.ErrInvalid):
		m := err.Error()
		m = strings.TrimPrefix(m, "invalid: ")
		f, _, _ := strings.Cut(m, ":")
		return f, m, true
	case errors.Is(err, tenants.ErrPlanLimit):
		return "", "Your plan allows no more apps: delete one or move to a larger plan.", true
	case errors.Is(err, tenants.ErrLastKey):
		return "", "This is the app's only active key: create another one before revoking it.", true
	case errors.Is(err, tenants.ErrConflict):
		return "", "That already exists.", true
	}
	return "", "", false
}

// record writes a team change to the audit log. The change is made by
// then, so a failure here is logged for the operator, not shown.
func (u *UI) record(q *uiRequest, tenantID, actor, action string, target *accounts.User) {
	u.log.Info("dashboard team change", "action", action, "tenant_id", tenantID, "actor", actor, "user_id", target.ID)
	if u.audit == nil {
		return
	}
	detail := tenants.Detail(map[string]string{"email": target.Email, "role": string(target.Role)})
	if err := u.audit.RecordAudit(q.ctx(), tenantID, actor, action, target.ID, detail); err != nil {
		u.log.Error("audit of a team change", "action", action, "tenant_id", tenantID, "err", err)
	}
}

func redirect(w http.ResponseWriter, q *uiRequest, path string) {
	http.Redirect(w, q.r, path, http.StatusSeeOther)
}
