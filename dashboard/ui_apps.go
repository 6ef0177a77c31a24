package dashboard

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/switchboard-rt/switchboard/tenants"
)

func appPath(id string) string { return basePath + "/apps/" + url.PathEscape(id) }

func (u *UI) listApps(w http.ResponseWriter, q *uiRequest) {
	apps, err := u.store.TenantApps(q.ctx(), q.tenant.ID)
	if err != nil {
		u.storeError(w, q, err)
		return
	}
	u.render(w, q, http.StatusOK, "apps", page{Title: "Apps", Nav: "apps", Notice: notice(q), Data: apps})
}

// notices are the messages a redirect after a change may show, by code,
// so that no text from the URL reaches the page.
var notices = map[string]string{
	"created":          "App created. Its credentials are below.",
	"saved":            "Settings saved. Every node has them within 2 seconds.",
	"enabled":          "App enabled.",
	"disabled":         "App disabled: its connections are closed and its API calls refused.",
	"deleted":          "App deleted.",
	"key":              "New key created. Move your clients and servers to it, then revoke the old one.",
	"revoked":          "Key revoked: connections that used it are closed.",
	"webhook":          "Webhook added.",
	"webhook-removed":  "Webhook removed.",
	"tenant-active":    "Tenant reactivated.",
	"tenant-suspended": "Tenant suspended: its apps are refused at once.",
	"tenant-plan":      "Plan changed: the tenant's limits follow on every node within seconds.",
	"event-sent":       "Event sent.",
	"password":         "Password changed. Your other sessions are signed out.",
	"member":           "Member added. Give them their password; they can sign in now.",
	"role":             "Role changed.",
	"removed":          "Member removed and signed out.",
}

func notice(q *uiRequest) string { return notices[q.r.URL.Query().Get("done")] }

func (u *UI) newAppForm(w http.ResponseWriter, q *uiRequest) {
	u.render(w, q, http.StatusOK, "app_new", page{Title: "New app", Nav: "apps"})
}

func (u *UI) createApp(w http.ResponseWriter, q *uiRequest) {
	name := strings.TrimSpace(q.r.PostForm.Get("name"))
	app, _, err := createApp(q.ctx(), u.store, q.tenant.ID, q.actor(), func(a *tenants.App) error { a.Name = name; return nil })
	if err != nil {
		if field, msg, ok := formError(err); ok {
			u.render(w, q, http.StatusBadRequest, "app_new", page{Title: "New app", Nav: "apps", Field: field, Error: msg, Data: name})
			return
		}
		u.storeError(w, q, err)
		return
	}
	redirect(w, q, appPath(app.ID)+"?done=created")
}

// appPage is the app detail page's data. Secrets are only put here for
// roles that may see them, so a template slip cannot show one to a
// viewer.
type appPage struct {
	App      *tenants.App // effective settings (plan caps applied)
	Settings *tenants.App // as stored: what the form edits
	Keys     []keyRow
	Limits   []limitRow
	Origins  string
	// EventTypes are the webhook event types the add form offers.
	EventTypes []string
	Snippets   snippets
}

// snippets are the values the ready-to-paste client and server code
// needs: this host as the browser reached it, and the primary key.
// Secret is a placeholder for roles that may not see secrets.
type snippets struct {
	Host, Key, Secret string
	Port              int
	TLS               bool
}

func (u *UI) snippetsFor(q *uiRequest, app *tenants.App) snippets {
	s := snippets{Host: q.r.Host, Key: app.Key(), Secret: "YOUR_APP_SECRET", TLS: q.r.TLS != nil || u.opts.SecureCookies, Port: 80}
	if s.TLS {
		s.Port = 443
	}
	if h, p, err := net.SplitHostPort(q.r.Host); err == nil {
		s.Host = h
		if n, err := strconv.Atoi(p); err == nil {
			s.Port = n
		}
	}
	if q.user.Role.CanSeeSecrets() {
		s.Secret = app.Secret()
	}
	return s
}

type keyRow struct {
	tenants.KeyInfo
	Secret string
}

type limitRow struct {
	Name, Label, Help string
	Value             string
	Effective         string
}

func (u *UI) showApp(w http.ResponseWriter, q *uiRequest) {
	u.renderApp(w, q, http.StatusOK, page{Notice: notice(q)}, nil)
}

// renderApp shows the app page; form, when set, holds the values a
// rejected settings form posted, shown back with the error.
func (u *UI) renderApp(w http.ResponseWriter, q *uiRequest, status int, p page, form *tenants.App) {
	id := q.r.PathValue("app_id")
	app, err := u.store.TenantApp(q.ctx(), q.tenant.ID, id)
	if err != nil {
		u.storeError(w, q, err)
		return
	}
	stored, err := u.store.AppSettings(q.ctx(), q.tenant.ID, id)
	if err != nil {
		u.storeError(w, q, err)
		return
	}
	keys, err := u.store.Keys(q.ctx(), q.tenant.ID, id)
	if err != nil {
		u.storeError(w, q, err)
		return
	}
	if form != nil {
		stored = form
	}
	d := &appPage{App: app, Settings: stored, Origins: strings.Join(stored.AllowedOrigins, "\n"), EventTypes: tenants.WebhookEventTypes}
	d.Snippets = u.snippetsFor(q, app)
	for _, k := range keys {
		row := keyRow{KeyInfo: k}
		if q.user.Role.CanSeeSecrets() && k.Status == tenants.KeyActive {
			row.Secret, _ = app.SecretFor(k.Key)
		}
		d.Keys = append(d.Keys, row)
	}
	for _, f := range limitFields {
		d.Limits = append(d.Limits, limitRow{Name: f.name, Label: f.label, Help: f.help,
			Value: f.get(&stored.Limits), Effective: f.get(&app.Limits)})
	}
	p.Title, p.Nav, p.Tab, p.AppID, p.AppName, p.Data = app.Name, "apps", "overview", app.ID, app.Name, d
	u.render(w, q, status, "app", p)
}

// limitField is one per-app limit of the settings form.
type limitField struct {
	name, label, help string
	get               func(*tenants.Limits) string
	set               func(*tenants.Limits, string) error
}

func intLimit(name, label, help string, f func(*tenants.Limits) *int) limitField {
	return limitField{name, label, help,
		func(l *tenants.Limits) string { return strconv.Itoa(*f(l)) },
		func(l *tenants.Limits, s string) error {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("%w: %w", tenants.ErrInvalid, &tenants.FieldError{Field: name, Problem: "must be a whole number (-1 for unlimited)"})
			}
			*f(l) = n
			return nil
		}}
}

func kbLimit(name, label, help string, f func(*tenants.Limits) *float64) limitField {
	return limitField{name, label, help,
		func(l *tenants.Limits) string { return strconv.FormatFloat(*f(l), 'f', -1, 64) },
		func(l *tenants.Limits, s string) error {
			n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil {
				return fmt.Errorf("%w: %w", tenants.ErrInvalid, &tenants.FieldError{Field: name, Problem: "must be a number of KB"})
			}
			*f(l) = n
			return nil
		}}
}

// limitFields are the limits of tenants.Limits, in the order the form
// shows them; the names are the management API's JSON names.
var limitFields = []limitField{
	intLimit("max_connections", "Max connections", "-1: unlimited (within your plan)", func(l *tenants.Limits) *int { return &l.MaxConnections }),
	intLimit("max_client_events_per_second", "Client events per second, per connection", "", func(l *tenants.Limits) *int { return &l.MaxClientEventsPerSecond }),
	intLimit("max_backend_events_per_second", "Backend events per second", "-1: unlimited", func(l *tenants.Limits) *int { return &l.MaxBackendEventsPerSecond }),
	intLimit("max_read_requests_per_second", "Read requests per second", "-1: unlimited", func(l *tenants.Limits) *int { return &l.MaxReadRequestsPerSecond }),
	intLimit("max_presence_members_per_channel", "Presence members per channel", "", func(l *tenants.Limits) *int { return &l.MaxPresenceMembersPerChannel }),
	kbLimit("max_presence_member_size_in_kb", "Presence member size (KB)", "", func(l *tenants.Limits) *float64 { return &l.MaxPresenceMemberSizeInKB }),
	intLimit("max_channel_name_length", "Channel name length", "", func(l *tenants.Limits) *int { return &l.MaxChannelNameLength }),
	intLimit("max_event_channels_at_once", "Channels per published event", "", func(l *tenants.Limits) *int { return &l.MaxEventChannelsAtOnce }),
	intLimit("max_event_name_length", "Event name length", "", func(l *tenants.Limits) *int { return &l.MaxEventNameLength }),
	kbLimit("max_event_payload_in_kb", "Event payload (KB)", "", func(l *tenants.Limits) *float64 { return &l.MaxEventPayloadInKB }),
	intLimit("max_event_batch_size", "Events per batch", "", func(l *tenants.Limits) *int { return &l.MaxEventBatchSize }),
	intLimit("user_authentication_timeout", "User authentication timeout (s)", "", func(l *tenants.Limits) *int { return &l.UserAuthenticationTimeout }),
	intLimit("history_max_events", "History: events kept per channel", "0: off; kept for reconnecting clients and the history API", func(l *tenants.Limits) *int { return &l.HistoryMaxEvents }),
	intLimit("history_max_age_seconds", "History: longest an event is kept (s)", "-1: no age limit of the app's own", func(l *tenants.Limits) *int { return &l.HistoryMaxAgeSeconds }),
}

// applyForm sets an app's settings from the settings form. Checkboxes
// absent from a posted form are off, as browsers send only checked ones.
func applyForm(form url.Values, a *tenants.App) error {
	a.Name = strings.TrimSpace(form.Get("name"))
	a.EnableClientMessages = form.Get("enable_client_messages") == "on"
	a.EnableUserAuthentication = form.Get("enable_user_authentication") == "on"
	a.EnableSubscriptionCount = form.Get("enable_subscription_count") == "on"
	a.BatchWebhooks = form.Get("batch_webhooks") == "on"
	a.AllowedOrigins = nil
	for o := range strings.FieldsSeq(form.Get("allowed_origins")) {
		a.AllowedOrigins = append(a.AllowedOrigins, o)
	}
	for _, f := range limitFields {
		if _, posted := form[f.name]; !posted {
			continue // a form from before the field existed keeps its value
		}
		if err := f.set(&a.Limits, form.Get(f.name)); err != nil {
			return err
		}
	}
	return nil
}

func (u *UI) updateSettings(w http.ResponseWriter, q *uiRequest) {
	id := q.r.PathValue("app_id")
	var posted tenants.App
	_, err := updateApp(q.ctx(), u.store, q.tenant.ID, id, q.actor(), func(a *tenants.App) error {
		err := applyForm(q.r.PostForm, a)
		posted = *a
		return err
	})
	if err != nil {
		if field, msg, ok := formError(err); ok && !errors.Is(err, tenants.ErrNotFound) {
			u.renderApp(w, q, http.StatusBadRequest, page{Field: field, Error: msg}, &posted)
			return
		}
		u.storeError(w, q, err)
		return
	}
	redirect(w, q, appPath(id)+"?done=saved")
}

func (u *UI) setEnabled(w http.ResponseWriter, q *uiRequest) {
	id := q.r.PathValue("app_id")
	on := q.r.PostForm.Get("enabled") == "true"
	if _, err := updateApp(q.ctx(), u.store, q.tenant.ID, id, q.actor(), func(a *tenants.App) error { a.Enabled = on; return nil }); err != nil {
		u.storeError(w, q, err)
		return
	}
	done := "disabled"
	if on {
		done = "enabled"
	}
	redirect(w, q, appPath(id)+"?done="+done)
}

func (u *UI) deleteForm(w http.ResponseWriter, q *uiRequest) {
	app, err := u.store.TenantApp(q.ctx(), q.tenant.ID, q.r.PathValue("app_id"))
	if err != nil {
		u.storeError(w, q, err)
		return
	}
	u.render(w, q, http.StatusOK, "app_delete", page{Title: "Delete " + app.Name, Nav: "apps", Data: app})
}

// deleteApp needs the app's id typed into the form, so a stray click or
// a replayed form cannot delete an app.
func (u *UI) deleteApp(w http.ResponseWriter, q *uiRequest) {
	id := q.r.PathValue("app_id")
	app, err := u.store.TenantApp(q.ctx(), q.tenant.ID, id)
	if err != nil {
		u.storeError(w, q, err)
		return
	}
	if strings.TrimSpace(q.r.PostForm.Get("confirm")) != app.ID {
		u.render(w, q, http.StatusBadRequest, "app_delete", page{Title: "Delete " + app.Name, Nav: "apps", Data: app,
			Field: "confirm", Error: "Type the app id exactly to confirm."})
		return
	}
	if err := u.store.RemoveApp(q.ctx(), q.tenant.ID, id, q.actor()); err != nil {
		u.storeError(w, q, err)
		return
	}
	redirect(w, q, basePath+"/apps?done=deleted")
}

func (u *UI) createKey(w http.ResponseWriter, q *uiRequest) {
	id := q.r.PathValue("app_id")
	if _, err := u.store.CreateKey(q.ctx(), q.tenant.ID, id, q.actor()); err != nil {
		u.storeError(w, q, err)
		return
	}
	redirect(w, q, appPath(id)+"?done=key#keys")
}

func (u *UI) revokeKey(w http.ResponseWriter, q *uiRequest) {
	id := q.r.PathValue("app_id")
	err := u.store.RevokeKey(q.ctx(), q.tenant.ID, id, q.r.PathValue("key"), q.actor())
	if errors.Is(err, tenants.ErrLastKey) {
		_, msg, _ := formError(err)
		u.renderApp(w, q, http.StatusConflict, page{Error: msg}, nil)
		return
	}
	if err != nil {
		u.storeError(w, q, err)
		return
	}
	redirect(w, q, appPath(id)+"?done=revoked#keys")
}
