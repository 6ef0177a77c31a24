package tenants

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
)

// DevApp is the development app created when no apps are configured.
func DevApp() *App {
	a := NewApp("app-id", "app-key", "app-secret")
	a.Name = "development"
	a.EnableClientMessages = true
	return a
}

// LoadAppsFile reads a JSON array of apps in the snake_case shape of the
// apps file. Errors name the file, the app and the field.
func LoadAppsFile(path string) (apps []*App, warnings []string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("apps file %s: %w", path, err)
	}
	apps, warnings, err = ParseApps(b)
	if err != nil {
		return nil, nil, fmt.Errorf("apps file %s: %w", path, err)
	}
	return apps, warnings, nil
}

// ParseApps parses and validates the apps file's JSON array. Unknown fields
// are reported as warnings, not errors, so a file written for a newer
// version still loads.
func ParseApps(b []byte) ([]*App, []string, error) {
	var raws []map[string]json.RawMessage
	if err := json.Unmarshal(b, &raws); err != nil {
		return nil, nil, fmt.Errorf("not a JSON array of app objects: %w", err)
	}
	var warnings []string
	apps := make([]*App, 0, len(raws))
	ids, keys := map[string]bool{}, map[string]bool{}
	for i, raw := range raws {
		app, warn, err := parseApp(raw)
		name := appLabel(i, raw)
		for _, w := range warn {
			warnings = append(warnings, name+": "+w)
		}
		if err != nil {
			return nil, warnings, fmt.Errorf("%s: %w", name, err)
		}
		if ids[app.ID] {
			return nil, warnings, fmt.Errorf("%s: field \"id\": duplicate id %q", name, app.ID)
		}
		ids[app.ID] = true
		for _, k := range app.Keys {
			if keys[k.Key] {
				return nil, warnings, fmt.Errorf("%s: field \"key\": duplicate key %q", name, k.Key)
			}
			keys[k.Key] = true
		}
		apps = append(apps, app)
	}
	return apps, warnings, nil
}

func appLabel(i int, raw map[string]json.RawMessage) string {
	var id string
	if json.Unmarshal(raw["id"], &id) == nil && id != "" {
		return fmt.Sprintf("app %q", id)
	}
	return fmt.Sprintf("app #%d", i+1)
}

func parseApp(raw map[string]json.RawMessage) (*App, []string, error) {
	app := &App{Enabled: true, Limits: DefaultLimits()}
	var key, secret string
	fields := map[string]any{
		"id": &app.ID, "key": &key, "secret": &secret, "name": &app.Name, "enabled": &app.Enabled,
		"enable_client_messages":           &app.EnableClientMessages,
		"enable_user_authentication":       &app.EnableUserAuthentication,
		"enable_subscription_count":        &app.EnableSubscriptionCount,
		"batch_webhooks":                   &app.BatchWebhooks,
		"max_connections":                  &app.MaxConnections,
		"max_client_events_per_second":     &app.MaxClientEventsPerSecond,
		"max_backend_events_per_second":    &app.MaxBackendEventsPerSecond,
		"max_read_requests_per_second":     &app.MaxReadRequestsPerSecond,
		"max_presence_members_per_channel": &app.MaxPresenceMembersPerChannel,
		"max_presence_member_size_in_kb":   &app.MaxPresenceMemberSizeInKB,
		"max_channel_name_length":          &app.MaxChannelNameLength,
		"max_event_channels_at_once":       &app.MaxEventChannelsAtOnce,
		"max_event_name_length":            &app.MaxEventNameLength,
		"max_event_payload_in_kb":          &app.MaxEventPayloadInKB,
		"max_event_batch_size":             &app.MaxEventBatchSize,
		"allowed_origins":                  &app.AllowedOrigins,
		"user_authentication_timeout":      &app.UserAuthenticationTimeout,
		"history_max_events":               &app.HistoryMaxEvents,
		"history_max_age_seconds":          &app.HistoryMaxAgeSeconds,
		"webhooks":                         &app.Webhooks,
	}
	var warnings []string
	names := make([]string, 0, len(raw))
	for name := range raw {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		dst, ok := fields[name]
		if !ok {
			warnings = append(warnings, fmt.Sprintf("unknown field %q ignored", name))
			continue
		}
		v := raw[name]
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			continue // null keeps the default
		}
		if name == "id" {
			// Pusher's app ids are numbers; accept 123 as well as "123".
			var n json.Number
			if t := bytes.TrimSpace(v); len(t) > 0 && t[0] != '"' && json.Unmarshal(t, &n) == nil {
				app.ID = n.String()
				continue
			}
		}
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.DisallowUnknownFields()
		if err := dec.Decode(dst); err != nil {
			return nil, warnings, fmt.Errorf("field %q: %s", name, jsonProblem(err))
		}
	}
	if app.Name == "" {
		app.Name = app.ID
	}
	app.Keys = []Key{{Key: key, Secret: secret}}
	return app, warnings, Validate(app)
}

func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("expected %s, got JSON %s", te.Type, te.Value)
	}
	return err.Error()
}

// FieldError names the app setting that is wrong.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return fmt.Sprintf("field %q: %s", e.Field, e.Problem) }

// Validate checks an app's credentials and settings.
func Validate(a *App) error {
	bad := func(field, problem string) error { return &FieldError{field, problem} }
	if strings.TrimSpace(a.ID) == "" {
		return bad("id", "must not be empty")
	}
	if strings.ContainsAny(a.ID, "/?#% ") {
		return bad("id", "must not contain '/', '?', '#', '%' or spaces (it is part of URL paths)")
	}
	if len(a.Keys) == 0 {
		return bad("key", "must not be empty")
	}
	for _, k := range a.Keys {
		if k.Key == "" || strings.ContainsAny(k.Key, "/?#%: ") {
			return bad("key", "must be non-empty, without '/', '?', '#', '%', ':' or spaces")
		}
		if k.Secret == "" {
			return bad("secret", "must not be empty")
		}
	}
	type lim struct {
		field string
		v     int
		min   int
	}
	l := a.Limits
	for _, c := range []lim{
		{"max_connections", l.MaxConnections, Unlimited},
		{"max_client_events_per_second", l.MaxClientEventsPerSecond, Unlimited},
		{"max_backend_events_per_second", l.MaxBackendEventsPerSecond, Unlimited},
		{"max_read_requests_per_second", l.MaxReadRequestsPerSecond, Unlimited},
		{"max_presence_members_per_channel", l.MaxPresenceMembersPerChannel, 1},
		{"max_channel_name_length", l.MaxChannelNameLength, 1},
		{"max_event_channels_at_once", l.MaxEventChannelsAtOnce, 1},
		{"max_event_name_length", l.MaxEventNameLength, 1},
		{"max_event_batch_size", l.MaxEventBatchSize, 1},
		{"user_authentication_timeout", l.UserAuthenticationTimeout, 1},
	} {
		if c.v < c.min {
			if c.min == Unlimited {
				return bad(c.field, fmt.Sprintf("must be -1 (unlimited) or at least 0, got %d", c.v))
			}
			return bad(c.field, fmt.Sprintf("must be at least %d, got %d", c.min, c.v))
		}
	}
	if l.MaxChannelNameLength > 200 {
		return bad("max_channel_name_length", fmt.Sprintf("must be at most 200, got %d", l.MaxChannelNameLength))
	}
	if l.MaxEventPayloadInKB <= 0 || l.MaxEventPayloadInKB > 1024 {
		return bad("max_event_payload_in_kb", fmt.Sprintf("must be more than 0 and at most 1024, got %g", l.MaxEventPayloadInKB))
	}
	if l.MaxPresenceMemberSizeInKB <= 0 || l.MaxPresenceMemberSizeInKB > 64 {
		return bad("max_presence_member_size_in_kb", fmt.Sprintf("must be more than 0 and at most 64, got %g", l.MaxPresenceMemberSizeInKB))
	}
	if l.HistoryMaxEvents < 0 || l.HistoryMaxEvents > MaxHistoryEvents {
		return bad("history_max_events", fmt.Sprintf("must be between 0 (no history) and %d, got %d", MaxHistoryEvents, l.HistoryMaxEvents))
	}
	if l.HistoryMaxAgeSeconds < Unlimited || l.HistoryMaxAgeSeconds > MaxHistoryAgeSeconds {
		return bad("history_max_age_seconds", fmt.Sprintf("must be -1 (no age limit) or between 0 and %d, got %d", MaxHistoryAgeSeconds, l.HistoryMaxAgeSeconds))
	}
	for i, w := range a.Webhooks {
		u, err := url.Parse(w.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("webhooks", fmt.Sprintf("webhook #%d: url %q must be an absolute http or https URL", i+1, w.URL))
		}
		for _, t := range w.EventTypes {
			if !slices.Contains(WebhookEventTypes, t) {
				return bad("webhooks", fmt.Sprintf("webhook #%d: unknown event type %q (known: %s)", i+1, t, strings.Join(WebhookEventTypes, ", ")))
			}
		}
	}
	for _, o := range a.AllowedOrigins {
		if o == "" {
			return bad("allowed_origins", "must not contain empty strings")
		}
	}
	return nil
}

// Seed adds apps to store, leaving apps whose id or key already exists as
// they are. It returns how many it added.
func Seed(ctx context.Context, store Store, apps []*App) (int, error) {
	n := 0
	for _, a := range apps {
		added, err := store.CreateAppIfAbsent(ctx, a)
		if err != nil {
			return n, fmt.Errorf("seed app %s: %w", a.ID, err)
		}
		if added {
			n++
		}
	}
	return n, nil
}
