package protocol

// Webhook event names (§6.2). They are wire strings like the event names
// in events.go: edge emits them and webhooks sends them.
const (
	WebhookChannelOccupied   = "channel_occupied"
	WebhookChannelVacated    = "channel_vacated"
	WebhookMemberAdded       = "member_added"
	WebhookMemberRemoved     = "member_removed"
	WebhookClientEvent       = "client_event"
	WebhookCacheMiss         = "cache_miss"
	WebhookSubscriptionCount = "subscription_count"
)

// WebhookEvent is one entry of a webhook body's "events" array. Fields a
// kind does not use stay empty and are left out of the JSON. It lives here,
// not in webhooks, so that the edge can hand events over through an
// interface of its own without importing the delivery package.
type WebhookEvent struct {
	Name    string `json:"name"`
	Channel string `json:"channel"`
	// UserID is set on member events and on client events of presence channels.
	UserID string `json:"user_id,omitempty"`
	// Event, Data and SocketID are set on client_event only. Data is a string:
	// the JSON encoding of what the client sent, or the string itself (§6.2,
	// the spec's decision on the TODO about Pusher's typing).
	Event    string `json:"event,omitempty"`
	Data     string `json:"data,omitempty"`
	SocketID string `json:"socket_id,omitempty"`
	// SubscriptionCount is set on subscription_count only.
	SubscriptionCount *int `json:"subscription_count,omitempty"`
}
