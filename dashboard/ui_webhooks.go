package dashboard

import (
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
