package tenants_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard-rt/switchboard/tenants"
)

// pusherDefaults is the app ParseApps makes of id, key and secret alone.
// The numbers are Pusher's documented limits, written out rather than
// taken from protocol so that a changed constant fails here.
func pusherDefaults() *tenants.App {
	return &tenants.App{
		ID: "a", Name: "a", Enabled: true,
		Keys: []tenants.Key{{Key: "k", Secret: "s"}},
		Limits: tenants.Limits{
			MaxConnections:               -1,
			MaxClientEventsPerSecond:     10,
			MaxBackendEventsPerSecond:    -1,
			MaxReadRequestsPerSecond:     -1,
			MaxPresenceMembersPerChannel: 100,
			MaxPresenceMemberSizeInKB:    1,
			MaxChannelNameLength:         164,
			MaxEventChannelsAtOnce:       100,
			MaxEventNameLength:           200,
			MaxEventPayloadInKB:          10,
			MaxEventBatchSize:            10,
			UserAuthenticationTimeout:    30,
			HistoryMaxEvents:             0, // history is opt-in
			HistoryMaxAgeSeconds:         300,
		},
	}
}

func parseOne(t *testing.T, js string) (*tenants.App, []string) {
	t.Helper()
	apps, warnings, err := tenants.ParseApps([]byte(js))
	if err != nil {
		t.Fatalf("ParseApps(%s): %v", js, err)
	}
	if len(apps) != 1 {
		t.Fatalf("ParseApps(%s): %d apps", js, len(apps))
	}
	return apps[0], warnings
}

func TestParseAppsDefaults(t *testing.T) {
	got, warnings := parseOne(t, `[{"id":"a","key":"k","secret":"s"}]`)
	if want := pusherDefaults(); !reflect.DeepEqual(got, want) {
		t.Fatalf("\n got %+v\nwant %+v", got, want)
	}
	if len(warnings) != 0 {
		t.Fatalf("warnings %v", warnings)
	}
}

// appFields are every field the apps file knows besides id, key and secret.
var appFields = []string{
	"name", "enabled", "enable_client_messages", "enable_user_authentication",
	"enable_subscription_count", "batch_webhooks", "max_connections",
	"max_client_events_per_second", "max_backend_events_per_second",
	"max_read_requests_per_second", "max_presence_members_per_channel",
	"max_presence_member_size_in_kb", "max_channel_name_length",
	"max_event_channels_at_once", "max_event_name_length",
	"max_event_payload_in_kb", "max_event_batch_size", "allowed_origins",
	"user_authentication_timeout", "webhooks",
}

func TestParseAppsNullKeepsDefaults(t *testing.T) {
	var b strings.Builder
	b.WriteString(`[{"id":"a","key":"k","secret":"s"`)
	for _, f := range appFields {
		b.WriteString(`,"` + f + `": null`)
	}
	b.WriteString(`}]`)
	got, warnings := parseOne(t, b.String())
	if want := pusherDefaults(); !reflect.DeepEqual(got, want) {
		t.Fatalf("\n got %+v\nwant %+v", got, want)
	}
	if len(warnings) != 0 {
		t.Fatalf("a known field set to null warned: %v", warnings)
	}
}

func TestParseAppsEveryField(t *testing.T) {
	got, warnings := parseOne(t, `[{
		"id": "a", "key": "k", "secret": "s", "name": "My app", "enabled": false,
		"enable_client_messages": true, "enable_user_authentication": true,
		"enable_subscription_count": true, "batch_webhooks": true,
		"max_connections": 500, "max_client_events_per_second": -1,
		"max_backend_events_per_second": 100, "max_read_requests_per_second": 0,
		"max_presence_members_per_channel": 50, "max_presence_member_size_in_kb": 2.5,
		"max_channel_name_length": 200, "max_event_channels_at_once": 10,
		"max_event_name_length": 64, "max_event_payload_in_kb": 0.5, "max_event_batch_size": 1,
		"allowed_origins": ["https://app.example.com", "https://*.example.org"],
		"user_authentication_timeout": 5,
		"history_max_events": 250, "history_max_age_seconds": -1,
		"webhooks": [
			{"url": "https://hooks.example.com/p", "event_types": ["channel_occupied", "channel_vacated"]},
			{"url": "http://10.0.0.1:8080/x", "event_types": ["member_added"],
			 "filter": {"channel_name_starts_with": "presence-", "channel_name_ends_with": "-room"}}
		]
	}]`)
	want := &tenants.App{
		ID: "a", Name: "My app", Enabled: false,
		Keys:                     []tenants.Key{{Key: "k", Secret: "s"}},
		EnableClientMessages:     true,
		EnableUserAuthentication: true,
		EnableSubscriptionCount:  true,
		BatchWebhooks:            true,
		Limits: tenants.Limits{
			MaxConnections:               500,
			MaxClientEventsPerSecond:     -1,
			MaxBackendEventsPerSecond:    100,
			MaxReadRequestsPerSecond:     0,
			MaxPresenceMembersPerChannel: 50,
			MaxPresenceMemberSizeInKB:    2.5,
			MaxChannelNameLength:         200,
			MaxEventChannelsAtOnce:       10,
			MaxEventNameLength:           64,
			MaxEventPayloadInKB:          0.5,
			MaxEventBatchSize:            1,
			UserAuthenticationTimeout:    5,
			HistoryMaxEvents:             250,
			HistoryMaxAgeSeconds:         -1,
		},
		AllowedOrigins: []string{"https://app.example.com", "https://*.example.org"},
		Webhooks: []tenants.Webhook{
			{URL: "https://hooks.example.com/p", EventTypes: []string{"channel_occupied", "channel_vacated"}},
			{URL: "http://10.0.0.1:8080/x", EventTypes: []string{"member_added"},
				Filter: &tenants.WebhookFilter{ChannelNameStartsWith: "presence-", ChannelNameEndsWith: "-room"}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("\n got %+v\nwant %+v", got, want)
	}
	if len(warnings) != 0 {
		t.Fatalf("warnings %v", warnings)
	}
}

func TestParseAppsUnknownFieldsWarn(t *testing.T) {
	apps, warnings, err := tenants.ParseApps([]byte(`[
		{"id":"a","key":"k","secret":"s","future_setting":1,"another":{"x":true}},
		{"key":"k2","secret":"s","id":"b","keys":[]}
	]`))
	if err != nil || len(apps) != 2 {
		t.Fatalf("%d apps, err %v", len(apps), err)
	}
	want := []string{
		`app "a": unknown field "another" ignored`,
		`app "a": unknown field "future_setting" ignored`,
		`app "b": unknown field "keys" ignored`,
	}
	if !slices.Equal(warnings, want) {
		t.Fatalf("warnings\n%q\nwant\n%q", warnings, want)
	}
	if !reflect.DeepEqual(apps[0], pusherDefaults()) {
		t.Fatalf("unknown fields changed the app: %+v", apps[0])
	}
}

func TestParseAppsAccepts(t *testing.T) {
	for _, tc := range []struct{ name, fields string }{
		{"unlimited connections", `"max_connections": -1`},
		{"no connections", `"max_connections": 0`},
		{"unlimited client events", `"max_client_events_per_second": -1`},
		{"largest payload", `"max_event_payload_in_kb": 1024`},
		{"fractional payload", `"max_event_payload_in_kb": 0.5`},
		{"longest channel names", `"max_channel_name_length": 200`},
		{"largest member", `"max_presence_member_size_in_kb": 64`},
		{"one member", `"max_presence_members_per_channel": 1`},
		{"every webhook event type", `"webhooks": [{"url": "https://h.test/x", "event_types": ["channel_occupied", "channel_vacated", "member_added", "member_removed", "client_event", "cache_miss", "subscription_count"]}]`},
		{"no origins", `"allowed_origins": []`},
		{"no webhooks", `"webhooks": []`},
		{"key with dots and dashes", `"key": "k.e-y_1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parseOne(t, `[{"id":"a","key":"k","secret":"s",`+tc.fields+`}]`)
		})
	}
	for _, js := range []string{`[]`, `[ ]`} {
		apps, _, err := tenants.ParseApps([]byte(js))
		if err != nil || len(apps) != 0 {
			t.Fatalf("ParseApps(%s) = %v, %v", js, apps, err)
		}
	}
	apps, _, err := tenants.ParseApps([]byte(`[{"id":"b","key":"kb","secret":"s"},{"id":"a","key":"ka","secret":"s"}]`))
	if err != nil || len(apps) != 2 || apps[0].ID != "b" || apps[1].ID != "a" {
		t.Fatalf("two apps: %v %v, want them in file order", apps, err)
	}
}

func TestParseAppsErrorsNameAppAndField(t *testing.T) {
	// app builds a one-app file: valid credentials, then fields (which may
	// override them, as later keys in a JSON object win).
	app := func(fields string) string { return `[{"id":"a","key":"k","secret":"s",` + fields + `}]` }
	for _, tc := range []struct {
		name, json string
		app        string // how the error names the app
		field      string
	}{
		{"count as a string", app(`"max_connections": "ten"`), `app "a"`, "max_connections"},
		{"count as a fraction", app(`"max_connections": 1.5`), `app "a"`, "max_connections"},
		{"count below -1", app(`"max_connections": -2`), `app "a"`, "max_connections"},
		{"client events below -1", app(`"max_client_events_per_second": -2`), `app "a"`, "max_client_events_per_second"},
		{"backend events below -1", app(`"max_backend_events_per_second": -5`), `app "a"`, "max_backend_events_per_second"},
		{"read requests below -1", app(`"max_read_requests_per_second": -2`), `app "a"`, "max_read_requests_per_second"},
		{"no payload", app(`"max_event_payload_in_kb": 0`), `app "a"`, "max_event_payload_in_kb"},
		{"negative payload", app(`"max_event_payload_in_kb": -1`), `app "a"`, "max_event_payload_in_kb"},
		{"payload over 1 MB", app(`"max_event_payload_in_kb": 1025`), `app "a"`, "max_event_payload_in_kb"},
		{"payload as a string", app(`"max_event_payload_in_kb": "10"`), `app "a"`, "max_event_payload_in_kb"},
		{"no member size", app(`"max_presence_member_size_in_kb": 0`), `app "a"`, "max_presence_member_size_in_kb"},
		{"member size over 64", app(`"max_presence_member_size_in_kb": 65`), `app "a"`, "max_presence_member_size_in_kb"},
		{"no members", app(`"max_presence_members_per_channel": 0`), `app "a"`, "max_presence_members_per_channel"},
		{"unlimited members", app(`"max_presence_members_per_channel": -1`), `app "a"`, "max_presence_members_per_channel"},
		{"channel names of 0", app(`"max_channel_name_length": 0`), `app "a"`, "max_channel_name_length"},
		{"channel names over 200", app(`"max_channel_name_length": 201`), `app "a"`, "max_channel_name_length"},
		{"no channels at once", app(`"max_event_channels_at_once": 0`), `app "a"`, "max_event_channels_at_once"},
		{"event names of 0", app(`"max_event_name_length": 0`), `app "a"`, "max_event_name_length"},
		{"empty batches", app(`"max_event_batch_size": 0`), `app "a"`, "max_event_batch_size"},
		{"no time to sign in", app(`"user_authentication_timeout": 0`), `app "a"`, "user_authentication_timeout"},
		{"enabled as a string", app(`"enabled": "yes"`), `app "a"`, "enabled"},
		{"switch as a number", app(`"enable_client_messages": 1`), `app "a"`, "enable_client_messages"},
		{"name as a number", app(`"name": 7`), `app "a"`, "name"},

		{"empty key", app(`"key": ""`), `app "a"`, "key"},
		{"missing key", `[{"id":"a","secret":"s"}]`, `app "a"`, "key"},
		{"key with a colon", app(`"key": "a:b"`), `app "a"`, "key"},
		{"key with a slash", app(`"key": "a/b"`), `app "a"`, "key"},
		{"empty secret", app(`"secret": ""`), `app "a"`, "secret"},
		{"missing secret", `[{"id":"a","key":"k"}]`, `app "a"`, "secret"},
		{"missing id", `[{"key":"k","secret":"s"}]`, `app #1`, "id"},
		{"blank id", app(`"id": "  "`), `app "  "`, "id"},
		{"id with a slash", app(`"id": "a/b"`), `app "a/b"`, "id"},
		{"id with a space", app(`"id": "a b"`), `app "a b"`, "id"},
		{"null app", `[null]`, `app #1`, "id"},
		{"duplicate ids", `[{"id":"a","key":"k","secret":"s"},{"id":"a","key":"k2","secret":"s"}]`, `app "a"`, "id"},
		{"duplicate keys", `[{"id":"a","key":"k","secret":"s"},{"id":"b","key":"k","secret":"s"}]`, `app "b"`, "key"},
		{"second app is bad", `[{"id":"a","key":"k","secret":"s"},{"id":"b","key":"k2","secret":"s","max_event_batch_size":0}]`, `app "b"`, "max_event_batch_size"},
		{"third app has no id", `[{"id":"a","key":"k","secret":"s"},{"id":"b","key":"k2","secret":"s"},{"key":"k3"}]`, `app #3`, "id"},

		{"webhook url not a url", app(`"webhooks": [{"url": "nope", "event_types": ["channel_occupied"]}]`), `app "a"`, "webhooks"},
		{"webhook url empty", app(`"webhooks": [{"url": "", "event_types": ["channel_occupied"]}]`), `app "a"`, "webhooks"},
		{"webhook url ftp", app(`"webhooks": [{"url": "ftp://h.test/x", "event_types": ["channel_occupied"]}]`), `app "a"`, "webhooks"},
		{"webhook url without host", app(`"webhooks": [{"url": "https:///x", "event_types": ["channel_occupied"]}]`), `app "a"`, "webhooks"},
		{"webhook url unparsable", app(`"webhooks": [{"url": "http://h.test/%zz", "event_types": []}]`), `app "a"`, "webhooks"},
		{"unknown webhook event type", app(`"webhooks": [{"url": "https://h.test/x", "event_types": ["channel_occupied", "bogus"]}]`), `app "a"`, "webhooks"},
		{"second webhook bad", app(`"webhooks": [{"url": "https://h.test/x", "event_types": []}, {"url": "x", "event_types": []}]`), `app "a"`, "webhooks"},
		{"unknown webhook field", app(`"webhooks": [{"urll": "https://h.test/x"}]`), `app "a"`, "webhooks"},
		{"webhooks not a list", app(`"webhooks": {"url": "https://h.test/x"}`), `app "a"`, "webhooks"},
		{"empty origin", app(`"allowed_origins": ["https://a.test", ""]`), `app "a"`, "allowed_origins"},
		{"origins not a list", app(`"allowed_origins": "*"`), `app "a"`, "allowed_origins"},
		{"negative history", app(`"history_max_events": -1`), `app "a"`, "history_max_events"},
		{"too much history", app(`"history_max_events": 100001`), `app "a"`, "history_max_events"},
		{"history age below -1", app(`"history_max_age_seconds": -2`), `app "a"`, "history_max_age_seconds"},
		{"history age over 30 days", app(`"history_max_age_seconds": 2592001`), `app "a"`, "history_max_age_seconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			apps, _, err := tenants.ParseApps([]byte(tc.json))
			if err == nil {
				t.Fatalf("ParseApps(%s) = %+v, want an error", tc.json, apps)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tc.app+": ") || !strings.Contains(msg, `field "`+tc.field+`"`) {
				t.Fatalf("error %q, want it to start with %s and name field %q", msg, tc.app, tc.field)
			}
			if apps != nil {
				t.Fatalf("apps %v returned with an error", apps)
			}
		})
	}
}

func TestParseAppsNotAnArray(t *testing.T) {
	for _, js := range []string{``, `{"id":"a","key":"k","secret":"s"}`, `[1]`, `["a"]`, `[{"id":"a"}`, `nope`} {
		_, _, err := tenants.ParseApps([]byte(js))
		if err == nil || !strings.Contains(err.Error(), "not a JSON array of app objects") {
			t.Errorf("ParseApps(%q): %v", js, err)
		}
	}
}

func TestValidateReturnsFieldError(t *testing.T) {
	a := tenants.NewApp("a", "k", "s")
	a.MaxEventBatchSize = 0
	var fe *tenants.FieldError
	if err := tenants.Validate(a); !errors.As(err, &fe) || fe.Field != "max_event_batch_size" {
		t.Fatalf("Validate: %v, want a FieldError for max_event_batch_size", err)
	}
	_, _, err := tenants.ParseApps([]byte(`[{"id":"a","key":"k","secret":"s","max_event_batch_size":0}]`))
	if !errors.As(err, &fe) || fe.Field != "max_event_batch_size" {
		t.Fatalf("ParseApps: %v, want it to wrap the FieldError", err)
	}
}

func TestLoadAppsFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "apps.json")
	if err := os.WriteFile(good, []byte(`[{"id":"a","key":"k","secret":"s","extra":1}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	apps, warnings, err := tenants.LoadAppsFile(good)
	if err != nil || len(apps) != 1 || apps[0].ID != "a" || len(warnings) != 1 {
		t.Fatalf("%v %v %v", apps, warnings, err)
	}

	missing := filepath.Join(dir, "missing.json")
	if _, _, err := tenants.LoadAppsFile(missing); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing file: %v, want fs.ErrNotExist naming the path", err)
	}

	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`[{"id":"a","key":"k","secret":"s","max_connections":"ten"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = tenants.LoadAppsFile(bad)
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), `app "a": field "max_connections"`) {
		t.Fatalf("bad file: %v, want the path, the app and the field", err)
	}
}

func TestDevApp(t *testing.T) {
	a := tenants.DevApp()
	if a.ID != "app-id" || a.Key() != "app-key" || a.Secret() != "app-secret" || a.Name != "development" ||
		!a.Enabled || !a.EnableClientMessages || a.Limits != tenants.DefaultLimits() {
		t.Fatalf("%+v", a)
	}
	if err := tenants.Validate(a); err != nil {
		t.Fatal(err)
	}
	if tenants.DevApp() == a {
		t.Fatal("DevApp returns a shared value")
	}
}

func TestSeed(t *testing.T) {
	ctx := t.Context()
	s := tenants.NewMemoryStore()
	if err := s.PutApp(ctx, tenants.NewApp("a", "ka", "original")); err != nil {
		t.Fatal(err)
	}
	apps := []*tenants.App{
		tenants.NewApp("a", "ka", "changed"),          // same id and key: kept as it is
		tenants.NewApp("b", "kb", "s"),                // new
		tenants.NewApp("c", "ka", "s"),                // another app's key: skipped
		tenants.NewApp("d", "kd", "s"),                // new
		tenants.NewApp("a", "ka-rotated", "changed2"), // same id, new key: kept as it is
	}
	n, err := tenants.Seed(ctx, s, apps)
	if err != nil || n != 2 {
		t.Fatalf("Seed = %d, %v; want 2 added", n, err)
	}
	if a, _ := s.AppByID(ctx, "a"); a.Secret() != "original" {
		t.Fatal("seed changed an existing app")
	}
	if _, err := s.AppByID(ctx, "c"); !errors.Is(err, tenants.ErrNotFound) {
		t.Fatalf("app with a taken key was added: %v", err)
	}
	if _, err := s.AppByKey(ctx, "ka-rotated"); !errors.Is(err, tenants.ErrNotFound) {
		t.Fatalf("a seeded key was added to an existing app: %v", err)
	}
	if n, err := tenants.Seed(ctx, s, apps); err != nil || n != 0 {
		t.Fatalf("seeding again = %d, %v; want 0 added", n, err)
	}
}

// brokenStore fails every write.
type brokenStore struct{ tenants.Store }

var errDown = errors.New("database down")

func (brokenStore) CreateAppIfAbsent(context.Context, *tenants.App) (bool, error) {
	return false, errDown
}

func TestSeedStoreError(t *testing.T) {
	n, err := tenants.Seed(t.Context(), brokenStore{tenants.NewMemoryStore()}, []*tenants.App{tenants.NewApp("a", "k", "s")})
	if n != 0 || !errors.Is(err, errDown) || !strings.Contains(err.Error(), "seed app a:") {
		t.Fatalf("Seed = %d, %v; want the store's error naming the app", n, err)
	}
}

func TestParseAppsNumericID(t *testing.T) {
	apps, _, err := tenants.ParseApps([]byte(`[{"id":123,"key":"k","secret":"s"}]`))
	if err != nil || apps[0].ID != "123" {
		t.Fatalf("%+v %v", apps, err)
	}
}
