package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-rt/switchboard/activity"
	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/dashboard"
	"github.com/switchboard-rt/switchboard/tenants"
	"github.com/switchboard-rt/switchboard/webhooks"
)

// The dashboard's live debug console (package activity) and its webhook
// tools, wired here: the feed rides the node's bus, the edge emits into it
// directly, and the publish path and the webhook attempt log are wrapped
// so that API messages and webhook calls show up too.

// newActivityFeed makes the node's feed and attaches it to the bus; run
// it with Run, end its streams with Close when the node drains.
func newActivityFeed(bb *busBackend, nodeID uint32, log *slog.Logger) (*activity.Feed, func()) {
	f := activity.New(activity.Options{Bus: bb.bus, Node: activity.NodeName(nodeID), Logger: log.With("component", "activity")})
	return f, bb.attach(f)
}

// activityPublisher is the publish path (bus.Publisher) that also tells
// the console about each event published through it: the HTTP API's and
// the event creator's.
type activityPublisher struct {
	*bus.Publisher
	feed *activity.Feed
}

func (p activityPublisher) Publish(ctx context.Context, appID string, history bus.HistoryOptions, channels []string, event string, data []byte, excludeSocketID string) error {
	err := p.Publisher.Publish(ctx, appID, history, channels, event, data, excludeSocketID)
	if err == nil && p.feed.Watched(appID) {
		detail := ""
		if excludeSocketID != "" {
			detail = "excluding socket " + excludeSocketID
		}
		for _, ch := range channels {
			p.feed.Emit(appID, bus.Activity{Type: activity.APIMessage, Channel: ch, Event: event, Data: string(data), Detail: detail})
		}
	}
	return err
}

// consolePublisher publishes the event creator's events as the HTTP API
// does: kept in the app's history as its settings, after its plan's
// caps, say (the directory's copy has them applied).
type consolePublisher struct {
	activityPublisher
	apps *tenants.Directory
}

func (c consolePublisher) Publish(ctx context.Context, appID string, channels []string, event string, data []byte, excludeSocketID string) error {
	app, err := c.apps.AppByID(ctx, appID)
	if err != nil {
		return err
	}
	n, age := app.HistoryRetention()
	return c.activityPublisher.Publish(ctx, appID, bus.HistoryOptions{Length: n, MaxAge: age}, channels, event, data, excludeSocketID)
}

// activityAttempts is the webhook attempt log that also tells the console
// about each attempt, wherever the worker that made it runs.
type activityAttempts struct {
	webhooks.AttemptLog
	feed *activity.Feed
}

func (a activityAttempts) Record(ctx context.Context, r webhooks.Attempt, failingAfter int) error {
	if a.feed.Watched(r.AppID) {
		result := "no answer"
		if r.Status != 0 {
			result = "status " + strconv.Itoa(r.Status)
		}
		detail := fmt.Sprintf("POST %s → %s in %d ms (attempt %d)", r.URL, result, r.Latency.Milliseconds(), r.Attempt)
		if r.Error != "" {
			detail += ": " + r.Error
		}
		a.feed.Emit(r.AppID, bus.Activity{Type: activity.Webhook, Event: strings.Join(r.Names, ", "), Detail: detail})
	}
	return a.AttemptLog.Record(ctx, r, failingAfter)
}

// webhookTester sends the dashboard's test webhooks with the worker's
// signing and address guard.
type webhookTester struct {
	worker  *webhooks.Worker
	apps    *tenants.Directory
	trusted func(app *tenants.App, url string) bool
}

// TestWebhookChannel is the channel the test webhook's one
// channel_occupied event names.
const testWebhookChannel = "test-webhook"

func (t webhookTester) TestWebhook(ctx context.Context, appID, url string) (dashboard.WebhookDelivery, error) {
	app, err := t.apps.AppByID(ctx, appID)
	if err != nil {
		return dashboard.WebhookDelivery{}, err
	}
	p := webhooks.NewPayload(time.Now(), webhooks.Event{Name: webhooks.ChannelOccupied, Channel: testWebhookChannel})
	r := t.worker.Test(ctx, app.ID, url, t.trusted(app, url), p)
	return dashboard.WebhookDelivery{Time: r.Time, URL: r.URL, Attempt: r.Attempt, Status: r.Status,
		LatencyMS: float64(r.Latency.Microseconds()) / 1000, Error: r.Error, Events: r.Names}, nil
}
