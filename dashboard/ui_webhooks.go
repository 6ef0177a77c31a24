package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/switchboard-rt/switchboard/tenants"
)

// addWebhook appends one endpoint to the app's webhooks; the URL and
// event types are checked by tenants.ValidateSettings, as for /api/v1.
func (u *UI) addWebhook(w http.ResponseWriter, q *uiRequest) {
	id := q.r.PathValue("app_id")
	h := tenants.Webhook{URL: strings.TrimSpace(q.r.PostForm.Get("url")), EventTypes: q.r.PostForm["event_types"]}
	if h.EventTypes == nil {
		h.EventTypes = []string{}
	}
	prefix, suffix := strings.TrimSpace(q.r.PostForm.Get("channel_name_starts_with")), strings.TrimSpace(q.r.PostForm.Get("channel_name_ends_with"))
	if prefix != "" || suffix != "" {
		h.Filter = &tenants.WebhookFilter{ChannelNameStartsWith: prefix, ChannelNameEndsWith: suffix}
	}
	_, err := updateApp(q.ctx(), u.store, q.tenant.ID, id, q.actor(), func(a *tenants.App) error {
		if len(h.EventTypes) == 0 {
			return fmt.Errorf("%w: %w", tenants.ErrInvalid, &tenants.FieldError{Field: "event_types", Problem: "choose at least one event type"})
		}
		a.Webhooks = append(slices.Clone(a.Webhooks), h)
		return nil
	})
	if err != nil {
		if field, msg, ok := formError(err); ok {
			u.renderApp(w, q, http.StatusBadRequest, page{Field: field, Error: msg}, nil)
			return
		}
		u.storeError(w, q, err)
		return
	}
	redirect(w, q, appPath(id)+"?done=webhook#webhooks")
}

// removeWebhook drops the endpoint at index, only if it still has the URL
// the page showed: two people editing at once must not remove the wrong
// one.
func (u *UI) removeWebhook(w http.ResponseWriter, q *uiRequest) {
	id := q.r.PathValue("app_id")
	i, convErr := strconv.Atoi(q.r.PostForm.Get("index"))
	want := q.r.PostForm.Get("url")
	_, err := updateApp(q.ctx(), u.store, q.tenant.ID, id, q.actor(), func(a *tenants.App) error {
		if convErr != nil || i < 0 || i >= len(a.Webhooks) || a.Webhooks[i].URL != want {
			return fmt.Errorf("%w: %w", tenants.ErrInvalid, &tenants.FieldError{Field: "webhooks", Problem: "the webhooks changed meanwhile: reload the page and try again"})
		}
		a.Webhooks = slices.Delete(slices.Clone(a.Webhooks), i, i+1)
		return nil
	})
	if err != nil {
		if field, msg, ok := formError(err); ok {
			u.renderApp(w, q, http.StatusConflict, page{Field: field, Error: msg}, nil)
			return
		}
		u.storeError(w, q, err)
		return
	}
	redirect(w, q, appPath(id)+"?done=webhook-removed#webhooks")
}

// WebhookTester sends a test webhook now; cmd/switchboard implements it
// with the webhooks package's signing and sender.
type WebhookTester interface {
	// TestWebhook posts a signed test webhook (Pusher's body and
	// X-Pusher-Key/X-Pusher-Signature headers, one channel_occupied event
	// for the channel "test-webhook") to url, an endpoint of the app, and
	// reports the attempt: status, latency and error.
	TestWebhook(ctx context.Context, appID, url string) (WebhookDelivery, error)
}

// webhooksPage is the app's webhook page: recent deliveries, endpoint
// health and the test button.
type webhooksPage struct {
	App        *tenants.App
	Endpoints  []tenants.Webhook
	Health     map[string]WebhookEndpoint
	Deliveries []WebhookDelivery
	// HasLog is false when no attempt log is wired.
	HasLog    bool
	CanTest   bool
	Test      *WebhookDelivery // the result of the test just sent
	TestedURL string
}

func (u *UI) webhooksPage(w http.ResponseWriter, q *uiRequest) {
	u.renderWebhooks(w, q, http.StatusOK, page{Notice: notice(q)}, nil, "")
}

func (u *UI) renderWebhooks(w http.ResponseWriter, q *uiRequest, status int, p page, test *WebhookDelivery, tested string) {
	app, err := u.store.TenantApp(q.ctx(), q.tenant.ID, q.r.PathValue("app_id"))
	if err != nil {
		u.storeError(w, q, err)
		return
	}
	d := &webhooksPage{App: app, Endpoints: app.Webhooks, Health: map[string]WebhookEndpoint{}, Test: test, TestedURL: tested,
		CanTest: q.user.Role.CanWrite() && u.opts.WebhookTester != nil && len(app.Webhooks) > 0}
	if u.opts.Deliveries != nil {
		d.HasLog = true
		ds, es, err := u.opts.Deliveries.WebhookDeliveries(q.ctx(), app.ID, maxDeliveries)
		if err != nil {
			u.log.Error("dashboard: webhook deliveries", "app_id", app.ID, "err", err)
			p.Error = "Recent deliveries could not be read; try again."
		}
		d.Deliveries = ds
		for _, e := range es {
			d.Health[e.URL] = e
		}
	}
	p.Title, p.Nav, p.Tab, p.Data = "Webhooks · "+app.Name, "apps", "webhooks", d
	p.AppID, p.AppName = app.ID, app.Name
	u.render(w, q, status, "webhooks", p)
}

// testWebhook sends a test webhook to one of the app's endpoints. Only
// configured URLs may be chosen: the button must not become a way to
// make the server call any address.
func (u *UI) testWebhook(w http.ResponseWriter, q *uiRequest) {
	app, err := u.store.TenantApp(q.ctx(), q.tenant.ID, q.r.PathValue("app_id"))
	if err != nil {
		u.storeError(w, q, err)
		return
	}
	if u.opts.WebhookTester == nil {
		u.renderWebhooks(w, q, http.StatusServiceUnavailable, page{Error: "Test webhooks are not available on this server."}, nil, "")
		return
	}
	target := q.r.PostForm.Get("url")
	if !slices.ContainsFunc(app.Webhooks, func(h tenants.Webhook) bool { return h.URL == target }) {
		u.renderWebhooks(w, q, http.StatusBadRequest, page{Field: "url", Error: "Choose one of the app's webhook URLs."}, nil, "")
		return
	}
	res, err := u.opts.WebhookTester.TestWebhook(q.ctx(), app.ID, target)
	if err != nil {
		u.log.Error("dashboard: test webhook", "app_id", app.ID, "err", err)
		u.renderWebhooks(w, q, http.StatusInternalServerError, page{Error: "The test webhook could not be sent; it has been logged."}, nil, target)
		return
	}
	u.log.Info("dashboard test webhook", "app_id", app.ID, "status", res.Status, "actor", q.actor())
	p := page{Notice: "Test webhook sent: the receiver answered " + strconv.Itoa(res.Status) + "."}
	if res.Error != "" {
		p = page{Error: "Test webhook failed: " + res.Error}
	}
	u.renderWebhooks(w, q, http.StatusOK, p, &res, target)
}
