// Package dashboard serves tenants: the /api/v1 management API (api.go
// and its neighbours) and the web UI at /dashboard/ (ui*.go), which share
// the rules for changing apps (apps.go).
//
// Every API request but the OpenAPI document carries a tenant's API token
// (Authorization: Bearer sbt_…); every handler works only within that
// token's tenant. Another tenant's app answers 404, exactly as an app that
// does not exist, so the API reveals nothing about other tenants. The UI
// does the same with the tenant of the signed-in user's session.
//
// It imports tenants and accounts, never another surface (edge, restapi,
// webhooks) nor a backend.
package dashboard

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/switchboard-rt/switchboard/tenants"
)

// Store is what the management API needs of the control plane;
// *tenants.MemoryStore and *pgstore.Store provide it.
type Store interface {
	TenantByToken(ctx context.Context, token string) (*tenants.Tenant, *tenants.APIToken, error)
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

	CreateToken(ctx context.Context, tenantID, name, actor string) (tenants.APIToken, string, error)
	Tokens(ctx context.Context, tenantID string) ([]tenants.APIToken, error)
	RevokeToken(ctx context.Context, tenantID, tokenID, actor string) error

	Audit(ctx context.Context, tenantID string, limit int) ([]tenants.AuditEntry, error)
}

// Options configure the API. Store is required.
type Options struct {
	Store  Store
	Logger *slog.Logger
	// MaxBodyBytes caps request bodies; 0 means 64 KiB.
	MaxBodyBytes int64

	// Later issues add readers here (webhook deliveries, usage), each a
	// small interface declared in this package and optional: NewAPI adds
	// its routes to the table only when it is set, and the OpenAPI and
	// isolation tests then require a document entry and a case for them.

	// Webhooks serves GET /api/v1/apps/{app_id}/webhooks/deliveries.
	Webhooks WebhookDeliveries
	// Usage serves the usage and billing routes (usage_api.go).
	Usage Usage
	// BillingContacts serves PUT /api/v1/billing/contact.
	BillingContacts BillingContacts
}

// API is the /api/v1 management API.
type API struct {
	store  Store
	log    *slog.Logger
	max    int64
	routes []route

	deliveries WebhookDeliveries
	usage      Usage
	contacts   BillingContacts
}

// OpenAPI is the API's OpenAPI 3.1 document, served at
// /api/v1/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte

// NewAPI builds the API; mount it at /api/v1/.
func NewAPI(opts Options) *API {
	if opts.Store == nil {
		panic("dashboard: NewAPI needs Options.Store")
	}
	a := &API{store: opts.Store, log: opts.Logger, max: opts.MaxBodyBytes, deliveries: opts.Webhooks,
		usage: opts.Usage, contacts: opts.BillingContacts}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.max <= 0 {
		a.max = 64 << 10
	}
	a.routes = []route{
		{"GET", "/api/v1/openapi.yaml", a.openAPI, false},
		{"GET", "/api/v1/tenant", a.getTenant, true},
		{"GET", "/api/v1/plan", a.getPlan, true},
		{"GET", "/api/v1/apps", a.listApps, true},
		{"POST", "/api/v1/apps", a.createApp, true},
		{"GET", "/api/v1/apps/{app_id}", a.getApp, true},
		{"PATCH", "/api/v1/apps/{app_id}", a.patchApp, true},
		{"DELETE", "/api/v1/apps/{app_id}", a.deleteApp, true},
		{"GET", "/api/v1/apps/{app_id}/keys", a.listKeys, true},
		{"POST", "/api/v1/apps/{app_id}/keys", a.createKey, true},
		{"DELETE", "/api/v1/apps/{app_id}/keys/{key}", a.revokeKey, true},
		{"GET", "/api/v1/apps/{app_id}/webhooks", a.getWebhooks, true},
		{"PUT", "/api/v1/apps/{app_id}/webhooks", a.putWebhooks, true},
		{"GET", "/api/v1/audit", a.audit, true},
		{"GET", "/api/v1/tokens", a.listTokens, true},
		{"POST", "/api/v1/tokens", a.createToken, true},
		{"DELETE", "/api/v1/tokens/{token_id}", a.revokeToken, true},
	}
	if a.deliveries != nil {
		a.routes = append(a.routes, route{"GET", "/api/v1/apps/{app_id}/webhooks/deliveries", a.webhookDeliveries, true})
	}
	if a.usage != nil {
		a.routes = append(a.routes,
			route{"GET", "/api/v1/usage", a.tenantUsage, true},
			route{"GET", "/api/v1/usage/current", a.currentUsage, true},
			route{"GET", "/api/v1/apps/{app_id}/usage", a.appUsage, true},
			route{"GET", "/api/v1/billing", a.getBilling, true})
	}
	if a.contacts != nil {
		a.routes = append(a.routes, route{"PUT", "/api/v1/billing/contact", a.putBillingContact, true})
	}
	return a
}

// Routes lists the API's method and path templates, for documents and
// tests that must cover every route.
func (a *API) Routes() [][2]string {
	out := make([][2]string, len(a.routes))
	for i, r := range a.routes {
		out[i] = [2]string{r.method, r.pattern}
	}
	return out
}

// request is one authenticated call.
type request struct {
	r      *http.Request
	params map[string]string
	tenant *tenants.Tenant
	actor  string
}

func (q *request) ctx() context.Context   { return q.r.Context() }
func (q *request) param(n string) string  { return q.params[n] }
func (q *request) tenantID() string       { return q.tenant.ID }
func (q *request) writable() bool         { return q.tenant.Status != tenants.TenantSuspended }
func (q *request) query(n string) string  { return q.r.URL.Query().Get(n) }
func (q *request) header(n string) string { return q.r.Header.Get(n) }

type handler func(q *request) (status int, body any, err error)

type route struct {
	method, pattern string
	h               handler
	auth            bool
}

// match reports whether path fits the route's pattern, with its
// {parameters}.
func (rt route) match(path string) (map[string]string, bool) {
	ps, xs := strings.Split(rt.pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return nil, false
	}
	var params map[string]string
	for i, p := range ps {
		if strings.HasPrefix(p, "{") {
			if xs[i] == "" {
				return nil, false
			}
			if params == nil {
				params = map[string]string{}
			}
			params[p[1:len(p)-1]] = xs[i]
		} else if p != xs[i] {
			return nil, false
		}
	}
	return params, true
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if r.URL.RawPath != "" {
		path = r.URL.EscapedPath() // a %2F inside a parameter must not split it
	}
	var allow []string
	for _, rt := range a.routes {
		params, ok := rt.match(path)
		if !ok {
			continue
		}
		if rt.method != r.Method {
			allow = append(allow, rt.method)
			continue
		}
		for k, v := range params {
			if u, err := unescape(v); err == nil {
				params[k] = u
			}
		}
		a.serve(w, r, rt, params)
		return
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here; use "+strings.Join(allow, " or "))
		return
	}
	writeError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+truncate(r.URL.Path, 200))
}

func (a *API) serve(w http.ResponseWriter, r *http.Request, rt route, params map[string]string) {
	start := time.Now()
	q := &request{r: r, params: params}
	if rt.auth {
		t, tok, err := a.authenticate(r)
		if err != nil {
			writeError(w, http.StatusUnauthorized, "unauthorized", err.Error())
			return
		}
		q.tenant, q.actor = t, "token:"+tok.ID
		if r.Method != http.MethodGet && !q.writable() {
			writeError(w, http.StatusForbidden, "tenant_suspended", "tenant "+t.ID+" is suspended: the API is read-only until it is resumed")
			return
		}
	}
	status, body, err := a.call(rt.h, q)
	c, isCSV := body.(rawCSV)
	switch y, isYAML := body.(rawYAML); {
	case err != nil:
		status = a.writeStoreError(w, r, err)
	case isYAML:
		w.Header().Set("Content-Type", "application/yaml")
		w.WriteHeader(status)
		_, _ = w.Write(y)
	case isCSV:
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_, _ = w.Write(c)
	default:
		writeJSON(w, status, body)
	}
	a.log.Debug("management request", "method", r.Method, "route", rt.pattern, "status", status,
		"tenant", tenantOf(q), "duration", time.Since(start))
}

// call runs h; a panic is a bug here, answered 500 for this request only.
func (a *API) call(h handler, q *request) (status int, body any, err error) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			a.log.Error("panic serving management request", "err", fmt.Sprint(p))
			err = fmt.Errorf("dashboard: panic: %v", p)
		}
	}()
	return h(q)
}

func tenantOf(q *request) string {
	if q.tenant == nil {
		return ""
	}
	return q.tenant.ID
}

func (a *API) authenticate(r *http.Request) (*tenants.Tenant, *tenants.APIToken, error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if h == "" {
		return nil, nil, errors.New("Authorization header missing: send Authorization: Bearer <API token>")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return nil, nil, errors.New("Authorization must be: Bearer <API token>")
	}
	t, tok, err := a.store.TenantByToken(r.Context(), strings.TrimSpace(token))
	if err != nil {
		if !errors.Is(err, tenants.ErrNotFound) {
			a.log.Error("token lookup failed", "err", err)
		}
		return nil, nil, errors.New("unknown or revoked API token")
	}
	return t, tok, nil
}

// apiError is an error with its HTTP answer, raised by handlers.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.message }

func badRequest(code, msg string) error { return &apiError{http.StatusBadRequest, code, msg} }

// writeStoreError answers err and returns the status it chose.
func (a *API) writeStoreError(w http.ResponseWriter, r *http.Request, err error) int {
	var ae *apiError
	var fe *tenants.FieldError
	switch {
	case errors.As(err, &ae):
		writeError(w, ae.status, ae.code, ae.message)
		return ae.status
	case errors.Is(err, tenants.ErrNotFound):
		// The same answer whether it does not exist or is another tenant's.
		writeError(w, http.StatusNotFound, "not_found", "no such app, key or token in your tenant")
		return http.StatusNotFound
	case errors.Is(err, tenants.ErrPlanLimit):
		writeError(w, http.StatusForbidden, "plan_limit", err.Error())
		return http.StatusForbidden
	case errors.Is(err, tenants.ErrLastKey):
		writeError(w, http.StatusConflict, "last_key", "cannot revoke the app's only active key: create another one first")
		return http.StatusConflict
	case errors.Is(err, tenants.ErrInvalid) && errors.As(err, &fe):
		writeErrorField(w, http.StatusBadRequest, "invalid_field", fe.Field, fe.Error())
		return http.StatusBadRequest
	case errors.Is(err, tenants.ErrInvalid):
		writeError(w, http.StatusBadRequest, "invalid_field", err.Error())
		return http.StatusBadRequest
	case errors.Is(err, tenants.ErrConflict):
		writeError(w, http.StatusConflict, "conflict", err.Error())
		return http.StatusConflict
	}
	a.log.Error("management request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "internal", "internal error; it has been logged")
	return http.StatusInternalServerError
}

// decode reads a JSON body into v, refusing unknown fields, a wrong
// content type and anything over the size cap.
func (a *API) decode(q *request, v any) error {
	ct := q.header("Content-Type")
	if ct != "" && !strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "application/json") {
		return &apiError{http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json"}
	}
	body, err := io.ReadAll(io.LimitReader(q.r.Body, a.max+1))
	if err != nil {
		return badRequest("invalid_body", "could not read the request body")
	}
	if int64(len(body)) > a.max {
		return &apiError{http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body is larger than %d bytes", a.max)}
	}
	return decodeJSON(body, v)
}

func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te) && te.Field != "":
			return badRequest("invalid_field", fmt.Sprintf("field %q must be a JSON %s", te.Field, te.Type.String()))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return badRequest("unknown_field", strings.TrimPrefix(err.Error(), "json: ")+" (see /api/v1/openapi.yaml)")
		}
		return badRequest("invalid_json", "request body is not valid JSON: "+err.Error())
	}
	if dec.More() {
		return badRequest("invalid_json", "request body has data after the JSON value")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store") // bodies may hold secrets
	w.WriteHeader(status)
	if status == http.StatusNoContent {
		return
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error": msg, "code": code})
}

func writeErrorField(w http.ResponseWriter, status int, code, field, msg string) {
	writeJSON(w, status, map[string]string{"error": msg, "code": code, "field": field})
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
