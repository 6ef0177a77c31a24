// Package webhooks turns channel activity into Pusher-shaped, signed webhook
// requests (../shared/docs/pusher-protocol.md §6). It imports protocol and
// tenants only; edge, restapi, billing and dashboard reach it through small
// interfaces they declare and cmd/switchboard wires.
//
// It holds the per-URL filters, the signed request, the Notifier (a
// bounded, non-blocking hand-off from socket paths into the durable
// Queue) and the delivery Worker with its attempt records.
package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchboard-rt/switchboard/protocol"
	"github.com/switchboard-rt/switchboard/tenants"
)

// Event names, as tenants.WebhookEventTypes lists them.
const (
	ChannelOccupied   = protocol.WebhookChannelOccupied
	ChannelVacated    = protocol.WebhookChannelVacated
	MemberAdded       = protocol.WebhookMemberAdded
	MemberRemoved     = protocol.WebhookMemberRemoved
	ClientEvent       = protocol.WebhookClientEvent
	CacheMiss         = protocol.WebhookCacheMiss
	SubscriptionCount = protocol.WebhookSubscriptionCount
)

// Event is one entry of a webhook body's "events" array; the type lives in
// protocol so that producers (edge) need not import this package.
type Event = protocol.WebhookEvent

// Payload is a webhook request body.
type Payload struct {
	TimeMS int64   `json:"time_ms"`
	Events []Event `json:"events"`
}

// Wants reports whether webhook w asked for event e: its event type is listed
// and the channel passes the name filter.
func Wants(w tenants.Webhook, e Event) bool {
	listed := false
	for _, t := range w.EventTypes {
		if t == e.Name {
			listed = true
			break
		}
	}
	if !listed {
		return false
	}
	if f := w.Filter; f != nil {
		if f.ChannelNameStartsWith != "" && !strings.HasPrefix(e.Channel, f.ChannelNameStartsWith) {
			return false
		}
		if f.ChannelNameEndsWith != "" && !strings.HasSuffix(e.Channel, f.ChannelNameEndsWith) {
			return false
		}
	}
	return true
}

// ValidateURL accepts absolute http and https URLs with a host.
func ValidateURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("webhooks: url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("webhooks: url %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("webhooks: url %q: missing host", raw)
	}
	return nil
}

// NewRequest builds the signed POST for payload p to url, signed with the
// app's primary key. The body is marshalled once and the signature covers
// exactly those bytes.
func NewRequest(ctx context.Context, app *tenants.App, url string, p Payload) (*http.Request, error) {
	if len(app.Keys) == 0 {
		return nil, fmt.Errorf("webhooks: app %s has no key", app.ID)
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("webhooks: encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("webhooks: request: %w", err)
	}
	key := app.Keys[0]
	// Exactly application/json: pusher-http-node compares the header for equality.
	req.Header["Content-Type"] = []string{"application/json"}
	req.Header.Set("X-Pusher-Key", key.Key)
	req.Header.Set("X-Pusher-Signature", protocol.WebhookSignature(key.Secret, body))
	return req, nil
}

// NewPayload wraps events with the creation time in milliseconds.
func NewPayload(now time.Time, events ...Event) Payload {
	return Payload{TimeMS: now.UnixMilli(), Events: events}
}
