package edge

// Usage meters an app's traffic for billing and answers its daily
// message quota (billing.Meter and billing.Quotas, joined in
// cmd/switchboard; the edge does not import billing). Every method is
// called on the hot path: implementations must not block, lock or do
// I/O.
type Usage interface {
	// Delivered counts n events written to subscribers' sockets: called
	// once per fan-out with the number of sockets reached.
	Delivered(appID string, n int)
	// Published counts n accepted client events.
	Published(appID string, n int)
	// Connected and Disconnected pair up for every socket counted
	// toward the app's connection limit.
	Connected(appID string)
	Disconnected(appID string)
	// AllowMessages answers nil when the app may send n more messages
	// today, or the error refusing them (a hard-capped plan's daily
	// message quota).
	AllowMessages(appID string, n int64) error
}

// noUsage meters nothing: the default, so the hot path calls an
// interface without a nil check.
type noUsage struct{}

func (noUsage) Delivered(string, int)             {}
func (noUsage) Published(string, int)             {}
func (noUsage) Connected(string)                  {}
func (noUsage) Disconnected(string)               {}
func (noUsage) AllowMessages(string, int64) error { return nil }

// metered reports whether an event counts as a delivered message:
// protocol frames (pusher:*, pusher_internal:*) do not, as Pusher
// counts (docs/billing.md).
func metered(event string) bool {
	return len(event) < 6 || event[:6] != "pusher"
}
