package restapi_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/tenants"
)

const oneEvent = `{"name":"e","channels":["c"],"data":"x"}`

func expectRetryAfter(t *testing.T, r response, want int) {
	t.Helper()
	if got, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || got != want {
		t.Fatalf("Retry-After %q, want %d", r.header.Get("Retry-After"), want)
	}
}

func TestBackendEventRateLimit(t *testing.T) {
	app := tenants.NewApp(appID, key, secret)
	app.MaxBackendEventsPerSecond = 20
	f := newFixture(t, []*tenants.App{app})
	for range 20 {
		f.expect(f.do("POST", "/apps/1/events", nil, oneEvent), 200, "")
	}
	r := f.do("POST", "/apps/1/events", nil, oneEvent)
	f.expect(r, 429, "rate_limited")
	expectRetryAfter(t, r, 1)
	// reads have their own budget
	f.expect(f.do("GET", "/apps/1/channels", nil, ""), 200, "")

	f.advance(time.Second)
	// a batch of 10 takes 10 tokens: two fit, the third waits half a second
	batch := batchBody(item("c", "1"), item("c", "2"), item("c", "3"), item("c", "4"), item("c", "5"),
		item("c", "6"), item("c", "7"), item("c", "8"), item("c", "9"), item("c", "10"))
	f.expect(f.do("POST", "/apps/1/batch_events", nil, batch), 200, "")
	f.expect(f.do("POST", "/apps/1/batch_events", nil, batch), 200, "")
	r = f.do("POST", "/apps/1/batch_events", nil, batch)
	f.expect(r, 429, "rate_limited")
	expectRetryAfter(t, r, 1)
	f.advance(500 * time.Millisecond)
	f.expect(f.do("POST", "/apps/1/batch_events", nil, batch), 200, "")
	// refused or invalid requests take nothing
	f.advance(time.Second)
	for range 5 {
		f.expect(f.do("POST", "/apps/1/events", nil, `{"name":"e","channels":["bad name"],"data":"x"}`), 400, "bad_request")
	}
	for range 20 {
		f.expect(f.do("POST", "/apps/1/events", nil, oneEvent), 200, "")
	}
}

// TestBatchLargerThanRate: a batch bigger than the per-second rate is
// delayed until the bucket holds it, never refused for ever.
func TestBatchLargerThanRate(t *testing.T) {
	app := tenants.NewApp(appID, key, secret)
	app.MaxBackendEventsPerSecond = 4
	f := newFixture(t, []*tenants.App{app})
	items := make([]map[string]string, 10)
	for i := range items {
		items[i] = item("c", "x")
	}
	f.expect(f.do("POST", "/apps/1/batch_events", nil, batchBody(items...)), 200, "")
	r := f.do("POST", "/apps/1/batch_events", nil, batchBody(items...))
	f.expect(r, 429, "rate_limited")
	expectRetryAfter(t, r, 3) // 10 tokens at 4/s
	f.advance(2500 * time.Millisecond)
	f.expect(f.do("POST", "/apps/1/batch_events", nil, batchBody(items...)), 200, "")
}

func TestReadRateLimit(t *testing.T) {
	app := tenants.NewApp(appID, key, secret)
	app.MaxReadRequestsPerSecond = 3
	f := newFixture(t, []*tenants.App{app})
	for _, p := range []string{"/apps/1/channels", "/apps/1/channels/news", "/apps/1/channels/presence-r/users"} {
		f.expect(f.do("GET", p, nil, ""), 200, "")
	}
	for _, p := range []string{"/apps/1/channels", "/apps/1/channels/news", "/apps/1/channels/presence-r/users"} {
		r := f.do("GET", p, nil, "")
		f.expect(r, 429, "rate_limited")
		expectRetryAfter(t, r, 1)
	}
	// publishing is not a read
	f.expect(f.do("POST", "/apps/1/events", nil, oneEvent), 200, "")
	f.advance(time.Second / 3)
	f.expect(f.do("GET", "/apps/1/channels", nil, ""), 200, "")
}

// TestLimitersFollowTheApp: limiters are per app, and a changed limit
// takes effect on the next request.
func TestLimitersFollowTheApp(t *testing.T) {
	a1 := tenants.NewApp(appID, key, secret)
	a1.MaxBackendEventsPerSecond = 15
	a2 := tenants.NewApp("2", "key-2", "secret-2")
	a2.MaxBackendEventsPerSecond = 15
	f := newFixture(t, []*tenants.App{a1, a2})
	for range 15 {
		f.expect(f.do("POST", "/apps/1/events", nil, oneEvent), 200, "")
	}
	f.expect(f.do("POST", "/apps/1/events", nil, oneEvent), 429, "rate_limited")
	f.expect(f.doAs("key-2", "secret-2", "POST", "/apps/2/events", nil, oneEvent, f.unix()), 200, "")

	up := tenants.NewApp(appID, key, secret)
	up.MaxBackendEventsPerSecond = 25
	f.putApp(up)
	for range 25 {
		f.expect(f.do("POST", "/apps/1/events", nil, oneEvent), 200, "")
	}
	f.expect(f.do("POST", "/apps/1/events", nil, oneEvent), 429, "rate_limited")

	up = tenants.NewApp(appID, key, secret)
	up.MaxBackendEventsPerSecond = tenants.Unlimited
	f.putApp(up)
	for range 100 {
		f.expect(f.do("POST", "/apps/1/events", nil, oneEvent), 200, "")
	}

	up = tenants.NewApp(appID, key, secret)
	up.MaxBackendEventsPerSecond = 0 // publishing suspended
	f.putApp(up)
	r := f.do("POST", "/apps/1/events", nil, oneEvent)
	f.expect(r, 429, "rate_limited")
	if !strings.Contains(r.json(t)["error"].(string), "max_backend_events_per_second is 0") {
		t.Fatalf("%s", r.body)
	}
}

// TestSmallRatesHoldOneBatch: below the batch size the bucket still holds
// one full batch, so a rate of 1 admits a burst of 10 events, then 1/s.
func TestSmallRatesHoldOneBatch(t *testing.T) {
	app := tenants.NewApp(appID, key, secret)
	app.MaxBackendEventsPerSecond = 1
	f := newFixture(t, []*tenants.App{app})
	for range 10 {
		f.expect(f.do("POST", "/apps/1/events", nil, oneEvent), 200, "")
	}
	f.expect(f.do("POST", "/apps/1/events", nil, oneEvent), 429, "rate_limited")
	f.advance(time.Second)
	f.expect(f.do("POST", "/apps/1/events", nil, oneEvent), 200, "")
	f.expect(f.do("POST", "/apps/1/events", nil, oneEvent), 429, "rate_limited")
}
