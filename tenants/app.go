package tenants

import (
	"crypto/subtle"
	"errors"
	"time"

	"github.com/switchboard-rt/switchboard/protocol"
)

// Sentinel errors; backends translate their own errors into these.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
)

// Unlimited is the value of a count or rate limit that is not enforced.
const Unlimited = -1

// Key is one public key and its secret. An app may have several active keys
// so that a secret can be rotated without downtime.
type Key struct {
	Key    string `json:"key"`
	Secret string `json:"secret"`
}

// Webhook is one webhook endpoint of an app, in the shape Soketi users
// already write.
type Webhook struct {
	URL        string         `json:"url"`
	EventTypes []string       `json:"event_types"`
	Filter     *WebhookFilter `json:"filter,omitempty"`
}

// WebhookFilter limits a webhook to channels by name.
type WebhookFilter struct {
	ChannelNameStartsWith string `json:"channel_name_starts_with,omitempty"`
	ChannelNameEndsWith   string `json:"channel_name_ends_with,omitempty"`
}

// WebhookEventTypes are the event types a webhook may ask for.
var WebhookEventTypes = []string{
	"channel_occupied", "channel_vacated", "member_added", "member_removed",
	"client_event", "cache_miss", "subscription_count",
}

// App is one Pusher app: credentials, switches and limits. An *App is an
// immutable snapshot: stores hand out fresh values and nobody mutates one
// after it is published.
type App struct {
	ID string `json:"id"`
	// TenantID is the tenant that owns the app; "" in an app given to
	// PutApp means DefaultTenantID.
	TenantID string `json:"tenant_id"`
	Name     string `json:"name"`
	Enabled  bool   `json:"enabled"`
	// Suspended is set, with Enabled false, on the effective view of an
	// app whose tenant is suspended, so that surfaces can say why
	// (restapi's "tenant_suspended"). Never stored.
	Suspended bool `json:"-"`
	// Keys holds every active key; Keys[0] is the primary one.
	Keys []Key `json:"keys"`

	EnableClientMessages     bool `json:"enable_client_messages"`
	EnableUserAuthentication bool `json:"enable_user_authentication"`
	EnableSubscriptionCount  bool `json:"enable_subscription_count"`
	BatchWebhooks            bool `json:"batch_webhooks"`

	Limits
	AllowedOrigins []string  `json:"allowed_origins"`
	Webhooks       []Webhook `json:"webhooks"`
}

// Limits are an app's limits. Counts and rates of Unlimited (-1) are not
// enforced.
type Limits struct {
	MaxConnections               int     `json:"max_connections"`
	MaxClientEventsPerSecond     int     `json:"max_client_events_per_second"`
	MaxBackendEventsPerSecond    int     `json:"max_backend_events_per_second"`
	MaxReadRequestsPerSecond     int     `json:"max_read_requests_per_second"`
	MaxPresenceMembersPerChannel int     `json:"max_presence_members_per_channel"`
	MaxPresenceMemberSizeInKB    float64 `json:"max_presence_member_size_in_kb"`
	MaxChannelNameLength         int     `json:"max_channel_name_length"`
	MaxEventChannelsAtOnce       int     `json:"max_event_channels_at_once"`
	MaxEventNameLength           int     `json:"max_event_name_length"`
	MaxEventPayloadInKB          float64 `json:"max_event_payload_in_kb"`
	MaxEventBatchSize            int     `json:"max_event_batch_size"`
	// UserAuthenticationTimeout is how many seconds a connection has to
	// sign in when EnableUserAuthentication is on.
	UserAuthenticationTimeout int `json:"user_authentication_timeout"`

	// HistoryMaxEvents is how many of its latest events each channel
	// keeps for gap-fill and the history API; 0 (the default) keeps none:
	// history is opt-in, per app.
	HistoryMaxEvents int `json:"history_max_events"`
	// HistoryMaxAgeSeconds drops kept events older than this; -1: no age
	// limit of the app's own (the plan's and the server's still apply);
	// 0 keeps nothing, like HistoryMaxEvents 0.
	HistoryMaxAgeSeconds int `json:"history_max_age_seconds"`
}

// Bounds of the history settings.
const (
	MaxHistoryEvents     = 100_000
	MaxHistoryAgeSeconds = 30 * 24 * 3600
	// DefaultHistoryMaxAgeSeconds is the age limit of an app that opts
	// in to history without saying one.
	DefaultHistoryMaxAgeSeconds = 300
)

// DefaultLimits follow Pusher's documented limits.
func DefaultLimits() Limits {
	return Limits{
		MaxConnections:               Unlimited,
		MaxClientEventsPerSecond:     protocol.DefaultClientEventsPerSecond,
		MaxBackendEventsPerSecond:    Unlimited,
		MaxReadRequestsPerSecond:     Unlimited,
		MaxPresenceMembersPerChannel: protocol.DefaultMaxPresenceMembers,
		MaxPresenceMemberSizeInKB:    protocol.DefaultMaxPresenceMemberKB,
		MaxChannelNameLength:         protocol.DefaultMaxChannelNameLength,
		MaxEventChannelsAtOnce:       protocol.DefaultMaxEventChannels,
		MaxEventNameLength:           protocol.DefaultMaxEventNameLength,
		MaxEventPayloadInKB:          protocol.DefaultMaxEventPayloadKB,
		MaxEventBatchSize:            protocol.DefaultMaxEventBatchSize,
		UserAuthenticationTimeout:    30,
		HistoryMaxAgeSeconds:         DefaultHistoryMaxAgeSeconds,
	}
}

// NewApp returns an enabled app with default limits.
func NewApp(id, key, secret string) *App {
	return &App{ID: id, Name: id, Enabled: true, Keys: []Key{{Key: key, Secret: secret}}, Limits: DefaultLimits()}
}

// Key returns the app's primary public key.
func (a *App) Key() string {
	if len(a.Keys) == 0 {
		return ""
	}
	return a.Keys[0].Key
}

// Secret returns the primary key's secret.
func (a *App) Secret() string {
	if len(a.Keys) == 0 {
		return ""
	}
	return a.Keys[0].Secret
}

// SecretFor returns the secret of one of the app's active keys.
func (a *App) SecretFor(key string) (string, bool) {
	for _, k := range a.Keys {
		if subtle.ConstantTimeCompare([]byte(k.Key), []byte(key)) == 1 {
			return k.Secret, true
		}
	}
	return "", false
}

// MaxEventPayloadBytes is the largest event data in bytes.
func (l *Limits) MaxEventPayloadBytes() int { return int(l.MaxEventPayloadInKB * 1024) }

// HistoryRetention is what each channel of the app keeps: up to events
// events (0: history is off) no older than maxAge (0: no age limit).
// Applied to effective limits it is the app's retention after its plan's
// caps; the server's own ceiling (--history-length, --history-max-age) is
// the bus's business.
func (l *Limits) HistoryRetention() (events int, maxAge time.Duration) {
	if l.HistoryMaxEvents <= 0 || l.HistoryMaxAgeSeconds == 0 {
		return 0, 0
	}
	if l.HistoryMaxAgeSeconds > 0 {
		maxAge = time.Duration(l.HistoryMaxAgeSeconds) * time.Second
	}
	return l.HistoryMaxEvents, maxAge
}

// HistoryEnabled reports whether the app keeps any history.
func (l *Limits) HistoryEnabled() bool {
	n, _ := l.HistoryRetention()
	return n > 0
}

// MaxPresenceMemberBytes is the largest presence user_info in bytes.
func (l *Limits) MaxPresenceMemberBytes() int { return int(l.MaxPresenceMemberSizeInKB * 1024) }

// OriginAllowed reports whether a WebSocket upgrade from origin may connect.
// No configured origins, or "*", allows every origin.
func (a *App) OriginAllowed(origin string) bool {
	if len(a.AllowedOrigins) == 0 {
		return true
	}
	for _, o := range a.AllowedOrigins {
		if o == "*" || o == origin || matchWildcardOrigin(o, origin) {
			return true
		}
	}
	return false
}

// matchWildcardOrigin matches patterns like "https://*.example.com".
func matchWildcardOrigin(pattern, origin string) bool {
	for i := 0; i+1 < len(pattern); i++ {
		if pattern[i] == '*' && pattern[i+1] == '.' {
			prefix, suffix := pattern[:i], pattern[i+1:]
			return len(origin) > len(prefix)+len(suffix) &&
				origin[:len(prefix)] == prefix && origin[len(origin)-len(suffix):] == suffix
		}
	}
	return false
}
