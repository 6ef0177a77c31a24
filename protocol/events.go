package protocol

// Event names on the wire. Server-to-client internal events carry the
// pusher_internal: prefix; pusher-js re-emits them to apps as pusher:.
const (
	EventConnectionEstablished = "pusher:connection_established"
	EventError                 = "pusher:error"
	EventPing                  = "pusher:ping"
	EventPong                  = "pusher:pong"
	EventSubscribe             = "pusher:subscribe"
	EventUnsubscribe           = "pusher:unsubscribe"
	EventSignin                = "pusher:signin"
	EventSigninSuccess         = "pusher:signin_success"
	EventSubscriptionError     = "pusher:subscription_error"
	EventCacheMiss             = "pusher:cache_miss"

	EventSubscriptionSucceeded = "pusher_internal:subscription_succeeded"
	EventMemberAdded           = "pusher_internal:member_added"
	EventMemberRemoved         = "pusher_internal:member_removed"
	EventSubscriptionCount     = "pusher_internal:subscription_count"
	EventWatchlist             = "pusher_internal:watchlist_events"

	// PrefixPusher and PrefixInternal are reserved for the protocol itself;
	// neither clients nor publishers may use them for their own events.
	PrefixPusher   = "pusher:"
	PrefixInternal = "pusher_internal:"
	// PrefixClient starts every client event name.
	PrefixClient = "client-"
)

// Version is the protocol version this package implements.
const Version = 7

// MinVersion and MaxVersion bound the protocol query parameter we accept:
// 4 to 7 are the versions the real service still serves.
const (
	MinVersion = 4
	MaxVersion = 7
)

// Defaults from Pusher's documented limits.
const (
	DefaultActivityTimeoutSeconds = 120
	DefaultPongTimeoutSeconds     = 30
	DefaultMaxChannelNameLength   = 164
	DefaultMaxEventNameLength     = 200
	DefaultMaxEventPayloadKB      = 10
	DefaultMaxEventChannels       = 100
	DefaultMaxEventBatchSize      = 10
	DefaultMaxPresenceMembers     = 100
	DefaultMaxPresenceMemberKB    = 1
	DefaultMaxUserIDLength        = 128
	DefaultClientEventsPerSecond  = 10
	DefaultMaxWatchlistSize       = 100
)
