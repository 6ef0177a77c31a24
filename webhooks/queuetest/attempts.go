package queuetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/webhooks"
)

// OpenLog returns a fresh AttemptLog keeping size attempts per app; it
// registers its own cleanup.
type OpenLog func(t *testing.T, size int) webhooks.AttemptLog

// RunAttempts is the conformance suite every webhooks.AttemptLog passes.
func RunAttempts(t *testing.T, open OpenLog) {
	t.Run("NewestFirstAndBounded", func(t *testing.T) { testNewestFirst(t, open) })
	t.Run("EndpointHealth", func(t *testing.T) { testEndpointHealth(t, open) })
}

func attempt(app, url string, n int, errText string) webhooks.Attempt {
	a := webhooks.Attempt{AppID: app, URL: url, Attempt: n, Events: 2, Names: []string{"channel_occupied", "member_added"},
		Time: time.Date(2026, 11, 25, 7, 0, n, 0, time.UTC), Latency: time.Duration(n) * time.Millisecond, Status: 200}
	if errText != "" {
		a.Status, a.Error = 500, errText
	}
	return a
}

func testNewestFirst(t *testing.T, open OpenLog) {
	ctx := context.Background()
	l := open(t, 3)
	for i := 1; i <= 5; i++ {
		if err := l.Record(ctx, attempt("1", "http://a/h", i, ""), 5); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Record(ctx, attempt("2", "http://b/h", 9, "status 500"), 5); err != nil {
		t.Fatal(err)
	}
	got, err := l.Deliveries(ctx, "1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Attempt != 5 || got[2].Attempt != 3 {
		t.Fatalf("deliveries = %+v, want attempts 5, 4, 3", got)
	}
	want := attempt("1", "http://a/h", 5, "")
	if g := got[0]; !g.Time.Equal(want.Time) || g.Latency != want.Latency || g.Status != 200 || g.URL != want.URL ||
		g.Events != 2 || fmt.Sprint(g.Names) != fmt.Sprint(want.Names) || g.AppID != "1" || g.Error != "" {
		t.Fatalf("newest = %+v, want %+v", g, want)
	}
	if got, _ := l.Deliveries(ctx, "1", 2); len(got) != 2 || got[1].Attempt != 4 {
		t.Fatalf("limit 2 = %+v", got)
	}
	if got, _ := l.Deliveries(ctx, "2", 10); len(got) != 1 || got[0].Error != "status 500" || got[0].Status != 500 {
		t.Fatalf("app 2 = %+v", got)
	}
	if got, err := l.Deliveries(ctx, "none", 10); len(got) != 0 || err != nil {
		t.Fatalf("unknown app = %+v, %v", got, err)
	}
}

func testEndpointHealth(t *testing.T, open OpenLog) {
	ctx := context.Background()
	l := open(t, 10)
	rec := func(url, errText string) {
		t.Helper()
		if err := l.Record(ctx, attempt("1", url, 1, errText), 2); err != nil {
			t.Fatal(err)
		}
	}
	rec("http://a/1", "first")
	rec("http://a/1", "second")
	rec("http://a/2", "once")
	e, err := l.Endpoints(ctx, "1")
	if err != nil {
		t.Fatal(err)
	}
	if len(e) != 2 || e[0].URL != "http://a/1" || !e[0].Failing || e[0].Failures != 2 || e[0].LastError != "second" ||
		e[1].URL != "http://a/2" || e[1].Failing || e[1].Failures != 1 || e[1].LastError != "once" {
		t.Fatalf("endpoints = %+v", e)
	}
	rec("http://a/1", "")
	e, _ = l.Endpoints(ctx, "1")
	if len(e) != 2 || e[0].Failing || e[0].Failures != 0 || e[0].LastError != "" {
		t.Fatalf("after a success: %+v", e)
	}
	if e, err := l.Endpoints(ctx, "none"); len(e) != 0 || err != nil {
		t.Fatalf("unknown app = %+v, %v", e, err)
	}
}
