package tenants_test

import (
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/tenants"
)

func TestSecretFor(t *testing.T) {
	a := tenants.NewApp("app", "key-1", "secret-1")
	a.Keys = append(a.Keys, tenants.Key{Key: "key-2", Secret: "secret-2"})
	if a.Key() != "key-1" || a.Secret() != "secret-1" {
		t.Fatalf("primary key %q secret %q, want the first pair", a.Key(), a.Secret())
	}
	for _, tc := range []struct {
		key, secret string
		ok          bool
	}{
		{"key-1", "secret-1", true},
		{"key-2", "secret-2", true},
		{"key-3", "", false},
		{"key-", "", false},
		{"key-22", "", false},
		{"", "", false},
	} {
		if s, ok := a.SecretFor(tc.key); s != tc.secret || ok != tc.ok {
			t.Errorf("SecretFor(%q) = %q, %v; want %q, %v", tc.key, s, ok, tc.secret, tc.ok)
		}
	}

	none := &tenants.App{ID: "keyless"}
	if none.Key() != "" || none.Secret() != "" {
		t.Fatal("an app without keys has a primary key")
	}
	if _, ok := none.SecretFor(""); ok {
		t.Fatal("an app without keys has a secret")
	}
}

func TestOriginAllowed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		allowed []string
		origin  string
		want    bool
	}{
		{"none configured allows all", nil, "https://anything.test", true},
		{"none configured allows no origin", nil, "", true},
		{"star", []string{"*"}, "https://evil.test", true},
		{"star among others", []string{"https://a.test", "*"}, "https://evil.test", true},

		{"exact", []string{"https://app.example.com"}, "https://app.example.com", true},
		{"exact, second entry", []string{"https://a.test", "https://app.example.com"}, "https://app.example.com", true},
		{"exact, other host", []string{"https://app.example.com"}, "https://api.example.com", false},
		{"exact, other scheme", []string{"https://app.example.com"}, "http://app.example.com", false},
		{"exact, other port", []string{"https://app.example.com"}, "https://app.example.com:8443", false},
		{"exact, with port", []string{"http://localhost:3000"}, "http://localhost:3000", true},
		{"exact, a prefix is not enough", []string{"https://app.example.com"}, "https://app.example.com.evil.test", false},

		{"wildcard, subdomain", []string{"https://*.example.com"}, "https://app.example.com", true},
		{"wildcard, deeper subdomain", []string{"https://*.example.com"}, "https://a.b.example.com", true},
		{"wildcard, bare domain", []string{"https://*.example.com"}, "https://example.com", false},
		{"wildcard, empty label", []string{"https://*.example.com"}, "https://.example.com", false},
		{"wildcard, other scheme", []string{"https://*.example.com"}, "http://app.example.com", false},
		{"wildcard, suffix without dot", []string{"https://*.example.com"}, "https://evilexample.com", false},
		{"wildcard, domain as a prefix", []string{"https://*.example.com"}, "https://app.example.com.evil.test", false},
		{"wildcard, other port", []string{"https://*.example.com"}, "https://app.example.com:8443", false},
		{"wildcard with port", []string{"http://*.example.com:8080"}, "http://app.example.com:8080", true},
		{"wildcard, other domain", []string{"https://*.example.com"}, "https://app.example.org", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tenants.NewApp("app", "key", "secret")
			a.AllowedOrigins = tc.allowed
			if got := a.OriginAllowed(tc.origin); got != tc.want {
				t.Fatalf("OriginAllowed(%q) with %q = %v, want %v", tc.origin, tc.allowed, got, tc.want)
			}
		})
	}
}

func TestNewAppDefaults(t *testing.T) {
	a := tenants.NewApp("id", "key", "secret")
	if a.ID != "id" || a.Name != "id" || !a.Enabled || a.EnableClientMessages || a.Limits != tenants.DefaultLimits() {
		t.Fatalf("%+v", a)
	}
	if err := tenants.Validate(a); err != nil {
		t.Fatalf("NewApp is not valid: %v", err)
	}
}

func TestLimitBytes(t *testing.T) {
	l := tenants.DefaultLimits()
	if got := l.MaxEventPayloadBytes(); got != 10*1024 {
		t.Errorf("MaxEventPayloadBytes = %d, want 10240", got)
	}
	if got := l.MaxPresenceMemberBytes(); got != 1024 {
		t.Errorf("MaxPresenceMemberBytes = %d, want 1024", got)
	}
	l.MaxEventPayloadInKB, l.MaxPresenceMemberSizeInKB = 0.5, 2.5
	if got := l.MaxEventPayloadBytes(); got != 512 {
		t.Errorf("MaxEventPayloadBytes of 0.5 KB = %d", got)
	}
	if got := l.MaxPresenceMemberBytes(); got != 2560 {
		t.Errorf("MaxPresenceMemberBytes of 2.5 KB = %d", got)
	}
}

func TestHistoryRetentionAfterPlanCaps(t *testing.T) {
	plans := map[string]*tenants.Plan{}
	for _, p := range tenants.SeedPlans() {
		plans[p.ID] = p
	}
	for _, tc := range []struct {
		name         string
		plan         *tenants.Plan
		events, age  int // the app's own settings
		wantEvents   int
		wantAge      time.Duration
		wantCapped   [2]int // effective history_max_events, history_max_age_seconds
		wantDisabled bool
	}{
		{"off by default", plans[tenants.DefaultPlanID], 0, tenants.DefaultHistoryMaxAgeSeconds, 0, 0, [2]int{0, 300}, true},
		{"unlimited plan keeps the app's", plans[tenants.DefaultPlanID], 5000, -1, 5000, 0, [2]int{5000, -1}, false},
		{"free plan caps count and age", plans[tenants.FreePlanID], 5000, -1, 100, time.Hour, [2]int{100, 3600}, false},
		{"free plan leaves smaller ones", plans[tenants.FreePlanID], 10, 60, 10, time.Minute, [2]int{10, 60}, false},
		{"pro plan caps the age", plans["pro"], 500, 7 * 24 * 3600, 500, 24 * time.Hour, [2]int{500, 86400}, false},
		{"a plan without history turns it off", &tenants.Plan{ID: "bare", MaxHistoryEvents: 0, MaxHistoryAgeSeconds: 0}, 100, 300, 0, 0, [2]int{0, 0}, true},
		{"age 0 keeps nothing", plans[tenants.DefaultPlanID], 100, 0, 0, 0, [2]int{100, 0}, true},
		{"no plan", nil, 7, 30, 7, 30 * time.Second, [2]int{7, 30}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := tenants.DefaultLimits()
			l.HistoryMaxEvents, l.HistoryMaxAgeSeconds = tc.events, tc.age
			l = tc.plan.Cap(l)
			if got := [2]int{l.HistoryMaxEvents, l.HistoryMaxAgeSeconds}; got != tc.wantCapped {
				t.Fatalf("capped settings %v, want %v", got, tc.wantCapped)
			}
			n, age := l.HistoryRetention()
			if n != tc.wantEvents || age != tc.wantAge || l.HistoryEnabled() == tc.wantDisabled {
				t.Fatalf("retention %d events %s (enabled %v), want %d %s", n, age, l.HistoryEnabled(), tc.wantEvents, tc.wantAge)
			}
		})
	}
}

func TestValidatePlanHistory(t *testing.T) {
	for _, tc := range []struct {
		events, age int
		field       string
	}{{-1, -1, ""}, {0, 0, ""}, {100, 3600, ""}, {-2, 0, "max_history_events"}, {10, -2, "max_history_age_seconds"}} {
		p := &tenants.Plan{ID: "p", Name: "P", MaxPayloadKB: -1, MaxHistoryEvents: tc.events, MaxHistoryAgeSeconds: tc.age}
		err := tenants.ValidatePlan(p)
		if (err == nil) != (tc.field == "") || (err != nil && !strings.Contains(err.Error(), tc.field)) {
			t.Errorf("ValidatePlan(history %d, %d) = %v, want a complaint about %q", tc.events, tc.age, err, tc.field)
		}
	}
}
