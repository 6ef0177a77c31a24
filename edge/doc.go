// Package edge terminates end-user WebSockets (github.com/lxzan/gws) and
// speaks the Pusher Channels protocol on them: connection admission,
// subscriptions with channel authorization, presence, client events,
// user sign-in, watchlists, cache channels, subscription counts, activity
// and pong timeouts, and graceful drain.
//
// Its hub fans each event out by encoding one WebSocket frame and queueing
// the same bytes on every local subscriber's bounded write queue.
//
// edge imports protocol, tenants and bus; never restapi or any backend.
package edge
