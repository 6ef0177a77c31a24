package dashboard

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/switchboard-rt/switchboard/tenants"
)

var unescape = url.PathUnescape

func (a *API) openAPI(q *request) (int, any, error) {
	return http.StatusOK, rawYAML(OpenAPI), nil
}

// rawYAML is written as is, not as JSON.
type rawYAML []byte

func (a *API) getTenant(q *request) (int, any, error) {
	return http.StatusOK, q.tenant, nil
}

func (a *API) getPlan(q *request) (int, any, error) {
	p, err := a.store.Plan(q.ctx(), q.tenant.PlanID)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, p, nil
}

// appView is an app as the API shows it: public keys only, never a secret.
type appView struct {
	ID                       string            `json:"id"`
	TenantID                 string            `json:"tenant_id"`
	Name                     string            `json:"name"`
	Enabled                  bool              `json:"enabled"`
	Keys                     []string          `json:"keys"`
	EnableClientMessages     bool              `json:"enable_client_messages"`
	EnableUserAuthentication bool              `json:"enable_user_authentication"`
	EnableSubscriptionCount  bool              `json:"enable_subscription_count"`
	BatchWebhooks            bool              `json:"batch_webhooks"`
	Limits                   tenants.Limits    `json:"limits"`
	AllowedOrigins           []string          `json:"allowed_origins"`
	Webhooks                 []tenants.Webhook `json:"webhooks"`
}

func viewOf(app *tenants.App) appView {
	v := appView{
		ID: app.ID, TenantID: app.TenantID, Name: app.Name, Enabled: app.Enabled, Keys: []string{},
		EnableClientMessages: app.EnableClientMessages, EnableUserAuthentication: app.EnableUserAuthentication,
		EnableSubscriptionCount: app.EnableSubscriptionCount, BatchWebhooks: app.BatchWebhooks,
		Limits: app.Limits, AllowedOrigins: app.AllowedOrigins, Webhooks: app.Webhooks,
	}
	for _, k := range app.Keys {
		v.Keys = append(v.Keys, k.Key)
	}
	if v.AllowedOrigins == nil {
		v.AllowedOrigins = []string{}
	}
	if v.Webhooks == nil {
		v.Webhooks = []tenants.Webhook{}
	}
	return v
}

func (a *API) listApps(q *request) (int, any, error) {
	apps, err := a.store.TenantApps(q.ctx(), q.tenantID())
	if err != nil {
		return 0, nil, err
	}
	out := make([]appView, 0, len(apps))
	for _, app := range apps {
		out = append(out, viewOf(app))
	}
	return http.StatusOK, map[string]any{"apps": out}, nil
}

func (a *API) getApp(q *request) (int, any, error) {
	app, err := a.store.TenantApp(q.ctx(), q.tenantID(), q.param("app_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, viewOf(app), nil
}

// appSettings is the body of POST /apps and PATCH /apps/{id}: every field
// optional; absent fields keep their value (or the default on create).
type appSettings struct {
	Name                     *string          `json:"name"`
	Enabled                  *bool            `json:"enabled"`
	EnableClientMessages     *bool            `json:"enable_client_messages"`
	EnableUserAuthentication *bool            `json:"enable_user_authentication"`
	EnableSubscriptionCount  *bool            `json:"enable_subscription_count"`
	BatchWebhooks            *bool            `json:"batch_webhooks"`
	AllowedOrigins           *[]string        `json:"allowed_origins"`
	Limits                   *json.RawMessage `json:"limits"`
}

func (s *appSettings) apply(app *tenants.App) error {
	set := func(dst *bool, v *bool) {
		if v != nil {
			*dst = *v
		}
	}
	if s.Name != nil {
		app.Name = *s.Name
	}
	set(&app.Enabled, s.Enabled)
	set(&app.EnableClientMessages, s.EnableClientMessages)
	set(&app.EnableUserAuthentication, s.EnableUserAuthentication)
	set(&app.EnableSubscriptionCount, s.EnableSubscriptionCount)
	set(&app.BatchWebhooks, s.BatchWebhooks)
	if s.AllowedOrigins != nil {
		app.AllowedOrigins = *s.AllowedOrigins
	}
	if s.Limits != nil {
		// Named limits change; the others keep their values.
		if err := decodeJSON(*s.Limits, &app.Limits); err != nil {
			if ae, ok := err.(*apiError); ok {
				ae.message = "limits: " + ae.message
			}
			return err
		}
	}
	return nil
}

func (a *API) createApp(q *request) (int, any, error) {
	var s appSettings
	if err := a.decode(q, &s); err != nil {
		return 0, nil, err
	}
	app, key, err := createApp(q.ctx(), a.store, q.tenantID(), q.actor, s.apply)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, struct {
		appView
		Key    string `json:"key"`
		Secret string `json:"secret"`
	}{viewOf(app), key.Key, key.Secret}, nil
}

func (a *API) patchApp(q *request) (int, any, error) {
	var s appSettings
	if err := a.decode(q, &s); err != nil {
		return 0, nil, err
	}
	updated, err := a.updateSettings(q, s.apply)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, viewOf(updated), nil
}

func (a *API) updateSettings(q *request, change func(*tenants.App) error) (*tenants.App, error) {
	return updateApp(q.ctx(), a.store, q.tenantID(), q.param("app_id"), q.actor, change)
}

func (a *API) deleteApp(q *request) (int, any, error) {
	if err := a.store.RemoveApp(q.ctx(), q.tenantID(), q.param("app_id"), q.actor); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (a *API) listKeys(q *request) (int, any, error) {
	keys, err := a.store.Keys(q.ctx(), q.tenantID(), q.param("app_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"keys": keys}, nil
}

func (a *API) createKey(q *request) (int, any, error) {
	k, err := a.store.CreateKey(q.ctx(), q.tenantID(), q.param("app_id"), q.actor)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, k, nil
}

func (a *API) revokeKey(q *request) (int, any, error) {
	if err := a.store.RevokeKey(q.ctx(), q.tenantID(), q.param("app_id"), q.param("key"), q.actor); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (a *API) getWebhooks(q *request) (int, any, error) {
	app, err := a.store.AppSettings(q.ctx(), q.tenantID(), q.param("app_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, webhooksOf(app), nil
}

func (a *API) putWebhooks(q *request) (int, any, error) {
	var body struct {
		Webhooks []tenants.Webhook `json:"webhooks"`
	}
	if err := a.decode(q, &body); err != nil {
		return 0, nil, err
	}
	for i, h := range body.Webhooks {
		u, err := url.Parse(h.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return 0, nil, badRequest("invalid_field", "webhooks["+strconv.Itoa(i)+"].url must be an absolute http or https URL")
		}
	}
	updated, err := a.updateSettings(q, func(c *tenants.App) error { c.Webhooks = body.Webhooks; return nil })
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, webhooksOf(updated), nil
}

func webhooksOf(app *tenants.App) map[string]any {
	hooks := app.Webhooks
	if hooks == nil {
		hooks = []tenants.Webhook{}
	}
	return map[string]any{"webhooks": hooks}
}

func (a *API) audit(q *request) (int, any, error) {
	limit := 100
	if s := q.query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return 0, nil, badRequest("invalid_query", "limit must be an integer from 1 to 1000")
		}
		limit = n
	}
	entries, err := a.store.Audit(q.ctx(), q.tenantID(), limit)
	if err != nil {
		return 0, nil, err
	}
	if entries == nil {
		entries = []tenants.AuditEntry{}
	}
	return http.StatusOK, map[string]any{"entries": entries}, nil
}

func (a *API) listTokens(q *request) (int, any, error) {
	toks, err := a.store.Tokens(q.ctx(), q.tenantID())
	if err != nil {
		return 0, nil, err
	}
	if toks == nil {
		toks = []tenants.APIToken{}
	}
	return http.StatusOK, map[string]any{"tokens": toks}, nil
}

func (a *API) createToken(q *request) (int, any, error) {
	var body struct {
		Name string `json:"name"`
	}
	if err := a.decode(q, &body); err != nil {
		return 0, nil, err
	}
	if strings.TrimSpace(body.Name) == "" || len(body.Name) > 200 {
		return 0, nil, badRequest("invalid_field", `field "name" must be 1 to 200 bytes`)
	}
	tok, plain, err := a.store.CreateToken(q.ctx(), q.tenantID(), body.Name, q.actor)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, struct {
		tenants.APIToken
		Token string `json:"token"`
	}{tok, plain}, nil
}

func (a *API) revokeToken(q *request) (int, any, error) {
	if err := a.store.RevokeToken(q.ctx(), q.tenantID(), q.param("token_id"), q.actor); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}
