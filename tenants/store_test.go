package tenants_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/tenants"
	"github.com/switchboard-rt/switchboard/tenants/storetest"
)

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) tenants.Store { return tenants.NewMemoryStore() })
}

func TestDirectoryCachesUntilTTL(t *testing.T) {
	ctx := context.Background()
	s := tenants.NewMemoryStore()
	a := tenants.NewApp("1", "k", "s")
	_ = s.PutApp(ctx, a)
	d := tenants.NewDirectory(s, 100*time.Millisecond)
	if got, err := d.AppByKey(ctx, "k"); err != nil || got.ID != "1" {
		t.Fatal(got, err)
	}
	b := tenants.NewApp("1", "k", "s")
	b.Enabled = false
	_ = s.PutApp(ctx, b)
	if got, _ := d.AppByKey(ctx, "k"); !got.Enabled {
		t.Fatal("cache not used within its TTL")
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		if got, _ := d.AppByKey(ctx, "k"); !got.Enabled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("change not seen after the TTL")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = s.PutApp(ctx, a)
	d.Invalidate()
	if got, _ := d.AppByID(ctx, "1"); !got.Enabled {
		t.Fatal("Invalidate did not drop the entry")
	}
	if _, err := d.AppByID(ctx, "missing"); err != tenants.ErrNotFound {
		t.Fatal(err)
	}
}

func TestParseAppsDefaults(t *testing.T) {
	apps, warnings, err := tenants.ParseApps([]byte(`[{"id":"a","key":"k","secret":"s","future_setting":1,"max_connections":null}]`))
	if err != nil {
		t.Fatal(err)
	}
	a := apps[0]
	if !a.Enabled || a.EnableClientMessages || a.Name != "a" || a.MaxConnections != -1 || a.MaxEventPayloadInKB != 10 ||
		a.MaxEventChannelsAtOnce != 100 || a.MaxEventBatchSize != 10 || a.MaxPresenceMembersPerChannel != 100 ||
		a.MaxChannelNameLength != 164 || a.MaxClientEventsPerSecond != 10 || a.UserAuthenticationTimeout != 30 ||
		a.MaxPresenceMemberSizeInKB != 1 || a.MaxEventNameLength != 200 || a.Key() != "k" || a.Secret() != "s" {
		t.Fatalf("defaults %+v", a)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "future_setting") {
		t.Fatalf("warnings %v", warnings)
	}
}

func TestParseAppsErrorsNameAppAndField(t *testing.T) {
	cases := []struct{ json, want string }{
		{`[{"id":"a","key":"k","secret":"s","max_connections":"ten"}]`, `app "a": field "max_connections"`},
		{`[{"id":"a","key":"k","secret":"s","max_event_payload_in_kb":0}]`, `app "a": field "max_event_payload_in_kb"`},
		{`[{"id":"a","key":"","secret":"s"}]`, `app "a": field "key"`},
		{`[{"id":"a","key":"k","secret":""}]`, `app "a": field "secret"`},
		{`[{"key":"k","secret":"s"}]`, `app #1: field "id"`},
		{`[{"id":"a","key":"k","secret":"s"},{"id":"a","key":"k2","secret":"s"}]`, `app "a": field "id"`},
		{`[{"id":"a","key":"k","secret":"s"},{"id":"b","key":"k","secret":"s"}]`, `app "b": field "key"`},
		{`[{"id":"a","key":"k","secret":"s","webhooks":[{"url":"nope","event_types":[]}]}]`, `field "webhooks"`},
		{`[{"id":"a","key":"k","secret":"s","webhooks":[{"url":"http://x/y","event_types":["bogus"]}]}]`, `bogus`},
		{`[{"id":"a","key":"k","secret":"s","max_client_events_per_second":-2}]`, `max_client_events_per_second`},
		{`{"id":"a"}`, `not a JSON array`},
	}
	for _, tc := range cases {
		_, _, err := tenants.ParseApps([]byte(tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to mention %s", tc.json, err, tc.want)
		}
	}
}

func TestOriginsAndKeys(t *testing.T) {
	a := tenants.NewApp("a", "k1", "s1")
	a.Keys = append(a.Keys, tenants.Key{Key: "k2", Secret: "s2"})
	if s, ok := a.SecretFor("k2"); !ok || s != "s2" {
		t.Fatal("second key")
	}
	if _, ok := a.SecretFor("k3"); ok {
		t.Fatal("unknown key")
	}
	if !a.OriginAllowed("https://anything") {
		t.Fatal("no origins configured allows all")
	}
	a.AllowedOrigins = []string{"https://app.example.com", "https://*.example.org"}
	for origin, want := range map[string]bool{
		"https://app.example.com": true, "https://x.example.org": true, "https://a.b.example.org": true,
		"https://example.org": false, "http://x.example.org": false, "https://evil.com": false,
	} {
		if a.OriginAllowed(origin) != want {
			t.Errorf("%s: %v", origin, !want)
		}
	}
	a.AllowedOrigins = []string{"*"}
	if !a.OriginAllowed("https://evil.com") {
		t.Fatal("* allows all")
	}
}

func TestSeedKeepsExistingApps(t *testing.T) {
	ctx := context.Background()
	s := tenants.NewMemoryStore()
	_ = s.PutApp(ctx, tenants.NewApp("a", "k", "original"))
	n, err := tenants.Seed(ctx, s, []*tenants.App{tenants.NewApp("a", "k", "changed"), tenants.NewApp("b", "k2", "s")})
	if err != nil || n != 1 {
		t.Fatal(n, err)
	}
	if a, _ := s.AppByID(ctx, "a"); a.Secret() != "original" {
		t.Fatal("seed changed an existing app")
	}
}
